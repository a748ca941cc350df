//! The write side: frames are encoded into a queue and written out with vectored writes.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll, Waker},
};

use bytes::Bytes;
use fastwebsockets::OpCode;
use tokio::io::AsyncWrite;

use super::{
    encode::{close_payload, data_frame_head, truncate_utf8, MAX_CLOSE_REASON},
    queue::Queue,
    wakers::WakerSet,
};
use crate::{socket::connection::WriteIo, CloseCode, CloseFrame, Error};

/// What became of a frame offered to a socket (see [`Writer::offer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OfferOutcome {
    /// Queued, behind everything queued before it.
    Queued,
    /// Not queued: it would have taken the socket's queue past the limit.
    Full,
    /// Not queued: the socket sends no more data (closing, closed or failed).
    Closed,
}

/// The write side of a socket, over the connection `T`.
pub(crate) struct Writer<T> {
    /// `None` once the connection was aborted.
    io: Option<WriteIo<T>>,
    /// Every task that waits for the connection to take our bytes.
    wakers: Arc<WakerSet>,
    /// The waker the connection is polled with: it wakes all of `wakers`.
    io_waker: Waker,
    /// Encoded frames waiting for the connection.
    queue: Queue,
    // Both boxed: set at most once, and the writer lives as long as the socket.
    close_sent: Option<Box<CloseFrame>>,
    failed: Option<Box<Error>>,
    shut_down: bool,
    /// The kind of the message being sent in parts, if one is.
    parts: Option<OpCode>,
    /// Frames offered while a message goes in parts: they follow its last part. Boxed, as
    /// `Memberships::groups` is, for the same reason: rarely any.
    #[allow(clippy::box_collection)]
    held: Option<Box<Vec<Bytes>>>,
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    /// Whether compression was agreed (then the compressor is the connection's).
    #[cfg(feature = "deflate")]
    compressed: bool,
}

impl<T: AsyncWrite + Unpin> Writer<T> {
    pub(crate) fn new(io: WriteIo<T>) -> Self {
        #[cfg(feature = "deflate")]
        let compressed = io.compressor().is_some();
        let wakers = Arc::new(WakerSet::default());
        Writer {
            io: Some(io),
            io_waker: Waker::from(wakers.clone()),
            wakers,
            queue: Queue::default(),
            close_sent: None,
            failed: None,
            shut_down: false,
            parts: None,
            held: None,
            messages: 0,
            bytes: 0,
            #[cfg(feature = "deflate")]
            compressed,
        }
    }

    /// Whether writing has failed, or the connection was aborted: nothing more goes out.
    pub(crate) fn failed(&self) -> bool {
        self.failed.is_some()
    }

    /// The close frame this side sent, if it sent one.
    pub(crate) fn close_sent(&self) -> Option<&CloseFrame> {
        self.close_sent.as_deref()
    }

    /// Bytes encoded but not yet accepted by the connection.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Lets the buffer for small frames go if nothing waits in it.
    #[cfg(feature = "protocol")]
    pub(crate) fn release_staging(&mut self) {
        self.queue.release_staging();
    }

    /// Queues a data frame. Fails once a close frame has been sent.
    /// Queues a data frame, compressed when compression was agreed, `compress` allows it,
    /// and the compressor finds it worth it. Fails once a close frame has been sent.
    pub(crate) fn push_data(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
        compress: bool,
    ) -> Result<(), Error> {
        if self.close_sent.is_some() || self.failed.is_some() || self.parts.is_some() {
            return Err(self.refusal());
        }
        self.messages += 1;
        self.bytes += payload.len() as u64;
        #[cfg(feature = "deflate")]
        if self.compressed && compress {
            return self.push_compressed(opcode, payload);
        }
        #[cfg(not(feature = "deflate"))]
        let _ = compress;
        self.encode(opcode, payload, false);
        Ok(())
    }

