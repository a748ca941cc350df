//! The engine's side of reading: frames from fastwebsockets, one read in flight per socket,
//! and an engine (with its read buffer) only while the socket has input to read.

use std::{
    cell::RefCell,
    future::Future,
    io,
    pin::Pin,
    task::{ready, Context, Poll},
};

use bytes::BytesMut;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketError, WebSocketRead};
use tokio::io::{AsyncRead, ReadBuf};

use crate::error::ProtocolError;
use crate::Error;

/// Where frames come from: the engine, and its read of the next frame while one is under
/// way. Boxed once per socket, behind this trait because the read's type has no name.
pub(crate) trait FrameSource: Send {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<RawFrame, WebSocketError>>;

    /// Drops the engine, and its read buffer with it: the socket waits on its connection
    /// with no buffer of its own until its client sends again. Only for a caller that knows
    /// the engine holds no unread input (every byte it read came back in a frame): what it
    /// had buffered would be lost.
    fn park(&mut self);

    /// Whether the engine, and its read buffer, is there.
    #[cfg(test)]
    fn holds_engine(&self) -> bool;
}

/// A read side that opens again on the same connection: the engine reads through a second
/// handle, and the socket keeps the first for when the engine is dropped.
pub(crate) trait Reopen {
    fn reopen(&self) -> Self;
}

/// The most a socket without an engine reads at once: what a new engine's buffer takes in
/// its first read (fastwebsockets starts it at 8 KiB).
const FIRST_READ: usize = 8192;

thread_local! {
    /// What a socket without an engine reads into, one per thread as uWebSockets has one
    /// per event loop: a new engine takes it all in its first read, in the same poll.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        bytes: vec![0; FIRST_READ].into_boxed_slice(),
        len: 0,
        serial: 0,
    });
}

/// The bytes read by the last socket that woke without an engine.
struct Scratch {
    bytes: Box<[u8]>,
    len: usize,
    /// Counts the reads into it: an engine takes only the read it was made for.
    serial: u64,
}

/// The engine's `read_frame` is not cancel-safe, so a read, once started, lives here until
/// it finishes, whoever stops polling it. When it finishes, the next read takes its place
/// at once (a read starts when first polled): reading a frame allocates nothing.
///
/// The engine comes with its own read buffer (8 KiB), so a socket has one only while it
/// has input to read: a socket waits for its client without an engine, reading into this
/// thread's scratch buffer, and the engine made when bytes arrive takes them from there.
/// Once the engine holds no unread input the reader drops it ([`FrameSource::park`]), so
/// an idle socket costs the same whether or not its client has ever spoken.
struct EngineFrames<R, F, Fut> {
    start: F,
    max_frame_size: usize,
    /// The connection; while an engine reads, through a second handle (see [`Reopen`]).
    io: R,
    /// The read under way, and the engine in it; `None` while the socket waits without one.
    read: Option<Pin<Box<Fut>>>,
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
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<RawFrame, WebSocketError>> {
        let read = match &mut self.read {
            Some(read) => read,
            None => {
                let serial = match ready!(read_into_scratch(&mut self.io, cx)) {
                    Ok(Some(serial)) => serial,
                    Ok(None) => return Poll::Ready(Err(WebSocketError::UnexpectedEOF)),
                    Err(e) => return Poll::Ready(Err(WebSocketError::IoError(e))),
                };
                let io = Prefixed {
                    scratch: Some(serial),
                    io: self.io.reopen(),
                };
                // Polled below, in this same poll: its first read takes the scratch bytes.
                let engine = engine(io, self.max_frame_size);
                self.read.insert(Box::pin((self.start)(engine)))
            }
        };
        let (engine, result) = ready!(read.as_mut().poll(cx));
        read.set((self.start)(engine));
        Poll::Ready(result)
    }

    fn park(&mut self) {
        // Drops the read under way, and the engine in it.
        self.read = None;
    }

    #[cfg(test)]
    fn holds_engine(&self) -> bool {
        self.read.is_some()
    }
}

