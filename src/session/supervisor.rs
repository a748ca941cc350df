//! The handler's supervisor: what a session does beside the handler, whatever it does.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::future::{CatchUnwind, FutureExt};
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::keep_alive;
use crate::seats::Seat;
use crate::{
    config::Config, error::SessionError, shutdown::Phase, socket::Shared, CloseCode, CloseFrame,
};

/// How supervising a handler ended.
pub(super) enum Supervised<T> {
    /// The handler returned (or panicked: `T` says).
    Ended(T),
    /// The session must be dropped now, for this reason.
    Dropped(SessionError),
}

/// What the handler's future gives: its output, or the panic that stopped it.
pub(super) type Caught<F> = <CatchUnwind<AssertUnwindSafe<F>> as Future>::Output;

pin_project! {
    /// Runs the handler, and beside it: writes what its sends gathered each time it goes
    /// idle (the keep-alive clock's pings among it), drops a peer that the clock found
    /// silent, and on a shutdown sends a close 1001, then drops the session if the deadline
    /// passes. A panic in the handler becomes a value.
    ///
    /// The shutdown and the keep-alive clock wake the session through its seat among the
    /// layer's: a message costs the supervisor four atomic loads and no timer.
    pub(super) struct Supervisor<'a, H, F> {
        #[pin]
        handler: CatchUnwind<AssertUnwindSafe<F>>,
        shared: &'a Shared,
        config: &'a Config<H>,
        // Its place among the layer's open sessions, while the handler runs.
        _seat: Seat<'a>,
        // The shutdown's phase last acted on.
        seen: Phase,
        // Boxed: set only for a socket closed for falling behind.
        eviction: Option<Pin<Box<Sleep>>>,
    }
}

impl<'a, H, F: Future> Supervisor<'a, H, F> {
    pub(super) fn new(handler: F, shared: &'a Arc<Shared>, config: &'a Config<H>) -> Self {
        let clock = keep_alive::settings(&config.socket);
        let seats = config.shutdown.seats();
        let (seat, start) = seats.take(shared, clock.is_some());
        if let (Some((interval, timeout)), true) = (clock, start) {
            keep_alive::start(seats.clone(), interval, timeout);
        }
        Supervisor {
            handler: AssertUnwindSafe(handler).catch_unwind(),
            shared,
            config,
            _seat: seat,
            seen: Phase::Running,
            eviction: None,
        }
    }
}

impl<H, F: Future> Future for Supervisor<'_, H, F> {
    type Output = Supervised<Caught<F>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(output) = this.handler.as_mut().poll(cx) {
            return Poll::Ready(Supervised::Ended(output));
        }
        // Whatever the handler's sends gathered is written whenever it goes idle:
        // gathering saves system calls under load, and must never hold a message back.
        this.shared.write.flush_deferred(cx);
        if this.shared.write.evicted() && poll_eviction(this.eviction, this.config, cx).is_ready() {
            return Poll::Ready(Supervised::Dropped(SessionError::QueueFull));
        }
        if this.shared.write.lapsed() {
            return Poll::Ready(Supervised::Dropped(SessionError::KeepAliveTimeout));
        }
        let phase = this.config.shutdown.phase();
        if phase != *this.seen {
            *this.seen = phase;
            if phase >= Phase::GoingAway {
                this.shared.write.push_close_deferred(&CloseFrame::new(
                    CloseCode::GOING_AWAY,
                    "server shutting down",
                ));
                this.shared.write.flush_deferred(cx);
            }
            if phase == Phase::Forced {
                return Poll::Ready(Supervised::Dropped(SessionError::ShutdownDeadline));
            }
        }
        Poll::Pending
    }
}

/// For a socket closed for falling behind: ready once the peer has let the close timeout
/// pass without finishing the close handshake. Out of line, as it is rare: the supervisor's
/// poll runs for every message.
#[cold]
#[inline(never)]
fn poll_eviction<H>(
    deadline: &mut Option<Pin<Box<Sleep>>>,
    config: &Config<H>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    let timeout = config.close_timeout;
    deadline
        .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)))
        .as_mut()
        .poll(cx)
}
