//! The protocol's messages as they cross the wire (PROTOCOL.md): what a client asks, read
//! from a text frame or a binary frame's header, and what the server answers.

use std::{borrow::Cow, fmt::Write};

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{call_error::CallError, data::Data};
use crate::{
    identity::ConnectionId,
    topics::{At, Payload, Position, Recovery},
    Message, Utf8Bytes,
};

/// The longest topic name, in bytes.
pub(super) const MAX_TOPIC_LEN: usize = 1024;

/// The longest method name, in bytes.
const MAX_METHOD_LEN: usize = 256;

/// A client's request, checked.
#[derive(Debug)]
pub(super) enum Request<'a> {
    Subscribe {
        id: u64,
        topic: Cow<'a, str>,
        since: Option<Position>,
    },
    Unsubscribe {
        id: u64,
        topic: Cow<'a, str>,
    },
    Publish {
        id: u64,
        topic: Cow<'a, str>,
        payload: Payload,
    },
    Ping {
        id: u64,
    },
    Call {
        id: u64,
        method: Cow<'a, str>,
        params: Data,
    },
    Cancel {
        id: u64,
    },
    /// The client's answer to the server's call `id`.
    Return {
        id: u64,
        outcome: Result<Data, CallError>,
    },
}

/// Why a request was refused, as its `error` reply names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Code {
    BadRequest,
    UnknownType,
    InvalidTopic,
    Forbidden,
    AlreadySubscribed,
    NotSubscribed,
    TooManySubscriptions,
    TooManyTopics,
    TooLarge,
    RateLimited,
    Unavailable,
    UnknownMethod,
    TooManyCalls,
    Cancelled,
}

impl Code {
    fn as_str(self) -> &'static str {
        match self {
            Code::BadRequest => "bad_request",
            Code::UnknownType => "unknown_type",
            Code::InvalidTopic => "invalid_topic",
            Code::Forbidden => "forbidden",
            Code::AlreadySubscribed => "already_subscribed",
            Code::NotSubscribed => "not_subscribed",
            Code::TooManySubscriptions => "too_many_subscriptions",
            Code::TooManyTopics => "too_many_topics",
            Code::TooLarge => "too_large",
            Code::RateLimited => "rate_limited",
            Code::Unavailable => "unavailable",
            Code::UnknownMethod => "unknown_method",
            Code::TooManyCalls => "too_many_calls",
            Code::Cancelled => "cancelled",
        }
    }
}

/// A request that failed: the request's id when it could be read, the code, and a sentence
/// for people.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) id: Option<u64>,
    pub(super) code: Code,
    pub(super) message: Cow<'static, str>,
}

impl Failure {
    pub(super) fn new(id: Option<u64>, code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Failure {
            id,
            code,
            message: message.into(),
        }
    }
}

/// Every field any request has, each as the client wrote it: read one at a time, so that
/// a request with a readable `id` is answered with that id whatever else is wrong with it.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    topic: Option<&'a RawValue>,
    #[serde(borrow)]
    since: Option<&'a RawValue>,
    /// Present even when it is `null`, which is a publication's payload like any other
    /// JSON value.
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<&'a RawValue>,
    /// Like `data`: `null` is a value.
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    /// Like `data`: `null` is a value.
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

/// A `return`'s `error`.
#[derive(Deserialize)]
struct ClientError<'a> {
    #[serde(borrow)]
    code: Cow<'a, str>,
    #[serde(borrow, default)]
    message: Cow<'a, str>,
}

/// A field that is there, whatever its value (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
struct Since<'a> {
    #[serde(borrow)]
    epoch: Cow<'a, str>,
    offset: u64,
}

/// Reads a request from a text frame.
pub(super) fn read_text(text: &str) -> Result<Request<'_>, Failure> {
    let fields: Fields<'_> = parse(text)?;
    check(fields, None)
}

