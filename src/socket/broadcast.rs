//! [`Broadcast`]: a message encoded once for every socket it goes to, and how a socket
//! takes it without its sender ever waiting.

use std::sync::atomic::Ordering;

#[cfg(feature = "deflate")]
use std::sync::OnceLock;

use bytes::{BufMut, Bytes, BytesMut};
use fastwebsockets::OpCode;

use super::{encode::data_frame_head, shared::Shared, writer::OfferOutcome};
use crate::{CloseCode, CloseFrame, Message};

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

    /// The message's length, as a socket's traffic counts it.
    pub(crate) fn len(&self) -> usize {
        self.payload.len()
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

    /// The frame for a socket whose compressor (if compression was agreed) is `compressor`.
    #[cfg(feature = "deflate")]
    fn frame_for(&self, compressor: Option<&crate::deflate::Compressor>) -> Bytes {
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
}

/// One whole frame: header then payload; `compressed` sets RSV1.
fn encode(opcode: OpCode, payload: &[u8], compressed: bool) -> Bytes {
    let (head, len) = data_frame_head(opcode, payload.len(), compressed, true);
    let mut frame = BytesMut::with_capacity(len + payload.len());
    frame.put_slice(&head[..len]);
    frame.put_slice(payload);
    frame.freeze()
}

impl Shared {
    /// Queues `broadcast` for this socket unless its queue would pass `limit` bytes, and
    /// has the session write it out. Never waits.
    pub(crate) fn offer(&self, broadcast: &Broadcast, limit: usize) -> OfferOutcome {
        let mut writer = self.writer();
        #[cfg(feature = "deflate")]
        let frame = broadcast.frame_for(writer.compressor().as_deref());
        #[cfg(not(feature = "deflate"))]
        let frame = broadcast.plain.clone();
        let offer = writer.offer(frame, broadcast.len(), limit);
        drop(writer);
        if offer == OfferOutcome::Queued {
            self.wake_session_to_flush();
        }
        offer
    }

    /// Closes a socket that fell too far behind: a close frame 1008 goes after what is
    /// queued, and the session drops the connection if the close handshake has not ended
    /// within its close timeout.
    pub(crate) fn evict(&self) {
        self.push_close(Some(&CloseFrame::new(
            CloseCode::POLICY_VIOLATION,
            "too slow: outgoing queue full",
        )));
        self.evicted.store(true, Ordering::Release);
        self.wake_session_to_flush();
    }

    /// Whether the socket was closed for falling behind.
    pub(crate) fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Marks what is queued for writing and wakes the session's task, which writes it out
    /// the next time its handler goes idle. Once marked, the session is woken again only
    /// after it has taken the mark.
    fn wake_session_to_flush(&self) {
        if !self.deferred.swap(true, Ordering::AcqRel) {
            self.session.wake_by_ref();
        }
    }
}
