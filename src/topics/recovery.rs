//! What [`Topics::subscribe_from`](crate::Topics::subscribe_from) returns: how a
//! subscription began, and whether a client that came back was given all it missed.

use std::fmt;

use super::position::Position;

/// How a subscription from [`Topics::subscribe_from`](crate::Topics::subscribe_from)
/// began.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// The topic's position when the socket joined, after what was replayed to it: what
    /// the socket receives next is the publication after it. `None` for a topic that keeps
    /// no history.
    pub position: Option<Position>,
    /// Whether the socket was given every publication after the position it came back
    /// with. `false` when none was given, when the topic keeps no history, or when some
    /// of what it missed is no longer kept (too old, too many since, or another epoch):
    /// then the app should load its state afresh.
    pub recovered: bool,
    /// How many publications were queued for the socket before the live ones.
    pub replayed: usize,
}

/// Why a socket could not subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// It is subscribed to the topic already: nothing was replayed.
    AlreadySubscribed,
    /// Its session has ended.
    Closed,
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubscribeError::AlreadySubscribed => "already subscribed to the topic",
            SubscribeError::Closed => "the socket's session has ended",
        })
    }
}

impl std::error::Error for SubscribeError {}