/// Reads a publish or a call from a binary frame: a 4-byte big-endian length, that many
/// bytes of JSON header, then the payload (the publication, or the call's params).
pub(super) fn read_binary(frame: &Bytes) -> Result<Request<'_>, Failure> {
    let bad = |message| Failure::new(None, Code::BadRequest, message);
    let Some((length, rest)) = frame.split_first_chunk::<4>() else {
        return Err(bad(
            "a binary message starts with its header's 4-byte length",
        ));
    };
    let length = u32::from_be_bytes(*length) as usize;
    if length > rest.len() {
        return Err(bad("the header's length is past the message's end"));
    }
    let Ok(header) = std::str::from_utf8(&rest[..length]) else {
        return Err(bad("the header is not UTF-8"));
    };
    let fields: Fields<'_> = parse(header)?;
    let id = read_id(fields.id);
    let refuse = |message| Err(Failure::new(id, Code::BadRequest, message));
    match fields.kind.and_then(value::<Cow<'_, str>>).as_deref() {
        Some("publish") if fields.data.is_some() => {
            return refuse("a binary publish has its data after the header, not in it")
        }
        Some("call") if fields.params.is_some() => {
            return refuse("a binary call has its params after the header, not in it")
        }
        Some("publish" | "call" | "return") => {}
        _ => return refuse("a binary message is a publish, a call or a return"),
    }
    check(fields, Some(frame.slice(4 + length..)))
}

/// Reads the fields of a request (text that is UTF-8 already: its strings are not
/// checked again).
fn parse(json: &str) -> Result<Fields<'_>, Failure> {
    serde_json::from_str(json).map_err(|error| {
        Failure::new(
            None,
            Code::BadRequest,
            format!("not a JSON object: {error}"),
        )
    })
}

/// A field's value as `T`, or `None` if it is not one.
fn value<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

/// The request's id, where it is one (an integer from 0 to 2^64 - 1).
fn read_id(raw: Option<&RawValue>) -> Option<u64> {
    raw.and_then(value::<u64>)
}

