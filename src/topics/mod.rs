//! [`Topics`]: one-to-many delivery. Sockets subscribe to named topics; a message
//! published to a topic is encoded once and queued for every subscriber, each socket's
//! queue bounded, so that a slow member never holds up the publisher or the others.
//!
//! `registry.rs` keeps who is subscribed to what, `config.rs` the hub's settings,
//! `member.rs` what can subscribe, `broadcast.rs` a publication's frames, encoded once,
//! and `stats.rs` the counts. Each member's socket queues them (`WriteSide::offer`).
//!
//! # Example
//!
//! A chat room: every message a member sends goes to every member, the sender included.
//!
//! ```
//! use tower_websockets::{Handshake, Message, Topics, WebSocket, WebSocketLayer};
//!
//! let topics = Topics::new();
//! let layer = WebSocketLayer::new({
//!     let topics = topics.clone();
//!     move |mut socket: WebSocket, _: Handshake| {
//!         let topics = topics.clone();
//!         async move {
//!             topics.subscribe(&socket, "lobby");
//!             while let Some(Ok(message)) = socket.recv().await {
//!                 if let Message::Text(_) = message {
//!                     topics.publish("lobby", message);
//!                 }
//!             }
//!             // Leaving is automatic: a socket's subscriptions end with its session.
//!         }
//!     }
//! })
//! .path("/chat");
//!
//! // Anything else may publish too, a background task for instance.
//! let reached = topics.publish("lobby", Message::text("server says hello"));
//! assert_eq!(reached, 0); // nobody is connected yet
//! # let _ = layer;
//! ```

mod backplane;
mod broadcast;
mod config;
mod member;
mod registry;
mod stats;

use std::{
    fmt,
    sync::{atomic::Ordering, Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak},
};

use backplane::Local;
pub use backplane::{Backplane, BackplaneStats, Inbox};
use broadcast::Broadcast;
use config::TopicsConfig;
pub use config::WhenFull;
pub use member::Member;
use registry::Registry;
pub use stats::TopicStats;
use stats::{Counters, Tally};

use crate::{
    socket::{Group, OfferOutcome},
    Message,
};

/// A hub of topics: sockets subscribe to topics by name, and a message published to a
/// topic goes to every socket subscribed to it.
///
/// - **Encoded once.** A published message becomes one frame, shared by every subscriber's
///   queue without a copy. With compression (the `deflate` feature), it is compressed once
///   for all the subscribers that agreed no server context takeover with the same window;
///   subscribers that keep a context get it uncompressed (RFC 7692 allows either for any
///   message), since compressing in their context would mean once each.
/// - **Never waits.** [`publish`](Self::publish) queues the frame for each subscriber and
///   returns; each socket's session writes its queue out. A socket whose queue would pass
///   the [limit](TopicsBuilder::queue_limit) (1 MiB by default) is skipped or closed, as
///   [`WhenFull`] says, so a member that does not read costs at most its queue, and never
///   delays the others.
/// - **In order.** Published messages and what the socket's handler sends share the
///   socket's one queue, so each socket receives them in the order they were published or
///   sent. A message published while the handler sends one [in parts](crate::WebSocket::send_part)
///   follows its last part.
/// - **Self-cleaning.** A socket's subscriptions end when its session does.
///
/// Cheap to clone (the clones share the hub), `Send` and `Sync`: keep one in the handler
/// and use it from anywhere else too. Topic names are matched exactly.
#[derive(Clone, Default)]
pub struct Topics {
    hub: Arc<Hub>,
}

/// What the clones of a [`Topics`] share.
#[derive(Default)]
struct Hub {
    registry: RwLock<Registry>,
    config: TopicsConfig,
    counters: Counters,
    backplane: Option<Arc<dyn Backplane>>,
}

impl Topics {
    /// A hub with the default settings: 1 MiB queues, [`WhenFull::Drop`].
    pub fn new() -> Self {
        Topics::default()
    }

    /// A builder for a hub with other settings.
    pub fn builder() -> TopicsBuilder {
        TopicsBuilder::default()
    }

    fn with_config(config: TopicsConfig, backplane: Option<Arc<dyn Backplane>>) -> Self {
        let hub = Arc::new(Hub {
            registry: RwLock::default(),
            config,
            counters: Counters::default(),
            backplane,
        });
        if let Some(backplane) = &hub.backplane {
            let local: Weak<dyn Local> = Arc::downgrade(&hub) as Weak<dyn Local>;
            backplane.attach(Inbox { hub: local });
        }
        Topics { hub }
    }

    /// Subscribes `socket` to `topic`. Returns `false` if it already was, or if its session
    /// has ended (a socket can't join anything then).
    pub fn subscribe(&self, socket: &impl Member, topic: &str) -> bool {
        let shared = socket.socket().0;
        let mut registry = self.hub.write();
        // Joined under the registry's lock: the session, if it ends now, leaves after.
        let group: Weak<dyn Group> = Arc::downgrade(&self.hub) as Weak<dyn Group>;
        let first = registry.topic(topic).is_none();
        let subscribed = shared.join(group) && registry.subscribe(shared, topic);
        if let (true, true, Some(backplane)) = (subscribed, first, &self.hub.backplane) {
            backplane.subscribe(topic);
        }
        subscribed
    }

