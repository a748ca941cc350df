//! A publication as the topics protocol sends it (PROTOCOL.md, "publication"): JSON with
//! the topic, the position and the payload in a text frame, or, for a binary payload, a
//! binary frame of a length-prefixed JSON header and the payload's bytes.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{broadcast::Payload, position::Position};
use crate::Utf8Bytes;

/// A position as the protocol's messages carry it: `epoch` and `offset`, both absent for
/// a topic without history.
#[derive(Serialize)]
pub(crate) struct At<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
}

impl<'a> At<'a> {
    pub(crate) fn new(position: Option<&'a Position>) -> Self {
        At {
            epoch: position.map(Position::epoch),
            offset: position.map(Position::offset),
        }
    }
}

/// A publication's JSON: the header, and the data for a text payload.
#[derive(Serialize)]
struct Envelope<'a> {
    r#type: &'static str,
    topic: &'a str,
    #[serde(flatten)]
    at: At<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
}

/// The message that carries `payload`, published to `topic` at `position`, to a client
/// of the protocol: [`head`] then [`body`]. A text payload that is JSON is the
/// publication's `data` as it is; any other text goes as a JSON string.
pub(super) fn publication(topic: &str, position: Option<&Position>, payload: &Payload) -> Payload {
    let (text, body) = body(payload);
    let head = head(topic, position, text);
    let mut message = BytesMut::with_capacity(head.len() + body.len());
    message.put_slice(&head);
    message.put_slice(&body);
    let message = message.freeze();
    match Utf8Bytes::try_from(message.clone()) {
        Ok(json) if text => Payload::Text(json),
        _ => Payload::Binary(message),
    }
}

/// The end of the message that carries `payload`, which does not depend on where the
/// publication sits (a hub makes it, and compresses it, before it takes its locks), and
/// whether the message is text. Text: the `data` (JSON as it is, other text quoted) and the
/// object's closing brace. Binary: the payload's bytes.
pub(super) fn body(payload: &Payload) -> (bool, Bytes) {
    match payload {
        Payload::Text(text) => {
            let quoted;
            let data = match serde_json::from_str::<&RawValue>(text) {
                Ok(json) => json.get(),
                Err(_) => {
                    quoted = serde_json::value::to_raw_value(&**text)
                        .expect("a string serializes to JSON");
                    quoted.get()
                }
            };
            let mut body = BytesMut::with_capacity(data.len() + 1);
            body.put_slice(data.as_bytes());
            body.put_u8(b'}');
            (true, body.freeze())
        }
        Payload::Binary(data) => (false, data.clone()),
    }
}

/// The start of the message, before its [`body`]: for text, the JSON object up to
/// `"data":`; for binary, the header's length and the header.
pub(super) fn head(topic: &str, position: Option<&Position>, text: bool) -> Vec<u8> {
    let envelope = Envelope {
        r#type: "publication",
        topic,
        at: At::new(position),
        data: None,
    };
    let mut header = serde_json::to_vec(&envelope).expect("the envelope serializes");
    if text {
        // `data` is the object's last field: the body brings it and the closing brace.
        header.pop();
        header.extend_from_slice(b",\"data\":");
        return header;
    }
    let mut head = Vec::with_capacity(4 + header.len());
    // A topic name is bounded by the message size limits; a header over 4 GiB cannot be
    // made.
    head.extend_from_slice(
        &u32::try_from(header.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    head.extend_from_slice(&header);
    head
}

#[cfg(test)]
mod tests {

    use super::*;

    fn text(payload: &Payload) -> serde_json::Value {
        match payload {
            Payload::Text(text) => serde_json::from_str(text).unwrap(),
            Payload::Binary(_) => panic!("binary"),
        }
    }

    #[test]
    fn json_passes_through_and_other_text_is_quoted() {
        let at = Position::new("e1", 7);
        let json = publication(
            "room \"1\"",
            Some(&at),
            &Payload::Text(Utf8Bytes::from(r#"{"user":"ann","n":[1,2]}"#)),
        );
        assert_eq!(
            text(&json),
            serde_json::json!({"type": "publication", "topic": "room \"1\"", "epoch": "e1",
                "offset": 7, "data": {"user": "ann", "n": [1, 2]}})
        );
        let plain = publication("t", None, &Payload::Text(Utf8Bytes::from("hi \"you\"")));
        assert_eq!(
            text(&plain),
            serde_json::json!({"type": "publication", "topic": "t", "data": "hi \"you\""})
        );
    }

    #[test]
    fn binary_goes_after_a_length_prefixed_header() {
        let at = Position::new("e1", 3);
        let Payload::Binary(frame) = publication(
            "t",
            Some(&at),
            &Payload::Binary(Bytes::from_static(&[0, 1, 255])),
        ) else {
            panic!("text")
        };
        let n = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&frame[4..4 + n]).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"type": "publication", "topic": "t", "epoch": "e1", "offset": 3})
        );
        assert_eq!(&frame[4 + n..], &[0, 1, 255]);
    }
}
