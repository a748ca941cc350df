//! The socket a handler gets: message-level `recv`, `send` and `close`.
//!
//! [`WebSocket`] reads whole messages (fragments are reassembled, pings answered, protocol
//! errors closed with the RFC's code) and writes them in order. It is also a
//! [`Stream`](futures_core::Stream) of messages and a [`Sink`](futures_sink::Sink) of them,
//! and [`WebSocket::split`] gives a receiving and a sending half for two tasks.
//!
//! Memory is bounded both ways. A socket holds at most one outgoing message plus 64 KiB of
//! frames waiting for the connection: `send` returns once the connection has taken its
//! frame (or gathered it, up to 64 KiB, with the answers to input already read), so a
//! client that stops reading stalls its sender instead of growing the server; the `Sink`
//! waits in `poll_ready` at 64 KiB. With `send_timeout` configured, a send that cannot
//! finish in time fails with [`Error::SendTimeout`] instead of waiting on. Input is read only as the handler asks for it, so a
//! client that sends faster than the handler reads is slowed by TCP, and a message
//! never takes more than `max_message_size`.
//!
//! Every method is cancel-safe: a `recv` dropped inside `select!` loses no data (the frame
//! being read is kept for the next call), and a `send` dropped half-way leaves its frame
//! queued whole, written by the next `send` or `close`, a `Sink` flush, or when the
//! session next goes idle.
//!
//! # Example
//!
//! ```
//! use tower_websockets::{Context, Message, WebSocket};
//!
//! async fn shout(mut socket: WebSocket, _cx: Context) {
//!     while let Some(Ok(message)) = socket.recv().await {
//!         if let Message::Text(text) = message {
//!             if socket.send(Message::text(text.to_uppercase())).await.is_err() {
//!                 break;
//!             }
//!         }
//!     }
//! }
//! ```

mod connection;
mod reader;
mod writer;

