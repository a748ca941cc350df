//! [`History`]: how much of a topic's recent publications a hub keeps; [`Stream`]: one
//! topic's positions and the publications it keeps, trimmed to the bounds.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use tokio::time::Instant;

use super::{broadcast::Payload, position::Position, publication::Publication, stored::Stored};

/// How much of a topic's recent publications a hub keeps, so that a client that drops and
/// comes back is given what it missed ([`Topics::subscribe_from`](crate::Topics::subscribe_from)).
///
/// A publication is kept while all three bounds hold: the newest
/// [`max_publications`](Self::max_publications), of at most
/// [`max_bytes`](Self::max_bytes) of payload together, none older than
/// [`max_age`](Self::max_age). A client that was away for longer than the history
/// reaches is told that it could not be given everything (`recovered: false`), never
/// given less in silence.
///
/// ```
/// use std::time::Duration;
/// use tower_websockets::topics::History;
///
/// let history = History::new()
///     .max_publications(1_000)
///     .max_bytes(1024 * 1024)
///     .max_age(Duration::from_secs(300));
/// # let _ = history;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    publications: usize,
    bytes: usize,
    age: Duration,
}

impl History {
    /// The newest 100 publications, of at most 256 KiB together, none older than two
    /// minutes.
    pub const fn new() -> History {
        History {
            publications: 100,
            bytes: 256 * 1024,
            age: Duration::from_secs(120),
        }
    }

    /// Keeps at most `count` publications (default: 100).
    pub const fn max_publications(mut self, count: usize) -> History {
        self.publications = count;
        self
    }

    /// Keeps at most `bytes` of payload (default: 256 KiB). A publication larger than
    /// that is delivered but not kept.
    pub const fn max_bytes(mut self, bytes: usize) -> History {
        self.bytes = bytes;
        self
    }

    /// Keeps no publication older than `age` (default: two minutes). `Duration::MAX`
    /// keeps them however old.
    pub const fn max_age(mut self, age: Duration) -> History {
        self.age = age;
        self
    }

    /// The bounds: publications, bytes, age.
    #[cfg(feature = "redis")]
    pub(crate) fn bounds(self) -> (usize, usize, Duration) {
        (self.publications, self.bytes, self.age)
    }
}

impl Default for History {
    fn default() -> Self {
        History::new()
    }
}

/// One topic's stream: the position of its last publication, and the newest
/// publications, as many as its [`History`] keeps.
pub(super) struct Stream {
    history: History,
    /// The last publication's position (offset 0 before the first).
    top: Position,
    /// The publications kept, oldest first, with the time each was published; their
    /// offsets run without a hole up to `top`.
    kept: VecDeque<(Instant, Arc<Publication>)>,
    /// Their payloads' bytes together.
    bytes: usize,
    /// When a publish or a subscribe last used the stream.
    used: Instant,
    /// Whether a socket on this server has subscribed to the topic while the stream was
    /// kept: streams nobody ever listened to are the first to go for a new one.
    audience: bool,
    /// For a copy of a store's stream (a backplane with a `HistoryStore`): whether it is
    /// known to hold every publication from its first kept to its top, as the store does.
    /// A stream of this server's own is always.
    current: bool,
}

/// What a client that comes back at some position is given.
pub(super) struct Replay {
    /// Whether `publications` are every publication after the client's position.
    pub(super) recovered: bool,
    /// Oldest first: every publication kept after the client's position.
    pub(super) publications: Vec<Arc<Publication>>,
}

impl Stream {
    /// A new stream under `epoch`, which no earlier stream of the topic had.
    pub(super) fn new(history: History, epoch: String, now: Instant) -> Stream {
        Stream {
            history,
            top: Position::new(epoch, 0),
            kept: VecDeque::new(),
            bytes: 0,
            used: now,
            audience: false,
            current: true,
        }
    }

    /// A copy of a store's stream, not yet read from the store.
    pub(super) fn copy(history: History, epoch: String, now: Instant) -> Stream {
        Stream {
            current: false,
            ..Stream::new(history, epoch, now)
        }
    }

    /// Whether the copy holds what its store does (always, for a stream of this server's
    /// own).
    pub(super) fn is_current(&self) -> bool {
        self.current
    }

