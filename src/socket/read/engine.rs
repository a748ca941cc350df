//! The engine's side of reading: frames from fastwebsockets, one read in flight per socket,
//! and an engine (with its read buffer) only while the socket has input to read.

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use bytes::BytesMut;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketError, WebSocketRead};
use pin_project_lite::pin_project;
use tokio::io::AsyncRead;

use super::{
    lent::{self, Engine, Lent, Parked, Pooled},
    scratch::{read_into_scratch, FIRST_READ},
};
use crate::error::ProtocolError;
use crate::Error;

/// Where frames come from: the engine, and its read of the next frame while one is under
/// way. Boxed once per socket, behind this trait because the read's type has no name.
pub(crate) trait FrameSource: Send {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<RawFrame, WebSocketError>>;

    /// Parks the engine: the socket waits on its connection with no buffer of its own
    /// until its client sends again, and the engine waits for the next socket of its thread
    /// to take it up. Only for a caller that knows the engine holds no unread input (every
    /// byte it read came back in a frame): what it had buffered would be lost.
    fn park(&mut self);

    /// Whether the socket holds an engine, and its read buffer.
    #[cfg(test)]
    fn holds_engine(&self) -> bool;
}

/// The engine's `read_frame` is not cancel-safe, so a read, once started, lives here until
/// it finishes, whoever stops polling it.
///
/// The engine comes with its own read buffer (8 KiB), so a socket has one only while it
/// has input to read: a socket waits for its client without an engine, reading into its
/// thread's scratch buffer, and takes one up (parked, or new) when bytes arrive; the
/// engine reads them from there first. Once the engine holds no unread input the reader
/// parks it ([`FrameSource::park`]), so an idle socket costs the same whether or not its
/// client has ever spoken.
struct EngineFrames<R, F, Fut> {
    start: F,
    max_frame_size: usize,
    /// The connection, which an engine at work reads through a second handle.
    io: R,
    /// The engine at work, from the socket's first bytes until it is parked; boxed, with
    /// its read, once per burst of input.
    active: Option<Pin<Box<Active<R, Fut>>>>,
}

pin_project! {
    /// An engine at work for one socket.
    struct Active<R, Fut> {
        // The engine between reads; during one, it is in `read`.
        engine: Option<Box<Engine<R>>>,
        // Its end of the connection.
        lent: Lent<R>,
        // The bytes of the frames it returned, headers counted in their shortest form.
        returned: u64,
        // Whether a frame too large for its first buffer came through: the buffer grew.
        grew: bool,
        #[pin]
        read: Option<Fut>,
    }
}

impl<R, F, Fut> FrameSource for EngineFrames<R, F, Fut>
where
    R: Pooled,
    F: Fn(Box<Engine<R>>) -> Fut + Send,
    Fut: Future<Output = (Box<Engine<R>>, Result<RawFrame, WebSocketError>)> + Send,
{
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<RawFrame, WebSocketError>> {
        let taken_up = self.active.is_none();
        let active = match &mut self.active {
            Some(active) => active,
            None => {
                let serial = match ready!(read_into_scratch(&mut self.io, cx)) {
                    Ok(Some(serial)) => serial,
                    Ok(None) => return Poll::Ready(Err(WebSocketError::UnexpectedEOF)),
                    Err(e) => return Poll::Ready(Err(WebSocketError::IoError(e))),
                };
                let Parked { mut engine, lent } = lent::take::<R>();
                // The engine refuses frames of `limit` bytes or more; ours is inclusive.
                engine.set_max_message_size(self.max_frame_size.saturating_add(1));
                lent.lend(self.io.reopen(), serial);
                // Polled below, in this same poll: its first reads take the scratch bytes.
                self.active.insert(Box::pin(Active {
                    engine: Some(engine),
                    lent,
                    returned: 0,
                    grew: false,
                    read: None,
                }))
            }
        };
        let mut this = active.as_mut().project();
        if let Some(engine) = this.engine.take() {
            this.read.set(Some((self.start)(engine)));
        }
        let Some(read) = this.read.as_mut().as_pin_mut() else {
            return Poll::Ready(Err(WebSocketError::IoError(std::io::Error::other(
                "a socket's engine was lost",
            ))));
        };
        let polled = read.poll(cx);
        if taken_up {
            this.lent.keep_rest();
        }
        let (engine, result) = ready!(polled);
        this.read.set(None);
        *this.engine = Some(engine);
        if let Ok(frame) = &result {
            *this.returned += frame.wire_len;
            *this.grew |= frame.payload.len() > FIRST_READ / 2;
        }
        Poll::Ready(result)
    }

    fn park(&mut self) {
        let Some(mut active) = self.active.take() else {
            return;
        };
        let this = active.as_mut().project();
        let handed = this.lent.release();
        // Back to the pool only between reads, with every byte handed to it come back in a
        // frame: the frames' headers count in their shortest form, never more than was
        // read, so equal counts mean an empty buffer. Otherwise it is dropped.
        if handed == *this.returned && !*this.grew {
            if let Some(engine) = this.engine.take() {
                lent::park(Parked {
                    engine,
                    lent: this.lent.clone(),
                });
            }
        }
    }

    #[cfg(test)]
    fn holds_engine(&self) -> bool {
        self.active.is_some()
    }
}

