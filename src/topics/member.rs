//! [`Member`]: what can be subscribed to a topic: a socket, or either of its halves.

use crate::socket::{RecvHalf, SendHalf, WebSocket};

/// A socket that can join topics: a [`WebSocket`], or either half of one. Either half
/// stands for the whole socket.
///
/// Sealed: implemented by this crate's socket types only.
pub trait Member: sealed::Sealed {}

pub(crate) mod sealed {
    use std::sync::Arc;

    use crate::socket::Shared;

    /// Gives the socket behind a `Member`.
    pub trait Sealed {
        /// The socket.
        fn socket(&self) -> SocketRef<'_>;
    }

    /// A socket's state, out of sight.
    pub struct SocketRef<'a>(pub(crate) &'a Arc<Shared>);
}

use sealed::SocketRef;

impl sealed::Sealed for WebSocket {
    fn socket(&self) -> SocketRef<'_> {
        SocketRef(self.shared())
    }
}

impl sealed::Sealed for SendHalf {
    fn socket(&self) -> SocketRef<'_> {
        SocketRef(self.shared())
    }
}

impl sealed::Sealed for RecvHalf {
    fn socket(&self) -> SocketRef<'_> {
        SocketRef(self.shared())
    }
}

impl Member for WebSocket {}
impl Member for SendHalf {}
impl Member for RecvHalf {}
