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
#[cfg(feature = "protocol")]
mod envelope;
mod history;
mod hub;
mod member;
mod node;
mod position;
mod publication;
mod recovery;
mod registry;
mod stats;
mod stored;
mod streams;

use std::{
    fmt,
    sync::{atomic::Ordering, Arc, RwLock, Weak},
};

use tokio::time::Instant;

use backplane::Local;
pub use backplane::{Backplane, BackplaneStats, BoxFuture, HistoryStore, Inbox};
use broadcast::Broadcast;
pub(crate) use broadcast::Payload;
use config::TopicsConfig;
pub use config::WhenFull;
#[cfg(feature = "protocol")]
pub(crate) use envelope::At;
pub use history::History;
use hub::{Hold, Hub};
pub use member::Member;
#[cfg(feature = "protocol")]
pub(crate) use node::Mailbox;
use node::Node;
pub use position::Position;
pub(crate) use publication::Framing;
pub use recovery::{Recovery, SubscribeError};
use registry::Topic;
use stats::Counters;
pub use stats::{HistoryStats, TopicStats};
pub use stored::Stored;
use streams::{HistoryRules, Streams};

use crate::{
    identity::ServerId,
    socket::{Group, Shared},
    sync::lock,
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
///   returns; each socket's session writes its queue out. A socket whose queue holds the
///   [limit](TopicsBuilder::queue_limit) (1 MiB by default) is skipped or closed, as
///   [`WhenFull`] says, so a member that does not read costs at most its queue, and never
///   delays the others. A message larger than the limit is still taken by every socket
///   whose queue is under it: what a publish accepts, the members that keep up receive.
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

impl Topics {
    /// A hub with the default settings: 1 MiB queues, [`WhenFull::Drop`].
    pub fn new() -> Self {
        Topics::default()
    }

    /// A builder for a hub with other settings.
    pub fn builder() -> TopicsBuilder {
        TopicsBuilder::default()
    }

    fn with_config(
        config: TopicsConfig,
        backplane: Option<Arc<dyn Backplane>>,
        history: HistoryRules,
    ) -> Self {
        let copies = backplane.as_ref().is_some_and(|b| b.history().is_some());
        let hub = Arc::new(Hub {
            registry: RwLock::default(),
            config,
            counters: Counters::default(),
            backplane,
            streams: history.any().then(|| Streams::new(history, copies)),
            #[cfg(feature = "deflate")]
            sharers: Default::default(),
            node: Node::default(),
        });
        if let Some(backplane) = &hub.backplane {
            let local: Weak<dyn Local> = Arc::downgrade(&hub) as Weak<dyn Local>;
            backplane.attach(Inbox {
                hub: local,
                server: hub.node.server,
            });
        }
        Topics { hub }
    }

    /// This server's name among the servers that share the hub's backplane (random, one
    /// per hub): the server part of the [`ConnectionId`](crate::identity::ConnectionId)s
    /// of the protocol sessions it holds.
    pub fn server_id(&self) -> ServerId {
        self.hub.node.server
    }

    /// A connection id no other session of this server has had.
    #[cfg(feature = "protocol")]
    pub(crate) fn connection_id(&self) -> crate::identity::ConnectionId {
        self.hub.node.connection_id()
    }

    /// This server's mailbox for messages from other servers, made by `make` the first
    /// time; `None` if the hub has a mailbox of another type.
    #[cfg(feature = "protocol")]
    pub(crate) fn mailbox<M: Mailbox>(&self, make: impl FnOnce() -> M) -> Option<Arc<M>> {
        self.hub.node.mailbox(make)
    }

    /// The hub's backplane, if it has one.
    #[cfg(feature = "protocol")]
    pub(crate) fn backplane(&self) -> Option<Arc<dyn Backplane>> {
        self.hub.backplane.clone()
    }

    /// Subscribes `socket` to `topic`. Returns `false` if it already was, or if its session
    /// has ended (a socket can't join anything then).
    pub fn subscribe(&self, socket: &impl Member, topic: &str) -> bool {
        self.join(socket.socket().0, topic, Framing::Raw, None, true, |_| None)
            .is_ok()
    }

    /// Subscribes `socket` to `topic`, first queuing for it what it missed after `since`:
    /// the position of the last publication its client received before it lost its
    /// connection (`None` for a client that has received nothing yet).
    ///
    /// For a topic with [history](History), the publications kept after `since` are queued
    /// for the socket, oldest first, and then the live ones follow, with none missed and
    /// none twice at the seam: publishing to the topic waits while the socket joins.
    /// [`Recovery::recovered`] says whether that was everything the client missed; when
    /// it is `false`, the app should load its state afresh. What was replayed counts
    /// towards the socket's traffic but not towards the hub's queue limit (the history's
    /// bounds limit it).
    ///
    /// # Example
    ///
    /// ```
    /// use tower_websockets::{
    ///     topics::{History, Position},
    ///     Message, Topics, WebSocket,
    /// };
    ///
    /// async fn rejoin(topics: &Topics, socket: &mut WebSocket, since: Option<Position>) {
    ///     match topics.subscribe_from(socket, "room", since.as_ref()).await {
    ///         Ok(recovery) if recovery.recovered => {} // every missed message is queued
    ///         Ok(_) => {
    ///             let _ = socket.send(Message::text("you missed messages: reload")).await;
    ///         }
    ///         Err(_) => {} // subscribed already, or the socket is closing
    ///     }
    /// }
    /// let topics = Topics::builder().history(History::new()).build();
    /// # let _ = (topics, rejoin);
    /// ```
    pub async fn subscribe_from(
        &self,
        socket: &impl Member,
        topic: &str,
        since: Option<&Position>,
    ) -> Result<Recovery, SubscribeError> {
        self.recover(socket.socket().0, topic, Framing::Raw, since, |_| None)
            .await
    }

    /// [`join`](Self::join), after bringing this server's copy of the topic's stream up to
    /// date from the backplane's history store, if it has one: the topic's channel is
    /// subscribed first (and stays so while this waits), then the store is read, unless
    /// the copy is current already (the read of a recovery before served this one).
    pub(crate) async fn recover(
        &self,
        socket: &Arc<Shared>,
        topic: &str,
        framing: Framing,
        since: Option<&Position>,
        reply: impl FnOnce(&Recovery) -> Option<Payload>,
    ) -> Result<Recovery, SubscribeError> {
        let hub = &self.hub;
        let (Some(store), Some(streams)) = (hub.store(), hub.streams.as_ref()) else {
            return self.join(socket, topic, framing, since, true, reply);
        };
        if streams.history_for(topic).is_none() {
            return self.join(socket, topic, framing, since, true, reply);
        }
        let _hold = Hold::new(hub, topic);
        store.settled().await;
        let trusted = hub.bring_up_to_date(topic, store).await;
        self.join(socket, topic, framing, since, trusted, reply)
    }

    /// The position of `topic`'s last publication (offset 0 before any), for a topic that
    /// keeps history; `None` for one that does not. An app that sends its state over
    /// plain HTTP sends this with it, and the client subscribes from there. With a
    /// backplane's history store, it is the last position this server has seen.
    pub fn position(&self, topic: &str) -> Option<Position> {
        let streams = self.hub.streams.as_ref()?;
        streams.history_for(topic)?;
        match streams.existing(topic) {
            Some((_, stream)) => Some(lock(&stream.stream).top().clone()),
            // Asking makes nothing: a topic nobody published to is at its start.
            None => Some(streams.unmade(topic)),
        }
    }

    /// Unsubscribes `socket` from `topic`. Returns `false` if it was not subscribed.
    pub fn unsubscribe(&self, socket: &impl Member, topic: &str) -> bool {
        let mut registry = self.hub.write();
        let unsubscribed = registry.unsubscribe(socket.socket().0.key(), topic);
        if unsubscribed && !registry.interested(topic) {
            self.hub.lose_interest(topic);
        }
        unsubscribed
    }

    /// Publishes `message` to every socket subscribed to `topic`. Returns how many it was
    /// queued for on this server: sockets closing, and sockets skipped or closed because
    /// their queue was full, are not counted. Only text and binary messages are published:
    /// anything else reaches nobody (0). With a [`Backplane`], the message also goes to the
    /// other servers' subscribers.
    ///
    /// For a topic that keeps [history](History) in a backplane's [`HistoryStore`] (Redis),
    /// the store gives the message its position and publishes it to every server, this
    /// one included: it reaches the members here when it comes back, so this returns 0.
    /// While the store is unreachable, such a message reaches nobody (counted in
    /// [`BackplaneStats::lost`]).
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
        if let Some((store, history)) = self.hub.recorded(topic) {
            // The store gives it its place and publishes it to every server, this one
            // included: it reaches the members here when it comes back. Under way once
            // `append` returns; its outcome is not waited for.
            drop(store.append(topic, &message, history));
            self.hub.counters.published.fetch_add(1, Ordering::Relaxed);
            return 0;
        }
        if let Some(backplane) = &self.hub.backplane {
            backplane.publish(topic, &message);
        }
        let Some(payload) = Payload::new(message) else {
            return 0;
        };
        self.hub.counters.published.fetch_add(1, Ordering::Relaxed);
        self.hub
            .publish_local(topic, payload, except, false)
            .map_or(0, |(delivered, _)| delivered)
    }

    /// Publishes `payload` to every subscriber of `topic`; its position, if the topic
    /// keeps history. Fails only where a history store gives positions and cannot.
    #[cfg(feature = "protocol")]
    pub(crate) async fn publish_payload(
        &self,
        topic: &str,
        payload: Payload,
    ) -> Result<Option<Position>, crate::error::BoxError> {
        if let Some((store, history)) = self.hub.recorded(topic) {
            let appended = store.append(topic, &Message::from(payload), history);
            self.hub.counters.published.fetch_add(1, Ordering::Relaxed);
            return appended.await.map(Some);
        }
        if let Some(backplane) = &self.hub.backplane {
            backplane.publish(topic, &Message::from(payload.clone()));
        }
        match self.hub.publish_local(topic, payload, None, true) {
            Some((_, position)) => {
                self.hub.counters.published.fetch_add(1, Ordering::Relaxed);
                Ok(position)
            }
            None => Err("no room for another topic's history: every one kept has members".into()),
        }
    }

    /// Subscribes `socket` to `topic`, in `framing`. Under the registry's lock, so that no
    /// publication passes meanwhile: first the `reply` (made from how the subscription
    /// began) and whatever the topic's history holds after `since` are queued for the
    /// socket, then it becomes a member. Not `trusted`: the stream may lack publications
    /// (its store could not be read), so nothing counts as recovered.
    fn join(
        &self,
        socket: &Arc<Shared>,
        topic: &str,
        framing: Framing,
        since: Option<&Position>,
        trusted: bool,
        reply: impl FnOnce(&Recovery) -> Option<Payload>,
    ) -> Result<Recovery, SubscribeError> {
        let hub = &self.hub;
        let mut registry = hub.write();
        if registry.topic(topic).is_some_and(|t| t.has(socket.key())) {
            return Err(SubscribeError::AlreadySubscribed);
        }
        // Joined under the registry's lock: the session, if it ends now, leaves after.
        let group: Weak<dyn Group> = Arc::downgrade(hub) as Weak<dyn Group>;
        if !socket.join(group) {
            return Err(SubscribeError::Closed);
        }
        let now = Instant::now();
        let streams = hub
            .streams
            .as_ref()
            .filter(|streams| streams.history_for(topic).is_some());
        // A read makes no stream of this server's own; a copy of a store's is made to be
        // filled from the store.
        let stream = streams.and_then(|streams| match streams.copies() {
            true => streams.stream(topic, now, |name| registry.interested(name)),
            false => streams.existing(topic),
        });
        let mut stream = stream.as_ref().map(|(_, slot)| lock(&slot.stream));
        if let Some(stream) = stream.as_deref_mut() {
            stream.heard();
        }
        let (position, recovered, replay) = match (stream.as_deref_mut(), streams) {
            (Some(stream), _) => {
                let replay = since.map(|since| stream.since(since, now));
                let top = stream.top().clone();
                match replay {
                    Some(replay) => (Some(top), replay.recovered && trusted, replay.publications),
                    None => (Some(top), false, Vec::new()),
                }
            }
            (None, Some(streams)) if !streams.copies() => {
                // Nothing published yet in this generation: a client at its start, or
                // with nothing after it, missed nothing.
                let start = streams.unmade(topic);
                let recovered = since.is_some_and(|since| *since == start) && trusted;
                (Some(start), recovered, Vec::new())
            }
            _ => (None, false, Vec::new()),
        };
        let recovery = Recovery {
            position,
            recovered,
            replayed: replay.len(),
        };
        if let Some(reply) = reply(&recovery) {
            socket.write.offer(&Broadcast::new(&reply), usize::MAX);
        }
        for publication in &replay {
            socket.write.offer(publication.frames(framing), usize::MAX);
        }
        let first = !registry.interested(topic);
        hub.note_sharer(socket, framing);
        registry.subscribe(socket, topic, framing);
        if let (true, Some(backplane)) = (first, &hub.backplane) {
            backplane.subscribe(topic);
        }
        if since.is_some() {
            hub.counters.recovery(recovered);
        }
        Ok(recovery)
    }

    /// How many sockets are subscribed to `topic`.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.hub.read().topic(topic).map_or(0, Topic::len)
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
        let history = self
            .hub
            .streams
            .as_ref()
            .map(|streams| streams.held(Instant::now()));
        self.hub
            .counters
            .snapshot(topics, subscriptions, backplane, history)
    }
}

