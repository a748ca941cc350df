//! How a hub of topics treats its members: the bound on each socket's queue, and what
//! happens when a publish finds it full.

use std::sync::Arc;

use super::backplane::Backplane;

/// What a publish does for a socket whose outgoing queue is full: it never waits for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhenFull {
    /// Skip that socket for this message (counted in
    /// [`TopicStats::dropped`](crate::topics::TopicStats::dropped)); it gets the next messages once
    /// its queue has room again. The default.
    #[default]
    Drop,
    /// Close that socket: a close frame with code 1008 (policy violation) and the reason
    /// "too slow: outgoing queue full" goes after what is queued, and if the client has
    /// not completed the close handshake within the layer's close timeout, the connection
    /// is dropped (the session ends with [`SessionError::QueueFull`](crate::error::SessionError::QueueFull)).
    /// Counted in [`TopicStats::closed_for_slowness`](crate::topics::TopicStats::closed_for_slowness).
    Close,
}

/// A hub's settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct TopicsConfig {
    pub(super) queue_limit: usize,
    pub(super) when_full: WhenFull,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            queue_limit: 1024 * 1024,
            when_full: WhenFull::Drop,
        }
    }
}

/// Builds a [`Topics`](crate::Topics) hub with settings other than the defaults; from
/// [`Topics::builder`](crate::Topics::builder).
#[derive(Clone, Default)]
#[must_use]
pub struct TopicsBuilder {
    pub(super) config: TopicsConfig,
    pub(super) backplane: Option<Arc<dyn Backplane>>,
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
}
