//! [`RecvHalf`] and [`SendHalf`]: a [`WebSocket`](super::WebSocket) split for two tasks.

use std::{future::poll_fn, future::Future, sync::Arc};

use super::shared::{Shared, HALF};
use super::status::WebSocketState;
use crate::{part::Part, CloseCode, CloseFrame, Error, Message};

/// The receiving half of a [`WebSocket`](super::WebSocket), from
/// [`WebSocket::split`](super::WebSocket::split).
///
/// It still answers pings and close frames: they go out through the shared connection.
pub struct RecvHalf {
    pub(super) shared: Arc<Shared>,
}

impl RecvHalf {
    /// The socket's state, shared with its session.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The next message; see [`WebSocket::recv`](super::WebSocket::recv).
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.shared.poll_recv(cx)).await
    }

    /// The next part of a message; see
    /// [`WebSocket::recv_part`](super::WebSocket::recv_part).
    pub async fn recv_part(&mut self) -> Option<Result<Part, Error>> {
        poll_fn(|cx| self.shared.poll_recv_part(cx)).await
    }
}

impl std::fmt::Debug for RecvHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvHalf").finish_non_exhaustive()
    }
}

/// The sending half of a [`WebSocket`](super::WebSocket), from
/// [`WebSocket::split`](super::WebSocket::split).
pub struct SendHalf {
    pub(super) shared: Arc<Shared>,
}

impl SendHalf {
    /// The socket's state, shared with its session.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Sends a message and waits until the connection has taken it; see
    /// [`WebSocket::send`](super::WebSocket::send). Unlike it, never gathers: the receiving half may be in another
    /// task, busy with something else.
    pub fn send(&mut self, message: Message) -> impl Future<Output = Result<(), Error>> + '_ {
        self.shared.send(message, HALF)
    }

    /// [`send`](Self::send), never compressed; see [`WebSocket::send_uncompressed`](super::WebSocket::send_uncompressed).
    pub fn send_uncompressed(
        &mut self,
        message: Message,
    ) -> impl Future<Output = Result<(), Error>> + '_ {
        self.shared.send(message, HALF.uncompressed())
    }

    /// Sends one part of a message; see
    /// [`WebSocket::send_part`](super::WebSocket::send_part).
    pub fn send_part(
        &mut self,
        message: Message,
        last: bool,
    ) -> impl Future<Output = Result<(), Error>> + '_ {
        self.shared.send(message, HALF.part(last))
    }

    /// Starts the close handshake; see [`WebSocket::close`](super::WebSocket::close).
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.close(code, reason).await
    }
}

impl std::fmt::Debug for SendHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendHalf").finish_non_exhaustive()
    }
}

/// What both halves can tell and do, as the whole socket can.
macro_rules! impl_control {
    ($ty:ty) => {
        impl $ty {
            /// Where the close handshake stands; see [`WebSocket::state`](super::WebSocket::state).
            pub fn state(&self) -> WebSocketState {
                self.shared.state()
            }

            /// The peer's close frame, once received; see
            /// [`WebSocket::close_frame`](super::WebSocket::close_frame).
            pub fn close_frame(&self) -> Option<CloseFrame> {
                self.shared.peer_close()
            }

            /// Drops the connection now; see [`WebSocket::abort`](super::WebSocket::abort).
            pub fn abort(&self) {
                self.shared.abort(Error::AbortedByHandler);
            }
        }
    };
}

impl_control!(RecvHalf);
impl_control!(SendHalf);
