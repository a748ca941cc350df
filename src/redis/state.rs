//! What a [`RedisBackplane`](super::RedisBackplane) and its tasks share.

use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Mutex, OnceLock,
};

use bytes::Bytes;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use super::{
    controls::{Channel, Controls},
    envelope::Origin,
    history::Scripts,
};
use crate::{
    identity::ServerId,
    sync::lock,
    topics::{Inbox, Position},
};

/// A publication to append to a topic's history (and publish), and where its position
/// goes.
pub(super) struct Append {
    pub(super) channel: Channel,
    pub(super) keys: [String; 2],
    pub(super) envelope: Bytes,
    pub(super) epoch: String,
    pub(super) bounds: [i64; 4],
    pub(super) reply: oneshot::Sender<Result<Position, String>>,
}

/// What the backplane's handle and its tasks share.
pub(super) struct Inner {
    pub(super) prefix: String,
    pub(super) origin: Origin,
    pub(super) inbox: OnceLock<Inbox>,
    /// This server's own channel, once the backplane is attached to a hub.
    pub(super) server_channel: OnceLock<Channel>,
    pub(super) control: Controls,
    /// What to publish, and where: a topic's channel, or (`true`) a server's.
    pub(super) outgoing: mpsc::Sender<(Channel, Bytes, bool)>,
    pub(super) appends: mpsc::Sender<Append>,
    /// For reading histories.
    pub(super) manager: ConnectionManager,
    pub(super) scripts: Scripts,
    pub(super) connected: AtomicBool,
    pub(super) reconnects: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
    pub(super) messages_in: AtomicU64,
    pub(super) messages_out: AtomicU64,
    pub(super) lost: AtomicU64,
}

impl Inner {
    pub(super) fn channel(&self, topic: &str) -> Channel {
        format!("{}{topic}", self.prefix).into_bytes()
    }

    pub(super) fn server_channel(&self, server: ServerId) -> Channel {
        let mut channel = self.prefix.as_bytes().to_vec();
        channel.push(0xff);
        channel.extend_from_slice(format!("server:{server}").as_bytes());
        channel
    }

    pub(super) fn lose(&self, count: u64) {
        self.lost.fetch_add(count, Ordering::Relaxed);
    }

    pub(super) fn note_error(&self, error: impl std::fmt::Display) {
        *lock(&self.last_error) = Some(error.to_string());
    }
}
