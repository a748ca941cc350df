//! [`Broadcast`]: a publication encoded once for every socket it goes to.

#[cfg(feature = "deflate")]
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use fastwebsockets::OpCode;

#[cfg(feature = "deflate")]
use crate::deflate::{Compressor, Sharer};
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

/// The end of a message that a hub prepares before it takes its locks: its bytes, and,
/// for each window size that members share, those bytes compressed on their own.
#[cfg(feature = "protocol")]
pub(crate) struct Body {
    bytes: Bytes,
    #[cfg(feature = "deflate")]
    compressed: Vec<(Sharer, Bytes)>,
}

#[cfg(feature = "protocol")]
impl Body {
    /// `bytes`, compressed for each of `sharers` that compresses messages of its size.
    pub(crate) fn new(bytes: Bytes, #[cfg(feature = "deflate")] sharers: &[Sharer]) -> Body {
        #[cfg(feature = "deflate")]
        let compressed = sharers
            .iter()
            .filter(|sharer| bytes.len() >= sharer.min_size())
            .filter_map(|sharer| Some((sharer.clone(), sharer.compress(&bytes)?)))
            .collect();
        Body {
            bytes,
            #[cfg(feature = "deflate")]
            compressed,
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

    /// [`new`](Self::new), compressed now for each of `sharers`: a hub does this before it
    /// takes its locks, so that no publish compresses while holding them.
    pub(crate) fn prepared(
        payload: &Payload,
        #[cfg(feature = "deflate")] sharers: &[Sharer],
    ) -> Broadcast {
        let broadcast = Broadcast::new(payload);
        #[cfg(feature = "deflate")]
        for sharer in sharers {
            broadcast.compressed[usize::from(sharer.bits() - 9)].get_or_init(|| {
                sharer
                    .compress(&broadcast.payload)
                    .map(|deflated| encode(broadcast.opcode, &deflated, true))
            });
        }
        broadcast
    }

    /// A message of `opcode` whose payload is `head` then `body`. Where `body` was
    /// compressed ahead, only `head` is compressed now (pieces compressed apart make one
    /// compressed message): the small part of the work, for a hub that holds its locks.
    #[cfg(feature = "protocol")]
    pub(crate) fn joined(opcode: OpCode, head: &[u8], body: &Body) -> Broadcast {
        let len = head.len() + body.bytes.len();
        let (plain, at) = encode_parts(opcode, &[head, &body.bytes], false);
        let broadcast = Broadcast {
            payload: plain.slice(at..),
            plain,
            #[cfg(feature = "deflate")]
            opcode,
            #[cfg(feature = "deflate")]
            compressed: Default::default(),
        };
        #[cfg(feature = "deflate")]
        for (sharer, compressed_body) in &body.compressed {
            broadcast.compressed[usize::from(sharer.bits() - 9)].get_or_init(|| {
                let compressed_head = sharer.compress_piece(head)?;
                let compressed_len = compressed_head.len() + compressed_body.len();
                (len >= sharer.min_size() && compressed_len < len)
                    .then(|| encode_parts(opcode, &[&compressed_head, compressed_body], true).0)
            });
        }
        debug_assert_eq!(broadcast.payload.len(), len);
        broadcast
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
    encode_parts(opcode, &[payload], compressed).0
}

/// One whole frame whose payload is `parts` one after the other, and where the payload
/// starts in it.
fn encode_parts(opcode: OpCode, parts: &[&[u8]], compressed: bool) -> (Bytes, usize) {
    let payload_len = parts.iter().map(|part| part.len()).sum();
    let (head, len) = data_frame_head(opcode, payload_len, compressed, true);
    let mut frame = BytesMut::with_capacity(len + payload_len);
    frame.put_slice(&head[..len]);
    for part in parts {
        frame.put_slice(part);
    }
    (frame.freeze(), len)
}

#[cfg(test)]
mod tests {
    #[cfg(all(feature = "deflate", feature = "protocol"))]
    #[test]
    fn a_joined_message_takes_its_body_compressed_ahead_and_compresses_only_its_head() {
        use super::*;

        let sharer = Sharer::for_tests(12);
        let body: Vec<u8> = std::iter::repeat_n(&b"{\"text\":\"hello\"},"[..], 4000)
            .flatten()
            .copied()
            .collect();
        let body = Body::new(Bytes::from(body), std::slice::from_ref(&sharer));
        let ahead = body.compressed[0].1.clone();
        let head = br#"{"type":"publication","topic":"t","offset":1,"data":"#;
        let broadcast = Broadcast::joined(OpCode::Text, head, &body);
        let frame = broadcast.compressed[12 - 9]
            .get()
            .cloned()
            .flatten()
            .expect("compressed");
        // The frame ends with the body as it was compressed ahead: under the locks only
        // the head was.
        assert!(frame.ends_with(&ahead));
        assert!(frame.len() < broadcast.plain.len() / 4);
        // And the plain frame is head and body.
        assert!(broadcast.plain.ends_with(&body.bytes));
        assert_eq!(broadcast.payload.len(), head.len() + body.bytes.len());
    }
}
