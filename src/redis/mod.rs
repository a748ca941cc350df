//! [`RedisBackplane`]: topics shared by several server processes through Redis pub/sub.
//!
//! Each topic is a Redis channel, `PREFIX` + topic name. A server subscribes to a topic's
//! channel only while it has local subscribers, and publishes there what its own members
//! publish, in an envelope with its server id (`envelope.rs`), so that it ignores its own
//! messages when they come back; its local subscribers get them directly. The connection
//! is redis-rs's `ConnectionManager` over RESP3, which reconnects with backoff; the tasks
//! beside it (`worker.rs`) subscribe, one channel a command, and subscribe again to every
//! wanted channel once Redis answers after a reconnection.
//!
//! Each server also has a channel of its own, `PREFIX`, the byte 0xFF (which no topic's
//! channel holds, topics being UTF-8), `server:` and its id, subscribed for as long as
//! the backplane lives: what another server sends it alone
//! ([`Backplane::send_to_server`]: a call to one of its clients, the answer to one of its
//! calls) comes there, one publish a message; one that reached no subscriber (no server of
//! that id runs) is handed back to the hub's [`Inbox::undeliverable`].
//!
//! Topics that keep [history](crate::topics::History) keep it in Redis (`history.rs`):
//! a publication gets its offset, joins the topic's Redis stream and goes to every
//! server in one script, so every server sees one order, and a client that drops from
//! one server recovers on another.
//!
//! # Example
//!
//! ```no_run
//! use tower_websockets::{redis::RedisBackplane, Topics};
//!
//! # async fn run() -> Result<(), tower_websockets::error::BoxError> {
//! let backplane = RedisBackplane::builder("redis://127.0.0.1:6379")
//!     .prefix("chat:")
//!     .connect()
//!     .await?;
//! let topics = Topics::builder().backplane(backplane).build();
//! # let _ = topics;
//! # Ok(())
//! # }
//! ```

mod controls;
mod envelope;
mod history;
mod state;
mod worker;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use bytes::Bytes;
use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig},
    IntoConnectionInfo, ProtocolVersion, PushInfo,
};
use tokio::sync::mpsc;

use crate::{
    error::BoxError,
    identity::ServerId,
    random::random_u64,
    sync::lock,
    topics::{
        Backplane, BackplaneStats, BoxFuture, History, HistoryStore, Inbox, Position, Stored,
    },
    Message,
};
use state::{Append, Inner};

/// How many published messages may wait for Redis; past that, they are lost (counted).
const OUTGOING: usize = 64 * 1024;

/// How many messages from Redis may wait for this server to deliver them; past that, they
/// are lost (counted).
const INCOMING: usize = 64 * 1024;

/// Builds a [`RedisBackplane`]; from [`RedisBackplane::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisBackplaneBuilder {
    url: String,
    prefix: String,
    health_interval: Duration,
}

impl RedisBackplaneBuilder {
    /// The prefix of every topic's channel name (default: `tower-websockets:`): servers
    /// with the same prefix share topics, others do not.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often the connection is checked with a `PING` (default: 500 ms). A check that
    /// fails marks the backplane disconnected, and starts a reconnection.
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }

    /// Connects. Fails, with the reason, on a URL that cannot be read or a server that
    /// cannot be reached.
    pub async fn connect(self) -> Result<RedisBackplane, BoxError> {
        let info = self.url.as_str().into_connection_info()?;
        // RESP3: pub/sub messages come as pushes on the same multiplexed connection.
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        // Pushes (pub/sub messages) wait in a bounded queue: past it, while the receiving
        // task is behind, they are lost and counted, and the streams copied from a history
        // store are read again before they serve a recovery.
        let (pushes, pushed) = mpsc::channel(INCOMING);
        let overflowed = Arc::new(AtomicU64::new(0));
        let push_sender = {
            let overflowed = overflowed.clone();
            move |push: PushInfo| match pushes.try_send(push) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    overflowed.fetch_add(1, Ordering::AcqRel);
                    Ok(())
                }
                Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
            }
        };
        let config = ConnectionManagerConfig::new()
            .set_push_sender(push_sender)
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1))
            .set_number_of_retries(3);
        let manager = ConnectionManager::new_with_config(client, config).await?;
        let (control, controls) = controls::controls();
        let (outgoing, published) = mpsc::channel(OUTGOING);
        let (appends, appended) = mpsc::channel(OUTGOING);
        let inner = Arc::new(Inner {
            prefix: self.prefix,
            origin: envelope::new_origin(),
            inbox: OnceLock::new(),
            server_channel: OnceLock::new(),
            control,
            outgoing,
            appends,
            manager: manager.clone(),
            scripts: history::Scripts::new(),
            connected: AtomicBool::new(true),
            reconnects: AtomicU64::new(0),
            last_error: Mutex::new(None),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&inner);
        tokio::spawn(worker::control(manager.clone(), controls, weak.clone()));
        tokio::spawn(worker::publish(manager.clone(), published, weak.clone()));
        tokio::spawn(worker::append(manager.clone(), appended, weak.clone()));
        tokio::spawn(worker::receive(pushed, overflowed, weak.clone()));
        tokio::spawn(worker::check_health(manager, self.health_interval, weak));
        Ok(RedisBackplane { inner })
    }
}

