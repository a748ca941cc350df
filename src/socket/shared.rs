//! [`Shared`]: one socket's state, shared by its halves and its session: the reader and
//! the writer under their locks, and the gathering of answers to pipelined input.

use std::{
    future::poll_fn,
    sync::{
        atomic::{AtomicBool, AtomicU8, Ordering},
        Arc, Mutex, MutexGuard, Weak,
    },
    task::{ready, Context, Poll, Waker},
    time::Duration,
};

use super::{
    connection::{self, Io},
    membership::{Group, Memberships},
    reader::Reader,
    writer::Writer,
};
#[cfg(feature = "deflate")]
use crate::deflate::{Compressor, Inflater};
use crate::{
    config::SocketConfig, error::SessionError, session::ClosedBy, sync::lock, CloseCode,
    CloseFrame, Error, Message,
};
use bytes::Bytes;
use fastwebsockets::OpCode;

/// How many bytes a [`Sink`](futures_sink::Sink) lets pile up before `poll_ready` waits
/// for the connection.
const SINK_HIGH_WATER: usize = 64 * 1024;

/// Up to this many bytes, frames sent while more input is already waiting are gathered and
/// written together; past it they are written at once.
const COALESCE_LIMIT: usize = 64 * 1024;

/// How a message is sent.
#[derive(Debug, Clone, Copy)]
pub(super) struct SendMode {
    /// The sender also reads the socket: while more input is waiting, its frame may be
    /// gathered with the answers to that input.
    pub(super) gather: bool,
    /// The message may go compressed (when compression was agreed and it is worth it).
    pub(super) compress: bool,
    /// A whole message, or one part of one.
    pub(super) framing: Framing,
}

/// Whether a message goes whole or in parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Whole,
    /// A part, more to follow.
    Part,
    /// The message's last part.
    LastPart,
}

impl SendMode {
    /// The same, never compressed.
    pub(super) const fn uncompressed(self) -> SendMode {
        SendMode {
            compress: false,
            ..self
        }
    }

