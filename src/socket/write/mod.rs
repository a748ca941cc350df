//! The write path: [`WriteSide`], what a socket's senders, its receive (answering pings and
//! the close), its session and publishers share to write to the client.
//!
//! `writer` encodes frames (`encode`) into a queue (`queue`) and writes them out, waking
//! every task that waits for room (`wakers`). [`Sending`] is the future behind `send`.

mod encode;
mod queue;
mod wakers;
mod writer;

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU8, Ordering},
        Mutex, MutexGuard,
    },
    task::{ready, Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use fastwebsockets::OpCode;
use tokio::time::Sleep;

pub(crate) use encode::{data_frame_head, MAX_CONTROL_PAYLOAD};
pub(crate) use writer::OfferOutcome;
pub(super) use writer::Writer;

use super::connection::{Io, WriteIo};
use super::state::ClosedBy;
#[cfg(feature = "deflate")]
use crate::deflate::Compressor;
use crate::{sync::lock, CloseCode, CloseFrame, Error, Message};

/// How many bytes a [`Sink`](futures_sink::Sink) lets pile up before `poll_ready` waits
/// for the connection.
const SINK_HIGH_WATER: usize = 64 * 1024;

/// Up to this many bytes, frames sent while more input is already waiting are gathered and
/// written together; past it they are written at once.
const COALESCE_LIMIT: usize = 64 * 1024;

/// How a message is sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendMode {
    /// The sender also reads the socket: while more input is waiting, its frame may be
    /// gathered with the answers to that input.
    gather: bool,
    /// The message may go compressed (when compression was agreed and it is worth it).
    compress: bool,
    /// A whole message, or one part of one.
    framing: Framing,
}

/// Whether a message goes whole or in parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Whole,
    /// A part, more to follow.
    Part,
    /// The message's last part.
    LastPart,
}

impl SendMode {
    /// How the whole socket sends: the task that sends is the one that receives.
    pub(crate) const WHOLE_SOCKET: SendMode = SendMode {
        gather: true,
        compress: true,
        framing: Framing::Whole,
    };

    /// How the sending half sends: the receiving half may be busy in another task.
    pub(crate) const SEND_HALF: SendMode = SendMode {
        gather: false,
        compress: true,
        framing: Framing::Whole,
    };

    /// The same, never compressed.
    pub(crate) const fn uncompressed(self) -> SendMode {
        SendMode {
            compress: false,
            ..self
        }
    }

    /// The same, for one part of a message (never compressed).
    pub(crate) const fn part(self, last: bool) -> SendMode {
        SendMode {
            compress: false,
            framing: if last {
                Framing::LastPart
            } else {
                Framing::Part
            },
            ..self
        }
    }
}

/// A data message encoded ahead of time, that each socket it goes to queues as it is (a
/// publication to a topic).
pub(crate) trait Encoded {
    /// The message's payload length, as a socket's traffic counts it.
    fn len(&self) -> usize;

