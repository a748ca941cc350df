//! The handler trait, its blanket implementation for closures, and [`Echo`].

use std::{
    future::Future,
    pin::Pin,
    task::{Context as TaskContext, Poll},
};

use crate::{BoxError, Context, Message, WebSocket};

/// What runs a WebSocket session once the handshake is accepted.
///
/// Closures `|socket, cx| async move { .. }` implement it, and so can structs, with a plain
/// `async fn call`. The future runs in a task of its own; when it finishes, the session ends: a close frame is sent if
/// the handler did not send one (1000, or 1011 if it returned an error or panicked), the
/// peer's answer is awaited up to the close timeout, and the connection is closed.
///
/// # Example
///
/// ```
/// use tower_websockets::{Context, Handler, Message, WebSocket};
///
/// /// Greets each client by the path it connected to.
/// #[derive(Clone)]
/// struct Greeter;
///
/// impl Handler for Greeter {
///     type Output = Result<(), tower_websockets::Error>;
///
///     async fn call(&self, mut socket: WebSocket, cx: Context) -> Result<(), tower_websockets::Error> {
///         socket.send(Message::text(format!("hello from {}", cx.uri().path()))).await
///     }
/// }
/// ```
pub trait Handler: Clone + Send + Sync + 'static {
    /// What a session returns: `()`, or a `Result` (see [`HandlerOutput`]).
    type Output: HandlerOutput + Send;

    /// Runs one session.
    fn call(&self, socket: WebSocket, cx: Context) -> impl Future<Output = Self::Output> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(WebSocket, Context) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future + Send,
    Fut::Output: HandlerOutput + Send,
{
    type Output = Fut::Output;

    fn call(&self, socket: WebSocket, cx: Context) -> impl Future<Output = Self::Output> + Send {
        self(socket, cx)
    }
}

/// What a handler may return: `()`, or a `Result` whose error ends the session with
/// close code 1011 and is reported in the [`SessionSummary`](crate::SessionSummary).
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

/// The default handler: sends every text and binary message back unchanged until the
/// client closes, then closes with the client's own code and reason.
///
/// Fragmented messages are echoed whole, as one frame. Pings are answered with pongs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Handler for Echo {
    type Output = ();

    fn call(&self, socket: WebSocket, cx: Context) -> impl Future<Output = ()> + Send {
        // Not needed here: free it now rather than at the end of the session.
        drop(cx);
        EchoSession {
            socket,
            outgoing: None,
            sending: false,
            timer: None,
        }
    }
}

/// [`Echo`]'s session, written out by hand: it lives in every echo socket's task, idle or
/// not, and as a plain struct it holds the socket and one message, where an `async fn`
/// would keep a slot for each future it awaits.
struct EchoSession {
    socket: WebSocket,
    /// The message being sent back, until it is queued.
    outgoing: Option<Message>,
    /// Whether a send is under way. Queued is not sent: the send ends once the frame is
    /// written (or gathered with the answers to input already read).
    sending: bool,
    /// The send timeout's timer, while a send waits.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Future for EchoSession {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.sending {
                match this
                    .socket
                    .poll_send(cx, &mut this.outgoing, &mut this.timer)
                {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(())) => this.sending = false,
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                }
            }
            match std::task::ready!(this.socket.poll_recv(cx)) {
                Some(Ok(message)) if message.is_data() => {
                    this.outgoing = Some(message);
                    this.sending = true;
                }
                // Pings were answered by the socket; a close was answered with the
                // client's own code, and the next `recv` returns `None`.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Poll::Ready(()),
            }
        }
    }
}
