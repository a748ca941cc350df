//! [`Publication`]: one message published to a topic, as its live subscribers get it and
//! as the topic's history keeps it: each frame encoded once, when a subscriber first
//! needs it.

use std::sync::{Arc, OnceLock};

use super::{
    broadcast::{Broadcast, Payload},
    position::Position,
};

/// How a subscriber gets a topic's publications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Framing {
    /// The message as it was published (a socket whose handler has its own protocol).
    Raw,
    /// In the envelope of PROTOCOL.md, with the topic and the position.
    #[cfg(feature = "protocol")]
    Enveloped,
}

impl Framing {
    /// Every framing, in the order a publish serves them.
    #[cfg(not(feature = "protocol"))]
    pub(super) const ALL: [Framing; 1] = [Framing::Raw];
    /// Every framing, in the order a publish serves them.
    #[cfg(feature = "protocol")]
    pub(super) const ALL: [Framing; 2] = [Framing::Raw, Framing::Enveloped];
}

/// A published message, with its place in the topic's stream when the topic keeps history.
pub(crate) struct Publication {
    #[cfg_attr(not(feature = "protocol"), allow(dead_code))]
    topic: Arc<str>,
    position: Option<Position>,
    payload: Payload,
    // Boxed: a history keeps its publications, most of them never encoded for a
    // framing, and a `Broadcast` inline is some 350 bytes.
    raw: OnceLock<Box<Broadcast>>,
    #[cfg(feature = "protocol")]
    enveloped: OnceLock<Box<Broadcast>>,
}

impl Publication {
    pub(super) fn new(topic: Arc<str>, position: Option<Position>, payload: Payload) -> Self {
        Publication {
            topic,
            position,
            payload,
            raw: OnceLock::new(),
            #[cfg(feature = "protocol")]
            enveloped: OnceLock::new(),
        }
    }

    /// The payload's length in bytes: what a history's byte bound counts.
    pub(super) fn len(&self) -> usize {
        self.payload.len()
    }

    pub(super) fn position(&self) -> Option<&Position> {
        self.position.as_ref()
    }

    /// Its offset, for a publication with a position.
    pub(super) fn offset(&self) -> Option<u64> {
        self.position.as_ref().map(Position::offset)
    }

    /// The frames for subscribers that take publications as `framing` says, encoded for
    /// the first of them.
    pub(super) fn frames(&self, framing: Framing) -> &Broadcast {
        match framing {
            Framing::Raw => self
                .raw
                .get_or_init(|| Box::new(Broadcast::new(&self.payload))),
            #[cfg(feature = "protocol")]
            Framing::Enveloped => self.enveloped.get_or_init(|| {
                Box::new(Broadcast::new(&super::envelope::publication(
                    &self.topic,
                    self.position.as_ref(),
                    &self.payload,
                )))
            }),
        }
    }

    /// How many compressed frames were made for it.
    #[cfg(feature = "deflate")]
    pub(super) fn compressions(&self) -> u64 {
        let made = self.raw.get().map_or(0, |b| b.compressions());
        #[cfg(feature = "protocol")]
        let made = made + self.enveloped.get().map_or(0, |b| b.compressions());
        made
    }
}
