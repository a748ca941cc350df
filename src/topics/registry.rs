//! Who is subscribed to what: each topic's members, and each member's topics.

use std::{
    collections::{hash_map::Entry, HashMap},
    sync::Arc,
};

use super::publication::Framing;
use crate::socket::Shared;

/// The subscriptions of one hub of topics.
#[derive(Default)]
pub(super) struct Registry {
    topics: HashMap<Arc<str>, Topic>,
    /// By socket key: the topics each member is subscribed to.
    members: HashMap<usize, Vec<Arc<str>>>,
    subscriptions: usize,
    /// Topics held for recoveries under way (see `Hold`), with how many: their channel
    /// stays subscribed while there are any, members or not.
    holds: HashMap<Arc<str>, usize>,
}

/// One topic's members, kept in vectors (one for each [`Framing`]) so that a publish walks
/// them in one sweep each.
#[derive(Default)]
pub(super) struct Topic {
    raw: Vec<Arc<Shared>>,
    #[cfg(feature = "protocol")]
    enveloped: Vec<Arc<Shared>>,
    /// Each member's framing and place in its vector.
    places: HashMap<usize, (Framing, usize)>,
}

impl Topic {
    /// The sockets subscribed to this topic that take publications as `framing` says.
    pub(super) fn members(&self, framing: Framing) -> &[Arc<Shared>] {
        match framing {
            Framing::Raw => &self.raw,
            #[cfg(feature = "protocol")]
            Framing::Enveloped => &self.enveloped,
        }
    }

    fn members_mut(&mut self, framing: Framing) -> &mut Vec<Arc<Shared>> {
        match framing {
            Framing::Raw => &mut self.raw,
            #[cfg(feature = "protocol")]
            Framing::Enveloped => &mut self.enveloped,
        }
    }

    /// How many sockets are subscribed.
    pub(super) fn len(&self) -> usize {
        self.places.len()
    }

    /// Whether the socket with `key` is subscribed.
    pub(super) fn has(&self, key: usize) -> bool {
        self.places.contains_key(&key)
    }

    fn insert(&mut self, socket: &Arc<Shared>, framing: Framing) -> bool {
        let place = self.members(framing).len();
        match self.places.entry(socket.key()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(vacant) => {
                vacant.insert((framing, place));
                self.members_mut(framing).push(socket.clone());
                true
            }
        }
    }

    fn remove(&mut self, key: usize) -> bool {
        let Some((framing, place)) = self.places.remove(&key) else {
            return false;
        };
        let members = self.members_mut(framing);
        members.swap_remove(place);
        if let Some(moved) = members.get(place) {
            let moved = moved.key();
            self.places.insert(moved, (framing, place));
        }
        true
    }
}

impl Registry {
    pub(super) fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.get(name)
    }

    /// The topic's shared name with its members.
    pub(super) fn topic_named(&self, name: &str) -> Option<(&Arc<str>, &Topic)> {
        self.topics.get_key_value(name)
    }

    /// Subscribes `socket` to `name`, to take its publications as `framing` says; `false`
    /// if it already was.
    pub(super) fn subscribe(&mut self, socket: &Arc<Shared>, name: &str, framing: Framing) -> bool {
        // The topic's own name when it exists: every member's list shares it.
        let name = match self.topics.get_key_value(name) {
            Some((name, _)) => name.clone(),
            None => Arc::from(name),
        };
        if !self
            .topics
            .entry(name.clone())
            .or_default()
            .insert(socket, framing)
        {
            return false;
        }
        self.members.entry(socket.key()).or_default().push(name);
        self.subscriptions += 1;
        true
    }

    /// Unsubscribes the socket with `key` from `name`; `false` if it was not subscribed.
    pub(super) fn unsubscribe(&mut self, key: usize, name: &str) -> bool {
        if self.leave(key, name).is_none() {
            return false;
        }
        if let Entry::Occupied(mut topics) = self.members.entry(key) {
            topics.get_mut().retain(|topic| &**topic != name);
            if topics.get().is_empty() {
                topics.remove();
            }
        }
        true
    }

    /// Unsubscribes the socket with `key` from every topic; calls `emptied` with each topic
    /// in which nobody is interested any more.
    pub(super) fn remove_member(&mut self, key: usize, mut emptied: impl FnMut(&str)) {
        for name in self.members.remove(&key).unwrap_or_default() {
            if self.leave(key, &name) == Some(true) && !self.holds.contains_key(&name) {
                emptied(&name);
            }
        }
    }

    /// Whether `name` has members or holds: its channel is wanted.
    pub(super) fn interested(&self, name: &str) -> bool {
        self.topics.contains_key(name) || self.holds.contains_key(name)
    }

    /// Holds `name` for a recovery; `true` if nobody was interested in it before.
    pub(super) fn hold(&mut self, name: &str) -> bool {
        let first = !self.interested(name);
        *self.holds.entry(Arc::from(name)).or_default() += 1;
        first
    }

    /// Lets go of a hold on `name`; `true` if nobody is interested in it any more.
    pub(super) fn release(&mut self, name: &str) -> bool {
        if let Entry::Occupied(mut holds) = self.holds.entry(Arc::from(name)) {
            *holds.get_mut() -= 1;
            if *holds.get() == 0 {
                holds.remove();
            }
        }
        !self.interested(name)
    }

    /// Takes the socket with `key` out of `name`'s members, and the topic away once it has
    /// none: `None` if it was not a member, else whether the topic is gone. The socket's
    /// own list of topics is the caller's to update.
    fn leave(&mut self, key: usize, name: &str) -> Option<bool> {
        let topic = self.topics.get_mut(name)?;
        if !topic.remove(key) {
            return None;
        }
        self.subscriptions -= 1;
        let emptied = topic.len() == 0;
        if emptied {
            self.topics.remove(name);
        }
        Some(emptied)
    }

    /// The topics the socket with `key` is subscribed to, in the order it subscribed.
    pub(super) fn topics_of(&self, key: usize) -> Vec<String> {
        self.members
            .get(&key)
            .map(|names| names.iter().map(|name| name.to_string()).collect())
            .unwrap_or_default()
    }

    pub(super) fn topic_count(&self) -> usize {
        self.topics.len()
    }

    pub(super) fn subscriptions(&self) -> usize {
        self.subscriptions
    }
}
