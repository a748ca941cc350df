//! [`Broadcast`]: a publication encoded once for every socket it goes to.

#[cfg(feature = "deflate")]
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use fastwebsockets::OpCode;

#[cfg(feature = "deflate")]
use crate::deflate::Compressor;
use crate::{
    socket::{data_frame_head, Encoded},
    Message, Utf8Bytes,
};

/// A text or binary message encoded once, header and payload in one buffer, to be queued
/// as it is by every socket it goes to. With compression, it is compressed at most once for
/// each window size that sockets without server context takeover agreed.
pub(crate) struct Broadcast {
    /// Kept to encode the compressed frames.
    #[cfg(feature = "deflate")]
    opcode: OpCode,
    payload: Bytes,
    plain: Bytes,
    /// By window bits (9 to 15): the compressed frame, or `None` where compressing did not
    /// pay (then the plain frame goes).
    #[cfg(feature = "deflate")]
    compressed: [OnceLock<Option<Bytes>>; 7],
}

/// What can be published: a text or binary message's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    Text(Utf8Bytes),
    Binary(Bytes),
}

impl Payload {
    /// `None` for control messages: only text and binary messages are published.
    pub(crate) fn new(message: Message) -> Option<Payload> {
        match message {
            Message::Text(text) => Some(Payload::Text(text)),
            Message::Binary(data) => Some(Payload::Binary(data)),
            _ => None,
        }
    }

    /// The payload's length in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Payload::Text(text) => text.len(),
            Payload::Binary(data) => data.len(),
        }
    }

    fn parts(&self) -> (OpCode, Bytes) {
        match self {
            Payload::Text(text) => (OpCode::Text, text.clone().into_bytes()),
            Payload::Binary(data) => (OpCode::Binary, data.clone()),
        }
    }
}

impl From<Payload> for Message {
    fn from(payload: Payload) -> Message {
        match payload {
            Payload::Text(text) => Message::Text(text),
            Payload::Binary(data) => Message::Binary(data),
        }
    }
}

impl Broadcast {
    pub(crate) fn new(payload: &Payload) -> Broadcast {
        let (opcode, payload) = payload.parts();
        Broadcast {
            plain: encode(opcode, &payload, false),
            #[cfg(feature = "deflate")]
            opcode,
            payload,
            #[cfg(feature = "deflate")]
            compressed: Default::default(),
        }
    }

    /// How many times the message was compressed: once for each window size among the
    /// sockets it went to that share compressed frames.
    #[cfg(feature = "deflate")]
    pub(crate) fn compressions(&self) -> u64 {
        self.compressed
            .iter()
            .filter(|slot| slot.get().is_some())
            .count() as u64
    }
}

impl Encoded for Broadcast {
    fn len(&self) -> usize {
        self.payload.len()
    }

    #[cfg(feature = "deflate")]
    fn frame(&self, compressor: Option<&Compressor>) -> Bytes {
        let Some((compressor, bits)) = compressor.and_then(|c| Some((c, c.shareable_bits()?)))
        else {
            // No compression, or a compression context of its own: the plain frame (an
            // uncompressed message leaves that context as it was, RFC 7692 §6.1).
            return self.plain.clone();
        };
        let compressed = self.compressed[usize::from(bits - 9)].get_or_init(|| {
            compressor
                .compress_alone(&self.payload)
                .map(|deflated| encode(self.opcode, &deflated, true))
        });
        compressed.as_ref().unwrap_or(&self.plain).clone()
    }

    #[cfg(not(feature = "deflate"))]
    fn frame(&self) -> Bytes {
        self.plain.clone()
    }
}

/// One whole frame: header then payload; `compressed` sets RSV1.
fn encode(opcode: OpCode, payload: &[u8], compressed: bool) -> Bytes {
    let (head, len) = data_frame_head(opcode, payload.len(), compressed, true);
    let mut frame = BytesMut::with_capacity(len + payload.len());
    frame.put_slice(&head[..len]);
    frame.put_slice(payload);
    frame.freeze()
}
