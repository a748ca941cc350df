//! [`Hub`]: what the clones of a `Topics` share (the registry, the streams, the counts,
//! the backplane), and what it does for them: publishing to this server's members,
//! taking publications placed by a history store, and bringing a copy of a store's
//! stream up to date for a recovery.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::time::Instant;

use super::{
    backplane::{Backplane, HistoryStore, Local},
    broadcast::Payload,
    config::{TopicsConfig, WhenFull},
    history::{History, Stream},
    node::Node,
    position::Position,
    publication::{Framing, Prepared, Publication},
    registry::{Registry, Topic},
    stats::{Counters, Tally},
    streams::Streams,
};
#[cfg(feature = "deflate")]
use crate::deflate::Sharer;
use crate::{
    socket::{Group, OfferOutcome},
    sync::lock,
    Message,
};

/// What the clones of a [`Topics`] share.
#[derive(Default)]
pub(super) struct Hub {
    pub(super) registry: RwLock<Registry>,
    pub(super) config: TopicsConfig,
    pub(super) counters: Counters,
    pub(super) backplane: Option<Arc<dyn Backplane>>,
    /// The streams of topics that keep history; `None` when none may.
    pub(super) streams: Option<Streams>,
    /// For each framing, the window sizes that members which share compressed frames have
    /// agreed (at most 7): what a publish compresses for before it takes the locks.
    #[cfg(feature = "deflate")]
    pub(super) sharers: std::sync::Mutex<[Vec<Sharer>; Framing::ALL.len()]>,
    /// This server's name, and the connection ids it gives.
    pub(super) node: Node,
}

impl Hub {
    /// Queues `payload` for this server's subscribers of `topic` (but `except`), after
    /// giving it its place in the topic's stream if the topic keeps history. Returns how
    /// many it was queued for, and its position. A topic that keeps history but gets no
    /// stream (the hub holds its most, each with members) is published without a
    /// position, unless `positioned`: then nothing is published and this returns `None`.
    pub(super) fn publish_local(
        &self,
        topic: &str,
        payload: Payload,
        except: Option<usize>,
        positioned: bool,
    ) -> Option<(usize, Option<Position>)> {
        let prepared = self.prepare(topic, &payload);
        let registry = self.read();
        if let Some(streams) = &self.streams {
            let now = Instant::now();
            let in_use = |name: &str| registry.interested(name);
            if let Some((name, stream)) = streams.stream(topic, now, in_use) {
                // Delivered under the stream's lock: every member gets the topic's
                // publications in the order of their offsets.
                let mut stream = lock(&stream.stream);
                let publication = stream.append(name, payload, now);
                publication.adopt(prepared);
                let delivered = self.deliver(registry.topic(topic), &publication, except);
                return Some((delivered, Some(stream.top().clone())));
            }
            if positioned && streams.history_for(topic).is_some() {
                return None;
            }
        }
        let Some((name, members)) = registry.topic_named(topic) else {
            return Some((0, None));
        };
        let publication = Publication::new(name.clone(), None, payload);
        publication.adopt(prepared);
        Some((self.deliver(Some(members), &publication, except), None))
    }

    /// What can be made of `payload` for `topic`'s members before the locks are taken:
    /// the frames for each framing they want, compressed for every window size they share.
    /// The registry is read for a moment to see which framings have members; one that
    /// gains its first member meanwhile is encoded under the locks, as before.
    fn prepare(&self, topic: &str, payload: &Payload) -> Prepared {
        let wanted = {
            let registry = self.read();
            let members = registry.topic(topic);
            Framing::ALL.map(|framing| members.is_some_and(|t| !t.members(framing).is_empty()))
        };
        if !wanted.contains(&true) {
            return Prepared::default();
        }
        #[cfg(feature = "deflate")]
        let sharers = lock(&self.sharers).clone();
        Prepared::new(
            payload,
            wanted,
            #[cfg(feature = "deflate")]
            &sharers,
        )
    }

    /// Notes the window size that `socket`, joining in `framing`, shares compressed frames
    /// with, for the publishes that compress ahead.
    pub(super) fn note_sharer(&self, socket: &crate::socket::Shared, framing: Framing) {
        #[cfg(feature = "deflate")]
        if let Some(sharer) = socket.write.sharer() {
            let mut sharers = lock(&self.sharers);
            let known = &mut sharers[framing.index()];
            if known.iter().all(|k| k.bits() != sharer.bits()) {
                known.push(sharer);
            }
        }
        #[cfg(not(feature = "deflate"))]
        let _ = (socket, framing);
    }

    /// Queues `publication` for the members of `topic` (but `except`), each in its
    /// framing, and counts what happened.
    fn deliver(
        &self,
        topic: Option<&Topic>,
        publication: &Publication,
        except: Option<usize>,
    ) -> usize {
        let config = self.config;
        let mut tally = Tally::default();
        for framing in Framing::ALL {
            let members = topic.map_or(&[][..], |topic| topic.members(framing));
            if members.is_empty() {
                continue;
            }
            let frames = publication.frames(framing);
            for member in members {
                if Some(member.key()) == except {
                    continue;
                }
                match member.write.offer(frames, config.queue_limit) {
                    OfferOutcome::Queued => tally.delivered += 1,
                    OfferOutcome::Closed => {}
                    OfferOutcome::Full => match config.when_full {
                        WhenFull::Drop => tally.dropped += 1,
                        WhenFull::Close => {
                            member.write.evict();
                            tally.closed += 1;
                        }
                    },
                }
            }
        }
        #[cfg(feature = "deflate")]
        {
            tally.compressed = publication.compressions();
        }
        self.counters.add(&tally);
        tally.delivered as usize
    }

