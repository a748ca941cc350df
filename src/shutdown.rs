//! Graceful shutdown: refuse new sockets, say "going away" to the open ones, wait for them.

use std::{
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    time::Duration,
};

use crate::{seats::Seats, stats::Stats};

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

/// What the layer, its services and its sessions share about a shutdown: the phase,
/// which a session reads (one atomic load) each time it is polled, and the layer's
/// [`Seats`], whose sessions a move of the phase wakes. A seat is 16 bytes in each session,
/// where a `Notified` to wait on would be 64 and a watch receiver with its `changed()`
/// future 136.
#[derive(Default)]
pub(crate) struct ShutdownState {
    phase: AtomicU8,
    seats: Arc<Seats>,
}

impl std::fmt::Debug for ShutdownState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownState")
            .field("phase", &self.phase())
            .finish_non_exhaustive()
    }
}

impl ShutdownState {
    /// How far the shutdown has gone.
    #[inline(always)]
    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Whether new upgrades are refused.
    pub(crate) fn is_going_away(&self) -> bool {
        self.phase() >= Phase::GoingAway
    }

    /// The layer's open sessions. A session reads the phase after taking its seat, so
    /// that a move in between is not missed.
    pub(crate) fn seats(&self) -> &Arc<Seats> {
        &self.seats
    }

    fn advance(&self, phase: Phase) {
        self.phase.fetch_max(phase as u8, Ordering::AcqRel);
        // Woken outside the lock: a seat taken after it sees the new phase anyway.
        for socket in self.seats.sockets() {
            socket.write.wake_session();
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
