//! [`Backplane`]: how hubs in several server processes share their topics.

use std::{future::Future, pin::Pin, sync::Weak};

use bytes::Bytes;

use super::{history::History, position::Position, stored::Stored};
use crate::{error::BoxError, identity::ServerId, Message};

/// A boxed future, as [`HistoryStore`]'s methods return them.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Carries a hub's topics between server processes, so that a message published on one
/// server reaches the subscribers on the others. A hub tells its backplane which topics
/// have local subscribers and what is published locally; the backplane hands what other
/// servers publish to the hub's [`Inbox`].
///
/// Delivery between servers is at most once: what a backplane cannot pass on (its broker
/// down, say) is lost, and counted in its [`BackplaneStats::lost`].
///
/// The `redis` feature brings one over Redis pub/sub, `RedisBackplane`.
pub trait Backplane: Send + Sync + 'static {
    /// Called once, when the hub is built: where messages from other servers go.
    fn attach(&self, inbox: Inbox);
    /// `topic` has its first local subscriber: start receiving what other servers publish
    /// to it. Must not wait.
    fn subscribe(&self, topic: &str);
    /// `topic`'s last local subscriber left: stop receiving it. Must not wait.
    fn unsubscribe(&self, topic: &str);
    /// `message` was published to `topic` on this server: pass it to the others. Must not
    /// wait.
    fn publish(&self, topic: &str, message: &Message);
    /// Where the backplane stands.
    fn stats(&self) -> BackplaneStats;

    /// Passes `message` to the one server named `server` (its own [`Inbox::server`]),
    /// which hands it to [`Inbox::deliver_to_server`]: how a call to a client held by
    /// another server reaches it, and how its answer comes back. Returns whether it was
    /// sent; like publications, delivery is at most once. Must not wait. A backplane that
    /// learns that no server took it hands it back with [`Inbox::undeliverable`].
    ///
    /// The default sends nothing and returns `false`: servers on a backplane without it
    /// reach only the clients they hold.
    fn send_to_server(&self, server: ServerId, message: Bytes) -> bool {
        let _ = (server, message);
        false
    }

    /// The store of topics' history that every server shares, if this backplane has one
    /// (default: none, each server keeps its own). With one, a topic that keeps
    /// [history](History) gets its positions from the store, in one order for all
    /// servers, and a client that comes back to another server recovers there.
    fn history(&self) -> Option<&dyn HistoryStore> {
        None
    }
}

/// Topics' history kept where every server reaches it, beside a [`Backplane`]:
/// appending gives a publication its position and publishes it to every server (this one
/// included) through the backplane, which hands it over with
/// [`Inbox::deliver_at`]; reading gives what a topic keeps.
pub trait HistoryStore: Send + Sync {
    /// Appends `message` to `topic`'s stream, trimmed to `history`'s bounds, and publishes
    /// it to every server with its position. Resolves with the position, or fails (the
    /// store unreachable): then the message reached nobody.
    fn append(
        &self,
        topic: &str,
        message: &Message,
        history: History,
    ) -> BoxFuture<Result<Position, BoxError>>;

    /// What `topic`'s stream keeps: its last position, and its publications with their
    /// offsets, oldest first. A topic without a stream gets one, empty, under a new epoch.
    fn read(&self, topic: &str) -> BoxFuture<Result<Stored, BoxError>>;

    /// Resolves once what was asked of the backplane before (subscribing a topic, say)
    /// is done: publications to the topics subscribed then reach this server from then on.
    fn settled(&self) -> BoxFuture<()>;
}

/// Where a [`Backplane`] delivers what other servers publish: the local subscribers of a
/// hub. Holds the hub weakly: once every handle on the hub is gone, deliveries reach
/// nobody.
#[derive(Clone, Debug)]
pub struct Inbox {
    pub(super) hub: Weak<dyn Local>,
    pub(super) server: ServerId,
}

/// A hub's delivery to its own subscribers.
pub(super) trait Local: Send + Sync {
    fn publish_local(&self, topic: &str, message: Message) -> usize;
    fn publish_at(&self, topic: &str, message: Message, position: Position) -> usize;
    fn continuity_lost(&self);
    fn deliver_to_server(&self, message: Bytes);
    fn undeliverable(&self, message: Bytes);
}

impl Inbox {
    /// Publishes `message`, which another server published to `topic`, to this server's
    /// subscribers only. Returns how many sockets it reached.
    pub fn deliver(&self, topic: &str, message: Message) -> usize {
        match self.hub.upgrade() {
            Some(hub) => hub.publish_local(topic, message),
            None => 0,
        }
    }

    /// Publishes `message`, which the [`HistoryStore`] placed at `position` in `topic`'s
    /// stream, to this server's subscribers, this server's own publications included.
    /// Returns how many sockets it reached.
    pub fn deliver_at(&self, topic: &str, message: Message, position: Position) -> usize {
        match self.hub.upgrade() {
            Some(hub) => hub.publish_at(topic, message, position),
            None => 0,
        }
    }

    /// The server this inbox is for: what other servers name in
    /// [`Backplane::send_to_server`] to reach it.
    pub fn server(&self) -> ServerId {
        self.server
    }

    /// Hands over `message`, which another server sent to this one with
    /// [`Backplane::send_to_server`]. Dropped when nothing on this server takes such
    /// messages (without the protocol's `Clients` made from the hub).
    pub fn deliver_to_server(&self, message: Bytes) {
        if let Some(hub) = self.hub.upgrade() {
            hub.deliver_to_server(message);
        }
    }

    /// Hands back `message`, which this server sent with [`Backplane::send_to_server`] and
    /// which no server took (none of that name was listening): a call in it fails at once
    /// rather than at its timeout.
    pub fn undeliverable(&self, message: Bytes) {
        if let Some(hub) = self.hub.upgrade() {
            hub.undeliverable(message);
        }
    }

    /// Tells the hub that publications may have been missed (the connection to the
    /// broker was lost): what it holds of the store's streams must be read again before
    /// it serves a recovery from it.
    pub fn continuity_lost(&self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.continuity_lost();
        }
    }
}

/// Where a [`Backplane`] stands, in [`TopicStats::backplane`](crate::topics::TopicStats::backplane).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackplaneStats {
    /// Whether the broker answered the last health check.
    pub connected: bool,
    /// Times the connection came back after it was lost.
    pub reconnects: u64,
    /// The last error seen, if any.
    pub last_error: Option<String>,
    /// Messages received from other servers.
    pub messages_in: u64,
    /// Messages passed on to other servers.
    pub messages_out: u64,
    /// Messages published here that could not be passed on (the broker unreachable, or
    /// the queue to it full).
    pub lost: u64,
}

impl BackplaneStats {
    /// Stats with every count at zero, disconnected.
    pub fn new() -> Self {
        BackplaneStats::default()
    }
}
