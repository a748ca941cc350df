//! [`WebSocket`] and its halves: the socket a handler gets, and where its close handshake
//! stands ([`WebSocketState`]).
//!
//! How it works inside (its files, the order of its locks, how writes are gathered) is
//! written in the doc of its private module `shared`.

mod config;
mod connection;
mod halves;
mod membership;
mod methods;
mod read;
mod sender;
mod shared;
mod state;
mod traffic;
mod write;

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

pub use crate::part::{MessageKind, Part};
pub(crate) use config::SocketConfig;
pub use halves::{RecvHalf, SendHalf};
pub(crate) use membership::Group;
use methods::{controlling, receiving, sending};
pub use sender::Sender;
pub(crate) use shared::Shared;
pub(crate) use state::Snapshot;
pub use state::{ClosedBy, WebSocketState};
pub use traffic::Traffic;
use write::SendMode;
pub(crate) use write::{data_frame_head, Encoded, OfferOutcome};

use crate::{Error, Message};

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

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// [`recv`](Self::recv), polled by hand (for [`Echo`](crate::Echo)'s future).
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        self.shared.read.poll_recv(&self.shared.write, cx, true)
    }

    /// [`send`](Self::send), polled by hand: `message` is taken once queued, and `timer`
    /// is the send timeout's, started when the send first has to wait.
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
        timer: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    ) -> Poll<Result<(), Error>> {
        self.shared
            .write
            .poll_send_timed(cx, message, SendMode::WHOLE_SOCKET, timer)
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

receiving!(WebSocket);
sending!(
    WebSocket,
    SendMode::WHOLE_SOCKET,
    /// The frame is written before this returns, unless the client's next frame is already
    /// read. Then it is gathered with the answers to that input and all are written, in
    /// order and with one system call, when this socket next waits for input, when 64 KiB
    /// are gathered, or when the handler's task goes idle, whichever comes first. A lone
    /// message is never held back.
);
controlling!(WebSocket);

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// Sizes that every open socket pays for, checked in the crate's own builds (a
/// dependency's release may move them; users' builds are not failed for it). Raise one only
/// with the idle-memory figure of the bench beside it.
#[cfg(test)]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<Shared>() <= 328);
    assert!(size_of::<read::Reader>() <= 96);
    assert!(size_of::<write::Writer<connection::Io>>() <= 152);
    assert!(size_of::<WebSocket>() <= 32);
    assert!(size_of::<membership::Memberships>() <= 16);
    assert!(size_of::<Error>() <= 24);
    assert!(size_of::<Message>() <= 40);
};
