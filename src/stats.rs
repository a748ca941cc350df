//! Counters of a layer's sockets: open now, accepted so far, refused and why.

use std::{
    pin::pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
};

use tokio::sync::Notify;

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
/// ```
#[derive(Debug, Clone, Default)]
pub struct Stats {
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    open: AtomicUsize,
    accepted: AtomicU64,
    not_websocket: AtomicU64,
    bad_handshake: AtomicU64,
    unsupported_version: AtomicU64,
    forbidden_origin: AtomicU64,
    no_protocol: AtomicU64,
    over_limit: AtomicU64,
    shutting_down: AtomicU64,
    /// Told when the last open socket ends.
    drained: Notify,
}

/// How many requests on a socket path were refused, by reason.
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
}

/// Why a request was refused, for counting.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    NotWebSocket,
    BadHandshake,
    UnsupportedVersion,
    ForbiddenOrigin,
    NoProtocol,
    OverLimit,
    ShuttingDown,
}

impl Stats {
    /// Sockets open now (accepted and not yet ended).
    pub fn open(&self) -> usize {
        self.counters.open.load(Ordering::Acquire)
    }

    /// Sockets accepted since the layer was made.
    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Requests on a socket path refused so far, by reason.
    pub fn rejected(&self) -> Rejections {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Rejections {
            not_websocket: get(&c.not_websocket),
            bad_handshake: get(&c.bad_handshake),
            unsupported_version: get(&c.unsupported_version),
            forbidden_origin: get(&c.forbidden_origin),
            no_protocol: get(&c.no_protocol),
            over_limit: get(&c.over_limit),
            shutting_down: get(&c.shutting_down),
        }
    }

    pub(crate) fn refused(&self, why: Refusal) {
        let c = &self.counters;
        let counter = match why {
            Refusal::NotWebSocket => &c.not_websocket,
            Refusal::BadHandshake => &c.bad_handshake,
            Refusal::UnsupportedVersion => &c.unsupported_version,
            Refusal::ForbiddenOrigin => &c.forbidden_origin,
            Refusal::NoProtocol => &c.no_protocol,
            Refusal::OverLimit => &c.over_limit,
            Refusal::ShuttingDown => &c.shutting_down,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves when no socket is open.
    pub(crate) async fn drained(&self) {
        loop {
            let mut drained = pin!(self.counters.drained.notified());
            drained.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            drained.await;
        }
    }

    /// Takes a place for a new socket if fewer than `limit` are open. The place is given
    /// back when the returned guard drops, however the session ends.
    pub(crate) fn admit(&self, limit: Option<usize>) -> Option<Place> {
        let admitted = self
            .counters
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                limit.is_none_or(|limit| open < limit).then_some(open + 1)
            })
            .is_ok();
        if !admitted {
            self.refused(Refusal::OverLimit);
            return None;
        }
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        Some(Place {
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
        let counters = &self.stats.counters;
        if counters.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            counters.drained.notify_waiters();
        }
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
        assert!(stats.admit(Some(2)).is_none());
        assert_eq!((stats.open(), stats.rejected().over_limit), (2, 1));
        drop(first);
        let _third = stats.admit(Some(2)).unwrap();
        assert_eq!((stats.open(), stats.accepted()), (2, 3));
    }
}
