//! [`RecvHalf`] and [`SendHalf`]: a [`WebSocket`](super::WebSocket) split for two tasks.
//! Their methods are the socket's own (see `methods.rs`).

use std::sync::Arc;

use super::{
    methods::{controlling, receiving, sending},
    shared::Shared,
    write::SendMode,
};

/// The receiving half of a [`WebSocket`](super::WebSocket), from
/// [`WebSocket::split`](super::WebSocket::split).
///
/// It still answers pings and close frames: they go out through the shared connection.
pub struct RecvHalf {
    pub(super) shared: Arc<Shared>,
}

receiving!(RecvHalf);
controlling!(RecvHalf);

impl std::fmt::Debug for RecvHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvHalf").finish_non_exhaustive()
    }
}

/// The sending half of a [`WebSocket`](super::WebSocket), from
/// [`WebSocket::split`](super::WebSocket::split).
pub struct SendHalf {
    pub(super) shared: Arc<Shared>,
}

sending!(
    SendHalf,
    SendMode::SEND_HALF,
    /// It waits until the connection has taken the frame. Unlike the whole socket's `send`,
    /// it never gathers the frame with answers to input already read: the receiving half
    /// may be in another task, busy with something else.
);
controlling!(SendHalf);

impl std::fmt::Debug for SendHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendHalf").finish_non_exhaustive()
    }
}
