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

/// The app's `authorize`: called once for each client, with its handshake, for what that
/// client may do.
pub(super) type Authorize = dyn Fn(&Handshake) -> Permissions + Send + Sync;

/// What one client may do, as the app's `authorize` decided when it connected: asked before
/// each subscribe and each publish, at once or after a wait (a database's answer). A
/// session keeps this, not the handshake it was made from.
pub(super) enum Permissions {
    Now(Box<dyn Fn(Access<'_>) -> bool + Send + Sync>),
    Later(Box<dyn Fn(Access<'_>) -> BoxFuture<bool> + Send + Sync>),
}

/// What [`Permissions`] answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Allowed,
    Forbidden,
    /// No answer within the time given: refused, as the store of permissions being out of
    /// reach, not as a permission.
    Unanswered,
}

impl Permissions {
    /// Whether the client may do `access`; an answer that takes a wait must come `within`
    /// that time.
    pub(super) async fn allows(&self, access: Access<'_>, within: Duration) -> Verdict {
        let allowed = match self {
            Permissions::Now(allow) => allow(access),
            Permissions::Later(allow) => match tokio::time::timeout(within, allow(access)).await {
                Ok(allowed) => allowed,
                Err(_) => return Verdict::Unanswered,
            },
        };
        match allowed {
            true => Verdict::Allowed,
            false => Verdict::Forbidden,
        }
    }
}
