//! What can be read of a socket's state: where its close handshake stands, the peer's
//! close frame, and the snapshot the session summarises.

use std::sync::atomic::Ordering;

use super::shared::Shared;
use crate::{
    error::SessionError,
    session::{ClosedBy, Traffic},
    CloseCode, CloseFrame,
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

impl Shared {
    /// Where the close handshake stands.
    pub(super) fn state(&self) -> WebSocketState {
        let reader = self.reader();
        let writer = self.writer();
        let sent = writer.close_sent().is_some();
        if reader.finished() && (sent || writer.failed()) {
            return WebSocketState::Closed;
        }
        if sent || reader.close_received().is_some() {
            return WebSocketState::Closing;
        }
        WebSocketState::Open
    }

    /// The peer's close frame, once received; one without a code reads as 1005.
    pub(super) fn peer_close(&self) -> Option<CloseFrame> {
        let received = self.reader().close_received()?;
        Some(received.unwrap_or_else(|| CloseFrame::new(CloseCode::NO_STATUS, "")))
    }

    /// What the session driver reads when the handler is done.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let reader = self.reader();
        let writer = self.writer();
        Snapshot {
            closed_by: ClosedBy::from_u8(self.closed_by.load(Ordering::Acquire)),
            close_sent: writer.close_sent().cloned(),
            close_received: reader.close_received(),
            read_error: reader.error(),
            received: Traffic {
                messages: reader.messages,
                bytes: reader.bytes,
            },
            sent: Traffic {
                messages: writer.messages,
                bytes: writer.bytes,
            },
        }
    }
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
