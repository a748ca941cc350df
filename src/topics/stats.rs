//! [`TopicStats`]: what a hub of topics has done so far.

use std::sync::atomic::{AtomicU64, Ordering};

use super::backplane::BackplaneStats;

/// What a [`Topics`](crate::Topics) hub has done so far, from
/// [`Topics::stats`](crate::Topics::stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicStats {
    /// Messages published on this server (each counted once, however many sockets it
    /// reached); what arrives from other servers through a backplane is counted there.
    pub published: u64,
    /// Messages queued for a socket: one for each socket each publish reached.
    pub delivered: u64,
    /// Messages not queued for a socket because its queue was full
    /// ([`WhenFull::Drop`](crate::topics::WhenFull::Drop)).
    pub dropped: u64,
    /// Sockets closed because their queue was full ([`WhenFull::Close`](crate::topics::WhenFull::Close)).
    pub closed_for_slowness: u64,
    /// Compressed frames made for publishes: a publish is compressed once for each window
    /// size among the sockets it reached that agreed compression without server context
    /// takeover, however many they are (sockets with a context of their own get it plain).
    pub compressed: u64,
    /// Topics with at least one subscriber, now.
    pub topics: usize,
    /// Subscriptions, now: a socket subscribed to three topics counts three.
    pub subscriptions: usize,
    /// With a [`Backplane`](crate::topics::Backplane): where it stands.
    pub backplane: Option<BackplaneStats>,
}

/// What publishing counts: for one publish (a [`Tally`]), or the running totals of all
/// (`Counts<AtomicU64>`, in [`Counters`]).
#[derive(Debug, Default)]
pub(super) struct Counts<T> {
    /// Messages queued for a socket.
    pub(super) delivered: T,
    /// Messages dropped for a full queue.
    pub(super) dropped: T,
    /// Sockets closed for a full queue.
    pub(super) closed: T,
    /// Compressed frames made.
    pub(super) compressed: T,
}

/// What one publish did, counted in one go.
pub(super) type Tally = Counts<u64>;

/// The running counts behind [`TopicStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) published: AtomicU64,
    totals: Counts<AtomicU64>,
}

impl Counters {
    /// Adds one publish's tally to the totals: one atomic add for each count it changed.
    pub(super) fn add(&self, tally: &Tally) {
        let totals = &self.totals;
        for (counter, n) in [
            (&totals.delivered, tally.delivered),
            (&totals.dropped, tally.dropped),
            (&totals.closed, tally.closed),
            (&totals.compressed, tally.compressed),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub(super) fn snapshot(
        &self,
        topics: usize,
        subscriptions: usize,
        backplane: Option<BackplaneStats>,
    ) -> TopicStats {
        TopicStats {
            published: self.published.load(Ordering::Relaxed),
            delivered: self.totals.delivered.load(Ordering::Relaxed),
            dropped: self.totals.dropped.load(Ordering::Relaxed),
            closed_for_slowness: self.totals.closed.load(Ordering::Relaxed),
            compressed: self.totals.compressed.load(Ordering::Relaxed),
            topics,
            subscriptions,
            backplane,
        }
    }
}
