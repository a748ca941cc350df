//! Encoding what the server sends: frame headers and close payloads (RFC 6455 §5.2, §5.5).

use bytes::Bytes;
use fastwebsockets::OpCode;

use crate::CloseCode;

/// The largest payload of a control frame (RFC 6455 §5.5).
pub(crate) const MAX_CONTROL_PAYLOAD: usize = 125;

/// The largest close reason that fits a control frame (125 bytes less the 2-byte code).
pub(crate) const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// The header of a final, unmasked server frame (RFC 6455 §5.2), and its length.
pub(crate) fn frame_head(opcode: OpCode, len: usize) -> ([u8; 10], usize) {
    let mut head = [0u8; 10];
    head[0] = 0x80 | opcode as u8;
    match len {
        0..=125 => {
            head[1] = len as u8;
            (head, 2)
        }
        126..=0xffff => {
            head[1] = 126;
            head[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            (head, 4)
        }
        _ => {
            head[1] = 127;
            head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            (head, 10)
        }
    }
}

/// The header of a data frame: `compressed` sets RSV1 (RFC 7692 §6), `fin` marks the
/// message's last frame (RFC 6455 §5.2).
pub(crate) fn data_frame_head(
    opcode: OpCode,
    len: usize,
    compressed: bool,
    fin: bool,
) -> ([u8; 10], usize) {
    let (mut head, head_len) = frame_head(opcode, len);
    head[0] |= u8::from(compressed) << 6;
    head[0] &= !(u8::from(!fin) << 7);
    (head, head_len)
}

/// A close frame's payload: the code and the reason, or nothing for a code that may not
/// appear on the wire (1005, 1006, ...). `reason` must fit (see [`truncate_utf8`]).
pub(crate) fn close_payload(code: CloseCode, reason: &str) -> Bytes {
    if !code.is_valid_on_wire() {
        return Bytes::new();
    }
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.0.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    Bytes::from(payload)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastwebsockets::{Frame, OpCode, Payload};

    #[test]
    fn headers_match_the_engine() {
        for len in [0, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 20] {
            for opcode in [OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping] {
                let payload = vec![0u8; len];
                let mut expected = [0u8; 16];
                let n = Frame::new(true, opcode, None, Payload::Borrowed(&payload))
                    .fmt_head(&mut expected);
                let (head, m) = frame_head(opcode, len);
                assert_eq!(&head[..m], &expected[..n], "{opcode:?} {len}");
            }
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate_utf8("abc", 5), "abc");
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
    }
}
