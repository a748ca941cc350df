//! The engine's side of reading: frames from fastwebsockets, one read in flight per socket.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::BytesMut;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketError, WebSocketRead};
use pin_project_lite::pin_project;
use tokio::io::AsyncRead;

use crate::{CloseCode, Error};

/// Where frames come from: the engine, and its read of the next frame while one is under
/// way. Boxed once per socket, behind this trait because the read's type has no name.
pub(crate) trait FrameSource: Send {
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<RawFrame, WebSocketError>>;
}

pin_project! {
    /// The engine's `read_frame` is not cancel-safe, so a read, once started, lives here
    /// until it finishes, whoever stops polling it. When it finishes, the next read takes
    /// its place at once (a read starts when first polled): reading a frame allocates
    /// nothing. The engine travels boxed from one read to the next, which moves a pointer.
    struct EngineFrames<F, Fut> {
        start: F,
        #[pin]
        read: Fut,
    }
}

impl<F, Fut, E> FrameSource for EngineFrames<F, Fut>
where
    F: Fn(Box<E>) -> Fut + Send,
    Fut: Future<Output = (Box<E>, Result<RawFrame, WebSocketError>)> + Send,
{
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<RawFrame, WebSocketError>> {
        let mut this = self.project();
        let (engine, result) = std::task::ready!(this.read.as_mut().poll(cx));
        this.read.set((this.start)(engine));
        Poll::Ready(result)
    }
}

/// The engine over the connection's read side, boxed for the frame source.
pub(crate) fn frames<R>(io: R, max_frame_size: usize) -> Pin<Box<dyn FrameSource>>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (mut engine, _) =
        fastwebsockets::after_handshake_split(io, tokio::io::empty(), fastwebsockets::Role::Server);
    // Pings and closes are answered by our socket, which owns the write side.
    engine.set_auto_pong(false);
    engine.set_auto_close(false);
    // The engine refuses frames of `limit` bytes or more; ours is inclusive.
    engine.set_max_message_size(max_frame_size.saturating_add(1));
    Box::pin(EngineFrames {
        start: read_one::<R>,
        read: read_one(Box::new(engine)),
    })
}

/// One read of the engine: the next frame, with its payload owned.
async fn read_one<R: AsyncRead + Unpin>(
    mut engine: Box<WebSocketRead<R>>,
) -> (Box<WebSocketRead<R>>, Result<RawFrame, WebSocketError>) {
    let result = engine
        .read_frame(&mut |_: Frame<'_>| async {
            // Never called: auto-pong and auto-close are off.
            Ok::<(), std::convert::Infallible>(())
        })
        .await
        .map(RawFrame::from);
    (engine, result)
}

/// A frame taken out of the engine, owning its (already unmasked) payload.
pub(crate) struct RawFrame {
    pub(crate) fin: bool,
    pub(crate) opcode: OpCode,
    /// Whether the client masked it, as it must (RFC 6455 §5.1).
    pub(crate) masked: bool,
    /// Its size on the wire, header included.
    pub(crate) wire_len: u64,
    pub(crate) payload: BytesMut,
}

impl From<Frame<'_>> for RawFrame {
    fn from(mut frame: Frame<'_>) -> Self {
        // The engine keeps the mask private, but formats the mask bit into a header
        // exactly when the frame came with one (unmasking the payload keeps the mask).
        let mut head = [0u8; 16];
        let head_len = frame.fmt_head(&mut head);
        let masked = head[1] & 0x80 != 0;
        let payload = match frame.payload {
            Payload::Bytes(bytes) => bytes,
            other => BytesMut::from(&other[..]),
        };
        RawFrame {
            fin: frame.fin,
            opcode: frame.opcode,
            masked,
            wire_len: (head_len + payload.len()) as u64,
            payload,
        }
    }
}

/// Our error for an engine error: a protocol error with the close code to send, or the
/// connection's own failure (reset, I/O) where no close frame can go out.
pub(crate) fn engine_error(e: WebSocketError) -> Error {
    match e {
        WebSocketError::InvalidUTF8 => {
            Error::protocol(CloseCode::INVALID_PAYLOAD, "text message is not UTF-8")
        }
        WebSocketError::FrameTooLarge => Error::protocol(
            CloseCode::MESSAGE_TOO_BIG,
            "message larger than the configured maximum",
        ),
        WebSocketError::ReservedBitsNotZero => Error::protocol(
            CloseCode::PROTOCOL_ERROR,
            "reserved bits set without a negotiated extension",
        ),
        WebSocketError::InvalidValue => {
            Error::protocol(CloseCode::PROTOCOL_ERROR, "unknown opcode")
        }
        WebSocketError::ControlFrameFragmented => {
            Error::protocol(CloseCode::PROTOCOL_ERROR, "fragmented control frame")
        }
        WebSocketError::PingFrameTooLarge => Error::protocol(
            CloseCode::PROTOCOL_ERROR,
            "control frame payload over 125 bytes",
        ),
        WebSocketError::UnexpectedEOF | WebSocketError::ConnectionClosed => Error::ConnectionReset,
        WebSocketError::IoError(e) => Error::from(e),
        _ => Error::protocol(CloseCode::PROTOCOL_ERROR, "invalid frame"),
    }
}