    /// Marks the copy as possibly missing publications: it is read again before it
    /// answers a recovery.
    pub(super) fn lose_continuity(&mut self) {
        self.current = false;
    }

    /// Takes a publication the store placed at `position`: kept in order, `None` if it is
    /// one already held. One from another epoch starts the copy over; one past the next
    /// offset leaves a hole, so what was kept goes and the copy is no longer current.
    pub(super) fn insert_at(
        &mut self,
        topic: Arc<str>,
        position: Position,
        payload: Payload,
        now: Instant,
    ) -> Option<Arc<Publication>> {
        let next = position.offset().checked_sub(1)?;
        if position.epoch() != self.top.epoch() || next > self.top.offset() {
            self.kept.clear();
            self.bytes = 0;
            self.current = false;
        } else if position.offset() <= self.top.offset() {
            return None;
        }
        let publication = Arc::new(Publication::new(topic, Some(position.clone()), payload));
        self.top = position;
        self.bytes += publication.len();
        self.kept.push_back((now, publication.clone()));
        self.used = now;
        self.trim(now);
        Some(publication)
    }

    /// Makes the copy what the store read holds, followed by what this copy received
    /// since in the same epoch, and current.
    pub(super) fn fill(&mut self, topic: &Arc<str>, stored: Stored, now: Instant) {
        let live: Vec<(Instant, Arc<Publication>)> = if stored.top.epoch() == self.top.epoch() {
            self.kept
                .drain(..)
                .filter(|(_, p)| p.offset().is_some_and(|o| o > stored.top.offset()))
                .collect()
        } else {
            Vec::new()
        };
        let newest = live.last().and_then(|(_, p)| p.position().cloned());
        self.kept.clear();
        self.bytes = 0;
        let epoch = stored.top.epoch().to_owned();
        for (offset, message) in stored.publications {
            if offset > stored.top.offset() {
                continue;
            }
            let Some(payload) = Payload::new(message) else {
                continue;
            };
            let position = Position::new(epoch.as_str(), offset);
            let publication = Arc::new(Publication::new(topic.clone(), Some(position), payload));
            self.bytes += publication.len();
            self.kept.push_back((now, publication));
        }
        for (at, publication) in live {
            self.bytes += publication.len();
            self.kept.push_back((at, publication));
        }
        self.top = newest.unwrap_or(stored.top);
        self.current = true;
        self.used = now;
        self.trim(now);
    }

    /// The last publication's position.
    pub(super) fn top(&self) -> &Position {
        &self.top
    }

    /// When a publish or a subscribe last used the stream.
    pub(super) fn used(&self) -> Instant {
        self.used
    }

    /// Whether a socket here has subscribed to the topic while the stream was kept.
    pub(super) fn audience(&self) -> bool {
        self.audience
    }

    /// Notes that a socket here subscribed to the topic.
    pub(super) fn heard(&mut self) {
        self.audience = true;
    }

    /// How many publications are kept, and their bytes.
    pub(super) fn kept(&self) -> (usize, usize) {
        (self.kept.len(), self.bytes)
    }

    /// Gives `payload` the next offset and keeps it, as far as the bounds allow.
    pub(super) fn append(
        &mut self,
        topic: Arc<str>,
        payload: Payload,
        now: Instant,
    ) -> Arc<Publication> {
        self.top = self.top.next();
        let publication = Arc::new(Publication::new(topic, Some(self.top.clone()), payload));
        self.bytes += publication.len();
        self.kept.push_back((now, publication.clone()));
        self.used = now;
        self.trim(now);
        publication
    }

    /// What a client whose last publication was at `since` missed. Recovered when the
    /// epoch is this stream's and every publication after `since` is still kept; when
    /// some were trimmed, the ones kept come without the flag. From another epoch (or
    /// a position past the last publication), nothing: those offsets mean nothing here.
    pub(super) fn since(&mut self, since: &Position, now: Instant) -> Replay {
        self.trim(now);
        self.used = now;
        if since.epoch() != self.top.epoch() || since.offset() > self.top.offset() {
            return Replay {
                recovered: false,
                publications: Vec::new(),
            };
        }
        let missed = self.top.offset() - since.offset();
        let kept = self.kept.len() as u64;
        let recovered = missed <= kept;
        let skip = if recovered { kept - missed } else { 0 };
        Replay {
            recovered,
            publications: self
                .kept
                .iter()
                .skip(skip as usize)
                .map(|(_, publication)| publication.clone())
                .collect(),
        }
    }

