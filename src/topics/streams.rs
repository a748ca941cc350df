//! [`Streams`]: the streams of a hub's topics that keep history, at most as many as its
//! configuration allows.

use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasher, RandomState},
    sync::{Arc, Mutex},
};

use tokio::time::Instant;

use super::{
    history::{History, Stream},
    position::Position,
};
use crate::{random::random_u64, sync::lock};

/// Decides, from a topic's name, whether and how much history it keeps.
pub(super) type HistoryRule = dyn Fn(&str) -> Option<History> + Send + Sync;

/// Which topics keep history, and how much: the hub's [`History`], unless a per-topic rule
/// says otherwise.
#[derive(Clone, Default)]
pub(super) struct HistoryRules {
    pub(super) all: Option<History>,
    pub(super) by_topic: Option<Arc<HistoryRule>>,
    pub(super) max_streams: Option<usize>,
}

impl HistoryRules {
    /// The most topics that keep history at once, unless set.
    pub(super) const MAX_STREAMS: usize = 10_000;

    fn history_for(&self, topic: &str) -> Option<History> {
        match &self.by_topic {
            Some(rule) => rule(topic),
            None => self.all,
        }
    }

    /// Whether any topic may keep history.
    pub(super) fn any(&self) -> bool {
        self.all.is_some() || self.by_topic.is_some()
    }
}

impl fmt::Debug for HistoryRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryRules")
            .field("all", &self.all)
            .field("by_topic", &self.by_topic.is_some())
            .field("max_streams", &self.max_streams)
            .finish()
    }
}

/// A topic's stream, shared by the map and whoever publishes to it now.
pub(super) type SharedStream = Arc<Slot>;

/// A topic's stream, and the turn to read it from the store (one read at a time: the
/// recoveries that wait for it are served by the read before them).
pub(super) struct Slot {
    pub(super) stream: Mutex<Stream>,
    pub(super) reading: tokio::sync::Mutex<()>,
}

/// How many generation counters name the epochs of streams not made yet.
const GENERATIONS: usize = 1024;

/// The streams of the topics that keep history, by name.
///
/// A stream is made by a publish (or, for a copy of a store's stream, by a recovery that
/// reads the store), never by a read of a topic nobody published to: such a topic is at
/// offset 0 of the epoch its stream will have when it is made. That epoch is the hub's
/// (random, one per hub) followed by a generation counter that the topic's name hashes
/// to; dropping a stream to make room moves its counter on, so that the next stream of
/// that name, and of every name that shares the counter, starts under a new epoch. A
/// client's position from before the drop is then never taken for one in the new stream;
/// names that share a counter at worst see an epoch change they did not need.
pub(super) struct Streams {
    rules: HistoryRules,
    /// Whether the streams are copies of a store's (a backplane's `HistoryStore`).
    copies: bool,
    /// The hub's share of every epoch it makes.
    base: u64,
    /// Where a topic's name falls among the generation counters.
    hasher: RandomState,
    map: Mutex<Map>,
}

struct Map {
    streams: HashMap<Arc<str>, SharedStream>,
    generations: Box<[u64]>,
}

impl Streams {
    pub(super) fn new(rules: HistoryRules, copies: bool) -> Streams {
        Streams {
            rules,
            copies,
            base: random_u64(),
            hasher: RandomState::new(),
            map: Mutex::new(Map {
                streams: HashMap::new(),
                generations: vec![0; GENERATIONS].into_boxed_slice(),
            }),
        }
    }

    /// The history `topic` keeps, if any.
    pub(super) fn history_for(&self, topic: &str) -> Option<History> {
        self.rules.history_for(topic)
    }

    /// Whether the streams are copies of a history store's, made by the recoveries that
    /// read it.
    pub(super) fn copies(&self) -> bool {
        self.copies
    }

    /// Calls `f` with each stream.
    pub(super) fn each(&self, mut f: impl FnMut(&mut Stream)) {
        let streams: Vec<SharedStream> = lock(&self.map).streams.values().cloned().collect();
        for slot in streams {
            f(&mut lock(&slot.stream));
        }
    }

