//! [`Broadcast`]: a publication encoded once for every socket it goes to.

#[cfg(feature = "deflate")]
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use fastwebsockets::OpCode;

#[cfg(feature = "deflate")]
use crate::deflate::Compressor;
use crate::{
    socket::{data_frame_head, Encoded},
    Message,
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

impl Broadcast {
    /// `None` for control messages: only text and binary messages are published.
    pub(crate) fn new(message: Message) -> Option<Broadcast> {
        let (opcode, payload) = match message {
            Message::Text(text) => (OpCode::Text, text.into_bytes()),
            Message::Binary(data) => (OpCode::Binary, data),
            _ => return None,
        };
        Some(Broadcast {
            plain: encode(opcode, &payload, false),
            #[cfg(feature = "deflate")]
            opcode,
            payload,
            #[cfg(feature = "deflate")]
            compressed: Default::default(),
        })
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