    /// The whole frame for a socket whose compressor, if compression was agreed, is
    /// `compressor`.
    fn frame(&self, #[cfg(feature = "deflate")] compressor: Option<&Compressor>) -> Bytes;
}

/// The write side of one socket: its writer under a lock, and the marks by which writes
/// are gathered (see the socket module's doc).
pub(crate) struct WriteSide {
    writer: Mutex<Writer<Io>>,
    /// Which side sent the first close frame: a [`ClosedBy`], `Neither` until one did.
    closed_by: AtomicU8,
    /// The client's next frame is already (at least partly) read: a send can wait for the
    /// answers to it and go out with them. Set by the read side.
    input_waiting: AtomicBool,
    /// Frames were left queued; they are written before the socket waits for input, or
    /// before the session's handler goes idle.
    deferred: AtomicBool,
    /// The socket was closed for falling behind (see [`evict`](Self::evict)).
    evicted: AtomicBool,
    /// The peer stayed silent past the keep-alive timeout (see [`lapse`](Self::lapse)).
    lapsed: AtomicBool,
    send_timeout: Option<Duration>,
    /// The session's task: woken when another task queues frames for this socket.
    session: Waker,
}

impl WriteSide {
    pub(super) fn new(io: WriteIo<Io>, send_timeout: Option<Duration>, session: Waker) -> Self {
        WriteSide {
            writer: Mutex::new(Writer::new(io)),
            closed_by: AtomicU8::new(ClosedBy::Neither as u8),
            input_waiting: AtomicBool::new(false),
            deferred: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            lapsed: AtomicBool::new(false),
            send_timeout,
            session,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Writer<Io>> {
        lock(&self.writer)
    }

    /// The side that sent the first close frame.
    pub(super) fn closed_by(&self) -> ClosedBy {
        ClosedBy::from_u8(self.closed_by.load(Ordering::Acquire))
    }

    /// Records `side` as the one that closed first, unless a side already is.
    pub(super) fn mark_closed_by(&self, side: ClosedBy) {
        let _ = self.closed_by.compare_exchange(
            ClosedBy::Neither as u8,
            side as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Records whether the client's next frame is already (at least partly) read.
    pub(super) fn set_input_waiting(&self, waiting: bool) {
        self.input_waiting.store(waiting, Ordering::Relaxed);
    }

    /// Starts writing what is queued without waiting for it. Returns whether some is
    /// left: this task is then woken when the connection can take it, and must try again.
    pub(super) fn flush_in_background(&self, cx: &mut Context<'_>) -> bool {
        self.lock().poll_flush(cx).is_pending()
    }

    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.lock().poll_flush(cx)
    }

    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.lock().poll_shutdown(cx)
    }

    /// Waits until the queue has room for a [`Sink`](futures_sink::Sink)'s next message.
    pub(crate) fn poll_reserve(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.lock().poll_room(cx, SINK_HIGH_WATER)
    }

    /// Queues a message without writing it.
    pub(super) fn push(&self, message: Message) -> Result<(), Error> {
        self.push_locked(&mut self.lock(), message, SendMode::WHOLE_SOCKET)
    }

    /// Queues `message`, compressed or in parts as `mode` says. Inlined: it is most of a
    /// send.
    #[inline(always)]
    fn push_locked(
        &self,
        writer: &mut Writer<Io>,
        message: Message,
        mode: SendMode,
    ) -> Result<(), Error> {
        let (opcode, data) = match message {
            Message::Text(text) => (OpCode::Text, text.into_bytes()),
            Message::Binary(data) => (OpCode::Binary, data),
            Message::Ping(data) => return Self::push_control(writer, OpCode::Ping, data),
            Message::Pong(data) => return Self::push_control(writer, OpCode::Pong, data),
            Message::Close(frame) => {
                self.push_close_locked(writer, frame.as_ref());
                return Ok(());
            }
        };
        match mode.framing {
            Framing::Whole => writer.push_data(opcode, data, mode.compress),
            Framing::Part => writer.push_part(opcode, data, false),
            Framing::LastPart => writer.push_part(opcode, data, true),
        }
    }

    fn push_control(writer: &mut Writer<Io>, opcode: OpCode, data: Bytes) -> Result<(), Error> {
        if writer.close_sent().is_some() {
            return Err(Error::Closed);
        }
        if data.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::ControlFrameTooLarge);
        }
        writer.push_control(opcode, data);
        Ok(())
    }

    /// Queues this side's close frame (1005, no code, without one); the first close frame
    /// only, later ones are dropped.
    pub(crate) fn push_close(&self, frame: Option<&CloseFrame>) {
        self.push_close_locked(&mut self.lock(), frame);
    }

    fn push_close_locked(&self, writer: &mut Writer<Io>, frame: Option<&CloseFrame>) {
        if writer.close_sent().is_none() {
            self.mark_closed_by(ClosedBy::Server);
        }
        match frame {
            Some(frame) => writer.push_close(frame.code, &frame.reason),
            None => writer.push_close(CloseCode::NO_STATUS, ""),
        }
    }

