//! The read path: [`ReadSide`], one receive loop for whole messages (`recv`) and parts
//! (`recv_part`), and the answers that receiving owes the peer (pongs, the close) on the
//! way, queued on the write side.
//!
//! `engine` reads frames through fastwebsockets, with an engine taken up (from `lent`'s
//! pools) only while input waits, and `scratch` the buffer a socket waits with; with
//! compression, `marks` notes each
//! frame's RSV1 on the way in, which the engine does not pass on; `reader` checks each
//! frame (the payload rules are in `checks`) and reassembles messages or hands over parts.

mod checks;
mod engine;
/// The connection's read side is lent to engines (`lent::Reopen`), and its kinds keep
/// pools of them (`lent::Pooled`).
pub(super) mod lent;
/// Read by the connection, which filters what it reads through them.
#[cfg(feature = "deflate")]
pub(super) mod marks;
mod reader;
mod scratch;

use std::{
    sync::{Mutex, MutexGuard},
    task::{ready, Context, Poll},
};

use fastwebsockets::OpCode;

pub(super) use reader::Reader;

use engine::RawFrame;
use reader::Step;

use super::state::ClosedBy;
use super::write::WriteSide;
use crate::{error::SessionError, part::Part, CloseCode, Error, Message};

/// The read side of one socket: its reader, under the lock a receive holds throughout.
pub(crate) struct ReadSide {
    reader: Mutex<Reader>,
}

impl ReadSide {
    pub(super) fn new(reader: Reader) -> Self {
        ReadSide {
            reader: Mutex::new(reader),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Reader> {
        crate::sync::lock(&self.reader)
    }

    /// Gives the engine's read buffer back if the socket holds no unread input (see
    /// `Reader::park_engine`); not while a receive is reading.
    pub(crate) fn park_engine(&self) {
        if let Ok(mut reader) = self.reader.try_lock() {
            reader.park_engine();
        }
    }

    /// The largest message the socket takes whole, in bytes.
    #[cfg(feature = "protocol")]
    pub(crate) fn max_message_size(&self) -> usize {
        self.lock().max_message_size
    }

    /// How many frames have been received so far, in 32 bits (the count wraps); `None`
    /// while a receive is under way (it holds the reader, inflating a large message say),
    /// which this never waits for: the peer is not silent then.
    pub(crate) fn frames_received(&self) -> Option<u32> {
        match self.reader.try_lock() {
            Ok(reader) => Some(reader.frames as u32),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                Some(poisoned.into_inner().frames as u32)
            }
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The next whole message; `None` once reading has ended. Answers go out by `write`.
    /// With `controls`, pings, pongs and the peer's close (answered first) are returned too
    /// (`recv`); without, text and binary messages only (`recv_data`).
    pub(crate) fn poll_recv(
        &self,
        write: &WriteSide,
        cx: &mut Context<'_>,
        controls: bool,
    ) -> Poll<Option<Result<Message, Error>>> {
        self.poll_receive(write, cx, Reader::in_parts, Reader::assemble, |message| {
            controls.then_some(message)
        })
    }

    /// The next part of a message (see `recv_part`): control frames between parts are
    /// answered, not returned; `None` once reading has ended.
    pub(super) fn poll_recv_part(
        &self,
        write: &WriteSide,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Part, Error>>> {
        self.poll_receive(write, cx, Reader::in_whole, Reader::assemble_part, |_| None)
    }

    /// The one receive loop, for whole messages and parts alike: `other_way` tells whether
    /// a message is under way the other way, `step` turns a frame into what the receive
    /// returns, and `control` whether a control message (answered first) is returned too.
    #[inline(always)]
    fn poll_receive<T>(
        &self,
        write: &WriteSide,
        cx: &mut Context<'_>,
        other_way: impl Fn(&Reader) -> bool,
        mut step: impl FnMut(&mut Reader, RawFrame) -> Result<Step<T>, Error>,
        control: impl Fn(Message) -> Option<T>,
    ) -> Poll<Option<Result<T, Error>>> {
        let mut reader = self.lock();
        if !ready_to_read(&mut reader, write, cx) {
            return Poll::Ready(None);
        }
        if other_way(&reader) {
            return Poll::Ready(Some(Err(Error::MessageInParts)));
        }
        loop {
            let frame = match ready!(poll_frame(&mut reader, write, cx)) {
                Ok(frame) => frame,
                Err(error) => return Poll::Ready(Some(Err(error))),
            };
            let item = match step(&mut reader, frame) {
                Ok(Step::More) => continue,
                Ok(Step::Item(item)) => item,
                Ok(Step::Control(message)) => {
                    answer(&mut reader, write, &message, cx);
                    match control(message) {
                        Some(item) => item,
                        None if reader.finished() => return Poll::Ready(None),
                        None => continue,
                    }
                }
                Err(e) => return Poll::Ready(Some(Err(fail(&mut reader, write, e, cx)))),
            };
            // Whether a send may wait for the answers to input already read.
            write.set_input_waiting(reader.input_waiting());
            return Poll::Ready(Some(Ok(item)));
        }
    }
}

/// What every receive does first: `false` once reading has ended; otherwise the pongs and
/// the close this side still owes are written (as far as the connection takes).
#[inline(always)]
fn ready_to_read(reader: &mut Reader, write: &WriteSide, cx: &mut Context<'_>) -> bool {
    if reader.finished() {
        return false;
    }
    if reader.owes_flush {
        reader.owes_flush = write.flush_in_background(cx);
    }
    true
}

/// The next frame; what sends gathered is written before waiting for input. An error ends
/// reading (see [`fail`]).
#[inline(always)]
fn poll_frame(
    reader: &mut Reader,
    write: &WriteSide,
    cx: &mut Context<'_>,
) -> Poll<Result<RawFrame, Error>> {
    match reader.poll_frame(cx) {
        Poll::Ready(Ok(frame)) => Poll::Ready(Ok(frame)),
        Poll::Pending => {
            // The socket is about to wait for input: write what was gathered.
            write.set_input_waiting(false);
            if write.take_deferred() {
                reader.owes_flush = write.flush_in_background(cx);
            }
            Poll::Pending
        }
        Poll::Ready(Err(error)) => Poll::Ready(Err(fail(reader, write, error, cx))),
    }
}

/// Answers what needs an answer: a ping with a pong, the peer's close with its own code
/// and reason (RFC 6455 §5.5.1), which also ends reading.
#[inline(always)]
fn answer(reader: &mut Reader, write: &WriteSide, message: &Message, cx: &mut Context<'_>) {
    match message {
        Message::Ping(payload) => {
            write.lock().push_control(OpCode::Pong, payload.clone());
            reader.owes_flush = write.flush_in_background(cx);
        }
        Message::Close(frame) => {
            write.mark_closed_by(ClosedBy::Client);
            reader.finish_with_close(frame.clone());
            let (code, reason) = match frame {
                Some(frame) => (frame.code, frame.reason.as_str()),
                None => (CloseCode::NO_STATUS, ""),
            };
            write.lock().push_close(code, reason);
            reader.owes_flush = write.flush_in_background(cx);
        }
        _ => {}
    }
}

/// Ends reading on an error; a protocol error is answered with its close code.
fn fail(reader: &mut Reader, write: &WriteSide, error: Error, cx: &mut Context<'_>) -> Error {
    if let Error::Protocol(cause) = error {
        write.mark_closed_by(ClosedBy::Server);
        write.lock().push_close(cause.close_code(), cause.reason());
        write.flush_in_background(cx);
    }
    reader.finish_with_error(SessionError::Socket(error.clone()));
    error
}
