//! [`Access`]: what a client of the topics protocol asks to do, for an app to allow or
//! refuse.

use std::time::Duration;

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

/// What an [`Authorize`] answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Allowed,
    Forbidden,
    /// No answer within the time given: refused, as the store of permissions being out of
    /// reach, not as a permission.
    Unanswered,
}

impl Authorize {
    /// Whether the client whose handshake is `handshake` may do `access`; an answer that
    /// takes a wait must come `within` that time.
    pub(super) async fn allows(
        &self,
        handshake: &Handshake,
        access: Access<'_>,
        within: Duration,
    ) -> Verdict {
        let allowed = match self {
            Authorize::Now(allow) => allow(handshake, access),
            Authorize::Later(allow) => {
                match tokio::time::timeout(within, allow(handshake, access)).await {
                    Ok(allowed) => allowed,
                    Err(_) => return Verdict::Unanswered,
                }
            }
        };
        match allowed {
            true => Verdict::Allowed,
            false => Verdict::Forbidden,
        }
    }
}
