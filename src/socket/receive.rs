//! Receiving: whole messages for `recv`, parts for `recv_part`, and the answers that
//! receiving owes the peer (pongs, the close) on the way.

use std::{
    sync::atomic::Ordering,
    task::{ready, Context, Poll},
};

use fastwebsockets::OpCode;

use super::{
    engine::RawFrame,
    parts::Piece,
    reader::Reader,
    shared::{Initiator, Shared},
};
use crate::{part::Part, CloseCode, Error, Message};

impl Shared {
    /// The next whole message; `None` once reading has ended.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let mut reader = self.reader();
        if !self.ready_to_read(&mut reader, cx) {
            return Poll::Ready(None);
        }
        if reader.in_parts() {
            return Poll::Ready(Some(Err(Error::MessageInParts)));
        }
        loop {
            let frame = match ready!(self.poll_frame(&mut reader, cx)) {
                Ok(frame) => frame,
                Err(error) => return Poll::Ready(Some(Err(error))),
            };
            let message = match reader.assemble(frame) {
                Ok(Some(message)) => message,
                Ok(None) => continue,
                Err(e) => return Poll::Ready(Some(Err(self.fail(&mut reader, e, cx)))),
            };
            self.input_waiting
                .store(reader.input_waiting(), Ordering::Relaxed);
            self.answer(&mut reader, &message, cx);
            return Poll::Ready(Some(Ok(message)));
        }
    }

    /// The next part of a message (see `recv_part`): control frames between parts are
    /// answered, not returned; `None` once reading has ended.
    pub(super) fn poll_recv_part(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Part, Error>>> {
        let mut reader = self.reader();
        if !self.ready_to_read(&mut reader, cx) {
            return Poll::Ready(None);
        }
        if reader.in_whole() {
            return Poll::Ready(Some(Err(Error::MessageInParts)));
        }
        loop {
            let frame = match ready!(self.poll_frame(&mut reader, cx)) {
                Ok(frame) => frame,
                Err(error) => return Poll::Ready(Some(Err(error))),
            };
            match reader.assemble_part(frame) {
                Ok(Piece::Part(part)) => return Poll::Ready(Some(Ok(part))),
                Ok(Piece::Control(message)) => {
                    self.answer(&mut reader, &message, cx);
                    if reader.finished() {
                        return Poll::Ready(None);
                    }
                }
                Err(e) => return Poll::Ready(Some(Err(self.fail(&mut reader, e, cx)))),
            }
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
                self.mark_initiator(Initiator::Client);
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
            self.mark_initiator(Initiator::Server);
            self.writer().push_close(cause.close_code(), cause.reason());
            self.flush_in_background(cx);
        }
        reader.finish_with_error(error.clone());
        error
    }
}
