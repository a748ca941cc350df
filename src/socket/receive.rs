//! Receiving: whole messages for `recv`, parts for `recv_part`, and the answers that
//! receiving owes the peer (pongs, the close) on the way.

use std::{
    sync::atomic::Ordering,
    task::{ready, Context, Poll},
};

use fastwebsockets::OpCode;

use super::{
    engine::RawFrame,
    reader::{Piece, Reader},
    shared::Shared,
};
use crate::{error::SessionError, part::Part, session::ClosedBy, CloseCode, Error, Message};

/// What one frame gives a receive.
enum Step<T> {
    /// Nothing yet: a fragment of a message under way.
    More,
    /// What the receive returns.
    Item(T),
    /// A ping, pong or close, which the socket answers; `recv` returns it too.
    Control(Message),
}

impl Shared {
    /// The next whole message; `None` once reading has ended.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        self.poll_receive(
            cx,
            Reader::in_parts,
            |reader, frame| {
                Ok(match reader.assemble(frame)? {
                    None => Step::More,
                    Some(message) if message.is_data() => Step::Item(message),
                    Some(message) => Step::Control(message),
                })
            },
            Some,
        )
    }

    /// The next part of a message (see `recv_part`): control frames between parts are
    /// answered, not returned; `None` once reading has ended.
    pub(super) fn poll_recv_part(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Part, Error>>> {
        self.poll_receive(
            cx,
            Reader::in_whole,
            |reader, frame| {
                Ok(match reader.assemble_part(frame)? {
                    Piece::Part(part) => Step::Item(part),
                    Piece::Control(message) => Step::Control(message),
                })
            },
            |_| None,
        )
    }

    /// The one receive loop, for whole messages and parts alike: `other_way` tells whether
    /// a message is under way the other way, `step` turns a frame into what the receive
    /// returns, and `control` whether a control message (answered first) is returned too.
    #[inline(always)]
    fn poll_receive<T>(
        &self,
        cx: &mut Context<'_>,
        other_way: impl Fn(&Reader) -> bool,
        mut step: impl FnMut(&mut Reader, RawFrame) -> Result<Step<T>, Error>,
        control: impl Fn(Message) -> Option<T>,
    ) -> Poll<Option<Result<T, Error>>> {
        let mut reader = self.reader();
        if !self.ready_to_read(&mut reader, cx) {
            return Poll::Ready(None);
        }
        if other_way(&reader) {
            return Poll::Ready(Some(Err(Error::MessageInParts)));
        }
        loop {
            let frame = match ready!(self.poll_frame(&mut reader, cx)) {
                Ok(frame) => frame,
                Err(error) => return Poll::Ready(Some(Err(error))),
            };
            let item = match step(&mut reader, frame) {
                Ok(Step::More) => continue,
                Ok(Step::Item(item)) => item,
                Ok(Step::Control(message)) => {
                    self.answer(&mut reader, &message, cx);
                    match control(message) {
                        Some(item) => item,
                        None if reader.finished() => return Poll::Ready(None),
                        None => continue,
                    }
                }
                Err(e) => return Poll::Ready(Some(Err(self.fail(&mut reader, e, cx)))),
            };
            // Whether a send may wait for the answers to input already read.
            self.input_waiting
                .store(reader.input_waiting(), Ordering::Relaxed);
            return Poll::Ready(Some(Ok(item)));
        }
    }

    /// What every receive does first: `false` once reading has ended; otherwise the pongs
    /// and the close this side still owes are written (as far as the connection takes).
    #[inline(always)]
    fn ready_to_read(&self, reader: &mut Reader, cx: &mut Context<'_>) -> bool {
        if reader.finished() {
            return false;
        }
        if reader.owes_flush {
            reader.owes_flush = self.flush_in_background(cx);
        }
        true
    }

    /// The next frame; what sends gathered is written before waiting for input. An error
    /// ends reading (see [`fail`](Self::fail)).
    #[inline(always)]
    fn poll_frame(
        &self,
        reader: &mut Reader,
        cx: &mut Context<'_>,
    ) -> Poll<Result<RawFrame, Error>> {
        match reader.poll_frame(cx) {
            Poll::Ready(Ok(frame)) => Poll::Ready(Ok(frame)),
            Poll::Pending => {
                // The socket is about to wait for input: write what was gathered.
                self.input_waiting.store(false, Ordering::Relaxed);
                if self.take_deferred() {
                    reader.owes_flush = self.flush_in_background(cx);
                }
                Poll::Pending
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(self.fail(reader, error, cx))),
        }
    }

    /// Answers what needs an answer: a ping with a pong, the peer's close with its own
    /// code and reason (RFC 6455 §5.5.1), which also ends reading.
    #[inline(always)]
    fn answer(&self, reader: &mut Reader, message: &Message, cx: &mut Context<'_>) {
        match message {
            Message::Ping(payload) => {
                self.writer().push_control(OpCode::Pong, payload.clone());
                reader.owes_flush = self.flush_in_background(cx);
            }
            Message::Close(frame) => {
                self.mark_closed_by(ClosedBy::Client);
                reader.finish_with_close(frame.clone());
                let (code, reason) = match frame {
                    Some(frame) => (frame.code, frame.reason.as_str()),
                    None => (CloseCode::NO_STATUS, ""),
                };
                self.writer().push_close(code, reason);
                reader.owes_flush = self.flush_in_background(cx);
            }
            _ => {}
        }
    }

    /// Ends the read side on an error; a protocol error is answered with its close code.
    pub(super) fn fail(&self, reader: &mut Reader, error: Error, cx: &mut Context<'_>) -> Error {
        if let Error::Protocol(cause) = error {
            self.mark_closed_by(ClosedBy::Server);
            self.writer().push_close(cause.close_code(), cause.reason());
            self.flush_in_background(cx);
        }
        reader.finish_with_error(SessionError::Socket(error.clone()));
        error
    }
}
