//! [`Streams`]: the streams of a hub's topics that keep history, at most as many as its
//! configuration allows.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
};

use tokio::time::Instant;

use super::history::{History, Stream};
use crate::sync::lock;

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

/// The streams of the topics that keep history, by name.
pub(super) struct Streams {
    rules: HistoryRules,
    /// Whether the streams are copies of a store's (a backplane's `HistoryStore`).
    copies: bool,
    streams: Mutex<HashMap<Arc<str>, SharedStream>>,
}

impl Streams {
    pub(super) fn new(rules: HistoryRules, copies: bool) -> Streams {
        Streams {
            rules,
            copies,
            streams: Mutex::default(),
        }
    }

    /// The history `topic` keeps, if any.
    pub(super) fn history_for(&self, topic: &str) -> Option<History> {
        self.rules.history_for(topic)
    }

    /// Calls `f` with each stream.
    pub(super) fn each(&self, mut f: impl FnMut(&mut Stream)) {
        let streams: Vec<SharedStream> = lock(&self.streams).values().cloned().collect();
        for slot in streams {
            f(&mut lock(&slot.stream));
        }
    }

    /// `topic`'s stream, with the name it is kept under, made now if the topic keeps
    /// history and has none yet; `None` if it keeps no history. Making one when the hub
    /// holds its most streams first drops the sixteenth of them used longest ago (at least
    /// one): their clients, if they come back, are told that they could not be given what
    /// they missed.
    pub(super) fn stream(&self, topic: &str, now: Instant) -> Option<(Arc<str>, SharedStream)> {
        let mut streams = lock(&self.streams);
        if let Some((name, stream)) = streams.get_key_value(topic) {
            return Some((name.clone(), stream.clone()));
        }
        let history = self.rules.history_for(topic)?;
        let max = self.rules.max_streams.unwrap_or(HistoryRules::MAX_STREAMS);
        if streams.len() >= max {
            evict(&mut streams, max);
            if streams.len() >= max {
                // Every stream busy, or no room at all: this topic keeps no history now.
                return None;
            }
        }
        let name: Arc<str> = Arc::from(topic);
        let stream = if self.copies {
            Stream::copy(history, now)
        } else {
            Stream::new(history, now)
        };
        let stream = Arc::new(Slot {
            stream: Mutex::new(stream),
            reading: tokio::sync::Mutex::new(()),
        });
        streams.insert(name.clone(), stream.clone());
        Some((name, stream))
    }

    /// `topic`'s stream if it has one.
    pub(super) fn existing(&self, topic: &str) -> Option<(Arc<str>, SharedStream)> {
        let streams = lock(&self.streams);
        let (name, slot) = streams.get_key_value(topic)?;
        Some((name.clone(), slot.clone()))
    }

    /// How many streams there are, how many publications they keep, and their bytes.
    pub(super) fn held(&self, now: Instant) -> (usize, u64, u64) {
        let streams: Vec<SharedStream> = lock(&self.streams).values().cloned().collect();
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
}

/// Drops the sixteenth of the streams used longest ago (at least one), passing over any
/// that is in use this very moment.
fn evict(streams: &mut HashMap<Arc<str>, SharedStream>, max: usize) {
    let mut idle: Vec<(Instant, Arc<str>)> = streams
        .iter()
        .filter_map(|(name, slot)| Some((slot.stream.try_lock().ok()?.used(), name.clone())))
        .collect();
    let count = (max / 16).clamp(1, idle.len().max(1));
    if idle.len() > count {
        idle.select_nth_unstable(count);
        idle.truncate(count);
    }
    for (_, name) in idle {
        streams.remove(&name);
    }
}