/// The request the fields make, or why they make none; `binary`, the payload after a
/// binary message's header.
fn check<'a>(fields: Fields<'a>, binary: Option<Bytes>) -> Result<Request<'a>, Failure> {
    let id = read_id(fields.id);
    let bad = |message: &'static str| Failure::new(id, Code::BadRequest, message);
    let Some(kind) = fields.kind else {
        return Err(bad("a request needs a type"));
    };
    let Some(kind) = value::<Cow<'a, str>>(kind) else {
        return Err(bad("a request's type is a string"));
    };
    if !matches!(
        &*kind,
        "subscribe" | "unsubscribe" | "publish" | "ping" | "call" | "cancel" | "return"
    ) {
        return Err(Failure::new(
            id,
            Code::UnknownType,
            format!("no request has the type {kind:?}"),
        ));
    }
    let Some(id) = id else {
        return Err(bad(match fields.id {
            None => "a request needs an id",
            Some(_) => "a request's id is an integer from 0 to 2^53 - 1",
        }));
    };
    let bad = |message: &'static str| Err(Failure::new(Some(id), Code::BadRequest, message));
    match &*kind {
        "ping" => return Ok(Request::Ping { id }),
        "cancel" => return Ok(Request::Cancel { id }),
        "return" => {
            // The answer to the server's own call: never replied to (its id is the
            // server's), so one that cannot be read fails the server's call instead.
            let unreadable = |why: &'static str| Err(CallError::new("bad_result", why));
            let outcome = match (binary, fields.result, fields.error) {
                (Some(bytes), None, None) => Ok(Data::Binary(bytes)),
                (None, Some(result), None) => Ok(Data::Json(Utf8Bytes::from(result.get()))),
                (None, None, Some(error)) => match value::<ClientError<'_>>(error) {
                    Some(error) if !error.code.is_empty() => Err(CallError::new(
                        error.code.into_owned(),
                        error.message.into_owned(),
                    )),
                    _ => unreadable("a return's error is an object with a code"),
                },
                _ => unreadable("a return has a result or an error, not both"),
            };
            return Ok(Request::Return { id, outcome });
        }
        "call" => {
            let Some(method) = fields.method.and_then(value::<Cow<'a, str>>) else {
                return bad("a call needs a method, a string");
            };
            if method.is_empty() || method.len() > MAX_METHOD_LEN {
                return bad("a method's name is 1 to 256 bytes long");
            }
            let params = match binary {
                Some(bytes) => Data::Binary(bytes),
                // The JSON as the client wrote it; none reads as `null`.
                None => Data::Json(Utf8Bytes::from(fields.params.map_or("null", RawValue::get))),
            };
            return Ok(Request::Call { id, method, params });
        }
        _ => {}
    }
    let Some(topic) = fields.topic else {
        return bad("a request needs a topic");
    };
    let Some(topic) = value::<Cow<'a, str>>(topic) else {
        return bad("a request's topic is a string");
    };
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return Err(Failure::new(
            Some(id),
            Code::InvalidTopic,
            "a topic's name is 1 to 1024 bytes long",
        ));
    }
    Ok(match &*kind {
        "subscribe" => {
            let since =
                match fields.since.map(value::<Since<'_>>) {
                    None => None,
                    Some(Some(since)) => Some(Position::new(since.epoch.as_ref(), since.offset)),
                    Some(None) => return bad(
                        "since is an object with an epoch (a string) and an offset (an integer)",
                    ),
                };
            Request::Subscribe { id, topic, since }
        }
        "unsubscribe" => Request::Unsubscribe { id, topic },
        _ => {
            let payload = match (binary, fields.data) {
                (Some(bytes), _) => Payload::Binary(bytes),
                // The JSON as the client wrote it, published as it is.
                (None, Some(data)) => Payload::Text(Utf8Bytes::from(data.get())),
                (None, None) => return bad("a publish needs data"),
            };
            Request::Publish { id, topic, payload }
        }
    })
}

/// Writes `value` as a JSON string of its `Display` form, without making a `String` first.
fn display<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// The limits a server holds each client to, as its `welcome` tells them.
#[derive(Serialize)]
pub(super) struct Advertised {
    /// The largest WebSocket message it takes, in bytes.
    pub(super) message_size: usize,
    pub(super) publication_size: usize,
    pub(super) subscriptions: usize,
    pub(super) publish_topics: usize,
    pub(super) publish_rate: u32,
}

/// What the server sends a client, besides publications.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(super) enum Reply<'a> {
    /// The server's first message: the protocol's version and the client's limits.
    Welcome {
        version: u32,
        /// The connection's id, unique across servers.
        #[serde(serialize_with = "display")]
        connection: ConnectionId,
        /// The user the app knows the client as.
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<&'a str>,
        limits: Advertised,
    },
    Pong {
        id: u64,
    },
    Subscribed {
        id: u64,
        topic: &'a str,
        #[serde(flatten)]
        at: At<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        recovered: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        replayed: Option<usize>,
    },
    Unsubscribed {
        id: u64,
        topic: &'a str,
    },
    Published {
        id: u64,
        topic: &'a str,
        #[serde(flatten)]
        at: At<'a>,
    },
    Error {
        id: Option<u64>,
        code: &'a str,
        message: &'a str,
    },
}

impl<'a> Reply<'a> {
    /// The reply to a subscribe; `came_back` when it gave a position.
    pub(super) fn subscribed(
        id: u64,
        topic: &'a str,
        recovery: &'a Recovery,
        came_back: bool,
    ) -> Self {
        Reply::Subscribed {
            id,
            topic,
            at: At::new(recovery.position.as_ref()),
            recovered: came_back.then_some(recovery.recovered),
            replayed: came_back.then_some(recovery.replayed),
        }
    }

