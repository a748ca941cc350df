//! A session from upgrade to close, and the handle through which outer layers see it end.
//!
//! The `101 Switching Protocols` response carries a [`SessionHandle`] in its extensions.
//! Its [`ended`](SessionHandle::ended) future resolves once the socket has closed, with a
//! [`SessionSummary`]: the Rust form of ASP.NET Core's "when the socket closes, the request
//! goes back up the pipeline".
//!
//! # Example
//!
//! An outer layer that logs how each session ended:
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//! use tower::{service_fn, ServiceBuilder};
//! use tower_websockets::{ResponseBody, SessionHandle, WebSocketLayer};
//!
//! let service = ServiceBuilder::new()
//!     .map_response(|response: Response<ResponseBody<Full<Bytes>>>| {
//!         if let Some(session) = response.extensions().get::<SessionHandle>().cloned() {
//!             tokio::spawn(async move {
//!                 let summary = session.ended().await;
//!                 println!("{:?} closed with {}", summary.closed_by, summary.close_code);
//!             });
//!         }
//!         response
//!     })
//!     .layer(WebSocketLayer::default())
//!     .service(service_fn(|_: Request<hyper::body::Incoming>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("not a socket"))))
//!     }));
//! # let _ = service;
//! ```

use std::{
    any::Any,
    future::{poll_fn, Future},
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context as TaskContext, Poll},
    time::Duration,
};

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tokio::{
    sync::{futures::Notified, Notify},
    time::{Instant, Sleep},
};

use crate::{
    layer::Config,
    shutdown,
    socket::{Shared, SocketConfig, SocketState},
    stats::Place,
    CloseCode, CloseFrame, Context, Error, Handler, HandlerOutput, WebSocket,
};

/// Which side started the close handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// The client sent the first close frame.
    Client,
    /// The server (handler, protocol error, panic) sent the first close frame.
    Server,
    /// Nobody: the connection ended without a close frame.
    Neither,
}

/// Messages and payload bytes in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Whole text and binary messages (control frames are not counted).
    pub messages: u64,
    /// Their payload bytes.
    pub bytes: u64,
}

/// How a session ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionSummary {
    /// The close code of the side that closed first; 1005 if its close frame had no code,
    /// 1006 if the connection ended without one (RFC 6455 §7.1.5).
    pub close_code: CloseCode,
    /// The reason that came with `close_code`.
    pub close_reason: String,
    /// Which side sent the first close frame.
    pub closed_by: ClosedBy,
    /// From the `101` to the end of the session.
    pub duration: Duration,
    /// What the client sent.
    pub received: Traffic,
    /// What the server sent.
    pub sent: Traffic,
    /// What went wrong, if anything did: a protocol error, a handler error or panic, a
    /// connection lost without a close frame, a failed upgrade.
    pub error: Option<Error>,
}

/// Resolves when its session has ended. Found in the extensions of the `101` response.
#[derive(Clone)]
pub struct SessionHandle {
    end: Arc<End>,
}

/// Where the summary lands. Small on purpose: one lives as long as each open socket.
#[derive(Default)]
struct End {
    summary: Mutex<Option<Box<SessionSummary>>>,
    published: Notify,
}

impl SessionHandle {
    /// Waits until the socket has closed and returns how the session ended.
    pub async fn ended(&self) -> SessionSummary {
        loop {
            let published = self.end.published.notified();
            let mut published = std::pin::pin!(published);
            // Registered before looking, so a publication in between is not missed.
            published.as_mut().enable();
            if let Some(summary) = self.summary() {
                return summary;
            }
            published.await;
        }
    }

    /// How the session ended, or `None` while it is still open.
    pub fn summary(&self) -> Option<SessionSummary> {
        let summary = self.end.summary.lock().unwrap_or_else(|e| e.into_inner());
        summary.as_deref().cloned()
    }
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("summary", &self.summary())
            .finish()
    }
}

/// Publishes the summary exactly once, even when the session's task is dropped early.
pub(crate) struct Publisher {
    end: Arc<End>,
    started: Instant,
}