    /// `topic`'s stream, with the name it is kept under, made now if the topic keeps
    /// history and has none yet; `None` if it keeps no history, or if the hub holds its
    /// most streams and none can go. Making room drops streams that `in_use` (live members
    /// here) does not protect, those nobody listened to first (see [`Self::evict`]): their
    /// clients, if they come back, are told that they could not be given what they missed.
    pub(super) fn stream(
        &self,
        topic: &str,
        now: Instant,
        in_use: impl Fn(&str) -> bool,
    ) -> Option<(Arc<str>, SharedStream)> {
        let mut map = lock(&self.map);
        if let Some((name, stream)) = map.streams.get_key_value(topic) {
            return Some((name.clone(), stream.clone()));
        }
        let history = self.rules.history_for(topic)?;
        let max = self.rules.max_streams.unwrap_or(HistoryRules::MAX_STREAMS);
        if map.streams.len() >= max {
            self.evict(&mut map, max, &in_use);
            if map.streams.len() >= max {
                // Every stream in use, or no room at all: this topic gets none now.
                return None;
            }
        }
        let name: Arc<str> = Arc::from(topic);
        let epoch = self.epoch(&map, topic);
        let mut stream = if self.copies {
            Stream::copy(history, epoch, now)
        } else {
            Stream::new(history, epoch, now)
        };
        if in_use(topic) {
            stream.heard();
        }
        let stream = Arc::new(Slot {
            stream: Mutex::new(stream),
            reading: tokio::sync::Mutex::new(()),
        });
        map.streams.insert(name.clone(), stream.clone());
        Some((name, stream))
    }

    /// `topic`'s stream if it has one.
    pub(super) fn existing(&self, topic: &str) -> Option<(Arc<str>, SharedStream)> {
        let map = lock(&self.map);
        let (name, slot) = map.streams.get_key_value(topic)?;
        Some((name.clone(), slot.clone()))
    }

    /// Where a topic that keeps history but has no stream stands: offset 0 of the epoch
    /// its stream gets if it is made before a stream of its generation is dropped.
    pub(super) fn unmade(&self, topic: &str) -> Position {
        let map = lock(&self.map);
        Position::new(self.epoch(&map, topic), 0)
    }

    fn epoch(&self, map: &Map, topic: &str) -> String {
        let generation = map.generations[self.generation(topic)];
        format!("{:016x}.{generation}", self.base)
    }

    fn generation(&self, topic: &str) -> usize {
        (self.hasher.hash_one(topic) % GENERATIONS as u64) as usize
    }

    /// How many streams there are, how many publications they keep, and their bytes.
    pub(super) fn held(&self, now: Instant) -> (usize, u64, u64) {
        let streams: Vec<SharedStream> = lock(&self.map).streams.values().cloned().collect();
        let (mut publications, mut bytes) = (0u64, 0u64);
        for slot in &streams {
            let mut stream = lock(&slot.stream);
            stream.trim(now);
            let (count, size) = stream.kept();
            publications += count as u64;
            bytes += size as u64;
        }
        (streams.len(), publications, bytes)
    }

    /// Drops a sixteenth (at least one) of the streams, passing over any that `in_use`
    /// protects or that is in use this very moment: first those no socket here ever
    /// subscribed to, then those used longest ago. Each dropped one's generation moves on.
    fn evict(&self, map: &mut Map, max: usize, in_use: &impl Fn(&str) -> bool) {
        let mut idle: Vec<(bool, Instant, Arc<str>)> = map
            .streams
            .iter()
            .filter(|(name, _)| !in_use(name))
            .filter_map(|(name, slot)| {
                let stream = slot.stream.try_lock().ok()?;
                Some((stream.audience(), stream.used(), name.clone()))
            })
            .collect();
        let count = (max / 16).clamp(1, idle.len().max(1));
        if idle.len() > count {
            idle.select_nth_unstable(count);
            idle.truncate(count);
        }
        for (_, _, name) in idle {
            map.streams.remove(&name);
            let generation = &mut map.generations[self.generation(&name)];
            *generation = generation.wrapping_add(1);
        }
    }
}
