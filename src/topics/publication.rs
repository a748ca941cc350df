//! [`Publication`]: one message published to a topic, as its live subscribers get it and
//! as the topic's history keeps it: each frame encoded once, when a subscriber first
//! needs it.

use std::sync::{Arc, OnceLock};

use super::{
    broadcast::{Broadcast, Payload},
    position::Position,
};
#[cfg(feature = "deflate")]
use crate::deflate::Sharer;

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

    /// Its place in [`ALL`](Self::ALL).
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// What a publish makes of a payload before it takes the hub's locks: for each framing
/// its members want, the part of the frames that does not depend on the publication's
/// position, compressed for the window sizes they share. Under the locks, only what
/// names the position is left to encode.
#[derive(Default)]
pub(super) struct Prepared {
    raw: Option<Box<Broadcast>>,
    #[cfg(feature = "protocol")]
    enveloped: Option<(bool, super::broadcast::Body)>,
}

impl Prepared {
    /// `wanted`: whether each framing of [`Framing::ALL`] has members; `sharers`: for each,
    /// the window sizes its members share.
    pub(super) fn new(
        payload: &Payload,
        wanted: [bool; Framing::ALL.len()],
        #[cfg(feature = "deflate")] sharers: &[Vec<Sharer>; Framing::ALL.len()],
    ) -> Prepared {
        let mut prepared = Prepared::default();
        if wanted[Framing::Raw.index()] {
            prepared.raw = Some(Box::new(Broadcast::prepared(
                payload,
                #[cfg(feature = "deflate")]
                &sharers[Framing::Raw.index()],
            )));
        }
        #[cfg(feature = "protocol")]
        if wanted[Framing::Enveloped.index()] {
            let (text, bytes) = super::envelope::body(payload);
            let body = super::broadcast::Body::new(
                bytes,
                #[cfg(feature = "deflate")]
                &sharers[Framing::Enveloped.index()],
            );
            prepared.enveloped = Some((text, body));
        }
        prepared
    }
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

    /// Takes the frames `prepared` made ahead: the raw one as it is, the enveloped one
    /// finished with this publication's position.
    pub(super) fn adopt(&self, prepared: Prepared) {
        if let Some(raw) = prepared.raw {
            let _ = self.raw.set(raw);
        }
        #[cfg(feature = "protocol")]
        if let Some((text, body)) = prepared.enveloped {
            let head = super::envelope::head(&self.topic, self.position.as_ref(), text);
            let opcode = match text {
                true => fastwebsockets::OpCode::Text,
                false => fastwebsockets::OpCode::Binary,
            };
            let _ = self
                .enveloped
                .set(Box::new(Broadcast::joined(opcode, &head, &body)));
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
