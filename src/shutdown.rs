//! Graceful shutdown: refuse new sockets, say "going away" to the open ones, wait for them.

use std::{
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::{futures::Notified, Notify};

use crate::Stats;

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

/// What the layer, its services and its sessions share about a shutdown.
#[derive(Debug, Default)]
pub(crate) struct ShutdownState {
    /// `RUNNING`, then `GOING_AWAY`, then `FORCED`.
    phase: AtomicU8,
    changed: Notify,
}

/// No shutdown has begun.
pub(crate) const RUNNING: u8 = 0;
/// New upgrades are refused and open sockets are told 1001.
pub(crate) const GOING_AWAY: u8 = 1;
/// The deadline passed: the remaining sockets are dropped.
pub(crate) const FORCED: u8 = 2;

impl ShutdownState {
    /// How far the shutdown has gone.
    pub(crate) fn phase(&self) -> u8 {
        self.phase.load(Ordering::Acquire)
    }

    /// Whether new upgrades are refused.
    pub(crate) fn is_going_away(&self) -> bool {
        self.phase() >= GOING_AWAY
    }

    /// A wait for the next change of phase: it resolves at each change made after it
    /// was created, polled or not.
    pub(crate) fn changed(&self) -> Notified<'_> {
        self.changed.notified()
    }

    fn advance(&self, phase: u8) {
        self.phase.fetch_max(phase, Ordering::AcqRel);
        self.changed.notify_waiters();
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
        self.state.advance(GOING_AWAY);
        let drained = self.stats.drained();
        let cleanly = tokio::time::timeout(deadline, drained).await.is_ok();
        let dropped = if cleanly { 0 } else { self.stats.open() };
        if !cleanly {
            self.state.advance(FORCED);
            // Dropping takes each session one poll; give them a moment.
            let _ = tokio::time::timeout(Duration::from_secs(1), self.stats.drained()).await;
        }
        ShutdownReport {
            closed: open_at_start.saturating_sub(dropped),
            dropped,
        }
    }
}
