//! The accept hook's answer: a [`Decision`] per request, made before the `101`, and the
//! [`Refusal`] it may answer with.

use std::{future::Future, pin::Pin, sync::Arc};

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::{
    handler::{HandlerOutput, OneSocket},
    handshake::Handshake,
    rejection::plain_text,
    socket::WebSocket,
};

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
/// socket, and a handler of its own that owns what the hook found out), or refuse it with a
/// response. See [`WebSocketLayer::on_accept`](crate::WebSocketLayer::on_accept).
///
/// # Example
///
/// ```
/// use http::StatusCode;
/// use tower_websockets::{Decision, Handshake, WebSocket};
///
/// /// Who a client is, found out before the `101`.
/// struct User(String);
///
/// async fn decide(handshake: Handshake) -> Decision {
///     let name = handshake
///         .uri()
///         .query()
///         .and_then(|query| query.strip_prefix("user="))
///         .map(str::to_owned);
///     match name {
///         // The handler gets the user, typed, by owning it.
///         Some(name) => Decision::accept_with(handshake, move |socket, _| greet(socket, User(name))),
///         None => Decision::refuse((StatusCode::UNAUTHORIZED, "say who you are: ?user=NAME")),
///     }
/// }
///
/// async fn greet(mut socket: WebSocket, user: User) {
///     let _ = socket.send(format!("hello, {}", user.0)).await;
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
        /// The hook's handler for this socket, in place of the layer's.
        handler: Option<OneSocket>,
    },
    Refuse(Response<Bytes>),
}

impl Decision {
    pub(crate) fn into_kind(self) -> Kind {
        self.kind
    }

    /// Accepts the socket: the layer's handler gets this handshake, with what the hook put
    /// in its extensions.
    pub fn accept(handshake: Handshake) -> Self {
        Decision {
            kind: Kind::Accept {
                handshake,
                max_message_size: None,
                handler: None,
            },
        }
    }

    /// Accepts the socket and runs `handler` for it, in place of the layer's handler: a
    /// closure that owns what the hook found out (the user, the room), typed, and passes it
    /// on. It gets the socket and this handshake, and returns `()` or a `Result`, as a
    /// [`Handler`](crate::Handler) does.
    pub fn accept_with<F, Fut>(handshake: Handshake, handler: F) -> Self
    where
        F: FnOnce(WebSocket, Handshake) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        Decision {
            kind: Kind::Accept {
                handshake,
                max_message_size: None,
                handler: Some(OneSocket::new(handler)),
            },
        }
    }

    /// Refuses the socket with this answer: a status, a status and a reason (sent as plain
    /// text), or a whole response (see [`Refusal`]). The handler never runs, and the
    /// layer's stats count it.
    pub fn refuse(refusal: impl Into<Refusal>) -> Self {
        Decision {
            kind: Kind::Refuse(refusal.into().0),
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

/// How an accept hook refuses a socket: the response the client gets instead of the `101`.
/// Made from a [`StatusCode`], a status and a reason (`(StatusCode, &str)` or
/// `(StatusCode, String)`, sent as `text/plain`), or a whole `Response`.
///
/// ```
/// use http::{Response, StatusCode};
/// use tower_websockets::accept::Refusal;
///
/// let _ = Refusal::from(StatusCode::NOT_FOUND);
/// let _ = Refusal::from((StatusCode::UNAUTHORIZED, "token expired"));
/// let _ = Refusal::from(Response::builder().status(429).body("slow down").unwrap());
/// ```
#[derive(Debug)]
pub struct Refusal(Response<Bytes>);

impl Refusal {
    /// The response.
    pub fn into_response(self) -> Response<Bytes> {
        self.0
    }
}

impl From<StatusCode> for Refusal {
    fn from(status: StatusCode) -> Self {
        let reason = status.canonical_reason().unwrap_or("refused");
        Refusal::from((status, reason))
    }
}

impl From<(StatusCode, &str)> for Refusal {
    fn from((status, reason): (StatusCode, &str)) -> Self {
        Refusal::from((status, reason.to_owned()))
    }
}

impl From<(StatusCode, String)> for Refusal {
    fn from((status, mut reason): (StatusCode, String)) -> Self {
        if !reason.ends_with('\n') {
            reason.push('\n');
        }
        Refusal(plain_text(status, reason))
    }
}

impl<B: Into<Bytes>> From<Response<B>> for Refusal {
    fn from(response: Response<B>) -> Self {
        Refusal(response.map(Into::into))
    }
}
