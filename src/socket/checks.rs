//! The rules a payload must follow: UTF-8 text (RFC 6455 §8.1) and close frames (§5.5.1,
//! §7.4).

use bytes::Bytes;

use crate::error::ProtocolError;
use crate::{CloseCode, CloseFrame, Error, Message, Utf8Bytes};

/// A text message, if its bytes are UTF-8: the same bytes, validated.
pub(super) fn text_message(data: Bytes) -> Result<Message, Error> {
    Utf8Bytes::try_from(data)
        .map(Message::Text)
        .map_err(|_| Error::Protocol(ProtocolError::InvalidUtf8))
}

/// Fails a text message received in parts as soon as its bytes so far cannot be UTF-8,
/// rather than when it is complete; `checked` is how many of them are known to be valid. A
/// character cut between two parts is not an error yet.
pub(super) fn check_utf8_prefix(data: &[u8], checked: &mut usize) -> Result<(), Error> {
    match std::str::from_utf8(&data[*checked..]) {
        Ok(_) => *checked = data.len(),
        Err(e) if e.error_len().is_none() => *checked += e.valid_up_to(),
        Err(_) => return Err(Error::Protocol(ProtocolError::InvalidUtf8)),
    }
    Ok(())
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

    #[test]
    fn fragmented_utf8_fails_early_but_tolerates_split_characters() {
        let (mut data, mut checked) = (b"ab\xc3".to_vec(), 0);
        assert!(check_utf8_prefix(&data, &mut checked).is_ok());
        assert_eq!(checked, 2);
        data.extend_from_slice(b"\xa9cd");
        assert!(check_utf8_prefix(&data, &mut checked).is_ok());
        assert_eq!(checked, 6);
        data.extend_from_slice(b"\xff");
        assert!(check_utf8_prefix(&data, &mut checked).is_err());
    }
}