impl Publisher {
    fn publish(&self, summary: SessionSummary) {
        let mut slot = self.end.summary.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            trace_end(&summary);
            *slot = Some(Box::new(summary));
            drop(slot);
            self.end.published.notify_waiters();
        }
    }

    fn aborted() -> SessionSummary {
        SessionSummary {
            close_code: CloseCode::ABNORMAL,
            close_reason: String::new(),
            closed_by: ClosedBy::Neither,
            duration: Duration::ZERO,
            received: Traffic::default(),
            sent: Traffic::default(),
            error: Some(Error::Aborted),
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // A no-op when the session published its summary; otherwise it was cut short.
        let mut summary = Publisher::aborted();
        summary.duration = self.started.elapsed();
        self.publish(summary);
    }
}

/// The session's close, as an event in its span.
fn trace_end(summary: &SessionSummary) {
    let error = summary.error.as_ref().map(tracing::field::display);
    tracing::info!(
        code = summary.close_code.0,
        reason = %summary.close_reason,
        closed_by = ?summary.closed_by,
        duration_ms = summary.duration.as_millis() as u64,
        received_messages = summary.received.messages,
        received_bytes = summary.received.bytes,
        sent_messages = summary.sent.messages,
        sent_bytes = summary.sent.bytes,
        error,
        "websocket closed"
    );
}

/// A session's handle and the end that publishes its summary.
pub(crate) fn channel() -> (SessionHandle, Publisher) {
    let end = Arc::new(End::default());
    let publisher = Publisher {
        end: end.clone(),
        started: Instant::now(),
    };
    (SessionHandle { end }, publisher)
}

/// Runs one session: waits for the upgrade, runs the handler, closes the connection.
pub(crate) fn run<H: Handler>(
    on_upgrade: OnUpgrade,
    config: Arc<Config<H>>,
    cx: Context,
    publisher: Publisher,
    place: Place,
) -> impl Future<Output = ()> + Send {
    // One span a session: what it served and to whom; the close is an event inside it.
    // A plain function, not an `async fn`: the session's future holds its state once.
    let span = tracing::info_span!(
        "websocket",
        path = %cx.uri().path(),
        peer = tracing::field::debug(cx.peer_addr()),
        protocol = %cx.protocol().unwrap_or("-"),
    );
    InSpan {
        inner: run_session(on_upgrade, config, cx, publisher, place),
        // A span that nobody records is not entered at every poll, nor kept: boxed, the
        // span costs idle sessions one pointer when it is recorded and nothing otherwise.
        span: (!span.is_disabled()).then(|| Box::new(span)),
    }
}

pin_project! {
    /// A future polled inside its span, when the span is recorded.
    struct InSpan<F> {
        #[pin]
        inner: F,
        span: Option<Box<tracing::Span>>,
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.as_deref().map(tracing::Span::enter);
        this.inner.poll(cx)
    }
}

async fn run_session<H: Handler>(
    on_upgrade: OnUpgrade,
    config: Arc<Config<H>>,
    cx: Context,
    publisher: Publisher,
    // Held until the session ends, however it ends: the socket's place in the count.
    _place: Place,
) {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(e) => {
            let mut summary = Publisher::aborted();
            summary.duration = publisher.started.elapsed();
            summary.error = Some(Error::Upgrade(Arc::new(e)));
            publisher.publish(summary);
            return;
        }
    };
    let shared = Shared::new(TokioIo::new(upgraded), &config.socket);
    let socket = WebSocket::new(shared.clone(), cx.protocol().map(str::to_owned));
    // Built and awaited in one expression: the handler's future then has one slot in
    // this one, not a second for a local it was first put in.
    let outcome = Running::new(config.handler.call(socket, cx), &shared, &config).await;
    let outcome = match outcome {
        Supervised::Ended(outcome) => outcome,
        Supervised::Dropped(error) => {
            // Past a shutdown's deadline, or a peer that stopped answering pings: drop the
            // connection where it stands, whoever still holds the socket.
            shared.abort(error.clone());
            let mut summary = summarize(shared.state(), None, publisher.started.elapsed());
            summary.error = Some(error);
            publisher.publish(summary);
            return;
        }
    };
    let handler_error = match outcome {
        Ok(output) => output
            .into_result()
            .err()
            .map(|e| Error::Handler(Arc::new(e))),
        Err(panic) => Some(Error::HandlerPanicked(panic_message(&*panic))),
    };
    // Boxed: its state (a timer among it) is needed only once the session ends, and
    // would otherwise make every idle session's task larger.
    Box::pin(finish(
        &shared,
        handler_error.is_some(),
        config.close_timeout,
    ))
    .await;

    let state = shared.state();
    publisher.publish(summarize(state, handler_error, publisher.started.elapsed()));
}