    /// Queues a data frame compressed, or as it is when compressing is not worth it. Out
    /// of line: sockets without compression do not carry it in their send path.
    #[cfg(feature = "deflate")]
    #[inline(never)]
    fn push_compressed(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), Error> {
        match self
            .compressor()
            .and_then(|mut compressor| compressor.compress(&payload))
        {
            Some(compressed) => self.encode(opcode, compressed, true),
            None => self.encode(opcode, payload, false),
        }
        Ok(())
    }

    /// Why a whole message cannot be sent now.
    #[cold]
    fn refusal(&self) -> Error {
        self.check_open().err().unwrap_or(Error::MessageInParts)
    }

    /// Whether data may still be sent: not after a close frame, nor once writing failed.
    fn check_open(&self) -> Result<(), Error> {
        if self.close_sent.is_some() {
            return Err(Error::Closed);
        }
        match &self.failed {
            Some(e) => Err((**e).clone()),
            None => Ok(()),
        }
    }

    /// Queues one part of a message sent in parts (RFC 6455 §5.4): the first as a text or
    /// binary frame, the others as continuations, `last` with FIN. Sent uncompressed.
    pub(crate) fn push_part(
        &mut self,
        opcode: OpCode,
        payload: Bytes,
        last: bool,
    ) -> Result<(), Error> {
        self.check_open()?;
        let frame_opcode = match self.parts {
            None => opcode,
            Some(kind) if kind == opcode => OpCode::Continuation,
            Some(_) => return Err(Error::MessageInParts),
        };
        self.bytes += payload.len() as u64;
        if last {
            self.messages += 1;
            self.parts = None;
        } else {
            self.parts = Some(opcode);
        }
        self.encode_frame(frame_opcode, payload, false, last);
        if last {
            for frame in self.held.take().into_iter().flat_map(|held| *held) {
                self.queue.push_encoded(frame);
            }
        }
        Ok(())
    }

    /// Queues a frame encoded elsewhere (one shared by many sockets) unless `limit` bytes or
    /// more are queued already. A frame is taken whole whatever its size while what is
    /// queued is under `limit`: a message larger than the limit reaches every socket that
    /// keeps up, and what one socket holds stays under `limit` plus one frame. While a
    /// message goes in parts, the frame waits for its last part. Never waits itself.
    /// `message_len`: the message's own length, as the socket's traffic counts it.
    pub(crate) fn offer(&mut self, frame: Bytes, message_len: usize, limit: usize) -> OfferOutcome {
        if self.close_sent.is_some() || self.failed.is_some() {
            return OfferOutcome::Closed;
        }
        let held: usize = self
            .held
            .iter()
            .flat_map(|held| held.iter())
            .map(Bytes::len)
            .sum();
        if self.queue.len() + held >= limit {
            return OfferOutcome::Full;
        }
        self.messages += 1;
        self.bytes += message_len as u64;
        if self.parts.is_some() {
            self.held.get_or_insert_with(Box::default).push(frame);
        } else {
            self.queue.push_encoded(frame);
        }
        OfferOutcome::Queued
    }

