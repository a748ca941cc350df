//! What can be read of a socket's state: where its close handshake stands, and the
//! snapshot the session summarises.

use crate::{
    error::SessionError,
    session::{ClosedBy, Traffic},
    CloseFrame,
};

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
