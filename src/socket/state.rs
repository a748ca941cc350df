//! What can be read of a socket's state: where its close handshake stands, which side
//! started it, and the snapshot the session summarises.

use super::traffic::Traffic;
use crate::{error::SessionError, CloseFrame};

/// Where a socket's close handshake stands, from [`WebSocket::state`](crate::WebSocket::state).
///
/// # Example
///
/// ```
/// use tower_websockets::{socket::WebSocketState, CloseCode, Handshake, WebSocket};
///
/// async fn handler(mut socket: WebSocket, _: Handshake) {
///     while let Some(Ok(_)) = socket.recv().await {}
///     // The peer closed (and was answered), or the connection was lost.
///     assert_ne!(socket.state(), WebSocketState::Open);
///     if let Some(frame) = socket.close_frame() {
///         println!("closed by the peer with {}", frame.code);
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebSocketState {
    /// Messages go both ways.
    Open,
    /// One side has sent its close frame: the other may still send until it answers.
    Closing,
    /// Reading has ended, and this side has sent its close frame or can send nothing
    /// more (the connection was lost or aborted).
    Closed,
}

/// What the session driver reads of a socket when the handler is done.
pub(crate) struct Snapshot {
    pub(crate) closed_by: ClosedBy,
    pub(crate) close_sent: Option<CloseFrame>,
    pub(crate) close_received: Option<Option<CloseFrame>>,
    pub(crate) read_error: Option<SessionError>,
    pub(crate) received: Traffic,
    pub(crate) sent: Traffic,
}

/// Which side started the close handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ClosedBy {
    /// The client sent the first close frame.
    Client,
    /// The server (handler, protocol error, panic) sent the first close frame.
    Server,
    /// Nobody: the connection ended without a close frame.
    Neither,
}

impl ClosedBy {
    /// The side whose `as u8` is `value` (as a socket keeps it in an atomic).
    pub(crate) fn from_u8(value: u8) -> ClosedBy {
        match value {
            v if v == ClosedBy::Client as u8 => ClosedBy::Client,
            v if v == ClosedBy::Server as u8 => ClosedBy::Server,
            _ => ClosedBy::Neither,
        }
    }
}
