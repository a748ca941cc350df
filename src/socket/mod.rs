//! [`WebSocket`] and its halves: the socket a handler gets, and what lies under it.
//!
//! `shared` holds one socket's state (a reader and a writer under their own locks);
//! `reader` reassembles the frames that `engine` reads through fastwebsockets, by the
//! payload rules in `checks` (and, with compression, the marks of `marks`); `writer`
//! encodes frames (`encode`) into a queue and writes them out; `connection` splits the
//! upgraded connection between the two; `send` is the send future with its timeout.

mod broadcast;
mod checks;
mod connection;
mod encode;
mod engine;
mod halves;
#[cfg(feature = "deflate")]
mod marks;
mod membership;
mod parts;
mod queue;
mod reader;
mod receive;
mod send;
mod shared;
mod status;
mod wakers;
mod writer;

use std::{
    future::{poll_fn, Future},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

pub use crate::part::{MessageKind, Part};
pub(crate) use broadcast::Broadcast;
pub use halves::{RecvHalf, SendHalf};
pub(crate) use membership::Group;
pub(crate) use shared::Shared;
use shared::SOCKET;
pub(crate) use status::Snapshot;
pub use status::WebSocketState;
pub(crate) use writer::Offer;

use crate::{CloseCode, CloseFrame, Error, Message};

/// An accepted WebSocket connection: message-level `recv`, `send` and `close`.
///
/// It reads whole messages (fragments are reassembled, pings answered, protocol
/// errors closed with the RFC's code) and writes them in order. It is also a
/// [`Stream`](futures_core::Stream) of messages and a [`Sink`](futures_sink::Sink) of them,
/// and [`WebSocket::split`] gives a receiving and a sending half for two tasks.
///
/// Memory is bounded both ways. A socket holds at most one outgoing message plus 64 KiB of
/// frames waiting for the connection: `send` returns once the connection has taken its
/// frame (or gathered it, up to 64 KiB, with the answers to input already read), so a
/// client that stops reading stalls its sender instead of growing the server; the `Sink`
/// waits in `poll_ready` at 64 KiB. With `send_timeout` configured, a send that cannot
/// finish in time fails with [`Error::SendTimeout`] instead of waiting on. Input is read
/// only as the handler asks for it, so a client that sends faster than the handler reads is
/// slowed by TCP, and a message never takes more than `max_message_size`.
///
/// Every method is cancel-safe: a `recv` dropped inside `select!` loses no data (the frame
/// being read is kept for the next call), and a `send` dropped half-way leaves its frame
/// queued whole, written by the next `send` or `close`, a `Sink` flush, or when the
/// session next goes idle.
///
/// # Example
///
/// ```
/// use tower_websockets::{Handshake, Message, WebSocket};
///
/// async fn shout(mut socket: WebSocket, _handshake: Handshake) {
///     while let Some(Ok(message)) = socket.recv().await {
///         if let Message::Text(text) = message {
///             if socket.send(Message::text(text.to_uppercase())).await.is_err() {
///                 break;
///             }
///         }
///     }
/// }
/// ```
pub struct WebSocket {
    shared: Arc<Shared>,
    protocol: Option<String>,
}

impl WebSocket {
    pub(crate) fn new(shared: Arc<Shared>, protocol: Option<String>) -> Self {
        WebSocket { shared, protocol }
    }

    /// The socket's state, shared with its session.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The next message, `None` once the connection is closed.
    ///
    /// A close frame from the peer is returned as [`Message::Close`] after the socket has
    /// answered it with the same code; the next call returns `None`. A protocol error is
    /// returned as an [`Error::Protocol`] after the socket has sent the matching close code.
    /// Pings are answered by the socket and also returned, for information.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.shared.poll_recv(cx)).await
    }

    /// Sends a message: it is written before this returns, unless the client's next
    /// frame is already read. Then it is gathered with the answers to that input and all
    /// are written, in order and with one system call, when this socket next waits for
    /// input, when 64 KiB are gathered, or when the handler's task goes idle, whichever
    /// comes first. A lone message is never held back.
    ///
    /// Sending [`Message::Close`] is the same as [`close`](Self::close). Fails with
    /// [`Error::Closed`] once a close frame has been sent.
    pub fn send(&mut self, message: Message) -> impl Future<Output = Result<(), Error>> + '_ {
        // The task that sends is the one that receives: answers to pipelined input can be
        // gathered and written together when this socket next waits for input.
        self.shared.send(message, SOCKET)
    }

    /// The next part of a message, for messages too large to hold whole: each frame the
    /// client sends is handed over as it arrives (see [`Part`]). Pings between parts are
    /// answered, not returned; `None` once the connection is closed (the peer's close frame
    /// is in [`close_frame`](Self::close_frame)).
    ///
    /// `max_message_size` does not apply to a message taken in parts, only the size of one
    /// frame does (the engine reads each frame whole): a client sends a large message in
    /// several frames. Once a message's first part is taken this way, take the rest this
    /// way too: [`recv`](Self::recv) fails with [`Error::MessageInParts`] until the last.
    /// Cancel-safe, as `recv` is.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_websockets::{Handshake, WebSocket};
    ///
    /// /// Counts the bytes of each message, however large, a frame at a time.
    /// async fn count(mut socket: WebSocket, _: Handshake) {
    ///     let mut bytes = 0;
    ///     while let Some(Ok(part)) = socket.recv_part().await {
    ///         bytes += part.data.len();
    ///         if part.last {
    ///             println!("a message of {bytes} bytes");
    ///             bytes = 0;
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn recv_part(&mut self) -> Option<Result<Part, Error>> {
        poll_fn(|cx| self.shared.poll_recv_part(cx)).await
    }

    /// Sends one part of a message: the first part of a text or binary message starts it,
    /// later ones continue it (they must be of the same kind), and the one with `last` ends
    /// it; each goes out as one frame, uncompressed. Control messages (ping, pong, close)
    /// may go out between parts, with `last` unused. A whole message sent while one is
    /// under way in parts fails with [`Error::MessageInParts`].
    ///
    /// # Example
    ///
    /// ```
    /// use tower_websockets::{Handshake, Message, WebSocket};
    ///
    /// /// Sends a report as it is computed, one line a frame.
    /// async fn report(mut socket: WebSocket, _: Handshake) -> Result<(), tower_websockets::Error> {
    ///     for line in ["first line\n", "second line\n"] {
    ///         socket.send_part(Message::text(line), false).await?;
    ///     }
    ///     socket.send_part(Message::text("done\n"), true).await
    /// }
    /// ```
    pub fn send_part(
        &mut self,
        message: Message,
        last: bool,
    ) -> impl Future<Output = Result<(), Error>> + '_ {
        self.shared.send(message, SOCKET.part(last))
    }

    /// [`send`](Self::send), never compressed, whatever was agreed: for a message that
    /// holds a secret beside text an attacker may choose (see the security note on
    /// `DeflateConfig`, `deflate` feature). The same as `send` without compression.
    pub fn send_uncompressed(
        &mut self,
        message: Message,
    ) -> impl Future<Output = Result<(), Error>> + '_ {
        self.shared.send(message, SOCKET.uncompressed())
    }

    /// Starts the close handshake with this code and reason (cut to 123 bytes), and waits
    /// until the frame is written. Does nothing if a close frame was already sent (for
    /// example in answer to the peer's). Keep calling [`recv`](Self::recv) to see the
    /// peer's answer; when the handler returns, the session waits for it (up to the
    /// configured close timeout) and closes the connection.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.close(code, reason).await
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Where the close handshake stands: open, closing or closed.
    pub fn state(&self) -> WebSocketState {
        self.shared.state()
    }

    /// The close frame the peer sent, once received (one without a code reads as
    /// [`CloseCode::NO_STATUS`], 1005). The session's summary has it too.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.shared.peer_close()
    }

    /// Drops the connection now, without a close handshake: the peer sees the TCP
    /// connection end. Every later `recv` ends and every `send` fails; the session's
    /// summary records [`Error::AbortedByHandler`] with close code 1006.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_websockets::{Handshake, Message, WebSocket};
    ///
    /// /// A client that sends binary where text was agreed is cut off, no questions asked.
    /// async fn strict(mut socket: WebSocket, _: Handshake) {
    ///     while let Some(Ok(message)) = socket.recv().await {
    ///         if let Message::Binary(_) = message {
    ///             socket.abort();
    ///         }
    ///     }
    /// }
    /// ```
    pub fn abort(&self) {
        self.shared.abort(Error::AbortedByHandler);
    }

    /// [`recv`](Self::recv), polled by hand (for [`Echo`](crate::Echo)'s future).
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        self.shared.poll_recv(cx)
    }

    /// [`send`](Self::send), polled by hand: `message` is taken once queued, and `timer`
    /// is the send timeout's, started when the send first has to wait.
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
        timer: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    ) -> Poll<Result<(), Error>> {
        self.shared.poll_send_timed(cx, message, SOCKET, timer)
    }

    /// Splits the socket into a receiving and a sending half, for use from two tasks.
    pub fn split(self) -> (RecvHalf, SendHalf) {
        (
            RecvHalf {
                shared: self.shared.clone(),
            },
            SendHalf {
                shared: self.shared,
            },
        )
    }
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

macro_rules! impl_stream {
    ($ty:ty) => {
        impl futures_core::Stream for $ty {
            type Item = Result<Message, Error>;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                self.shared.poll_recv(cx)
            }
        }
    };
}

macro_rules! impl_sink {
    ($ty:ty) => {
        impl futures_sink::Sink<Message> for $ty {
            type Error = Error;

            fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.shared.poll_reserve(cx)
            }

            fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
                self.shared.push(message)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.shared.poll_flush(cx)
            }

            /// Sends a normal close (1000) unless a close frame was sent already, and flushes.
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.shared
                    .push_close(Some(&CloseFrame::new(CloseCode::NORMAL, "")));
                self.shared.poll_flush(cx)
            }
        }
    };
}

impl_stream!(WebSocket);
impl_stream!(RecvHalf);
impl_sink!(WebSocket);
impl_sink!(SendHalf);