use std::{
    future::{poll_fn, Future},
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU8, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::{ready, Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use fastwebsockets::OpCode;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;

use crate::{CloseCode, CloseFrame, Error, Message};
use reader::Reader;
use writer::Writer;

type Io = TokioIo<Upgraded>;

/// How many bytes a [`Sink`](futures_sink::Sink) lets pile up before `poll_ready` waits
/// for the connection.
const SINK_HIGH_WATER: usize = 64 * 1024;

/// Up to this many bytes, frames sent while more input is already waiting are gathered and
/// written together; past it they are written at once.
const COALESCE_LIMIT: usize = 64 * 1024;

/// Which side sent the first close frame.
const NOBODY: u8 = 0;
const CLIENT: u8 = 1;
const SERVER: u8 = 2;

/// The parts of a socket's configuration that the socket itself uses.
#[derive(Debug, Clone)]
pub(crate) struct SocketConfig {
    pub(crate) max_message_size: usize,
    pub(crate) receive_buffer_size: usize,
    pub(crate) keep_alive_interval: Option<Duration>,
    pub(crate) keep_alive_timeout: Option<Duration>,
    pub(crate) send_timeout: Option<Duration>,
}

pub(crate) struct Shared {
    reader: Mutex<Reader>,
    writer: Mutex<Writer>,
    initiator: AtomicU8,
    /// The client's next frame is already (at least partly) read: a send can wait for the
    /// answers to it and go out with them.
    input_waiting: AtomicBool,
    /// A send left its frame queued; it is written before the socket waits for input, or
    /// before the task that sent it goes idle.
    deferred: AtomicBool,
    send_timeout: Option<Duration>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(io: Io, config: &SocketConfig) -> Arc<Self> {
        let (read, write) = connection::split(io);
        Arc::new(Shared {
            reader: Mutex::new(Reader::new(
                read,
                config.max_message_size,
                config.receive_buffer_size,
            )),
            writer: Mutex::new(Writer::new(write)),
            initiator: AtomicU8::new(NOBODY),
            input_waiting: AtomicBool::new(false),
            send_timeout: config.send_timeout,
            deferred: AtomicBool::new(false),
        })
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        lock(&self.writer)
    }

    fn reader(&self) -> MutexGuard<'_, Reader> {
        lock(&self.reader)
    }

    fn mark_initiator(&self, side: u8) {
        let _ = self
            .initiator
            .compare_exchange(NOBODY, side, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let mut reader = self.reader();
        if reader.finished() {
            return Poll::Ready(None);
        }
        // Finish writing what this side queued (pongs, pings) and could not write at once.
        if reader.owes_flush {
            reader.owes_flush = self.flush_in_background(cx);
        }
        loop {
            let frame = match reader.poll_frame(cx) {
                Poll::Ready(Ok(frame)) => frame,
                Poll::Pending => {
                    // The socket is about to wait for input: write what was gathered.
                    self.input_waiting.store(false, Ordering::Relaxed);
                    if self.take_deferred() {
                        reader.owes_flush = self.flush_in_background(cx);
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => {
                    let error = reader::engine_error(e);
                    return Poll::Ready(Some(Err(self.fail(&mut reader, error, cx))));
                }
            };
            let message = match reader.assemble(frame) {
                Ok(Some(message)) => message,
                Ok(None) => continue,
                Err(e) => return Poll::Ready(Some(Err(self.fail(&mut reader, e, cx)))),
            };
            self.input_waiting
                .store(reader.input_waiting(), Ordering::Relaxed);
            match &message {
                Message::Ping(payload) => {
                    self.writer().push_control(OpCode::Pong, payload.clone());
                    reader.owes_flush = self.flush_in_background(cx);
                }
                Message::Close(frame) => {
                    self.mark_initiator(CLIENT);
                    reader.finish_with_close(frame.clone());
                    // Answer with the peer's own code and reason (RFC 6455 §5.5.1).
                    let (code, reason) = match frame {
                        Some(frame) => (frame.code, frame.reason.as_str()),
                        None => (CloseCode::NO_STATUS, ""),
                    };
                    self.writer().push_close(code, reason);
                    reader.owes_flush = self.flush_in_background(cx);
                }
                _ => {}
            }
            return Poll::Ready(Some(Ok(message)));
        }
    }

    /// Ends the read side on an error; a protocol error is answered with its close code.
    fn fail(&self, reader: &mut Reader, error: Error, cx: &mut Context<'_>) -> Error {
        if let Error::Protocol { code, reason } = &error {
            self.mark_initiator(SERVER);
            self.writer().push_close(*code, reason);
            self.flush_in_background(cx);
        }
        reader.finish_with_error(error.clone());
        error
    }

    /// Starts writing what is queued without waiting for it. Returns whether some is
    /// left: this task is then woken when the connection can take it, and must try again.
    fn flush_in_background(&self, cx: &mut Context<'_>) -> bool {
        self.writer().poll_flush(cx).is_pending()
    }

    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.writer().poll_flush(cx)
    }

    fn poll_reserve(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Self::poll_reserve_locked(&mut self.writer(), cx)
    }

    fn poll_reserve_locked(writer: &mut Writer, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if writer.queued() >= SINK_HIGH_WATER {
            ready!(writer.poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Queues a message without writing it.
    fn push(&self, message: Message) -> Result<(), Error> {
        self.push_locked(&mut self.writer(), message)
    }

    fn push_locked(&self, writer: &mut Writer, message: Message) -> Result<(), Error> {
        match message {
            Message::Text(text) => writer.push_data(OpCode::Text, Bytes::from(text)),
            Message::Binary(data) => writer.push_data(OpCode::Binary, data),
            Message::Ping(data) => Self::push_control(writer, OpCode::Ping, data),
            Message::Pong(data) => Self::push_control(writer, OpCode::Pong, data),
            Message::Close(frame) => {
                self.push_close_locked(writer, frame.as_ref());
                Ok(())
            }
        }
    }

    /// Queues `message` once there is room, then writes everything queued; one lock a poll.
    /// With `gather`, the sender also reads this socket, so while more input is waiting the
    /// frame may stay queued until that reading would wait (see `poll_recv`).
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
        gather: bool,
    ) -> Poll<Result<(), Error>> {
        let mut writer = self.writer();
        if message.is_some() {
            ready!(Self::poll_reserve_locked(&mut writer, cx))?;
            if let Some(message) = message.take() {
                self.push_locked(&mut writer, message)?;
                // More input is already here: its answers can go out with this one, in one
                // write, when the socket next waits for input (or the sender goes idle).
                if gather
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
    pub(crate) fn abort(&self, error: Error) {
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
    fn take_deferred(&self) -> bool {
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

    fn push_control(writer: &mut Writer, opcode: OpCode, data: Bytes) -> Result<(), Error> {
        if writer.close_sent().is_some() {
            return Err(Error::Closed);
        }
        if data.len() > 125 {
            return Err(Error::protocol(
                CloseCode::PROTOCOL_ERROR,
                "control frame payload over 125 bytes",
            ));
        }
        writer.push_control(opcode, data);
        Ok(())
    }

    pub(crate) fn push_close(&self, frame: Option<&CloseFrame>) {
        self.push_close_locked(&mut self.writer(), frame);
    }

    fn push_close_locked(&self, writer: &mut Writer, frame: Option<&CloseFrame>) {
        if writer.close_sent().is_none() {
            self.mark_initiator(SERVER);
        }
        match frame {
            Some(frame) => writer.push_close(frame.code, &frame.reason),
            None => writer.push_close(CloseCode::NO_STATUS, ""),
        }
    }

    /// `poll_send`, failing with [`Error::SendTimeout`] once the send has waited for the
    /// configured time. The timer starts when the send first has to wait.
    fn poll_send_timed(
        &self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
        gather: bool,
        timer: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    ) -> Poll<Result<(), Error>> {
        if let Poll::Ready(result) = self.poll_send(cx, message, gather) {
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

    fn send(&self, message: Message, gather: bool) -> Sending<'_> {
        Sending {
            shared: self,
            message: Some(message),
            gather,
            timer: None,
        }
    }

    async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.push_close(Some(&CloseFrame::new(code, reason)));
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.writer().poll_shutdown(cx)
    }

    /// What the session driver reads when the handler is done.
    pub(crate) fn state(&self) -> SocketState {
        let reader = self.reader();
        let writer = self.writer();
        SocketState {
            initiator: match self.initiator.load(Ordering::Acquire) {
                CLIENT => Some(crate::ClosedBy::Client),
                SERVER => Some(crate::ClosedBy::Server),
                _ => None,
            },
            close_sent: writer.close_sent().cloned(),
            close_received: reader.close_received(),
            read_error: reader.error(),
            received: crate::Traffic {
                messages: reader.messages,
                bytes: reader.bytes,
            },
            sent: crate::Traffic {
                messages: writer.messages,
                bytes: writer.bytes,
            },
        }
    }
}

/// A send in progress: the message until it is queued, then the flush. Cancel-safe: once
/// queued, the frame goes out whole whether this is polled again or not.
struct Sending<'a> {
    shared: &'a Shared,
    message: Option<Message>,
    gather: bool,
    /// With a send timeout: started when the send first has to wait. Boxed: a timer would
    /// make every handler's future larger, and most sends never wait.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Future for Sending<'_> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.shared
            .poll_send_timed(cx, &mut this.message, this.gather, &mut this.timer)
    }
}

pub(crate) struct SocketState {
    pub(crate) initiator: Option<crate::ClosedBy>,
    pub(crate) close_sent: Option<CloseFrame>,
    pub(crate) close_received: Option<Option<CloseFrame>>,
    pub(crate) read_error: Option<Error>,
    pub(crate) received: crate::Traffic,
    pub(crate) sent: crate::Traffic,
}

/// An accepted WebSocket connection.
///
/// See the [module documentation](self) for the guarantees its methods give.
pub struct WebSocket {
    shared: Arc<Shared>,
    protocol: Option<String>,
}

impl WebSocket {
    pub(crate) fn new(shared: Arc<Shared>, protocol: Option<String>) -> Self {
        WebSocket { shared, protocol }
    }

    /// The next message, `None` once the connection is closed.
    ///
    /// A close frame from the peer is returned as [`Message::Close`] after the socket has
    /// answered it with the same code; the next call returns `None`. A protocol error is
    /// returned as an [`Error::Protocol`] after the socket has sent the matching close code.
    /// Pings are answered by the socket and also returned, for information.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.shared.poll_recv(cx)).await
    }

    /// Sends a message: it is written before this returns, unless the client's next
    /// frame is already read. Then it is gathered with the answers to that input and all
    /// are written, in order and with one system call, when this socket next waits for
    /// input, when 64 KiB are gathered, or when the handler's task goes idle, whichever
    /// comes first. A lone message is never held back.
    ///
    /// Sending [`Message::Close`] is the same as [`close`](Self::close). Fails with
    /// [`Error::Closed`] once a close frame has been sent.
    pub fn send(&mut self, message: Message) -> impl Future<Output = Result<(), Error>> + '_ {
        // The task that sends is the one that receives: answers to pipelined input can be
        // gathered and written together when this socket next waits for input.
        self.shared.send(message, true)
    }

    /// Starts the close handshake with this code and reason (cut to 123 bytes), and waits
    /// until the frame is written. Does nothing if a close frame was already sent (for
    /// example in answer to the peer's). Keep calling [`recv`](Self::recv) to see the
    /// peer's answer; when the handler returns, the session waits for it (up to the
    /// configured close timeout) and closes the connection.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.close(code, reason).await
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// [`recv`](Self::recv), polled by hand (for [`Echo`](crate::Echo)'s future).
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        self.shared.poll_recv(cx)
    }

    /// [`send`](Self::send), polled by hand: `message` is taken once queued, and `timer`
    /// is the send timeout's, started when the send first has to wait.
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
        timer: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    ) -> Poll<Result<(), Error>> {
        self.shared.poll_send_timed(cx, message, true, timer)
    }

    /// Splits the socket into a receiving and a sending half, for use from two tasks.
    pub fn split(self) -> (RecvHalf, SendHalf) {
        (
            RecvHalf {
                shared: self.shared.clone(),
            },
            SendHalf {
                shared: self.shared,
            },
        )
    }
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

/// The receiving half of a [`WebSocket`], from [`WebSocket::split`].
///
/// It still answers pings and close frames: they go out through the shared connection.
pub struct RecvHalf {
    shared: Arc<Shared>,
}

impl RecvHalf {
    /// The next message; see [`WebSocket::recv`].
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.shared.poll_recv(cx)).await
    }
}

impl std::fmt::Debug for RecvHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvHalf").finish_non_exhaustive()
    }
}

/// The sending half of a [`WebSocket`], from [`WebSocket::split`].
pub struct SendHalf {
    shared: Arc<Shared>,
}

impl SendHalf {
    /// Sends a message and waits until the connection has taken it; see
    /// [`WebSocket::send`]. Unlike it, never gathers: the receiving half may be in another
    /// task, busy with something else.
    pub fn send(&mut self, message: Message) -> impl Future<Output = Result<(), Error>> + '_ {
        self.shared.send(message, false)
    }

    /// Starts the close handshake; see [`WebSocket::close`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.close(code, reason).await
    }
}

impl std::fmt::Debug for SendHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendHalf").finish_non_exhaustive()
    }
}

macro_rules! impl_stream {
    ($ty:ty) => {
        impl futures_core::Stream for $ty {
            type Item = Result<Message, Error>;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                self.shared.poll_recv(cx)
            }
        }
    };
}

macro_rules! impl_sink {
    ($ty:ty) => {
        impl futures_sink::Sink<Message> for $ty {
            type Error = Error;

            fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.shared.poll_reserve(cx)
            }

            fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
                self.shared.push(message)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.shared.poll_flush(cx)
            }

            /// Sends a normal close (1000) unless a close frame was sent already, and flushes.
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.shared
                    .push_close(Some(&CloseFrame::new(CloseCode::NORMAL, "")));
                self.shared.poll_flush(cx)
            }
        }
    };
}

impl_stream!(WebSocket);
impl_stream!(RecvHalf);
impl_sink!(WebSocket);
impl_sink!(SendHalf);
