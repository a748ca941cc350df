//! [`Access`]: what a client of the topics protocol asks to do, for an app to allow or
//! refuse.

use crate::{handshake::Handshake, topics::BoxFuture};

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

/// Decides what a client may do, from its handshake and the access asked: at once, or
/// after a wait (a database's answer).
pub(super) enum Authorize {
    Now(Box<Decide>),
    Later(Box<DecideLater>),
}

/// An answer at once.
pub(super) type Decide = dyn Fn(&Handshake, Access<'_>) -> bool + Send + Sync;

/// An answer after a wait.
pub(super) type DecideLater = dyn Fn(&Handshake, Access<'_>) -> BoxFuture<bool> + Send + Sync;

impl Authorize {
    /// Whether the client whose handshake is `handshake` may do `access`.
    pub(super) async fn allows(&self, handshake: &Handshake, access: Access<'_>) -> bool {
        match self {
            Authorize::Now(allow) => allow(handshake, access),
            Authorize::Later(allow) => allow(handshake, access).await,
        }
    }
}
