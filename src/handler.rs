//! The [`Handler`] trait, its blanket implementation for closures, and what a handler may
//! return.

use std::future::Future;

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
