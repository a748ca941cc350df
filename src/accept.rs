//! The accept hook: a decision per request, made before the `101`.

use std::{future::Future, pin::Pin, sync::Arc};

use bytes::Bytes;
use http::Response;

use crate::handshake::Handshake;

/// A hook's decision under way.
pub(crate) type Deciding = Pin<Box<dyn Future<Output = Decision> + Send>>;

/// The hook as the layer keeps it.
#[derive(Clone)]
pub(crate) struct AcceptHook(Arc<dyn Fn(Handshake) -> Deciding + Send + Sync>);

impl AcceptHook {
    pub(crate) fn new<F, Fut>(hook: F) -> Self
    where
        F: Fn(Handshake) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Decision> + Send + 'static,
    {
        AcceptHook(Arc::new(move |handshake| Box::pin(hook(handshake))))
    }
}

impl AcceptHook {
    /// Starts deciding about `handshake`.
    pub(crate) fn call(&self, handshake: Handshake) -> Deciding {
        (self.0)(handshake)
    }
}

impl std::fmt::Debug for AcceptHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptHook")
    }
}

/// What an accept hook decides about one handshake: accept it (with settings for that
/// socket, and whatever it put in the handshake's extensions for the handler), or answer
/// with a response of its own. See [`WebSocketLayer::on_accept`](crate::WebSocketLayer::on_accept).
///
/// # Example
///
/// ```
/// use http::{Response, StatusCode};
/// use tower_websockets::{Decision, Handshake};
///
/// /// Rooms that exist get a socket; others a 404 that says why.
/// async fn decide(handshake: Handshake) -> Decision {
///     match handshake.uri().query() {
///         Some("room=lobby") => Decision::accept(handshake),
///         _ => Decision::refuse(
///             Response::builder()
///                 .status(StatusCode::NOT_FOUND)
///                 .body("no such room")
///                 .unwrap(),
///         ),
///     }
/// }
/// ```
#[must_use = "a decision does nothing unless the hook returns it"]
#[derive(Debug)]
pub struct Decision {
    kind: Kind,
}

/// A decision, as the layer acts on it.
#[derive(Debug)]
pub(crate) enum Kind {
    Accept {
        handshake: Handshake,
        max_message_size: Option<usize>,
    },
    Refuse(Response<Bytes>),
}

impl Decision {
    pub(crate) fn into_kind(self) -> Kind {
        self.kind
    }

    /// Accepts the socket: the handler gets this handshake, with what the hook put in its
    /// extensions.
    pub fn accept(handshake: Handshake) -> Self {
        Decision {
            kind: Kind::Accept {
                handshake,
                max_message_size: None,
            },
        }
    }

    /// Refuses the socket with this response (a `401` with a body, a `404`, ...); the
    /// handler never runs, and the layer's stats count it.
    pub fn refuse(response: Response<impl Into<Bytes>>) -> Self {
        Decision {
            kind: Kind::Refuse(response.map(Into::into)),
        }
    }

    /// For an accepted socket: the largest message it takes, in place of the layer's
    /// `max_message_size`. Does nothing to a refusal.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        if let Kind::Accept {
            max_message_size, ..
        } = &mut self.kind
        {
            *max_message_size = Some(bytes);
        }
        self
    }
}
