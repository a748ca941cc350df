//! The engine's side of reading: frames from fastwebsockets, one read in flight per socket.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::BytesMut;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketError, WebSocketRead};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, ReadBuf};

use crate::error::ProtocolError;
use crate::Error;

/// Where frames come from: the engine, and its read of the next frame while one is under
/// way. Boxed once per socket, behind this trait because the read's type has no name.
pub(crate) trait FrameSource: Send {
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<RawFrame, WebSocketError>>;

    /// Drops the engine, and its read buffer with it, to wait on the connection with a
    /// few bytes of its own again, as before the client's first byte. Only for a caller
    /// that knows the engine holds no unread input (every byte it read came back in a
    /// frame): what it had buffered would be lost.
    fn park(self: Pin<&mut Self>);
}

/// A read side that opens again on the same connection: a second handle, kept while the
/// engine holds the first, for [`FrameSource::park`].
pub(crate) trait Reopen {
    fn reopen(&self) -> Self;
}

/// The longest frame header (RFC 6455 §5.2): what a socket reads before it has an engine.
const MAX_HEAD: usize = 14;

pin_project! {
    /// The engine's `read_frame` is not cancel-safe, so a read, once started, lives here
    /// until it finishes, whoever stops polling it. When it finishes, the next read takes
    /// its place at once (a read starts when first polled): reading a frame allocates
    /// nothing. The engine travels boxed from one read to the next, which moves a pointer.
    ///
    /// The engine comes with its own read buffer (8 KiB), so a socket gets one only once
    /// its client has sent something: until then it waits on the connection with a few
    /// bytes of its own, which the engine then reads first. A socket whose client never
    /// speaks (one that only receives published messages, say) costs that much less, and
    /// one that has gone quiet goes back to waiting so ([`FrameSource::park`]).
    struct EngineFrames<R, F, Fut> {
        start: F,
        max_frame_size: usize,
        // While the engine reads: a second handle on the connection, for when it is dropped.
        spare: Option<R>,
        #[pin]
        state: State<R, Fut>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<R, Fut> {
        /// No engine, yet or again (see `park`): the connection, and the first bytes read
        /// from it.
        Waiting { io: Option<R>, head: [u8; MAX_HEAD] },
        Reading { #[pin] read: Fut },
    }
}

impl<R, F, Fut> FrameSource for EngineFrames<R, F, Fut>
where
    R: AsyncRead + Reopen + Unpin + Send,
    F: Fn(Box<WebSocketRead<Prefixed<R>>>) -> Fut + Send,
    Fut: Future<
            Output = (
                Box<WebSocketRead<Prefixed<R>>>,
                Result<RawFrame, WebSocketError>,
            ),
        > + Send,
{
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<RawFrame, WebSocketError>> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Reading { read } => {
                    let (engine, result) = std::task::ready!(read.poll(cx));
                    this.state.set(State::Reading {
                        read: (this.start)(engine),
                    });
                    return Poll::Ready(result);
                }
                StateProj::Waiting { io, head } => {
                    let Some(reader) = io.as_mut() else {
                        return Poll::Ready(Err(WebSocketError::ConnectionClosed));
                    };
                    let mut buf = ReadBuf::new(head);
                    if let Err(e) = std::task::ready!(Pin::new(reader).poll_read(cx, &mut buf)) {
                        return Poll::Ready(Err(WebSocketError::IoError(e)));
                    }
                    let len = buf.filled().len();
                    if len == 0 {
                        return Poll::Ready(Err(WebSocketError::UnexpectedEOF));
                    }
                    let io = io.take().expect("checked above");
                    *this.spare = Some(io.reopen());
                    let io = Prefixed {
                        head: *head,
                        at: 0,
                        len: len as u8,
                        io,
                    };
                    let engine = engine(io, *this.max_frame_size);
                    this.state.set(State::Reading {
                        read: (this.start)(engine),
                    });
                }
            }
        }
    }

    fn park(self: Pin<&mut Self>) {
        let mut this = self.project();
        // Only while reading: then the engine holds the connection, and `spare` is set.
        if let Some(io) = this.spare.take() {
            // Drops the read under way, and the engine in it.
            this.state.set(State::Waiting {
                io: Some(io),
                head: [0; MAX_HEAD],
            });
        }
    }
}

