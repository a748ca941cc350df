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

use super::keep_alive::{KeepAlive, Tick};
use crate::{
    config::Config,
    error::SessionError,
    shutdown::{Phase, Seat},
    socket::Shared,
    CloseCode, CloseFrame,
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
    /// idle, keep-alive pings (dropping a peer that answers none within the timeout), and
    /// on a shutdown a close 1001, then the drop of the session if the deadline passes. A
    /// panic in the handler becomes a value.
    ///
    /// The timer is polled once to register it, and then only once it fired; a shutdown
    /// wakes the session through its seat: a message costs the supervisor two atomic loads.
    pub(super) struct Supervisor<'a, H, F> {
        #[pin]
        handler: CatchUnwind<AssertUnwindSafe<F>>,
        shared: &'a Shared,
        config: &'a Config<H>,
        shutdown: Seat<'a>,
        // The shutdown's phase last acted on.
        seen: Phase,
        #[pin]
        keep_alive: Option<KeepAlive>,
        // Boxed: set only for a socket closed for falling behind.
        eviction: Option<Pin<Box<Sleep>>>,
    }
}

impl<'a, H, F: Future> Supervisor<'a, H, F> {
    pub(super) fn new(handler: F, shared: &'a Arc<Shared>, config: &'a Config<H>) -> Self {
        Supervisor {
            handler: AssertUnwindSafe(handler).catch_unwind(),
            shared,
            config,
            shutdown: config.shutdown.seat(shared),
            seen: Phase::Running,
            keep_alive: config.socket.keep_alive_interval.map(KeepAlive::new),
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
        let phase = this.shutdown.phase();
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
        if let Some(mut keep_alive) = this.keep_alive.as_mut().as_pin_mut() {
            let socket = &this.config.socket;
            while let Poll::Ready(tick) = keep_alive.as_mut().poll_tick(cx, this.shared, socket) {
                match tick {
                    Tick::Pinged => {
                        this.shared.write.flush_deferred(cx);
                        // A receive gives the read buffer back before it waits; a handler
                        // that stopped receiving after a message gives it back here.
                        this.shared.read.park_engine();
                    }
                    Tick::Silent => {
                        return Poll::Ready(Supervised::Dropped(SessionError::KeepAliveTimeout))
                    }
                }
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