    /// Sends a close frame and waits until it is written.
    pub(super) async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.push_close(Some(&CloseFrame::new(code, reason)));
        std::future::poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Sends `message` as `mode` says: the future behind `send`.
    pub(super) fn send(&self, message: Message, mode: SendMode) -> Sending<'_> {
        Sending::new(self, message, mode)
    }

    /// Queues `message` once there is room, then writes everything queued; one lock a poll.
    /// With `mode.gather`, the sender also reads this socket, so while more input is waiting
    /// the frame may stay queued until that reading would wait (see the read side).
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
        mode: SendMode,
    ) -> Poll<Result<(), Error>> {
        let mut writer = self.lock();
        if message.is_some() {
            ready!(writer.poll_room(cx, SINK_HIGH_WATER))?;
            if let Some(message) = message.take() {
                self.push_locked(&mut writer, message, mode)?;
                // More input is already here: its answers can go out with this one, in one
                // write, when the socket next waits for input (or the sender goes idle).
                if mode.gather
                    && self.input_waiting.load(Ordering::Relaxed)
                    && writer.queued() < COALESCE_LIMIT
                {
                    self.deferred.store(true, Ordering::Release);
                    return Poll::Ready(Ok(()));
                }
            }
        }
        writer.poll_flush(cx)
    }

    /// `poll_send`, failing with [`Error::SendTimeout`] once the send has waited for the
    /// configured time. The timer starts when the send first has to wait.
    pub(super) fn poll_send_timed(
        &self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
        mode: SendMode,
        timer: &mut Option<Pin<Box<Sleep>>>,
    ) -> Poll<Result<(), Error>> {
        if let Poll::Ready(result) = self.poll_send(cx, message, mode) {
            *timer = None;
            return Poll::Ready(result);
        }
        let Some(limit) = self.send_timeout else {
            return Poll::Pending;
        };
        // On a timeout the frame stays queued whole; the handler decides whether to go
        // on or to close.
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::SendTimeout)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Queues `message` without waiting, unless the queue is full (see `Sender::try_send`),
    /// and has the session write it out.
    pub(crate) fn try_send(&self, message: Message) -> Result<(), Error> {
        let mut writer = self.lock();
        if writer.close_sent().is_some() {
            return Err(Error::Closed);
        }
        if writer.queued() >= SINK_HIGH_WATER {
            return Err(Error::QueueFull);
        }
        self.push_locked(&mut writer, message, SendMode::SEND_HALF)?;
        drop(writer);
        self.wake_session_to_flush();
        Ok(())
    }

    /// Lets the buffer for small frames go, if everything in it has been written: for a
    /// session that expects to wait a long time before it sends again (the buffer keeps
    /// its size between writes, which saves a busy socket an allocation per write).
    #[cfg(feature = "protocol")]
    pub(crate) fn release_staging(&self) {
        self.lock().release_staging();
    }

    /// Whether data can no longer be sent: this side's close frame is queued, or the
    /// connection failed or was aborted.
    pub(crate) fn is_closed(&self) -> bool {
        let writer = self.lock();
        writer.close_sent().is_some() || writer.failed()
    }

    /// Queues a ping and wakes the session to write it, unless the writer is in use this
    /// very moment (a send compressing a large message holds it): then nothing, and
    /// `false`. For the layer's clock, which must never wait on one socket while it holds
    /// every socket's seat.
    pub(crate) fn try_ping(&self) -> bool {
        let mut writer = match self.writer.try_lock() {
            Ok(writer) => writer,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        writer.push_control(OpCode::Ping, Bytes::new());
        drop(writer);
        self.wake_session_to_flush();
        true
    }

    /// Queues a close frame to be written the next time the session goes idle.
    pub(crate) fn push_close_deferred(&self, frame: &CloseFrame) {
        self.push_close(Some(frame));
        self.deferred.store(true, Ordering::Release);
    }

    /// Whether frames were left queued, clearing the mark. A plain load first: most of the
    /// time nothing was left, and a load costs less than a swap.
    pub(super) fn take_deferred(&self) -> bool {
        self.deferred.load(Ordering::Acquire) && self.deferred.swap(false, Ordering::AcqRel)
    }

    /// Writes what was left queued, if anything; called by the session each time its
    /// handler goes idle, so that nothing stays gathered while nobody will flush it.
    pub(crate) fn flush_deferred(&self, cx: &mut Context<'_>) {
        if self.take_deferred() && self.lock().poll_flush(cx).is_pending() {
            // Still queued: this task is woken when the connection takes more; try again then.
            self.deferred.store(true, Ordering::Release);
        }
    }

    /// Queues `message` for this socket unless its queue would pass `limit` bytes, and
    /// has the session write it out. Never waits.
    pub(crate) fn offer(&self, message: &impl Encoded, limit: usize) -> OfferOutcome {
        let mut writer = self.lock();
        #[cfg(feature = "deflate")]
        let frame = message.frame(writer.compressor().as_deref());
        #[cfg(not(feature = "deflate"))]
        let frame = message.frame();
        let offer = writer.offer(frame, message.len(), limit);
        drop(writer);
        if offer == OfferOutcome::Queued {
            self.wake_session_to_flush();
        }
        offer
    }

    /// What compresses messages once for this socket and every other that agreed the same
    /// window bits without server context takeover; `None` without compression, or with a
    /// context of its own.
    #[cfg(feature = "deflate")]
    pub(crate) fn sharer(&self) -> Option<crate::deflate::Sharer> {
        self.lock().compressor()?.sharer()
    }

    /// Closes a socket that fell too far behind: a close frame 1008 goes after what is
    /// queued, and the session drops the connection if the close handshake has not ended
    /// within its close timeout.
    pub(crate) fn evict(&self) {
        self.push_close(Some(&CloseFrame::new(
            CloseCode::POLICY_VIOLATION,
            "too slow: outgoing queue full",
        )));
        self.evicted.store(true, Ordering::Release);
        self.wake_session_to_flush();
    }

    /// Whether the socket was closed for falling behind.
    pub(crate) fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Tells the session that the peer sent nothing within the keep-alive timeout after a
    /// ping: the session drops the connection when it is next polled, which this wakes it
    /// for.
    pub(crate) fn lapse(&self) {
        self.lapsed.store(true, Ordering::Release);
        self.wake_session();
    }

    /// Whether the peer stayed silent past the keep-alive timeout.
    pub(crate) fn lapsed(&self) -> bool {
        self.lapsed.load(Ordering::Acquire)
    }

    /// Wakes the session's task, to look at what changed (a shutdown's phase).
    pub(crate) fn wake_session(&self) {
        self.session.wake_by_ref();
    }

    /// Marks what is queued for writing and wakes the session's task, which writes it out
    /// the next time its handler goes idle. Once marked, the session is woken again only
    /// after it has taken the mark.
    fn wake_session_to_flush(&self) {
        if !self.deferred.swap(true, Ordering::AcqRel) {
            self.session.wake_by_ref();
        }
    }
}

/// A send in progress: the message until it is queued, then the flush. Cancel-safe: once
/// queued, the frame goes out whole whether this is polled again or not.
#[must_use = "a send does nothing unless polled"]
pub(crate) struct Sending<'a> {
    write: &'a WriteSide,
    message: Option<Message>,
    mode: SendMode,
    /// With a send timeout: started when the send first has to wait. Boxed: a timer would
    /// make every handler's future larger, and most sends never wait.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<'a> Sending<'a> {
    fn new(write: &'a WriteSide, message: Message, mode: SendMode) -> Self {
        Sending {
            write,
            message: Some(message),
            mode,
            timer: None,
        }
    }
}

impl Future for Sending<'_> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.write
            .poll_send_timed(cx, &mut this.message, this.mode, &mut this.timer)
    }
}