    /// The same, for one part of a message (never compressed).
    pub(super) const fn part(self, last: bool) -> SendMode {
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

/// How the whole socket sends: the task that sends is the one that receives.
pub(super) const WHOLE_SOCKET: SendMode = SendMode {
    gather: true,
    compress: true,
    framing: Framing::Whole,
};

/// How the sending half sends: the receiving half may be busy in another task.
pub(super) const SEND_HALF: SendMode = SendMode {
    gather: false,
    compress: true,
    framing: Framing::Whole,
};

/// One socket's state. Reads and writes each take their own lock, so that a task
/// receiving and a task sending (after `split`) do not wait for each other.
pub(crate) struct Shared {
    reader: Mutex<Reader>,
    writer: Mutex<Writer<Io>>,
    /// Which side sent the first close frame: a [`ClosedBy`], `Neither` until one did.
    pub(super) closed_by: AtomicU8,
    /// The client's next frame is already (at least partly) read: a send can wait for the
    /// answers to it and go out with them.
    pub(super) input_waiting: AtomicBool,
    /// A send left its frame queued; it is written before the socket waits for input, or
    /// before the task that sent it goes idle.
    pub(super) deferred: AtomicBool,
    /// The socket was closed for falling behind (see `broadcast.rs`).
    pub(super) evicted: AtomicBool,
    pub(super) send_timeout: Option<Duration>,
    /// The session's task: woken when another task queues frames for this socket.
    pub(super) session: Waker,
    pub(super) memberships: Mutex<Memberships>,
}

impl Shared {
    /// A socket over `io`, for the session whose task `session` wakes; `deflate`, with
    /// compression agreed: its two halves.
    pub(crate) fn new(
        io: Io,
        config: &SocketConfig,
        session: Waker,
        #[cfg(feature = "deflate")] deflate: Option<(Compressor, Inflater)>,
    ) -> Arc<Self> {
        #[cfg(feature = "deflate")]
        let (read, write) = match deflate {
            Some((compressor, inflater)) => connection::split_compressed(io, compressor, inflater),
            None => connection::split(io),
        };
        #[cfg(not(feature = "deflate"))]
        let (read, write) = connection::split(io);
        Arc::new(Shared {
            reader: Mutex::new(Reader::new(
                read,
                config.max_message_size,
                config.max_frame_size.unwrap_or(config.max_message_size),
                config.reassembly_capacity,
            )),
            writer: Mutex::new(Writer::new(write)),
            closed_by: AtomicU8::new(ClosedBy::Neither as u8),
            input_waiting: AtomicBool::new(false),
            send_timeout: config.send_timeout,
            deferred: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            session,
            memberships: Mutex::default(),
        })
    }

    /// What tells this socket from every other one alive: the address of its state.
    pub(crate) fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Records that this socket joined `group`; `false` once its session has ended (the
    /// group must not take it in then: nobody would tell it to let go).
    pub(crate) fn join(&self, group: Weak<dyn Group>) -> bool {
        lock(&self.memberships).join(group)
    }

    /// Leaves every group joined; called when the session ends, and again (doing nothing)
    /// if its task is dropped.
    pub(crate) fn leave_groups(&self) {
        let groups = lock(&self.memberships).end();
        for group in groups.iter().filter_map(Weak::upgrade) {
            group.leave(self.key());
        }
    }

    pub(super) fn writer(&self) -> MutexGuard<'_, Writer<Io>> {
        lock(&self.writer)
    }

    pub(super) fn reader(&self) -> MutexGuard<'_, Reader> {
        lock(&self.reader)
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

    /// Starts writing what is queued without waiting for it. Returns whether some is
    /// left: this task is then woken when the connection can take it, and must try again.
    pub(super) fn flush_in_background(&self, cx: &mut Context<'_>) -> bool {
        self.writer().poll_flush(cx).is_pending()
    }

    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.writer().poll_flush(cx)
    }

    pub(super) fn poll_reserve(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.writer().poll_room(cx, SINK_HIGH_WATER)
    }

    /// Queues a message without writing it.
    pub(super) fn push(&self, message: Message) -> Result<(), Error> {
        self.push_locked(&mut self.writer(), message, WHOLE_SOCKET)
    }

    /// Queues `message`, compressed or in parts as `mode` says.
    fn push_locked(
        &self,
        writer: &mut Writer<Io>,
        message: Message,
        mode: SendMode,
    ) -> Result<(), Error> {
        if mode.framing != Framing::Whole {
            return self.push_part_locked(writer, message, mode.framing == Framing::LastPart);
        }
        match message {
            Message::Text(text) => writer.push_data(OpCode::Text, text.into_bytes(), mode.compress),
            Message::Binary(data) => writer.push_data(OpCode::Binary, data, mode.compress),
            control => self.push_control_message(writer, control),
        }
    }

    /// Queues one part of a message, or a control message between parts.
    #[inline(never)]
    fn push_part_locked(
        &self,
        writer: &mut Writer<Io>,
        message: Message,
        last: bool,
    ) -> Result<(), Error> {
        match message {
            Message::Text(text) => writer.push_part(OpCode::Text, text.into_bytes(), last),
            Message::Binary(data) => writer.push_part(OpCode::Binary, data, last),
            control => self.push_control_message(writer, control),
        }
    }

    /// Queues a ping, a pong or a close.
    fn push_control_message(&self, writer: &mut Writer<Io>, message: Message) -> Result<(), Error> {
        match message {
            Message::Ping(data) => Self::push_control(writer, OpCode::Ping, data),
            Message::Pong(data) => Self::push_control(writer, OpCode::Pong, data),
            Message::Close(frame) => {
                self.push_close_locked(writer, frame.as_ref());
                Ok(())
            }
            Message::Text(_) | Message::Binary(_) => Ok(()),
        }
    }

    /// Queues `message` once there is room, then writes everything queued; one lock a poll.
    /// With `mode.gather`, the sender also reads this socket, so while more input is waiting
    /// the frame may stay queued until that reading would wait (see `poll_recv`).
    pub(super) fn poll_send(
        &self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
        mode: SendMode,
    ) -> Poll<Result<(), Error>> {
        let mut writer = self.writer();
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

    /// Queues a keep-alive ping, written the next time the session goes idle.
    pub(crate) fn push_ping_deferred(&self) {
        self.writer().push_control(OpCode::Ping, Bytes::new());
        self.deferred.store(true, Ordering::Release);
    }

    /// How many frames have been received so far.
    pub(crate) fn frames_received(&self) -> u64 {
        self.reader().frames
    }

    /// Drops the connection now, without a close handshake: reading ends with `error` and
    /// both halves of the connection are released, whoever still holds the socket.
    pub(crate) fn abort(&self, error: SessionError) {
        let mut reader = self.reader();
        if !reader.finished() {
            reader.finish_with_error(error);
        }
        drop(reader);
        self.writer().abort();
    }

    /// Queues a close frame to be written the next time the session goes idle.
    pub(crate) fn push_close_deferred(&self, frame: &CloseFrame) {
        self.push_close(Some(frame));
        self.deferred.store(true, Ordering::Release);
    }

    /// Whether a send left its frame queued, clearing the mark. A plain load first: most
    /// of the time nothing was left, and a load costs less than a swap.
    pub(super) fn take_deferred(&self) -> bool {
        self.deferred.load(Ordering::Acquire) && self.deferred.swap(false, Ordering::AcqRel)
    }

    /// Writes what sends left queued, if any; called by the session each time its handler
    /// goes idle, so that nothing stays gathered while nobody will flush it.
    pub(crate) fn flush_deferred(&self, cx: &mut Context<'_>) {
        if self.take_deferred() && self.writer().poll_flush(cx).is_pending() {
            // Still queued: this task is woken when the connection takes more; try again then.
            self.deferred.store(true, Ordering::Release);
        }
    }

    fn push_control(writer: &mut Writer<Io>, opcode: OpCode, data: Bytes) -> Result<(), Error> {
        if writer.close_sent().is_some() {
            return Err(Error::Closed);
        }
        if data.len() > 125 {
            return Err(Error::ControlFrameTooLarge);
        }
        writer.push_control(opcode, data);
        Ok(())
    }

    pub(crate) fn push_close(&self, frame: Option<&CloseFrame>) {
        self.push_close_locked(&mut self.writer(), frame);
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

    pub(super) async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.push_close(Some(&CloseFrame::new(code, reason)));
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.writer().poll_shutdown(cx)
    }
}