/// Reads from `io` into this thread's scratch buffer: the read's serial, or `None` at the
/// end of the connection.
fn read_into_scratch<R: AsyncRead + Unpin>(
    io: &mut R,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Option<u64>>> {
    SCRATCH.with_borrow_mut(|scratch| {
        let mut buf = ReadBuf::new(&mut scratch.bytes);
        ready!(Pin::new(io).poll_read(cx, &mut buf))?;
        let len = buf.filled().len();
        scratch.len = len;
        scratch.serial = scratch.serial.wrapping_add(1);
        Poll::Ready(Ok((len > 0).then_some(scratch.serial)))
    })
}

/// The engine over the connection's read side, boxed for the frame source.
pub(crate) fn frames<R>(io: R, max_frame_size: usize) -> Box<dyn FrameSource>
where
    R: AsyncRead + Reopen + Unpin + Send + 'static,
{
    Box::new(EngineFrames {
        start: read_one::<Prefixed<R>>,
        max_frame_size,
        io,
        read: None,
    })
}

/// The engine, set up for our socket, over `io`; boxed, so that it moves from one read to
/// the next as a pointer.
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

/// The connection's read side, after the bytes in the scratch buffer that woke the socket.
pub(crate) struct Prefixed<R> {
    /// Until the engine's first read: the scratch read it was made for.
    scratch: Option<u64>,
    io: R,
}

impl<R: AsyncRead + Unpin> AsyncRead for Prefixed<R> {
    // Inlined, with the read it wraps, into the engine's read: once or twice per message.
    #[inline(always)]
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.scratch.take() {
            Some(serial) => Poll::Ready(take_scratch(serial, buf)),
            None => Pin::new(&mut self.io).poll_read(cx, buf),
        }
    }
}

/// The engine's first read: the scratch bytes read for it. A new engine's buffer takes
/// them all; were they read over, or not all taken, the socket fails rather than read
/// bytes that are not its own or lose some.
fn take_scratch(serial: u64, buf: &mut ReadBuf<'_>) -> io::Result<()> {
    SCRATCH.with_borrow_mut(|scratch| {
        // Empty: taken already (an empty read makes no engine). Refused, the bytes stay
        // with the read they belong to.
        if scratch.serial != serial || scratch.len == 0 || scratch.len > buf.remaining() {
            return Err(io::Error::other("a socket's first bytes were lost"));
        }
        let len = std::mem::take(&mut scratch.len);
        buf.put_slice(&scratch.bytes[..len]);
        Ok(())
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

    use super::{frames, read_into_scratch, take_scratch, Reopen, FIRST_READ};

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
            match std::future::poll_fn(|cx| source.poll_frame(cx)).await {
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
                let frame = std::future::poll_fn(|cx| source.poll_frame(cx))
                    .await
                    .expect("a frame");
                assert_eq!((frame.opcode, &frame.payload[..]), (*opcode, &payload[..]));
                consumed += frame.wire_len as usize;
                // As the reader does: only when every byte read came back in a frame.
                let all_back = io.0.lock().unwrap().at == consumed;
                if all_back && consumed < bytes.len() {
                    source.park();
                    assert!(!source.holds_engine(), "step {step}: parked, yet an engine");
                    parked += 1;
                }
            }
            assert_eq!(consumed, bytes.len());
            // Each wait without an engine reads into the thread's scratch buffer first: once
            // at the start, and once after each park.
            let asked = io.0.lock().unwrap().asked.clone();
            let own = asked.iter().filter(|&&n| n == FIRST_READ).count();
            assert_eq!(own, 1 + parked, "step {step}: reads asked for {asked:?}");
            // A byte at a time, every frame ends a read: a park after each but the last.
            if step == 1 {
                assert_eq!(parked, 3);
            }
        }
    }

    #[tokio::test]
    async fn a_source_holds_an_engine_only_while_a_frame_is_under_way() {
        let bytes = masked(0x81, b"hello");
        let io = Trickle::new(bytes.clone(), 3);
        let mut source = frames(io, 1 << 20);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(!source.holds_engine(), "an engine before the first byte");
        // Pending, then three bytes: the engine is made and waits for the rest.
        while source.poll_frame(&mut cx).is_pending() && !source.holds_engine() {}
        assert!(source.holds_engine(), "no engine with half a frame read");
        let frame = std::future::poll_fn(|cx| source.poll_frame(cx))
            .await
            .unwrap();
        assert_eq!(&frame.payload[..], b"hello");
        source.park();
        assert!(!source.holds_engine());
    }

    #[test]
    fn an_engine_takes_only_the_scratch_read_it_was_made_for() {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut first = Trickle::new(b"first".to_vec(), 64);
        let mut second = Trickle::new(b"second".to_vec(), 64);
        let read = |io: &mut Trickle, cx: &mut Context<'_>| loop {
            if let Poll::Ready(serial) = read_into_scratch(io, cx) {
                return serial.unwrap().unwrap();
            }
        };
        let old = read(&mut first, &mut cx);
        let own = read(&mut second, &mut cx);
        let mut space = [0u8; 64];
        let mut buf = ReadBuf::new(&mut space);
        assert!(
            take_scratch(old, &mut buf).is_err(),
            "read over by another socket"
        );
        assert!(buf.filled().is_empty());
        // Its own read, and only once.
        take_scratch(own, &mut buf).unwrap();
        assert_eq!(buf.filled(), b"second");
        assert!(take_scratch(own, &mut buf).is_err(), "taken twice");
    }
}
