//! Who is subscribed to what: each topic's members, and each member's topics.

use std::{
    collections::{hash_map::Entry, HashMap},
    sync::Arc,
};

use crate::socket::Shared;

/// The subscriptions of one hub of topics.
#[derive(Default)]
pub(super) struct Registry {
    topics: HashMap<Arc<str>, Topic>,
    /// By socket key: the topics each member is subscribed to.
    members: HashMap<usize, Vec<Arc<str>>>,
    subscriptions: usize,
}

/// One topic's members, kept in a vector so that a publish walks them in one sweep.
#[derive(Default)]
pub(super) struct Topic {
    members: Vec<Arc<Shared>>,
    /// Each member's place in `members`.
    places: HashMap<usize, usize>,
}

impl Topic {
    /// The sockets subscribed to this topic.
    pub(super) fn members(&self) -> &[Arc<Shared>] {
        &self.members
    }

    fn insert(&mut self, socket: &Arc<Shared>) -> bool {
        match self.places.entry(socket.key()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(place) => {
                place.insert(self.members.len());
                self.members.push(socket.clone());
                true
            }
        }
    }

    fn remove(&mut self, key: usize) -> bool {
        let Some(place) = self.places.remove(&key) else {
            return false;
        };
        self.members.swap_remove(place);
        if let Some(moved) = self.members.get(place) {
            self.places.insert(moved.key(), place);
        }
        true
    }
}

impl Registry {
    pub(super) fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.get(name)
    }

    /// Subscribes `socket` to `name`; `false` if it already was.
    pub(super) fn subscribe(&mut self, socket: &Arc<Shared>, name: &str) -> bool {
        // The topic's own name when it exists: every member's list shares it.
        let name = match self.topics.get_key_value(name) {
            Some((name, _)) => name.clone(),
            None => Arc::from(name),
        };
        if !self.topics.entry(name.clone()).or_default().insert(socket) {
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
    /// it was the last subscriber of.
    pub(super) fn remove_member(&mut self, key: usize, mut emptied: impl FnMut(&str)) {
        for name in self.members.remove(&key).unwrap_or_default() {
            if self.leave(key, &name) == Some(true) {
                emptied(&name);
            }
        }
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
        let emptied = topic.members.is_empty();
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