/// Builds a [`Topics`] hub with settings other than the defaults; from
/// [`Topics::builder`].
#[derive(Clone, Default)]
#[must_use]
pub struct TopicsBuilder {
    config: TopicsConfig,
    backplane: Option<Arc<dyn Backplane>>,
    history: HistoryRules,
}

impl std::fmt::Debug for TopicsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicsBuilder")
            .field("config", &self.config)
            .field("backplane", &self.backplane.is_some())
            .field("history", &self.history)
            .finish()
    }
}

impl TopicsBuilder {
    /// The bytes of frames a socket may have queued and still be given a publication
    /// (default: 1 MiB): one whose queue holds this much or more is full. A publication
    /// goes to a socket under the limit whatever the publication's size (its frame is
    /// shared, not copied), so a socket holds at most the limit plus one publication, and
    /// a publication larger than the limit still reaches every member that keeps up. What
    /// the socket's handler sends is queued in the same queue, in order, but waits for
    /// room instead of being refused.
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

    /// Every topic keeps its recent publications, as `history` bounds them (default: no
    /// topic keeps any). Then each publication gets a [`Position`] and a client that comes
    /// back is given what it missed ([`Topics::subscribe_from`]). Topics without history
    /// cost nothing more for it.
    pub fn history(mut self, history: History) -> Self {
        self.history.all = Some(history);
        self
    }

