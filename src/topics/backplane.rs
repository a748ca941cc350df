//! [`Backplane`]: how hubs in several server processes share their topics.

use std::sync::Weak;

use crate::Message;

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
}

/// Where a [`Backplane`] delivers what other servers publish: the local subscribers of a
/// hub. Holds the hub weakly: once every handle on the hub is gone, deliveries reach
/// nobody.
#[derive(Clone, Debug)]
pub struct Inbox {
    pub(super) hub: Weak<dyn Local>,
}

/// A hub's delivery to its own subscribers.
pub(super) trait Local: Send + Sync {
    fn publish_local(&self, topic: &str, message: Message) -> usize;
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
