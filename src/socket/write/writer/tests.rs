//! The writer against a mock connection that records each write and can take part of a
//! write, none of it, nothing (`Ok(0)`), or fail.

use std::{
    collections::VecDeque,
    io::{self, IoSlice},
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll, Wake, Waker},
};

use bytes::Bytes;
use fastwebsockets::OpCode;
use tokio::io::AsyncWrite;

use super::Writer;
use crate::{
    socket::{connection, write::encode::frame_head},
    CloseCode, Error,
};

/// What the mock does with the next write.
#[derive(Clone, Copy)]
enum Step {
    /// Takes at most this many bytes.
    Take(usize),
    /// Is full: `Pending`, until the test wakes the writer.
    Full,
    /// Takes nothing and says so (`Ok(0)`).
    Zero,
    /// Fails with this error.
    Fail(io::ErrorKind),
}

#[derive(Default)]
struct Log {
    /// Everything written, in order.
    bytes: Vec<u8>,
    /// How many bytes each write call took.
    writes: Vec<usize>,
    /// The waker of the last write that was `Pending`.
    waker: Option<Waker>,
    /// Where each slice written from was, to show which bytes were not copied.
    sources: Vec<usize>,
}

/// The mock connection: its steps, then any write taken whole.
struct Mock {
    steps: VecDeque<Step>,
    vectored: bool,
    log: Arc<Mutex<Log>>,
}

impl Mock {
    fn take(&mut self, slices: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let mut log = self.log.lock().unwrap();
        let limit = match self.steps.pop_front() {
            None => usize::MAX,
            Some(Step::Take(n)) => n,
            Some(Step::Zero) => return Poll::Ready(Ok(0)),
            Some(Step::Fail(kind)) => return Poll::Ready(Err(kind.into())),
            Some(Step::Full) => return Poll::Pending,
        };
        let mut taken = 0;
        for slice in slices {
            let n = slice.len().min(limit - taken);
            log.sources.push(slice.as_ptr() as usize);
            log.bytes.extend_from_slice(&slice[..n]);
            taken += n;
        }
        log.writes.push(taken);
        Poll::Ready(Ok(taken))
    }
}