/// The engine over the connection's read side, boxed for the frame source.
pub(crate) fn frames<R>(io: R, max_frame_size: usize) -> Pin<Box<dyn FrameSource>>
where
    R: AsyncRead + Reopen + Unpin + Send + 'static,
{
    Box::pin(EngineFrames {
        start: read_one::<Prefixed<R>>,
        max_frame_size,
        spare: None,
        state: State::Waiting {
            io: Some(io),
            head: [0; MAX_HEAD],
        },
    })
}

/// The engine, set up for our socket, over `io`.
fn engine<R: AsyncRead + Unpin>(io: R, max_frame_size: usize) -> Box<WebSocketRead<R>> {
    let (mut engine, _) =
        fastwebsockets::after_handshake_split(io, tokio::io::empty(), fastwebsockets::Role::Server);
    // Pings and closes are answered by our socket, which owns the write side.
    engine.set_auto_pong(false);
    engine.set_auto_close(false);
    // The engine refuses frames of `limit` bytes or more; ours is inclusive.
    engine.set_max_message_size(max_frame_size.saturating_add(1));
    Box::new(engine)
}

/// The connection's read side, after the bytes read from it before the engine existed.
pub(crate) struct Prefixed<R> {
    head: [u8; MAX_HEAD],
    at: u8,
    len: u8,
    io: R,
}

