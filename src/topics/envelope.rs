//! A publication as the topics protocol sends it (PROTOCOL.md, "publication"): JSON with
//! the topic, the position and the payload in a text frame, or, for a binary payload, a
//! binary frame of a length-prefixed JSON header and the payload's bytes.

use bytes::{BufMut, BytesMut};
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
/// of the protocol. A text payload that is JSON is the publication's `data` as it is; any
/// other text goes as a JSON string.
pub(super) fn publication(topic: &str, position: Option<&Position>, payload: &Payload) -> Payload {
    let mut envelope = Envelope {
        r#type: "publication",
        topic,
        at: At::new(position),
        data: None,
    };
    match payload {
        Payload::Text(text) => {
            let quoted;
            envelope.data = Some(match serde_json::from_str::<&RawValue>(text) {
                Ok(json) => json,
                Err(_) => {
                    quoted = serde_json::value::to_raw_value(&**text)
                        .expect("a string serializes to JSON");
                    &quoted
                }
            });
            let json = serde_json::to_string(&envelope).expect("the envelope serializes");
            Payload::Text(Utf8Bytes::from(json))
        }
        Payload::Binary(data) => {
            let header = serde_json::to_vec(&envelope).expect("the envelope serializes");
            let mut frame = BytesMut::with_capacity(4 + header.len() + data.len());
            // A topic name is bounded by the message size limits; a header over 4 GiB
            // cannot be made.
            frame.put_u32(u32::try_from(header.len()).unwrap_or(u32::MAX));
            frame.put_slice(&header);
            frame.put_slice(data);
            Payload::Binary(frame.freeze())
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

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
