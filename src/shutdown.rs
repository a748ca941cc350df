//! Graceful shutdown: refuse new sockets, say "going away" to the open ones, wait for them.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use pin_project_lite::pin_project;
use tokio::sync::{futures::Notified, Notify};

use crate::stats::Stats;

/// Shuts down a layer's sockets politely. From [`WebSocketLayer::shutdown_handle`].
///
/// [`shutdown`](Self::shutdown) makes new upgrades get `503 Service Unavailable`, sends
/// close code 1001 (Going Away) to every open socket, waits for the close handshakes to
/// finish, and drops the sockets still open at the deadline.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use tower_websockets::WebSocketLayer;
///
/// # async fn serve(_: WebSocketLayer) {}
/// # async fn run() {
/// let layer = WebSocketLayer::default();
/// let shutdown = layer.shutdown_handle();
/// tokio::spawn(serve(layer));
/// tokio::signal::ctrl_c().await.unwrap();
/// let report = shutdown.shutdown(Duration::from_secs(10)).await;
/// println!("{} closed cleanly, {} dropped", report.closed, report.dropped);
/// # }
/// ```
///
/// [`WebSocketLayer::shutdown_handle`]: crate::WebSocketLayer::shutdown_handle
#[derive(Debug, Clone)]
#[must_use = "a shutdown handle does nothing until `shutdown` is called"]
pub struct ShutdownHandle {
    state: Arc<ShutdownState>,
    stats: Stats,
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Sockets that ended before the deadline.
    pub closed: usize,
    /// Sockets still open at the deadline, dropped then.
    pub dropped: usize,
}

/// How far a shutdown has gone; phases only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// No shutdown has begun.
    Running,
    /// New upgrades are refused and open sockets are told 1001.
    GoingAway,
    /// The deadline passed: the remaining sockets are dropped.
    Forced,
}

impl Phase {
    fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::Running,
            1 => Phase::GoingAway,
            _ => Phase::Forced,
        }
    }
}

/// What the layer, its services and its sessions share about a shutdown.
///
/// Hand-written rather than a `tokio::sync::watch` channel. A session looks at the phase
/// on every poll, and a watch receiver's `changed()` future has to be polled again each
/// time to stay registered, which locks the channel's waiter list: here a session reads one
/// atomic and polls its wait only after the phase moved. The wait is also smaller: a
/// `Notified` is 64 bytes, a receiver with its `changed()` future 136, in every session.
#[derive(Debug, Default)]
pub(crate) struct ShutdownState {
    phase: AtomicU8,
    changed: Notify,
}

impl ShutdownState {
    /// How far the shutdown has gone.
    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Whether new upgrades are refused.
    pub(crate) fn is_going_away(&self) -> bool {
        self.phase() >= Phase::GoingAway
    }

    /// The session's side: a wait for the phase to move.
    pub(crate) fn watch(&self) -> PhaseWatch<'_> {
        PhaseWatch {
            state: self,
            seen: Phase::Running,
            armed: false,
            changed: self.changed.notified(),
        }
    }

    fn advance(&self, phase: Phase) {
        self.phase.fetch_max(phase as u8, Ordering::AcqRel);
        self.changed.notify_waiters();
    }
}

pin_project! {
    /// A session's view of the shutdown: tells each phase it moves to, once.
    pub(crate) struct PhaseWatch<'a> {
        state: &'a ShutdownState,
        // The phase last told.
        seen: Phase,
        // Whether `changed` was polled since it was made: polling registers the task.
        armed: bool,
        #[pin]
        changed: Notified<'a>,
    }
}

impl PhaseWatch<'_> {
    /// `Ready` with the new phase when it moved since the last call; call again until
    /// `Pending`, which leaves the task registered for the next move. Once registered,
    /// a call that finds nothing new is one atomic load.
    #[inline(always)]
    pub(crate) fn poll_change(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Phase> {
        if self.armed && self.state.phase() == self.seen {
            return Poll::Pending;
        }
        self.poll_moved(cx)
    }

    #[inline(never)]
    fn poll_moved(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Phase> {
        let mut this = self.project();
        loop {
            if !*this.armed {
                if this.changed.as_mut().poll(cx).is_ready() {
                    // Fired already: wait for the next move instead. The phase is read
                    // after the new wait exists, so a move in between is not missed.
                    this.changed.set(this.state.changed.notified());
                    continue;
                }
                *this.armed = true;
            }
            let phase = this.state.phase();
            if phase == *this.seen {
                return Poll::Pending;
            }
            *this.seen = phase;
            this.changed.set(this.state.changed.notified());
            *this.armed = false;
            return Poll::Ready(phase);
        }
    }
}

impl ShutdownHandle {
    pub(crate) fn new(state: Arc<ShutdownState>, stats: Stats) -> Self {
        ShutdownHandle { state, stats }
    }

    /// Whether a shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.state.is_going_away()
    }

    /// Refuses new sockets, sends 1001 to the open ones, and waits up to `deadline` for
    /// them to end; drops those still open then. Calling it again waits again.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let open_at_start = self.stats.open();
        self.state.advance(Phase::GoingAway);
        let drained = self.stats.drained();
        let cleanly = tokio::time::timeout(deadline, drained).await.is_ok();
        let dropped = if cleanly { 0 } else { self.stats.open() };
        if !cleanly {
            self.state.advance(Phase::Forced);
            // Dropping takes each session one poll; give them a moment.
            let _ = tokio::time::timeout(Duration::from_secs(1), self.stats.drained()).await;
        }
        ShutdownReport {
            closed: open_at_start.saturating_sub(dropped),
            dropped,
        }
    }
}