impl<R: AsyncRead + Unpin> AsyncRead for Prefixed<R> {
    // Inlined, with the read it wraps, into the engine's read: once or twice per message.
    #[inline(always)]
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.at < self.len {
            let (at, len) = (self.at as usize, self.len as usize);
            let n = (len - at).min(buf.remaining());
            buf.put_slice(&self.head[at..at + n]);
            self.at += n as u8;
            // And whatever else is already here, in the same read: the engine sizes its
            // buffer by what its first read brings, as it would without us.
            if buf.remaining() > 0 {
                if let Poll::Ready(Err(e)) = Pin::new(&mut self.io).poll_read(cx, buf) {
                    return Poll::Ready(Err(e));
                }
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
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
        WebSocketError::InvalidUTF8 => Error::Protocol(ProtocolError::InvalidUtf8),
        WebSocketError::FrameTooLarge => Error::Protocol(ProtocolError::MessageTooBig),
        WebSocketError::ReservedBitsNotZero => Error::Protocol(ProtocolError::ReservedBits),
        WebSocketError::InvalidValue => Error::Protocol(ProtocolError::UnknownOpcode),
        WebSocketError::ControlFrameFragmented => {
            Error::Protocol(ProtocolError::FragmentedControlFrame)
        }
        WebSocketError::PingFrameTooLarge => Error::Protocol(ProtocolError::ControlFrameTooLarge),
        WebSocketError::UnexpectedEOF | WebSocketError::ConnectionClosed => Error::ConnectionReset,
        WebSocketError::IoError(e) => Error::from(e),
        _ => Error::Protocol(ProtocolError::InvalidFrame),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        pin::Pin,
        sync::{Arc, Mutex},
        task::{Context, Poll},
    };

    use fastwebsockets::OpCode;
    use tokio::io::{AsyncRead, ReadBuf};

    use super::{frames, Reopen, MAX_HEAD};

    /// A connection that hands over its bytes `step` at a time, and is pending before each;
    /// its handles share it, and it notes how much each read asked for.
    #[derive(Clone)]
    struct Trickle(Arc<Mutex<Bytes>>);

    struct Bytes {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
        ready: bool,
        asked: Vec<usize>,
    }

    impl Trickle {
        fn new(bytes: Vec<u8>, step: usize) -> Trickle {
            Trickle(Arc::new(Mutex::new(Bytes {
                bytes,
                at: 0,
                step,
                ready: true,
                asked: Vec::new(),
            })))
        }
    }

    impl Reopen for Trickle {
        fn reopen(&self) -> Self {
            self.clone()
        }
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let mut this = self.0.lock().unwrap();
            let this = &mut *this;
            this.ready = !this.ready;
            if !this.ready {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.asked.push(buf.remaining());
            let n = this
                .step
                .min(this.bytes.len() - this.at)
                .min(buf.remaining());
            buf.put_slice(&this.bytes[this.at..this.at + n]);
            this.at += n;
            Poll::Ready(Ok(()))
        }
    }

    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        let key = [0x12, 0x34, 0x56, 0x78];
        let mut frame = vec![first];
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
        }
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        frame
    }

    /// The frames read from `bytes` delivered `step` bytes at a time, until the end.
    async fn read_all(bytes: Vec<u8>, step: usize) -> (Vec<(OpCode, Vec<u8>)>, bool) {
        let mut source = frames(Trickle::new(bytes, step), 1 << 20);
        let mut read = Vec::new();
        loop {
            match std::future::poll_fn(|cx| source.as_mut().poll_frame(cx)).await {
                Ok(frame) => read.push((frame.opcode, frame.payload.to_vec())),
                Err(e) => {
                    let eof = matches!(e, fastwebsockets::WebSocketError::UnexpectedEOF);
                    return (read, eof);
                }
            }
        }
    }

    #[tokio::test]
    async fn frames_are_whole_however_the_first_bytes_arrive() {
        let first: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let mut bytes = masked(0x82, &first);
        bytes.extend(masked(0x81, b"second"));
        bytes.extend(masked(0x89, b""));
        // One byte at a time: the socket's own first read takes one byte, the engine the
        // rest; then as much as fits in the socket's own first read; then all at once.
        for step in [1, 2, 13, 14, 15, 4096] {
            let (read, eof) = read_all(bytes.clone(), step).await;
            assert_eq!(
                read,
                [
                    (OpCode::Binary, first.clone()),
                    (OpCode::Text, b"second".to_vec()),
                    (OpCode::Ping, Vec::new()),
                ],
                "step {step}"
            );
            assert!(eof, "step {step}");
        }
    }

    #[tokio::test]
    async fn a_connection_that_ends_before_its_first_byte_ends_the_frames() {
        let (read, eof) = read_all(Vec::new(), 1).await;
        assert!(read.is_empty());
        assert!(eof);
    }

    #[tokio::test]
    async fn a_parked_source_reads_on_from_the_next_frame_without_its_engine() {
        let first: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let sent = [
            (0x82, OpCode::Binary, first),
            (0x81, OpCode::Text, b"second".to_vec()),
            (0x89, OpCode::Ping, Vec::new()),
            (0x81, OpCode::Text, b"fourth".to_vec()),
        ];
        let bytes: Vec<u8> = sent.iter().flat_map(|(b, _, p)| masked(*b, p)).collect();
        for step in [1, 13, 14, 15, 4096] {
            let io = Trickle::new(bytes.clone(), step);
            let mut source = frames(io.clone(), 1 << 20);
            let (mut consumed, mut parked) = (0, 0);
            for (_, opcode, payload) in &sent {
                let frame = std::future::poll_fn(|cx| source.as_mut().poll_frame(cx))
                    .await
                    .expect("a frame");
                assert_eq!((frame.opcode, &frame.payload[..]), (*opcode, &payload[..]));
                consumed += frame.wire_len as usize;
                // As the reader does: only when every byte read came back in a frame.
                let all_back = io.0.lock().unwrap().at == consumed;
                if all_back && consumed < bytes.len() {
                    source.as_mut().park();
                    parked += 1;
                }
            }
            assert_eq!(consumed, bytes.len());
            // Each wait without an engine reads the socket's own few bytes first: once at
            // the start, and once after each park.
            let asked = io.0.lock().unwrap().asked.clone();
            let own = asked.iter().filter(|&&n| n == MAX_HEAD).count();
            assert_eq!(own, 1 + parked, "step {step}: reads asked for {asked:?}");
            // A byte at a time, every frame ends a read: a park after each but the last.
            if step == 1 {
                assert_eq!(parked, 3);
            }
        }
    }
}
