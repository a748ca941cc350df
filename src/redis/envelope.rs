//! What crosses Redis for one published message: who sent it, what kind it is, and the
//! payload, in one buffer.
//!
//! ```text
//! [1: version = 1][1: kind, 1 text or 2 binary][16: origin server id][payload]
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::{random::random_u64, Message, Utf8Bytes};

const VERSION: u8 = 1;
const TEXT: u8 = 1;
const BINARY: u8 = 2;
/// The envelope's length before the payload.
pub(super) const HEADER: usize = 2 + 16;

/// A server's id: tells its own messages from the others' when they come back.
pub(super) type Origin = [u8; 16];

/// A fresh id, random enough that two servers never share one.
pub(super) fn new_origin() -> Origin {
    let mut id = [0u8; 16];
    for half in id.chunks_mut(8) {
        half.copy_from_slice(&random_u64().to_le_bytes());
    }
    id
}

/// The envelope of a text or binary message; `None` for anything else.
pub(super) fn seal(origin: &Origin, message: &Message) -> Option<Bytes> {
    let (kind, payload): (u8, &[u8]) = match message {
        Message::Text(text) => (TEXT, text.as_bytes()),
        Message::Binary(data) => (BINARY, data),
        _ => return None,
    };
    let mut envelope = BytesMut::with_capacity(HEADER + payload.len());
    envelope.put_u8(VERSION);
    envelope.put_u8(kind);
    envelope.put_slice(origin);
    envelope.put_slice(payload);
    Some(envelope.freeze())
}

/// The origin and the message in an envelope; `None` for anything that is not one of ours
/// (another version, a bad kind, text that is not UTF-8).
pub(super) fn open(envelope: Bytes) -> Option<(Origin, Message)> {
    if envelope.len() < HEADER || envelope[0] != VERSION {
        return None;
    }
    let origin: Origin = envelope[2..HEADER].try_into().ok()?;
    let payload = envelope.slice(HEADER..);
    let message = match envelope[1] {
        TEXT => Message::Text(Utf8Bytes::try_from(payload).ok()?),
        BINARY => Message::Binary(payload),
        _ => return None,
    };
    Some((origin, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_strangers_are_refused() {
        let origin = new_origin();
        assert_ne!(origin, new_origin());
        for message in [Message::text("héllo"), Message::binary(vec![0, 255, 7])] {
            let sealed = seal(&origin, &message).unwrap();
            assert_eq!(open(sealed), Some((origin, message)));
        }
        assert!(seal(&origin, &Message::Ping(Bytes::new())).is_none());
        assert!(open(Bytes::from_static(b"hello")).is_none());
        let mut bad_text = seal(&origin, &Message::text("ok")).unwrap().to_vec();
        bad_text.push(0xff);
        assert!(open(Bytes::from(bad_text)).is_none());
        let mut other_version = seal(&origin, &Message::text("ok")).unwrap().to_vec();
        other_version[0] = 9;
        assert!(open(Bytes::from(other_version)).is_none());
    }
}
