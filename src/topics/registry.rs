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
        let key = socket.key();
        let topic = match self.topics.get_mut(name) {
            Some(topic) => topic,
            None => self.topics.entry(Arc::from(name)).or_default(),
        };
        if !topic.insert(socket) {
            return false;
        }
        let name = self
            .topics
            .get_key_value(name)
            .map(|(name, _)| name.clone())
            .unwrap_or_else(|| Arc::from(name));
        self.members.entry(key).or_default().push(name);
        self.subscriptions += 1;
        true
    }

    /// Unsubscribes the socket with `key` from `name`; `false` if it was not subscribed.
    pub(super) fn unsubscribe(&mut self, key: usize, name: &str) -> bool {
        let Some(topic) = self.topics.get_mut(name) else {
            return false;
        };
        if !topic.remove(key) {
            return false;
        }
        if topic.members.is_empty() {
            self.topics.remove(name);
        }
        if let Entry::Occupied(mut topics) = self.members.entry(key) {
            topics.get_mut().retain(|topic| &**topic != name);
            if topics.get().is_empty() {
                topics.remove();
            }
        }
        self.subscriptions -= 1;
        true
    }

    /// Unsubscribes the socket with `key` from every topic; calls `emptied` with each topic
    /// it was the last subscriber of.
    pub(super) fn remove_member(&mut self, key: usize, mut emptied: impl FnMut(&str)) {
        let Some(names) = self.members.remove(&key) else {
            return;
        };
        for name in names {
            if let Some(topic) = self.topics.get_mut(&name) {
                if topic.remove(key) {
                    self.subscriptions -= 1;
                }
                if topic.members.is_empty() {
                    self.topics.remove(&name);
                    emptied(&name);
                }
            }
        }
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
