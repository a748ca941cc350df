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
    /// For a hub whose topics may keep [history](crate::topics::History): what they keep
    /// and the recoveries served.
    pub history: Option<HistoryStats>,
}

/// What a hub's histories keep, and the recoveries they served; in
/// [`TopicStats::history`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryStats {
    /// Topics with a stream, now.
    pub topics: usize,
    /// Publications kept, now, in every topic together.
    pub publications: u64,
    /// Their payloads' bytes.
    pub bytes: u64,
    /// Subscriptions that came back with a position (recoveries served).
    pub recoveries: u64,
    /// Of those, the ones given everything they missed.
    pub recovered: u64,
    /// And the ones told that they missed some.
    pub not_recovered: u64,
    /// With a backplane's history store: reads of a topic's stream from the store, to
    /// serve a subscription.
    pub reads: u64,
    /// And subscriptions served without a read of their own: the copy was current, read
    /// for a subscription before them (a burst of reconnections reads each topic once).
    pub reads_coalesced: u64,
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
    recoveries: AtomicU64,
    recovered: AtomicU64,
    reads: AtomicU64,
    reads_coalesced: AtomicU64,
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

    /// Counts a recovery served, and whether it recovered.
    pub(super) fn recovery(&self, recovered: bool) {
        self.recoveries.fetch_add(1, Ordering::Relaxed);
        if recovered {
            self.recovered.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a subscription served from a store: with a read of its own, or not.
    pub(super) fn history_read(&self, read: bool) {
        let counter = if read {
            &self.reads
        } else {
            &self.reads_coalesced
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The stats, given what is there now: topics, subscriptions, the backplane's stats,
    /// and the histories' streams, publications and bytes.
    pub(super) fn snapshot(
        &self,
        topics: usize,
        subscriptions: usize,
        backplane: Option<BackplaneStats>,
        history: Option<(usize, u64, u64)>,
    ) -> TopicStats {
        let history = history.map(|(topics, publications, bytes)| {
            let recoveries = self.recoveries.load(Ordering::Relaxed);
            let recovered = self.recovered.load(Ordering::Relaxed);
            HistoryStats {
                topics,
                publications,
                bytes,
                recoveries,
                recovered,
                not_recovered: recoveries.saturating_sub(recovered),
                reads: self.reads.load(Ordering::Relaxed),
                reads_coalesced: self.reads_coalesced.load(Ordering::Relaxed),
            }
        });
        TopicStats {
            published: self.published.load(Ordering::Relaxed),
            delivered: self.totals.delivered.load(Ordering::Relaxed),
            dropped: self.totals.dropped.load(Ordering::Relaxed),
            closed_for_slowness: self.totals.closed.load(Ordering::Relaxed),
            compressed: self.totals.compressed.load(Ordering::Relaxed),
            topics,
            subscriptions,
            backplane,
            history,
        }
    }
}