    /// Drops the oldest publications until every bound holds.
    pub(super) fn trim(&mut self, now: Instant) {
        let history = self.history;
        while let Some((at, publication)) = self.kept.front() {
            let expired = at
                .checked_add(history.age)
                .is_some_and(|expiry| expiry <= now);
            if !expired && self.kept.len() <= history.publications && self.bytes <= history.bytes {
                break;
            }
            self.bytes -= publication.len();
            self.kept.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Utf8Bytes;

    fn text(s: &str) -> Payload {
        Payload::Text(Utf8Bytes::from(s))
    }

    fn offsets(replay: &Replay) -> Vec<u64> {
        replay
            .publications
            .iter()
            .map(|p| p.position().unwrap().offset())
            .collect()
    }

    #[test]
    fn offsets_count_up_and_the_bounds_trim_the_oldest() {
        let now = Instant::now();
        let history = History::new().max_publications(3).max_bytes(10);
        let mut stream = Stream::new(history, "e".into(), now);
        let topic: Arc<str> = Arc::from("t");
        let start = stream.top().clone();
        assert_eq!(start.offset(), 0);
        for i in 1..=5u64 {
            let p = stream.append(topic.clone(), text("ab"), now);
            assert_eq!(p.position().unwrap(), &Position::new(start.epoch(), i));
        }
        // Three kept, of two bytes each.
        assert_eq!(stream.kept(), (3, 6));
        // Six bytes more: three kept again, of ten bytes (2 + 2 + 6).
        stream.append(topic.clone(), text("abcdef"), now);
        assert_eq!(stream.kept(), (3, 10));
        // Larger than the whole bound: delivered, not kept, and the rest trimmed for it.
        stream.append(topic.clone(), text("abcdefghijk"), now);
        assert_eq!(stream.kept(), (0, 0));
        assert_eq!(stream.top().offset(), 7);
    }

    #[test]
    fn a_position_kept_is_recovered_and_one_trimmed_or_foreign_is_not() {
        let now = Instant::now();
        let mut stream = Stream::new(History::new().max_publications(3), "e".into(), now);
        let topic: Arc<str> = Arc::from("t");
        let epoch = stream.top().epoch().to_owned();
        for _ in 0..5 {
            stream.append(topic.clone(), text("x"), now);
        }
        // Kept: 3, 4, 5.
        let at = |offset| Position::new(epoch.as_str(), offset);
        for (since, recovered, expected) in [
            (5, true, vec![]),
            (4, true, vec![5]),
            (2, true, vec![3, 4, 5]),
            (1, false, vec![3, 4, 5]),
            (0, false, vec![3, 4, 5]),
            (6, false, vec![]),
        ] {
            let replay = stream.since(&at(since), now);
            assert_eq!(replay.recovered, recovered, "since {since}");
            assert_eq!(offsets(&replay), expected, "since {since}");
        }
        let other = stream.since(&Position::new("another", 4), now);
        assert!(!other.recovered);
        assert!(other.publications.is_empty());
    }

    #[test]
    fn publications_expire_and_no_age_keeps_them() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let topic: Arc<str> = Arc::from("t");
        let mut stream = Stream::new(History::new().max_age(minute), "e".into(), start);
        let epoch = stream.top().epoch().to_owned();
        stream.append(topic.clone(), text("old"), start);
        stream.append(topic.clone(), text("new"), start + Duration::from_secs(30));
        let replay = stream.since(&Position::new(epoch.as_str(), 0), start + minute);
        assert!(!replay.recovered);
        assert_eq!(offsets(&replay), vec![2]);
        // Past the age of both: nothing kept, and the last one's position still known.
        let replay = stream.since(&Position::new(epoch.as_str(), 2), start + 3 * minute);
        assert!(replay.recovered);
        assert_eq!(stream.kept(), (0, 0));

        let mut forever = Stream::new(History::new().max_age(Duration::MAX), "e".into(), start);
        forever.append(topic, text("kept"), start);
        forever.trim(start + Duration::from_secs(u32::MAX.into()));
        assert_eq!(forever.kept(), (1, 4));
    }
}