    /// Decides topic by topic whether, and how much, it keeps history: `rule` is asked
    /// with the topic's name when a topic without a stream is published or subscribed to,
    /// and its answer overrides [`history`](Self::history).
    ///
    /// ```
    /// use tower_websockets::{topics::History, Topics};
    ///
    /// // Chat rooms keep their last 500 messages; presence updates keep nothing.
    /// let topics = Topics::builder()
    ///     .history_for(|topic| topic.starts_with("room:").then(|| History::new().max_publications(500)))
    ///     .build();
    /// # let _ = topics;
    /// ```
    pub fn history_for(
        mut self,
        rule: impl Fn(&str) -> Option<History> + Send + Sync + 'static,
    ) -> Self {
        self.history.by_topic = Some(Arc::new(rule));
        self
    }

    /// The most topics that keep history at once (default: 10,000). A topic's stream is
    /// made by its first publish, never by a subscribe or [`Topics::position`]. When one
    /// more would be made, a sixteenth of the streams whose topics have no subscriber on
    /// this server lose theirs: first those nobody here ever subscribed to, then those
    /// used longest ago (a client that comes back to one of those is told it missed
    /// messages). Streams that live subscribers use are never dropped for a new name. When every stream has subscribers, the new topic's publications go
    /// without positions, and the topics protocol refuses them (`unavailable`).
    pub fn max_histories(mut self, topics: usize) -> Self {
        self.history.max_streams = Some(topics);
        self
    }

    /// The hub.
    pub fn build(self) -> Topics {
        Topics::with_config(self.config, self.backplane, self.history)
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