    /// The backplane's history store, if it has one.
    pub(super) fn store(&self) -> Option<&dyn HistoryStore> {
        self.backplane.as_ref()?.history()
    }

    /// The store and the history bounds for `topic`, when its publications get their
    /// positions from a backplane's history store.
    pub(super) fn recorded(&self, topic: &str) -> Option<(&dyn HistoryStore, History)> {
        let store = self.store()?;
        let history = self.streams.as_ref()?.history_for(topic)?;
        Some((store, history))
    }

    /// Nobody here wants `topic` any more: its channel is let go, and this server's copy
    /// of its stream, no longer fed, must be read again before it serves a recovery.
    pub(super) fn lose_interest(&self, topic: &str) {
        if let Some(backplane) = &self.backplane {
            backplane.unsubscribe(topic);
        }
        if let (Some(_), Some(streams)) = (self.store(), &self.streams) {
            if let Some((_, slot)) = streams.existing(topic) {
                lock(&slot.stream).lose_continuity();
            }
        }
    }

    /// Reads `topic`'s stream from `store` into this server's copy, unless the copy is
    /// current (a read for an earlier recovery made it so, and it has been fed since).
    /// One read at a time per topic: the recoveries that wait meanwhile are served by it.
    /// Returns whether the copy is current.
    pub(super) async fn bring_up_to_date(&self, topic: &str, store: &dyn HistoryStore) -> bool {
        let Some(streams) = &self.streams else {
            return false;
        };
        let made = {
            let registry = self.read();
            streams.stream(topic, Instant::now(), |name| registry.interested(name))
        };
        let Some((name, slot)) = made else {
            return false;
        };
        if lock(&slot.stream).is_current() {
            self.counters.history_read(false);
            return true;
        }
        let _turn = slot.reading.lock().await;
        if lock(&slot.stream).is_current() {
            self.counters.history_read(false);
            return true;
        }
        self.counters.history_read(true);
        match store.read(topic).await {
            Ok(stored) => {
                lock(&slot.stream).fill(&name, stored, Instant::now());
                true
            }
            Err(_) => false,
        }
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Local for Hub {
    fn publish_local(&self, topic: &str, message: Message) -> usize {
        match Payload::new(message) {
            Some(payload) => Hub::publish_local(self, topic, payload, None, false)
                .map_or(0, |(delivered, _)| delivered),
            None => 0,
        }
    }

    fn publish_at(&self, topic: &str, message: Message, position: Position) -> usize {
        let Some(payload) = Payload::new(message) else {
            return 0;
        };
        let prepared = self.prepare(topic, &payload);
        let registry = self.read();
        let now = Instant::now();
        let in_use = |name: &str| registry.interested(name);
        if let Some((name, slot)) = self
            .streams
            .as_ref()
            .and_then(|s| s.stream(topic, now, in_use))
        {
            let mut stream = lock(&slot.stream);
            return match stream.insert_at(name, position, payload, now) {
                Some(publication) => {
                    publication.adopt(prepared);
                    self.deliver(registry.topic(topic), &publication, None)
                }
                None => 0, // held already
            };
        }
        // This server keeps no history for the topic: delivered without a position.
        let Some((name, members)) = registry.topic_named(topic) else {
            return 0;
        };
        let publication = Publication::new(name.clone(), None, payload);
        publication.adopt(prepared);
        self.deliver(Some(members), &publication, None)
    }

    fn continuity_lost(&self) {
        if let Some(streams) = &self.streams {
            streams.each(Stream::lose_continuity);
        }
    }

    fn deliver_to_server(&self, message: bytes::Bytes) {
        self.node.receive(message);
    }

    fn undeliverable(&self, message: bytes::Bytes) {
        self.node.undeliverable(message);
    }
}

impl Group for Hub {
    fn leave(&self, socket: usize) {
        let mut registry = self.write();
        registry.remove_member(socket, |topic| self.lose_interest(topic));
    }
}

/// Keeps a topic's channel subscribed while a recovery waits for the store: taken before
/// the store is read, let go once the socket is a member (or has given up).
pub(super) struct Hold<'a> {
    hub: &'a Hub,
    topic: &'a str,
}

impl<'a> Hold<'a> {
    pub(super) fn new(hub: &'a Hub, topic: &'a str) -> Self {
        if hub.write().hold(topic) {
            if let Some(backplane) = &hub.backplane {
                backplane.subscribe(topic);
            }
        }
        Hold { hub, topic }
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        let mut registry = self.hub.write();
        if registry.release(self.topic) {
            self.hub.lose_interest(self.topic);
        }
    }
}