/// A [`Backplane`] over Redis pub/sub (the `redis` feature): servers that share a Redis
/// and a channel prefix share their topics.
///
/// - A message crosses Redis once per publish; each server encodes it once for all its
///   local subscribers, and delivers its own publishes locally without a round trip.
/// - Delivery between servers is **at most once**. While Redis is unreachable, local
///   delivery goes on, and what is published for other servers is dropped and counted in
///   [`BackplaneStats::lost`]; nothing is queued for later. A `PING` every
///   [`health_interval`](RedisBackplaneBuilder::health_interval) tells whether Redis
///   answers; when it is back, every topic with local subscribers is subscribed again.
/// - Order: messages from one server to a topic arrive at another server in the order
///   they were published.
/// - **History.** For topics that keep [history](crate::topics::History), Redis keeps
///   it (a stream per topic, trimmed to the bounds in the same script that appends) and
///   gives the positions: one order for every server, and a client that comes back to
///   any of them recovers what it missed. Such a publication reaches the local members
///   when it comes back from Redis; while Redis is unreachable it is refused (the
///   protocol's publisher gets `unavailable`) rather than delivered without a place in
///   the stream. A Redis that lost its data starts each stream over under a new epoch:
///   clients that come back are told they did not recover. A burst of clients coming
///   back to a server reads each topic's stream once.
///
/// Cheap to clone; the clones share one connection.
#[derive(Clone)]
pub struct RedisBackplane {
    inner: Arc<Inner>,
}

impl RedisBackplane {
    /// A builder for a backplane on the Redis at `url` (`redis://host:port/db`, with
    /// `redis://user:password@...` for a password).
    pub fn builder(url: impl Into<String>) -> RedisBackplaneBuilder {
        RedisBackplaneBuilder {
            url: url.into(),
            prefix: "tower-websockets:".to_owned(),
            health_interval: Duration::from_millis(500),
        }
    }

    /// Connects to the Redis at `url` with the default settings.
    pub async fn connect(url: impl Into<String>) -> Result<RedisBackplane, BoxError> {
        RedisBackplane::builder(url).connect().await
    }
}

impl Backplane for RedisBackplane {
    fn attach(&self, inbox: Inbox) {
        let channel = self.inner.server_channel(inbox.server());
        if self.inner.inbox.set(inbox).is_ok() {
            // Messages to this server come on its own channel, wanted for good.
            self.inner.control.want(channel.clone(), true);
            let _ = self.inner.server_channel.set(channel);
        }
    }

    fn subscribe(&self, topic: &str) {
        self.inner.control.want(self.inner.channel(topic), true);
    }

    fn unsubscribe(&self, topic: &str) {
        self.inner.control.want(self.inner.channel(topic), false);
    }