/// The frames read from the connection `io`, boxed for the reader.
pub(crate) fn frames<R: Pooled>(io: R, max_frame_size: usize) -> Box<dyn FrameSource> {
    Box::new(EngineFrames {
        start: read_one::<Lent<R>>,
        max_frame_size,
        io,
        active: None,
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

    use super::{
        frames,
        lent::{Pool, Pooled, Reopen},
        FrameSource, FIRST_READ,
    };

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

    thread_local! {
        static POOL: Pool<Trickle> = const { Pool::new() };
    }

    impl Pooled for Trickle {
        fn pool() -> &'static std::thread::LocalKey<Pool<Self>> {
            &POOL
        }
    }

    /// The engines parked in this thread's pool for test connections.
    fn pooled() -> usize {
        POOL.with(Pool::len)
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

    /// The next frame of `source`.
    async fn next(source: &mut Box<dyn FrameSource>) -> (OpCode, Vec<u8>) {
        let frame = std::future::poll_fn(|cx| source.poll_frame(cx))
            .await
            .expect("a frame");
        (frame.opcode, frame.payload.to_vec())
    }

    #[tokio::test]
    async fn a_parked_engine_serves_the_next_socket_of_its_thread() {
        let mut first = frames(Trickle::new(masked(0x81, b"one"), 4096), 1 << 20);
        assert_eq!(next(&mut first).await, (OpCode::Text, b"one".to_vec()));
        let before = pooled();
        first.park();
        assert_eq!(
            pooled(),
            before + 1,
            "parked with its input all read: pooled"
        );
        let mut second = frames(Trickle::new(masked(0x82, b"two"), 4096), 1 << 20);
        assert_eq!(next(&mut second).await, (OpCode::Binary, b"two".to_vec()));
        assert_eq!(pooled(), before, "taken up by the next socket");
    }

    #[tokio::test]
    async fn an_engine_parked_with_input_unread_is_dropped_not_pooled() {
        // Two frames in one read; the socket parks its engine after the first, as no
        // reader would: the second frame's bytes are in the engine's buffer.
        let mut bytes = masked(0x81, b"mine");
        bytes.extend(masked(0x81, b"not for anyone else"));
        let mut first = frames(Trickle::new(bytes, 4096), 1 << 20);
        assert_eq!(next(&mut first).await, (OpCode::Text, b"mine".to_vec()));
        let before = pooled();
        first.park();
        assert_eq!(
            pooled(),
            before,
            "an engine holding input went back to the pool"
        );
        // The next socket reads its own frames, and nothing of the first one's.
        let mut second = frames(Trickle::new(masked(0x81, b"yours"), 4096), 1 << 20);
        assert_eq!(next(&mut second).await, (OpCode::Text, b"yours".to_vec()));
        let ended = std::future::poll_fn(|cx| second.poll_frame(cx)).await;
        assert!(ended.is_err(), "a frame after the last one sent");
    }

    #[tokio::test]
    async fn a_parked_engine_with_little_room_left_reads_a_whole_burst() {
        // The first socket's seven 1,000-byte payloads, kept, leave its engine's buffer
        // about 1,150 bytes of room, which it keeps in the pool.
        let payload = vec![7u8; 1000];
        let bytes: Vec<u8> = (0..7).flat_map(|_| masked(0x82, &payload)).collect();
        let mut first = frames(Trickle::new(bytes, FIRST_READ), 1 << 20);
        let mut kept = Vec::new();
        for _ in 0..7 {
            let frame = std::future::poll_fn(|cx| first.poll_frame(cx))
                .await
                .unwrap();
            kept.push(frame.payload);
        }
        first.park();
        // The next socket's burst of 2,120 bytes is more than that room: the engine takes
        // what fits, and the rest moves out of the thread's scratch buffer before the poll
        // ends, as another socket may read into it next.
        let sent: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 100]).collect();
        let bytes: Vec<u8> = sent.iter().flat_map(|p| masked(0x82, p)).collect();
        let io = Trickle::new(bytes, 4096);
        let mut second = frames(io.clone(), 1 << 20);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let first_frame = loop {
            if let Poll::Ready(frame) = second.poll_frame(&mut cx) {
                break frame.unwrap();
            }
        };
        assert_eq!(&first_frame.payload[..], &sent[0][..]);
        // Another socket of the thread wakes and reads into the scratch buffer.
        let mut other = frames(Trickle::new(masked(0x81, b"other"), 4096), 1 << 20);
        assert_eq!(next(&mut other).await, (OpCode::Text, b"other".to_vec()));
        for payload in &sent[1..] {
            assert_eq!(next(&mut second).await, (OpCode::Binary, payload.clone()));
        }
        assert!(kept.iter().all(|p| p[..] == payload[..]));
    }
}
