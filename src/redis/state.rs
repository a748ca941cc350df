//! What a [`RedisBackplane`](super::RedisBackplane) and its tasks share.

use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Mutex, OnceLock,
};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::envelope::Origin;
use crate::{sync::lock, topics::Inbox};

/// What the control task is asked to do, in order.
pub(super) enum Control {
    Subscribe(String),
    Unsubscribe(String),
    /// The connection is back: subscribe again to every channel wanted.
    Resync,
}

/// What the backplane's handle and its tasks share.
pub(super) struct Inner {
    pub(super) prefix: String,
    pub(super) origin: Origin,
    pub(super) inbox: OnceLock<Inbox>,
    pub(super) control: mpsc::UnboundedSender<Control>,
    pub(super) outgoing: mpsc::Sender<(String, Bytes)>,
    pub(super) connected: AtomicBool,
    pub(super) reconnects: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
    pub(super) messages_in: AtomicU64,
    pub(super) messages_out: AtomicU64,
    pub(super) lost: AtomicU64,
}

impl Inner {
    pub(super) fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    pub(super) fn lose(&self, count: u64) {
        self.lost.fetch_add(count, Ordering::Relaxed);
    }

    pub(super) fn note_error(&self, error: impl std::fmt::Display) {
        *lock(&self.last_error) = Some(error.to_string());
    }
}