    /// Unsubscribes `socket` from `topic`. Returns `false` if it was not subscribed.
    pub fn unsubscribe(&self, socket: &impl Member, topic: &str) -> bool {
        let mut registry = self.hub.write();
        let unsubscribed = registry.unsubscribe(socket.socket().0.key(), topic);
        if let (true, None, Some(backplane)) =
            (unsubscribed, registry.topic(topic), &self.hub.backplane)
        {
            backplane.unsubscribe(topic);
        }
        unsubscribed
    }

    /// Publishes `message` to every socket subscribed to `topic`. Returns how many it was
    /// queued for on this server: sockets closing, and sockets skipped or closed because
    /// their queue was full, are not counted. Only text and binary messages are published:
    /// anything else reaches nobody (0). With a [`Backplane`], the message also goes to the
    /// other servers' subscribers.
    pub fn publish(&self, topic: &str, message: Message) -> usize {
        self.publish_to(topic, message, None)
    }

    /// Publishes `message` to every socket subscribed to `topic` except `sender`; see
    /// [`publish`](Self::publish).
    pub fn publish_except(&self, topic: &str, message: Message, sender: &impl Member) -> usize {
        self.publish_to(topic, message, Some(sender.socket().0.key()))
    }

    fn publish_to(&self, topic: &str, message: Message, except: Option<usize>) -> usize {
        if !matches!(message, Message::Text(_) | Message::Binary(_)) {
            return 0;
        }
        self.hub.counters.published.fetch_add(1, Ordering::Relaxed);
        if let Some(backplane) = &self.hub.backplane {
            backplane.publish(topic, &message);
        }
        self.hub.publish_local(topic, message, except)
    }

    /// How many sockets are subscribed to `topic`.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.hub
            .read()
            .topic(topic)
            .map_or(0, |topic| topic.members().len())
    }

    /// The topics `socket` is subscribed to, in the order it subscribed.
    pub fn topics_of(&self, socket: &impl Member) -> Vec<String> {
        self.hub.read().topics_of(socket.socket().0.key())
    }

    /// What the hub has done so far, and how many topics and subscriptions it has now.
    pub fn stats(&self) -> TopicStats {
        let (topics, subscriptions) = {
            let registry = self.hub.read();
            (registry.topic_count(), registry.subscriptions())
        };
        let backplane = self
            .hub
            .backplane
            .as_ref()
            .map(|backplane| backplane.stats());
        self.hub.counters.snapshot(topics, subscriptions, backplane)
    }
}

/// Builds a [`Topics`] hub with settings other than the defaults; from
/// [`Topics::builder`].
#[derive(Clone, Default)]
#[must_use]
pub struct TopicsBuilder {
    config: TopicsConfig,
    backplane: Option<Arc<dyn Backplane>>,
}

impl std::fmt::Debug for TopicsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicsBuilder")
            .field("config", &self.config)
            .field("backplane", &self.backplane.is_some())
            .finish()
    }
}

impl TopicsBuilder {
    /// The most bytes of frames a socket may have queued for a publish to still go to it
    /// (default: 1 MiB). What the socket's handler sends is queued in the same queue, in
    /// order, but waits for room instead of being refused.
    pub fn queue_limit(mut self, bytes: usize) -> Self {
        self.config.queue_limit = bytes;
        self
    }

    /// What a publish does for a socket whose queue is full (default: [`WhenFull::Drop`]).
    pub fn when_full(mut self, policy: WhenFull) -> Self {
        self.config.when_full = policy;
        self
    }

    /// Shares the hub's topics with the hubs of other server processes through
    /// `backplane` (default: none, the hub serves this process alone).
    pub fn backplane(mut self, backplane: impl Backplane) -> Self {
        self.backplane = Some(Arc::new(backplane));
        self
    }

    /// The hub.
    pub fn build(self) -> Topics {
        Topics::with_config(self.config, self.backplane)
    }
}

impl Hub {
    /// Queues `message` for this server's subscribers of `topic` (but `except`).
    fn publish_local(&self, topic: &str, message: Message, except: Option<usize>) -> usize {
        let Some(broadcast) = Broadcast::new(message) else {
            return 0;
        };
        let config = self.config;
        let mut tally = Tally::default();
        {
            let registry = self.read();
            let members = registry
                .topic(topic)
                .map_or(&[][..], |topic| topic.members());
            for member in members {
                if Some(member.key()) == except {
                    continue;
                }
                match member.write.offer(&broadcast, config.queue_limit) {
                    OfferOutcome::Queued => tally.delivered += 1,
                    OfferOutcome::Closed => {}
                    OfferOutcome::Full => match config.when_full {
                        WhenFull::Drop => tally.dropped += 1,
                        WhenFull::Close => {
                            member.write.evict();
                            tally.closed += 1;
                        }
                    },
                }
            }
        }
        #[cfg(feature = "deflate")]
        {
            tally.compressed = broadcast.compressions();
        }
        self.counters.add(&tally);
        tally.delivered as usize
    }

    fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Local for Hub {
    fn publish_local(&self, topic: &str, message: Message) -> usize {
        Hub::publish_local(self, topic, message, None)
    }
}

impl Group for Hub {
    fn leave(&self, socket: usize) {
        let mut registry = self.write();
        registry.remove_member(socket, |topic| {
            if let Some(backplane) = &self.backplane {
                backplane.unsubscribe(topic);
            }
        });
    }
}

impl fmt::Debug for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topics")
            .field("config", &self.hub.config)
            .field("backplane", &self.hub.backplane.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}
