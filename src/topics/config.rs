//! How a hub of topics treats its members: the bound on each socket's queue, and what
//! happens when a publish finds it full.

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

/// A hub's settings, as a [`TopicsBuilder`](super::TopicsBuilder) sets them.
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
