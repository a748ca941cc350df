//! The protocol's messages as they cross the wire (PROTOCOL.md): what a client asks, read
//! from a text frame or a binary frame's header, and what the server answers.

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{
    topics::{At, Payload, Position, Recovery},
    Utf8Bytes,
};

/// The longest topic name, in bytes.
pub(super) const MAX_TOPIC_LEN: usize = 1024;

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
    Unavailable,
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
            Code::Unavailable => "unavailable",
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

/// Every field any request has; which ones it must have depends on its type.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    id: Option<u64>,
    #[serde(borrow)]
    topic: Option<Cow<'a, str>>,
    since: Option<Since<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Since<'a> {
    #[serde(borrow)]
    epoch: Cow<'a, str>,
    offset: u64,
}

/// Reads a request from a text frame.
pub(super) fn read_text(text: &str) -> Result<Request<'_>, Failure> {
    let fields: Fields<'_> = parse(text.as_bytes())?;
    let data = fields.data.map(|data| {
        // The JSON as the client wrote it, published as it is.
        Payload::Text(Utf8Bytes::from(data.get()))
    });
    check(fields, data)
}

/// Reads a publish from a binary frame: a 4-byte big-endian length, that many bytes of
/// JSON header, then the payload.
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
    let fields: Fields<'_> = parse(&rest[..length])?;
    let id = fields.id;
    if fields.kind != "publish" {
        return Err(Failure::new(
            id,
            Code::BadRequest,
            "a binary message is a publish",
        ));
    }
    if fields.data.is_some() {
        return Err(Failure::new(
            id,
            Code::BadRequest,
            "a binary publish has its data after the header, not in it",
        ));
    }
    let payload = Payload::Binary(frame.slice(4 + length..));
    check(fields, Some(payload))
}

fn parse<'a>(json: &'a [u8]) -> Result<Fields<'a>, Failure> {
    serde_json::from_slice(json)
        .map_err(|error| Failure::new(None, Code::BadRequest, format!("not a request: {error}")))
}

/// The request the fields make, or why they make none.
fn check<'a>(fields: Fields<'a>, payload: Option<Payload>) -> Result<Request<'a>, Failure> {
    let Fields {
        kind,
        id,
        topic,
        since,
        ..
    } = fields;
    let known = matches!(&*kind, "subscribe" | "unsubscribe" | "publish");
    if !known {
        return Err(Failure::new(
            id,
            Code::UnknownType,
            format!("no request has the type {kind:?}"),
        ));
    }
    let Some(id) = id else {
        return Err(Failure::new(
            None,
            Code::BadRequest,
            "a request needs an id",
        ));
    };
    let Some(topic) = topic else {
        return Err(Failure::new(
            Some(id),
            Code::BadRequest,
            "a request needs a topic",
        ));
    };
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return Err(Failure::new(
            Some(id),
            Code::InvalidTopic,
            "a topic's name is 1 to 1024 bytes long",
        ));
    }
    Ok(match &*kind {
        "subscribe" => Request::Subscribe {
            id,
            topic,
            since: since.map(|since| Position::new(since.epoch.as_ref(), since.offset)),
        },
        "unsubscribe" => Request::Unsubscribe { id, topic },
        _ => Request::Publish {
            id,
            topic,
            payload: payload
                .ok_or_else(|| Failure::new(Some(id), Code::BadRequest, "a publish needs data"))?,
        },
    })
}

/// What the server sends a client, besides publications.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(super) enum Reply<'a> {
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
