//! The [`Handler`] trait, its blanket implementation for closures, what a handler may
//! return, and the handler an accept hook chose for one socket.

use std::{future::Future, pin::Pin};

use crate::{error::BoxError, handshake::Handshake, socket::WebSocket};

/// What runs a WebSocket session once the handshake is accepted.
///
/// Closures `|socket, handshake| async move { .. }` implement it, and so can structs, with a
/// plain `async fn call`. The future runs in a task of its own; when it finishes, the
/// session ends: a close frame is sent if the handler did not send one (1000, or 1011 if it
/// returned an error or panicked), the peer's answer is awaited up to the close timeout,
/// and the connection is closed.
///
/// # Example
///
/// ```
/// use tower_websockets::{Handler, Handshake, Message, WebSocket};
///
/// /// Greets each client by the path it connected to.
/// #[derive(Clone)]
/// struct Greeter;
///
/// impl Handler for Greeter {
///     type Output = Result<(), tower_websockets::Error>;
///
///     async fn call(
///         &self,
///         mut socket: WebSocket,
///         handshake: Handshake,
///     ) -> Result<(), tower_websockets::Error> {
///         let path = handshake.uri().path();
///         socket.send(Message::text(format!("hello from {path}"))).await
///     }
/// }
/// ```
pub trait Handler: Clone + Send + Sync + 'static {
    /// What a session returns: `()`, or a `Result` (see [`HandlerOutput`]).
    type Output: HandlerOutput + Send;

    /// Runs one session.
    fn call(
        &self,
        socket: WebSocket,
        handshake: Handshake,
    ) -> impl Future<Output = Self::Output> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(WebSocket, Handshake) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future + Send,
    Fut::Output: HandlerOutput + Send,
{
    type Output = Fut::Output;

    fn call(
        &self,
        socket: WebSocket,
        handshake: Handshake,
    ) -> impl Future<Output = Self::Output> + Send {
        self(socket, handshake)
    }
}

/// What a handler may return: `()`, or a `Result` whose error ends the session with
/// close code 1011 and is reported in the [`SessionSummary`](crate::session::SessionSummary).
pub trait HandlerOutput {
    /// The outcome as a result.
    fn into_result(self) -> Result<(), BoxError>;
}

impl HandlerOutput for () {
    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> HandlerOutput for Result<(), E> {
    fn into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// A session's future, boxed, with its output as a result.
pub(crate) type BoxedSession = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// The handler an accept hook chose for one socket (see `Decision::accept_with`), in place
/// of the layer's: it runs once, and owns what the hook found out.
pub(crate) struct OneSocket(Box<dyn FnOnce(WebSocket, Handshake) -> BoxedSession + Send>);

impl OneSocket {
    pub(crate) fn new<F, Fut>(handler: F) -> Self
    where
        F: FnOnce(WebSocket, Handshake) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: HandlerOutput,
    {
        OneSocket(Box::new(move |socket, handshake| {
            let session = handler(socket, handshake);
            Box::pin(async move { session.await.into_result() })
        }))
    }

    /// Starts the session.
    pub(crate) fn call(self, socket: WebSocket, handshake: Handshake) -> BoxedSession {
        (self.0)(socket, handshake)
    }
}

impl std::fmt::Debug for OneSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneSocket")
    }
}
