//! The read path: [`ReadSide`], one receive loop for whole messages (`recv`) and parts
//! (`recv_part`), and the answers that receiving owes the peer (pongs, the close) on the
//! way, queued on the write side.
//!
//! `engine` reads frames through fastwebsockets, with an engine taken up (from `lent`'s
//! pools) only while input waits, and `scratch` the buffer a socket waits with; with
//! compression, `marks` notes each
//! frame's RSV1 on the way in, which the engine does not pass on; `reader` checks each
//! frame (the payload rules are in `checks`) and reassembles messages (`partial`) or hands
//! over parts, and hands each compressed frame back to be inflated with its lock let go
//! (`inflation`).

mod checks;
mod engine;
#[cfg(feature = "deflate")]
mod inflation;
/// The connection's read side is lent to engines (`lent::Reopen`), and its kinds keep
/// pools of them (`lent::Pooled`).
pub(super) mod lent;
/// Read by the connection, which filters what it reads through them.
#[cfg(feature = "deflate")]
pub(super) mod marks;
mod partial;
mod reader;
mod scratch;

use std::{
    sync::{Mutex, MutexGuard},
    task::{ready, Context, Poll},
};

use fastwebsockets::OpCode;

pub(super) use reader::Reader;

use engine::RawFrame;
#[cfg(feature = "deflate")]
use inflation::{Inflation, Resume};
use reader::Step;

#[cfg(feature = "deflate")]
use super::connection::{Io, ReadProgress};
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
        self.poll_receive(
            write,
            cx,
            Reader::in_parts,
            Reader::assemble,
            #[cfg(feature = "deflate")]
            Inflation::whole,
            |message| controls.then_some(message),
        )
    }

    /// The next part of a message (see `recv_part`): control frames between parts are
    /// answered, not returned; `None` once reading has ended.
    pub(super) fn poll_recv_part(
        &self,
        write: &WriteSide,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Part, Error>>> {
        self.poll_receive(
            write,
            cx,
            Reader::in_whole,
            Reader::assemble_part,
            #[cfg(feature = "deflate")]
            Inflation::part,
            |_| None,
        )
    }

    /// The one receive loop, for whole messages and parts alike: `other_way` tells whether
    /// a message is under way the other way, `step` turns a frame into what the receive
    /// returns, `inflate` does so for a compressed frame (with the reader's lock let go),
    /// and `control` tells whether a control message (answered first) is returned too.
    #[inline(always)]
    fn poll_receive<T>(
        &self,
        write: &WriteSide,
        cx: &mut Context<'_>,
        other_way: impl Fn(&Reader) -> bool,
        mut step: impl FnMut(&mut Reader, RawFrame) -> Result<Step<T>, Error>,
        #[cfg(feature = "deflate")] inflate: impl Fn(
            Inflation,
            &ReadProgress<Io>,
            usize,
        ) -> Result<Resume<T>, Error>,
        control: impl Fn(Message) -> Option<T>,
    ) -> Poll<Option<Result<T, Error>>> {
        let mut reader = self.lock();
        if !ready_to_read(&mut reader, write, cx) {
            return Poll::Ready(None);
        }
        if other_way(&reader) {
            return Poll::Ready(Some(Err(Error::MessageInParts)));
        }
        'frames: loop {
            let frame = match ready!(poll_frame(&mut reader, write, cx)) {
                Ok(frame) => frame,
                Err(error) => return Poll::Ready(Some(Err(error))),
            };
            #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
            let mut stepped = step(&mut reader, frame);
            // Loops only to take back an inflated frame (with compression).
            #[cfg_attr(not(feature = "deflate"), allow(clippy::never_loop))]
            let item = loop {
                match stepped {
                    Ok(Step::More) => continue 'frames,
                    Ok(Step::Item(item)) => break item,
                    #[cfg(feature = "deflate")]
                    Ok(Step::Inflate(inflation)) => {
                        // The frame is inflated with the reader let go: inflating up to
                        // `max_message_size` holds up no one else who looks at the socket.
                        let inflater = reader.inflater();
                        let limit = reader.max_message_size;
                        drop(reader);
                        let inflated = inflate(*inflation, &inflater, limit);
                        reader = self.lock();
                        if reader.finished() {
                            // Aborted meanwhile: the message goes with the connection.
                            return Poll::Ready(None);
                        }
                        stepped = inflated.map(|resume| reader.resume(resume));
                    }
                    Ok(Step::Control(message)) => {
                        answer(&mut reader, write, &message, cx);
                        match control(message) {
                            Some(item) => break item,
                            None if reader.finished() => return Poll::Ready(None),
                            None => continue 'frames,
                        }
                    }
                    Err(e) => return Poll::Ready(Some(Err(fail(&mut reader, write, e, cx)))),
                }
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