/// Completes the close handshake after the handler is done, within `timeout`.
async fn finish(shared: &Shared, handler_failed: bool, timeout: Duration) {
    let state = shared.state();
    let connection_lost = matches!(
        state.read_error,
        Some(Error::ConnectionReset | Error::Io(_))
    );
    if connection_lost {
        return;
    }
    if state.close_sent.is_none() {
        let frame = if handler_failed {
            CloseFrame::new(CloseCode::INTERNAL_ERROR, "internal error")
        } else {
            CloseFrame::new(CloseCode::NORMAL, "")
        };
        shared.push_close(Some(&frame));
    }
    let _ = tokio::time::timeout(timeout, async {
        // Send our close frame, wait for the peer's (whatever else it still sends is
        // dropped), then close the TCP connection from our side.
        poll_fn(|cx| shared.poll_flush(cx)).await?;
        while let Some(Ok(_)) = poll_fn(|cx| shared.poll_recv(cx)).await {}
        poll_fn(|cx| shared.poll_shutdown(cx)).await
    })
    .await;
}

fn summarize(
    state: SocketState,
    handler_error: Option<Error>,
    duration: Duration,
) -> SessionSummary {
    let (closed_by, frame) = match state.initiator {
        Some(ClosedBy::Client) => (
            ClosedBy::Client,
            state
                .close_received
                .flatten()
                .unwrap_or_else(|| CloseFrame::new(CloseCode::NO_STATUS, "")),
        ),
        Some(ClosedBy::Server) => (
            ClosedBy::Server,
            state
                .close_sent
                .unwrap_or_else(|| CloseFrame::new(CloseCode::NO_STATUS, "")),
        ),
        _ => (ClosedBy::Neither, CloseFrame::new(CloseCode::ABNORMAL, "")),
    };
    SessionSummary {
        close_code: frame.code,
        close_reason: frame.reason,
        closed_by,
        duration,
        received: state.received,
        sent: state.sent,
        error: handler_error.or(state.read_error),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// How supervising a handler ended.
enum Supervised<T> {
    /// The handler returned (or panicked: `T` says).
    Ended(T),
    /// The session must be dropped now, for this reason.
    Dropped(Error),
}

pin_project! {
    /// Runs the handler, and beside it what the session must do whatever the handler does:
    /// send keep-alive pings (and drop a peer that answers none within the timeout), and
    /// on a shutdown send 1001, then drop the session if the deadline passes.
    ///
    /// The timer and the shutdown wait are polled once to register them, and then only
    /// once they fired (`Sleep::is_elapsed`, the shutdown phase): a message costs two
    /// atomic loads.
    struct Running<'a, H: Handler, F> {
        #[pin]
        handler: CatchUnwind<FlushWhenIdle<'a, F>>,
        shared: &'a Shared,
        config: &'a Config<H>,
        // The shutdown phase last acted on, and a wait for the next one.
        seen: u8,
        #[pin]
        next_phase: Notified<'a>,
        // Whether `next_phase` was polled since it was armed: polling registers it.
        phase_registered: bool,
        keep_alive: Option<KeepAlive>,
        #[pin]
        timer: Sleep,
        timer_registered: bool,
    }
}

impl<'a, H: Handler, F: Future> Running<'a, H, F> {
    fn new(handler: F, shared: &'a Shared, config: &'a Config<H>) -> Self {
        let interval = config.socket.keep_alive_interval;
        Running {
            handler: CatchUnwind {
                inner: FlushWhenIdle {
                    inner: handler,
                    shared,
                },
            },
            shared,
            config,
            seen: shutdown::RUNNING,
            next_phase: config.shutdown.changed(),
            phase_registered: false,
            keep_alive: interval.map(KeepAlive::new),
            timer: tokio::time::sleep(interval.unwrap_or(Duration::from_secs(86_400))),
            timer_registered: false,
        }
    }
}

impl<H: Handler, F: Future> Future for Running<'_, H, F> {
    type Output = Supervised<<CatchUnwind<F> as Future>::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let shutdown = &this.config.shutdown;
        loop {
            if let Poll::Ready(output) = this.handler.as_mut().poll(cx) {
                return Poll::Ready(Supervised::Ended(output));
            }
            // The wait is polled once after (re)arming it, which registers it; after that
            // only when the phase moved.
            if !*this.phase_registered || shutdown.phase() > *this.seen {
                *this.phase_registered = true;
                // Registered before looking, so a change in between is not missed.
                let woken = this.next_phase.as_mut().poll(cx).is_ready();
                let phase = shutdown.phase();
                if phase > *this.seen {
                    if *this.seen < shutdown::GOING_AWAY {
                        this.shared.push_close_deferred(&CloseFrame::new(
                            CloseCode::GOING_AWAY,
                            "server shutting down",
                        ));
                        this.shared.flush_deferred(cx);
                    }
                    if phase >= shutdown::FORCED {
                        return Poll::Ready(Supervised::Dropped(Error::ShutdownDeadline));
                    }
                    *this.seen = phase;
                }
                if woken || phase > *this.seen {
                    this.next_phase.set(shutdown.changed());
                    *this.phase_registered = false;
                    continue;
                }
            }
            if let Some(keep_alive) = this.keep_alive.as_mut() {
                let first = !*this.timer_registered;
                *this.timer_registered = true;
                if (first || this.timer.is_elapsed()) && this.timer.as_mut().poll(cx).is_ready() {
                    let socket = &this.config.socket;
                    match keep_alive.on_timer(this.shared, socket) {
                        Some(next) => {
                            this.shared.flush_deferred(cx);
                            this.timer.as_mut().reset(next);
                            *this.timer_registered = false; // polled again: registers it
                            continue;
                        }
                        None => return Poll::Ready(Supervised::Dropped(Error::KeepAliveTimeout)),
                    }
                }
            }
            return Poll::Pending;
        }
    }
}