impl AsyncWrite for Mock {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = self.take(&[IoSlice::new(buf)]);
        if polled.is_pending() {
            self.log.lock().unwrap().waker = Some(cx.waker().clone());
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !self.vectored {
            // What tokio does for a writer without vectored writes: the first non-empty slice.
            let first = slices.iter().find(|s| !s.is_empty()).map_or(&[][..], |s| s);
            return self.poll_write(cx, first);
        }
        let polled = self.take(slices);
        if polled.is_pending() {
            self.log.lock().unwrap().waker = Some(cx.waker().clone());
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A writer over a mock with these steps, and the mock's log.
fn writer(steps: &[Step], vectored: bool) -> (Writer<Mock>, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let mock = Mock {
        steps: steps.iter().copied().collect(),
        vectored,
        log: log.clone(),
    };
    let (_read, write) = connection::split(mock);
    (Writer::new(write), log)
}

/// A waker that counts its wakes.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn flush(writer: &mut Writer<Mock>, waker: &Waker) -> Poll<Result<(), Error>> {
    writer.poll_flush(&mut Context::from_waker(waker))
}

/// The bytes of a final server frame.
fn frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let (head, len) = frame_head(opcode, payload.len());
    [&head[..len], payload].concat()
}

fn noop() -> Waker {
    Waker::from(Arc::new(Counter::default()))
}

#[test]
fn small_frames_go_out_in_one_write() {
    let (mut writer, log) = writer(&[], true);
    writer
        .push_data(OpCode::Text, Bytes::from_static(b"one"), true)
        .unwrap();
    writer.push_control(OpCode::Pong, Bytes::from_static(b"p"));
    writer
        .push_data(OpCode::Binary, Bytes::from_static(&[1, 2]), true)
        .unwrap();
    let expected = [
        frame(OpCode::Text, b"one"),
        frame(OpCode::Pong, b"p"),
        frame(OpCode::Binary, &[1, 2]),
    ]
    .concat();
    assert_eq!(writer.queued(), expected.len());
    assert!(flush(&mut writer, &noop()).is_ready());
    let log = log.lock().unwrap();
    assert_eq!(
        (log.bytes.clone(), log.writes.clone()),
        (expected.clone(), vec![expected.len()])
    );
    assert_eq!(writer.queued(), 0);
    assert_eq!((writer.messages, writer.bytes), (2, 5));
}

#[test]
fn partial_writes_leave_nothing_out_and_count_what_is_left() {
    for vectored in [true, false] {
        let big = vec![7u8; 5000]; // over the inline limit: written from its own buffer
        let steps = [
            Step::Take(3),
            Step::Take(1),
            Step::Take(4000),
            Step::Take(10),
        ];
        let (mut writer, log) = writer(&steps, vectored);
        writer
            .push_data(OpCode::Text, Bytes::from_static(b"head"), true)
            .unwrap();
        writer
            .push_data(OpCode::Binary, Bytes::from(big.clone()), true)
            .unwrap();
        writer
            .push_data(OpCode::Text, Bytes::from_static(b"tail"), true)
            .unwrap();
        let expected = [
            frame(OpCode::Text, b"head"),
            frame(OpCode::Binary, &big),
            frame(OpCode::Text, b"tail"),
        ]
        .concat();
        assert!(flush(&mut writer, &noop()).is_ready());
        assert_eq!(log.lock().unwrap().bytes, expected, "vectored: {vectored}");
        assert_eq!(writer.queued(), 0);
        let writes = log.lock().unwrap().writes.clone();
        assert_eq!(&writes[..2], &[3, 1], "vectored: {vectored}");
        if vectored {
            // Each write takes what the mock allows across the queued chunks; then the rest
            // of the frames go in one vectored write.
            assert_eq!(writes, [3, 1, 4000, 10, expected.len() - 4014]);
        } else {
            // One chunk a write: no write crosses from one queued chunk to the next.
            assert!(writes.len() > 5, "{writes:?}");
        }
    }
}

#[test]
fn a_large_payload_goes_out_with_its_header_in_one_vectored_write() {
    let (mut writer, log) = writer(&[], true);
    let big = Bytes::from(vec![9u8; 100_000]);
    writer.push_data(OpCode::Binary, big.clone(), true).unwrap();
    assert!(flush(&mut writer, &noop()).is_ready());
    let log = log.lock().unwrap();
    assert_eq!(log.writes, [10 + 100_000]);
    assert_eq!(log.bytes, frame(OpCode::Binary, &big));
    // Written from the payload's own buffer: not copied.
    assert!(log.sources.contains(&(big.as_ptr() as usize)));
}

#[test]
fn a_text_message_is_written_from_its_own_bytes() {
    let (mut writer, log) = writer(&[], true);
    let text = crate::Utf8Bytes::from("text ".repeat(1000));
    let source = text.as_bytes().as_ptr() as usize;
    let message = crate::Message::Text(text);
    writer
        .push_data(OpCode::Text, message.into_data(), true)
        .unwrap();
    assert!(flush(&mut writer, &noop()).is_ready());
    assert!(log.lock().unwrap().sources.contains(&source));
}

#[test]
fn a_write_that_takes_nothing_fails_the_writer() {
    let (mut writer, _log) = writer(&[Step::Zero], true);
    writer
        .push_data(OpCode::Text, Bytes::from_static(b"lost"), true)
        .unwrap();
    match flush(&mut writer, &noop()) {
        Poll::Ready(Err(Error::Io(e))) => assert_eq!(e.kind(), io::ErrorKind::WriteZero),
        other => panic!("expected WriteZero, got {other:?}"),
    }
    // Nothing is left queued, and the writer stays failed.
    assert_eq!(writer.queued(), 0);
    assert!(matches!(
        writer.push_data(OpCode::Text, Bytes::from_static(b"more"), true),
        Err(Error::Io(_))
    ));
    assert!(matches!(
        flush(&mut writer, &noop()),
        Poll::Ready(Err(Error::Io(_)))
    ));
}

#[test]
fn an_error_from_the_connection_is_returned_and_kept() {
    let (mut writer, _log) = writer(&[Step::Fail(io::ErrorKind::BrokenPipe)], false);
    writer.push_control(OpCode::Ping, Bytes::new());
    match flush(&mut writer, &noop()) {
        Poll::Ready(Err(Error::Io(e))) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
        other => panic!("expected the pipe error, got {other:?}"),
    }
    assert!(matches!(
        flush(&mut writer, &noop()),
        Poll::Ready(Err(Error::Io(_)))
    ));
}

/// A flush that finds the connection full tries once more after registering its task, so
/// each waiting flush takes two `Full` steps.
const WAITS: [Step; 2] = [Step::Full, Step::Full];

#[test]
fn a_full_connection_wakes_every_waiting_task_when_it_drains() {
    let (mut writer, log) = writer(&[WAITS, WAITS].concat(), true);
    writer
        .push_data(OpCode::Text, Bytes::from_static(b"wait"), true)
        .unwrap();
    // The reader answering a ping and the sender both wait for the same connection.
    let (reader, sender) = (Arc::new(Counter::default()), Arc::new(Counter::default()));
    assert!(flush(&mut writer, &Waker::from(reader.clone())).is_pending());
    writer.push_control(OpCode::Pong, Bytes::new());
    assert!(flush(&mut writer, &Waker::from(sender.clone())).is_pending());
    assert!(log.lock().unwrap().writes.is_empty());
    // The connection drains: both are woken, once.
    let drained = log
        .lock()
        .unwrap()
        .waker
        .take()
        .expect("the writer waits for the mock");
    drained.wake();
    assert_eq!(reader.0.load(Ordering::SeqCst), 1);
    assert_eq!(sender.0.load(Ordering::SeqCst), 1);
    assert!(flush(&mut writer, &Waker::from(sender.clone())).is_ready());
    assert_eq!(
        log.lock().unwrap().bytes,
        [frame(OpCode::Text, b"wait"), frame(OpCode::Pong, b"")].concat()
    );
}

#[test]
fn the_queue_is_bounded_by_poll_room() {
    const LIMIT: usize = 64 * 1024;
    let (mut writer, log) = writer(&WAITS, true);
    let waker = noop();
    let mut cx = Context::from_waker(&waker);
    // Below the limit there is room without writing anything.
    let first = vec![1u8; LIMIT - 100];
    writer
        .push_data(OpCode::Binary, Bytes::from(first.clone()), true)
        .unwrap();
    assert!(writer.poll_room(&mut cx, LIMIT).is_ready());
    assert!(log.lock().unwrap().writes.is_empty());
    // At the limit, room means writing first; a full connection makes the caller wait.
    writer
        .push_data(OpCode::Binary, Bytes::from(vec![2u8; 200]), true)
        .unwrap();
    assert!(writer.queued() >= LIMIT);
    assert!(writer.poll_room(&mut cx, LIMIT).is_pending());
    assert_eq!(writer.queued(), (4 + LIMIT - 100) + (4 + 200));
    // Once the connection takes the bytes, there is room again and nothing is queued.
    assert!(writer.poll_room(&mut cx, LIMIT).is_ready());
    assert_eq!(writer.queued(), 0);
    let expected = [
        frame(OpCode::Binary, &first),
        frame(OpCode::Binary, &[2u8; 200]),
    ]
    .concat();
    assert_eq!(log.lock().unwrap().bytes, expected);
}

#[test]
fn nothing_follows_a_close_frame() {
    let (mut writer, log) = writer(&[], true);
    let long_reason = "é".repeat(100); // 200 bytes: cut to 123, on a character boundary
    writer.push_close(CloseCode::NORMAL, &long_reason);
    writer.push_close(CloseCode::GOING_AWAY, "second");
    writer.push_control(OpCode::Ping, Bytes::new());
    assert!(matches!(
        writer.push_data(OpCode::Text, Bytes::from_static(b"late"), true),
        Err(Error::Closed)
    ));
    assert!(flush(&mut writer, &noop()).is_ready());
    let sent = writer.close_sent().unwrap();
    assert_eq!((sent.code, sent.reason.len()), (CloseCode::NORMAL, 122));
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(sent.reason.as_bytes());
    assert_eq!(log.lock().unwrap().bytes, frame(OpCode::Close, &payload));
}