    /// The socket's compressor, when compression was agreed. Without, the connection's
    /// state is not read: a publish to many sockets asks each, and it is a cache line of
    /// its own.
    #[cfg(feature = "deflate")]
    pub(crate) fn compressor(
        &self,
    ) -> Option<std::sync::MutexGuard<'_, crate::deflate::Compressor>> {
        if !self.compressed {
            return None;
        }
        self.io.as_ref().and_then(WriteIo::compressor)
    }

    /// Queues a ping or a pong, unless a close frame has been sent (nothing may follow it).
    pub(crate) fn push_control(&mut self, opcode: OpCode, payload: Bytes) {
        if self.close_sent.is_none() && self.failed.is_none() {
            self.encode(opcode, payload, false);
        }
    }

    /// Queues a close frame, once. Codes that may not appear on the wire (1005, 1006, ...)
    /// are sent as a close frame without a code.
    pub(crate) fn push_close(&mut self, code: CloseCode, reason: &str) {
        if self.close_sent.is_some() {
            return;
        }
        let reason = truncate_utf8(reason, MAX_CLOSE_REASON);
        self.close_sent = Some(Box::new(CloseFrame::new(code, reason)));
        self.encode(OpCode::Close, close_payload(code, reason), false);
    }

    /// Queues one final frame; `compressed` sets RSV1 (RFC 7692 §6).
    #[inline]
    fn encode(&mut self, opcode: OpCode, payload: Bytes, compressed: bool) {
        self.encode_frame(opcode, payload, compressed, true);
    }

    /// Queues one frame; `fin`: the message's last (RFC 6455 §5.2).
    fn encode_frame(&mut self, opcode: OpCode, payload: Bytes, compressed: bool, fin: bool) {
        let (head, len) = data_frame_head(opcode, payload.len(), compressed, fin);
        self.queue.push(&head[..len], payload);
    }

    /// Ready once fewer than `limit` bytes are queued: at `limit` or more, everything queued
    /// is written first. This is what bounds a socket's queue.
    pub(crate) fn poll_room(
        &mut self,
        cx: &mut Context<'_>,
        limit: usize,
    ) -> Poll<Result<(), Error>> {
        if self.queue.len() >= limit {
            ready!(self.poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes everything queued. Several tasks may flush in turn (the reader answering a
    /// ping, the sender, the session driver); each one that has to wait is woken when the
    /// connection can take more.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(e) = &self.failed {
            return Poll::Ready(Err((**e).clone()));
        }
        if self.queue.len() == 0 {
            return Poll::Ready(Ok(()));
        }
        if let Poll::Ready(result) = self.poll_write_out() {
            return Poll::Ready(result);
        }
        // The connection is full: wait with the others, then look again, in case it
        // drained before we registered.
        self.wakers.register(cx.waker());
        self.poll_write_out()
    }

    /// Writes what is queued, polling the connection with the waker set's waker.
    fn poll_write_out(&mut self) -> Poll<Result<(), Error>> {
        match self.write_out() {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(WriteError::Aborted)) => Poll::Ready(Err(Error::ConnectionReset)),
            Poll::Ready(Err(WriteError::Io(e))) => Poll::Ready(Err(self.fail(e))),
        }
    }

    fn write_out(&mut self) -> Poll<Result<(), WriteError>> {
        let Some(io) = self.io.as_ref() else {
            return Poll::Ready(Err(WriteError::Aborted));
        };
        // One lock for all the writes and the flush.
        let mut guard = io.lock();
        let mut io = Pin::new(&mut *guard);
        let mut io_cx = Context::from_waker(&self.io_waker);
        ready!(self.queue.poll_write(io.as_mut(), &mut io_cx)).map_err(WriteError::Io)?;
        io.poll_flush(&mut io_cx).map_err(WriteError::Io)
    }

    /// Sends FIN once everything is flushed: the server closes the TCP connection first
    /// (RFC 6455 §7.1.1).
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_flush(cx))?;
        if self.shut_down {
            return Poll::Ready(Ok(()));
        }
        let Some(io) = self.io.as_ref() else {
            return Poll::Ready(Ok(()));
        };
        let shutdown = Pin::new(&mut *io.lock()).poll_shutdown(cx);
        match shutdown {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                self.shut_down = true;
                Poll::Ready(result.map_err(Error::from))
            }
        }
    }

    /// Releases this half of the connection now; nothing more is written.
    pub(crate) fn abort(&mut self) {
        self.io = None;
        self.held = None;
        self.queue.clear();
        if self.failed.is_none() {
            self.failed = Some(Box::new(Error::ConnectionReset));
        }
    }

    fn fail(&mut self, e: io::Error) -> Error {
        let error = Error::from(e);
        self.failed = Some(Box::new(error.clone()));
        self.held = None;
        self.queue.clear();
        error
    }
}

/// Why writing stopped.
enum WriteError {
    /// The connection was released by `abort`.
    Aborted,
    Io(io::Error),
}

#[cfg(test)]
mod tests;
