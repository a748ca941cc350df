//! The rules a payload must follow: UTF-8 text (RFC 6455 §8.1) and close frames (§5.5.1,
//! §7.4).

use bytes::Bytes;

use crate::error::ProtocolError;
use crate::{CloseCode, CloseFrame, Error, Message, Utf8Bytes};

/// A whole message of `data`: binary, or text if its bytes are UTF-8 (see
/// [`text_message`]).
#[inline]
pub(super) fn data_message(text: bool, data: Bytes) -> Result<Message, Error> {
    match text {
        true => text_message(data),
        false => Ok(Message::Binary(data)),
    }
}

/// A text message, if its bytes are UTF-8: the same bytes, validated.
fn text_message(data: Bytes) -> Result<Message, Error> {
    Utf8Bytes::try_from(data)
        .map(Message::Text)
        .map_err(|_| Error::Protocol(ProtocolError::InvalidUtf8))
}

/// The UTF-8 check of a text message that arrives a piece at a time (fragments, parts,
/// inflated output), so that it fails (1007) at the piece that breaks it rather than at its
/// end (RFC 6455 §8.1): it keeps the bytes of a character cut at the end of one piece, to
/// be completed by the next.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Utf8Validator {
    bytes: [u8; 3],
    len: u8,
}

impl Utf8Validator {
    /// Checks the next piece's bytes; an error once the text cannot be UTF-8.
    pub(super) fn push(&mut self, piece: &[u8]) -> Result<(), Error> {
        let mut rest = piece;
        if self.len > 0 {
            let len = usize::from(self.len);
            let width = match self.bytes[0] {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            let take = (width - len).min(rest.len());
            let mut character = [0u8; 4];
            character[..len].copy_from_slice(&self.bytes[..len]);
            character[len..len + take].copy_from_slice(&rest[..take]);
            match std::str::from_utf8(&character[..len + take]) {
                Ok(_) => self.len = 0,
                // Still cut: this piece was shorter than the rest of the character.
                Err(e) if e.error_len().is_none() => {
                    self.bytes[..len + take].copy_from_slice(&character[..len + take]);
                    self.len = (len + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(invalid_utf8()),
            }
            rest = &rest[take..];
        }
        match std::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &rest[e.valid_up_to()..];
                self.bytes[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(invalid_utf8()),
        }
    }

    /// Checks that the message did not end inside a character.
    pub(super) fn finish(&self) -> Result<(), Error> {
        match self.len {
            0 => Ok(()),
            _ => Err(invalid_utf8()),
        }
    }
}

#[cold]
fn invalid_utf8() -> Error {
    Error::Protocol(ProtocolError::InvalidUtf8)
}

/// Reads a close frame's payload: nothing, or a code (allowed on the wire) and a UTF-8 reason.
pub(super) fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, Error> {
    match payload {
        [] => Ok(None),
        [_] => Err(Error::Protocol(ProtocolError::CloseFrameTooShort)),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(Error::Protocol(ProtocolError::InvalidCloseCode));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| Error::Protocol(ProtocolError::InvalidCloseReason))?;
            Ok(Some(CloseFrame::new(code, reason)))
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;

    fn code_of(result: Result<Option<CloseFrame>, Error>) -> Option<u16> {
        match result {
            Err(Error::Protocol(cause)) => Some(cause.close_code().0),
            _ => None,
        }
    }

    #[test]
    fn close_payloads_are_checked() {
        assert_eq!(parse_close(&[]).unwrap(), None);
        assert_eq!(code_of(parse_close(&[3])), Some(1002));
        assert_eq!(code_of(parse_close(&1005u16.to_be_bytes())), Some(1002));
        assert_eq!(code_of(parse_close(&[0x03, 0xe8, 0xff])), Some(1007));
        let frame = parse_close(b"\x03\xe8bye").unwrap().unwrap();
        assert_eq!(
            (frame.code, frame.reason.as_str()),
            (CloseCode::NORMAL, "bye")
        );
    }

    #[test]
    fn a_text_message_keeps_the_frames_bytes() {
        let payload = BytesMut::from(&"héllo ".repeat(500).into_bytes()[..]);
        let source = payload.as_ptr();
        let Ok(Message::Text(text)) = text_message(payload.freeze()) else {
            panic!("valid text");
        };
        assert_eq!(
            text.as_bytes().as_ptr(),
            source,
            "validated in place, not copied"
        );
    }

    fn check(pieces: &[&[u8]]) -> Result<(), Error> {
        let mut validator = Utf8Validator::default();
        for piece in pieces {
            validator.push(piece)?;
        }
        validator.finish()
    }

    #[test]
    fn characters_may_be_cut_anywhere_between_pieces() {
        let text = "aé€😀z".as_bytes();
        for cut in 0..=text.len() {
            for second in cut..=text.len() {
                let pieces = [&text[..cut], &text[cut..second], &text[second..]];
                assert!(check(&pieces).is_ok(), "{cut} {second}");
            }
        }
        // One byte a piece.
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert!(check(&bytes).is_ok());
    }

    #[test]
    fn invalid_text_fails_at_the_piece_that_breaks_it() {
        let mut validator = Utf8Validator::default();
        assert!(validator.push(b"ok \xe2\x82").is_ok());
        assert!(
            validator.push(b"\x41").is_err(),
            "a cut character not completed"
        );
        assert!(check(&[b"ab", b"\xff"]).is_err());
        assert!(check(&[b"ab\xc3"]).is_err(), "ends inside a character");
        let mut validator = Utf8Validator::default();
        assert!(validator.push(b"ab\xc3").is_ok());
        assert!(validator.push(b"\xa9cd").is_ok());
        assert!(validator.push(b"\xff").is_err());
    }
}