    pub(super) fn published(id: u64, topic: &'a str, position: Option<&'a Position>) -> Self {
        Reply::Published {
            id,
            topic,
            at: At::new(position),
        }
    }

    /// The error reply to call `id`.
    pub(super) fn call_failed(id: u64, error: &'a CallError) -> Self {
        Reply::Error {
            id: Some(id),
            code: error.code(),
            message: error.message(),
        }
    }

    pub(super) fn error(refusal: &'a Failure) -> Self {
        Reply::Error {
            id: refusal.id,
            code: refusal.code.as_str(),
            message: &refusal.message,
        }
    }

    /// The reply as a text message's payload.
    pub(super) fn payload(&self) -> Payload {
        let json = serde_json::to_string(self).expect("a reply serializes to JSON");
        Payload::Text(Utf8Bytes::from(json))
    }
}

/// The reply to call `id` with its result: a text message with the JSON as `result`, or a
/// binary one whose header is `{"type":"result","id":N}` followed by the bytes.
pub(super) fn result(id: u64, result: Data) -> Message {
    match result {
        Data::Json(json) => {
            const HEAD: &str = r#"{"type":"result","id":"#;
            const RESULT: &str = r#","result":"#;
            // Written to its exact length: the message's bytes take the text as it is.
            let digits = id.checked_ilog10().map_or(1, |log| log as usize + 1);
            let mut text =
                String::with_capacity(HEAD.len() + digits + RESULT.len() + json.len() + 1);
            text.push_str(HEAD);
            let _ = write!(text, "{id}");
            text.push_str(RESULT);
            text.push_str(&json);
            text.push('}');
            Message::text(text)
        }
        Data::Binary(bytes) => binary(&format!(r#"{{"type":"result","id":{id}}}"#), &bytes),
    }
}

/// The server's call `id` of the client's method `method`: a text message with the JSON
/// as `params`, or a binary one whose header is `{"type":"invoke","id":N,"method":M}`
/// followed by the bytes.
pub(super) fn invoke(id: u64, method: &str, params: Data) -> Message {
    let method = serde_json::to_string(method).expect("a string serializes to JSON");
    match params {
        Data::Json(json) => Message::text(format!(
            r#"{{"type":"invoke","id":{id},"method":{method},"params":{json}}}"#
        )),
        Data::Binary(bytes) => binary(
            &format!(r#"{{"type":"invoke","id":{id},"method":{method}}}"#),
            &bytes,
        ),
    }
}

/// A message from the server's application, without an answer: `data` is its JSON.
pub(super) fn message(data: &str) -> Message {
    Message::text(format!(r#"{{"type":"message","data":{data}}}"#))
}

/// A binary message: the header's length (4 bytes, big-endian), the header, the bytes.
fn binary(header: &str, bytes: &[u8]) -> Message {
    let mut message = BytesMut::with_capacity(4 + header.len() + bytes.len());
    // A header is a few dozen bytes and a method's name: its length fits in 4 bytes.
    message.put_u32(header.len() as u32);
    message.put_slice(header.as_bytes());
    message.put_slice(bytes);
    Message::Binary(message.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_written_whole_for_any_id() {
        for id in [0, 1, 9, 10, 99, 100, 12_345, u64::MAX] {
            let message = result(id, Data::Json(Utf8Bytes::from(r#"{"a":[1,2]}"#)));
            let text = message.as_text().unwrap();
            assert_eq!(
                text,
                format!(r#"{{"type":"result","id":{id},"result":{{"a":[1,2]}}}}"#)
            );
        }
    }

    #[test]
    fn a_binary_header_that_is_not_utf8_is_a_bad_request() {
        let mut frame = 2u32.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0xff, 0xfe]);
        let refused = read_binary(&Bytes::from(frame)).err().unwrap();
        assert_eq!(refused.code, Code::BadRequest);
    }
}
