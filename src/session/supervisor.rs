//! The handler's supervisor: what a session does beside the handler, whatever it does.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::future::{CatchUnwind, FutureExt};
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::keep_alive::{KeepAlive, Tick};
use crate::{
    config::Config,
    error::SessionError,
    shutdown::{Phase, PhaseWatch},
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
    /// Runs the handler, and beside it: keep-alive pings (dropping a peer that answers
    /// none within the timeout), and on a shutdown a close 1001, then the drop of the
    /// session if the deadline passes. A panic in the handler becomes a value.
    ///
    /// Timer and shutdown wait are polled once to register them, and then only once they
    /// fired: a message costs the supervisor two atomic loads.
    pub(super) struct Supervisor<'a, H, F> {
        #[pin]
        handler: CatchUnwind<AssertUnwindSafe<FlushWhenIdle<'a, F>>>,
        shared: &'a Shared,
        config: &'a Config<H>,
        #[pin]
        shutdown: PhaseWatch<'a>,
        #[pin]
        keep_alive: Option<KeepAlive>,
        // Boxed: set only for a socket closed for falling behind.
        eviction: Option<Pin<Box<Sleep>>>,
    }
}

impl<'a, H, F: Future> Supervisor<'a, H, F> {
    pub(super) fn new(handler: F, shared: &'a Shared, config: &'a Config<H>) -> Self {
        Supervisor {
            handler: AssertUnwindSafe(FlushWhenIdle {
                inner: handler,
                shared,
            })
            .catch_unwind(),
            shared,
            config,
            shutdown: config.shutdown.watch(),
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
        if this.shared.write.evicted() && poll_eviction(this.eviction, this.config, cx).is_ready() {
            return Poll::Ready(Supervised::Dropped(SessionError::QueueFull));
        }
        while let Poll::Ready(phase) = this.shutdown.as_mut().poll_change(cx) {
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = this.inner.poll(cx);
        if polled.is_pending() {
            this.shared.write.flush_deferred(cx);
        }
        polled
    }
}