/// Keep-alive pings, and the check that the peer still sends something. The interval and
/// the timeout are read from the configuration, not kept in every session.
struct KeepAlive {
    next_ping: Instant,
    /// After a ping: when the peer must have sent a frame by, and the count then.
    waiting: Option<(Instant, u64)>,
}

impl KeepAlive {
    fn new(interval: Duration) -> Self {
        KeepAlive {
            next_ping: Instant::now() + interval,
            waiting: None,
        }
    }

    /// Sends the ping that is due; `None` if the peer sent nothing (no pong, no other
    /// frame) within the timeout since the last ping. Otherwise when to look again.
    fn on_timer(&mut self, shared: &Shared, config: &SocketConfig) -> Option<Instant> {
        let now = Instant::now();
        if let Some((deadline, frames)) = self.waiting {
            if now >= deadline {
                if shared.frames_received() == frames {
                    return None;
                }
                self.waiting = None;
            }
        }
        if now >= self.next_ping {
            shared.push_ping_deferred();
            self.next_ping = now + config.keep_alive_interval.unwrap_or_default();
            if let (Some(timeout), None) = (config.keep_alive_timeout, self.waiting) {
                self.waiting = Some((now + timeout, shared.frames_received()));
            }
        }
        Some(match self.waiting {
            Some((deadline, _)) => deadline.min(self.next_ping),
            None => self.next_ping,
        })
    }
}

pin_project! {
    /// Writes what the handler's sends gathered whenever the handler goes idle: gathering
    /// saves system calls under load, and must never hold a message back.
    struct FlushWhenIdle<'a, F> {
        #[pin]
        inner: F,
        shared: &'a Shared,
    }
}

impl<F: Future> Future for FlushWhenIdle<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = this.inner.poll(cx);
        if polled.is_pending() {
            this.shared.flush_deferred(cx);
        }
        polled
    }
}

pin_project! {
    /// Turns a panic in the handler into a value, so that its socket can be closed with 1011
    /// and the session reported; other sessions are not affected either way.
    struct CatchUnwind<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
