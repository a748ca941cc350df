//! Counters of a layer's sockets: open now, accepted so far, rejected and why.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use tokio::sync::watch;

use crate::rejection::Rejection;

/// Live counters shared by a layer, its services and their sessions. Cheap to clone.
///
/// # Example
///
/// ```
/// use tower_websockets::WebSocketLayer;
///
/// let layer = WebSocketLayer::default().max_sockets(10_000);
/// let stats = layer.stats();
/// // ... serve with `layer`, then, from a metrics endpoint:
/// println!("{} open, {} accepted", stats.open(), stats.accepted());
/// println!("{} over the limit", stats.rejections().over_limit);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Stats {
    counters: Arc<Counters>,
}

#[derive(Debug)]
struct Counters {
    /// Sockets open now. A watch channel: the limit is checked and the count raised in one
    /// step, and a shutdown waits for it to reach zero. (A `Semaphore` gives the first but
    /// not the second: waiting for every permit to come back would hold those that do,
    /// and the open count would read wrong while a shutdown waits.)
    open: watch::Sender<usize>,
    accepted: AtomicU64,
    /// Indexed by `Rejection as usize`.
    rejected: [AtomicU64; REJECTIONS],
}

/// How many kinds of [`Rejection`] there are.
const REJECTIONS: usize = Rejection::ByHook as usize + 1;

impl Default for Counters {
    fn default() -> Self {
        Counters {
            open: watch::Sender::new(0),
            accepted: AtomicU64::new(0),
            rejected: Default::default(),
        }
    }
}

/// How many requests on a socket path were rejected, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejections {
    /// Not an upgrade at all (`400`).
    pub not_websocket: u64,
    /// A malformed handshake: method, HTTP version, `Host`, key (`400`).
    pub bad_handshake: u64,
    /// Another WebSocket version (`426`).
    pub unsupported_version: u64,
    /// An origin outside `allowed_origins` (`403`).
    pub forbidden_origin: u64,
    /// No agreed subprotocol while one is required (`400`).
    pub no_protocol: u64,
    /// The socket limit was reached (`503`).
    pub over_limit: u64,
    /// A shutdown had begun (`503`).
    pub shutting_down: u64,
    /// Header fields over `max_header_size` (`431`).
    pub headers_too_large: u64,
    /// The accept hook answered with a response of its own.
    pub by_hook: u64,
}

impl Stats {
    /// Sockets open now (accepted and not yet ended).
    pub fn open(&self) -> usize {
        *self.counters.open.borrow()
    }

    /// Sockets accepted since the layer was made.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Requests on a socket path rejected so far, by reason.
    pub fn rejections(&self) -> Rejections {
        let count = |rejection: Rejection| {
            self.counters.rejected[rejection as usize].load(Ordering::Relaxed)
        };
        Rejections {
            not_websocket: count(Rejection::NotUpgrade),
            bad_handshake: count(Rejection::MethodNotGet)
                + count(Rejection::HttpVersion)
                + count(Rejection::MissingHost)
                + count(Rejection::BadKey),
            unsupported_version: count(Rejection::BadVersion),
            forbidden_origin: count(Rejection::OriginForbidden),
            no_protocol: count(Rejection::NoProtocol),
            over_limit: count(Rejection::OverLimit),
            shutting_down: count(Rejection::ShuttingDown),
            headers_too_large: count(Rejection::HeadersTooLarge),
            by_hook: count(Rejection::ByHook),
        }
    }

    /// Counts a rejected request.
    pub(crate) fn reject(&self, rejection: Rejection) {
        self.counters.rejected[rejection as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves when no socket is open.
    pub(crate) async fn drained(&self) {
        let mut open = self.counters.open.subscribe();
        // Fails only when the sender is gone, and `self` holds it.
        let _ = open.wait_for(|&open| open == 0).await;
    }

    /// Takes a place for a new socket if fewer than `limit` are open. The place is given
    /// back when the returned guard drops, however the session ends.
    pub(crate) fn admit(&self, limit: Option<usize>) -> Result<Place, Rejection> {
        let admitted = self.counters.open.send_if_modified(|open| {
            if limit.is_some_and(|limit| *open >= limit) {
                return false;
            }
            *open += 1;
            true
        });
        if !admitted {
            return Err(Rejection::OverLimit);
        }
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(Place {
            stats: self.clone(),
        })
    }
}

/// A socket's place in the count of open sockets.
#[derive(Debug)]
pub(crate) struct Place {
    stats: Stats,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.stats.counters.open.send_modify(|open| *open -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_limited_and_given_back() {
        let stats = Stats::default();
        let first = stats.admit(Some(2)).unwrap();
        let _second = stats.admit(Some(2)).unwrap();
        assert_eq!(stats.admit(Some(2)).unwrap_err(), Rejection::OverLimit);
        assert_eq!(stats.open(), 2);
        drop(first);
        let _third = stats.admit(Some(2)).unwrap();
        assert_eq!((stats.open(), stats.accepted()), (2, 3));
    }
}