    fn publish(&self, topic: &str, message: &Message) {
        let inner = &self.inner;
        if !inner.connected.load(Ordering::Acquire) {
            // Known to be down: lost now rather than sent late.
            inner.lose(1);
            return;
        }
        let Some(envelope) = envelope::seal(&inner.origin, message) else {
            return;
        };
        if inner
            .outgoing
            .try_send((inner.channel(topic), envelope, false))
            .is_err()
        {
            inner.lose(1);
        }
    }

    fn send_to_server(&self, server: ServerId, message: Bytes) -> bool {
        let inner = &self.inner;
        if !inner.connected.load(Ordering::Acquire) {
            return false;
        }
        inner
            .outgoing
            .try_send((inner.server_channel(server), message, true))
            .is_ok()
    }

    fn history(&self) -> Option<&dyn HistoryStore> {
        Some(self)
    }

    fn stats(&self) -> BackplaneStats {
        let inner = &self.inner;
        let mut stats = BackplaneStats::new();
        stats.connected = inner.connected.load(Ordering::Acquire);
        stats.reconnects = inner.reconnects.load(Ordering::Relaxed);
        stats.last_error = lock(&inner.last_error).clone();
        stats.messages_in = inner.messages_in.load(Ordering::Relaxed);
        stats.messages_out = inner.messages_out.load(Ordering::Relaxed);
        stats.lost = inner.lost.load(Ordering::Relaxed);
        stats
    }
}

/// Topics' history in Redis streams (see `history.rs`): a topic that keeps history is
/// recovered from on any server that shares the Redis and the prefix.
impl HistoryStore for RedisBackplane {
    fn append(
        &self,
        topic: &str,
        message: &Message,
        history: History,
    ) -> BoxFuture<Result<Position, BoxError>> {
        let inner = &self.inner;
        let failed = |why: &str| -> BoxFuture<Result<Position, BoxError>> {
            let why = why.to_owned();
            Box::pin(async move { Err(why.into()) })
        };
        if !inner.connected.load(Ordering::Acquire) {
            inner.lose(1);
            return failed("Redis is unreachable");
        }
        let Some(envelope) = envelope::seal(&inner.origin, message) else {
            return failed("only text and binary messages are published");
        };
        let (reply, position) = tokio::sync::oneshot::channel();
        let append = Append {
            channel: inner.channel(topic),
            keys: history::keys(&inner.prefix, topic),
            envelope,
            epoch: format!("{:016x}", random_u64()),
            bounds: history::bounds(history),
            reply,
        };
        if inner.appends.try_send(append).is_err() {
            inner.lose(1);
            return failed("too many publications wait for Redis");
        }
        Box::pin(async move {
            match position.await {
                Ok(Ok(position)) => Ok(position),
                Ok(Err(why)) => Err(why.into()),
                Err(_) => Err("the backplane is gone".into()),
            }
        })
    }

    fn read(&self, topic: &str) -> BoxFuture<Result<Stored, BoxError>> {
        let inner = self.inner.clone();
        let [meta, stream] = history::keys(&inner.prefix, topic);
        Box::pin(async move {
            let mut manager = inner.manager.clone();
            type Entry = (String, Vec<Vec<u8>>);
            let (epoch, top, entries): (String, u64, Vec<Entry>) = inner
                .scripts
                .read
                .key(meta)
                .key(stream)
                .arg(format!("{:016x}", random_u64()))
                .invoke_async(&mut manager)
                .await?;
            let publications = entries
                .into_iter()
                .filter_map(|(id, mut fields)| {
                    let offset = id.split_once('-')?.0.parse().ok()?;
                    // Fields: at, its value, body, its value.
                    let body = fields.pop()?;
                    let (_, message) = envelope::open(bytes::Bytes::from(body))?;
                    Some((offset, message))
                })
                .collect();
            Ok(Stored::new(Position::new(epoch, top), publications))
        })
    }

    fn settled(&self) -> BoxFuture<()> {
        let (done, settled) = tokio::sync::oneshot::channel();
        self.inner.control.settled(done);
        Box::pin(async move {
            let _ = settled.await;
        })
    }
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("prefix", &self.inner.prefix)
            .field("stats", &self.stats())
            .finish()
    }
}
