//! [`Access`]: what a client of the topics protocol asks to do, for an app to allow or
//! refuse.

use crate::handshake::Handshake;

/// What a client asks to do, for [`TopicsProtocol::authorize`](super::TopicsProtocol::authorize)
/// to allow or refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access<'a> {
    /// Subscribe to the topic.
    Subscribe(&'a str),
    /// Publish to the topic.
    Publish(&'a str),
}

/// Decides what a client may do, from its handshake and the access asked.
pub(super) type Authorize = dyn Fn(&Handshake, Access<'_>) -> bool + Send + Sync;
