//! [`Relayed`]: what one server's [`Clients`](super::Clients) sends another through the
//! backplane (a call to a client the other server holds, the client's answer coming
//! back, a message for the client), and its bytes.
//!
//! ```text
//! [1: version = 1][1: kind]
//! invoke  (1): [8: caller's server][8: call][8: connection number][8: timeout, ms]
//!              [4: method's length][method][1: params' kind, 1 JSON or 2 bytes][params]
//! answer  (2): [8: call][1: 1 JSON result, 2 bytes result, 3 error]
//!              [result] or [4: code's length][code][message]
//! message (3): [8: connection number][JSON]
//! ```
//!
//! Numbers are big-endian. Another server's bytes are read with care: anything that is
//! not one of these is `None`, never a panic.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{call_error::CallError, data::Data};
use crate::{identity::ServerId, Utf8Bytes};

const VERSION: u8 = 1;
const INVOKE: u8 = 1;
const ANSWER: u8 = 2;
const MESSAGE: u8 = 3;
const JSON: u8 = 1;
const BINARY: u8 = 2;
const ERROR: u8 = 3;

/// One message between servers.
#[derive(Debug, PartialEq)]
pub(super) enum Relayed {
    /// Call `method` of the client `connection` of the receiving server, and send the
    /// answer to `from` as `call`'s.
    Invoke {
        from: ServerId,
        call: u64,
        connection: u64,
        timeout: Duration,
        method: String,
        params: Data,
    },
    /// The outcome of the call `call` that the receiving server asked for.
    Answer {
        call: u64,
        outcome: Result<Data, CallError>,
    },
    /// Send `data` to the client `connection` of the receiving server as a `message`.
    Message { connection: u64, data: Utf8Bytes },
}

impl Relayed {
    /// The bytes; `None` for a method name or error code longer than 4 GiB.
    pub(super) fn encode(&self) -> Option<Bytes> {
        let mut out = BytesMut::new();
        out.put_u8(VERSION);
        match self {
            Relayed::Invoke {
                from,
                call,
                connection,
                timeout,
                method,
                params,
            } => {
                out.put_u8(INVOKE);
                out.put_u64(from.get());
                out.put_u64(*call);
                out.put_u64(*connection);
                out.put_u64(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
                put_text(&mut out, method)?;
                put_data(&mut out, params);
            }
            Relayed::Answer { call, outcome } => {
                out.put_u8(ANSWER);
                out.put_u64(*call);
                match outcome {
                    Ok(data) => put_data(&mut out, data),
                    Err(error) => {
                        out.put_u8(ERROR);
                        put_text(&mut out, error.code())?;
                        out.put_slice(error.message().as_bytes());
                    }
                }
            }
            Relayed::Message { connection, data } => {
                out.put_u8(MESSAGE);
                out.put_u64(*connection);
                out.put_slice(data.as_bytes());
            }
        }
        Some(out.freeze())
    }

    /// What `bytes` say; `None` if they are not one of these messages.
    pub(super) fn decode(mut bytes: Bytes) -> Option<Relayed> {
        if get_u8(&mut bytes)? != VERSION {
            return None;
        }
        match get_u8(&mut bytes)? {
            INVOKE => Some(Relayed::Invoke {
                from: ServerId::from_u64(get_u64(&mut bytes)?),
                call: get_u64(&mut bytes)?,
                connection: get_u64(&mut bytes)?,
                timeout: Duration::from_millis(get_u64(&mut bytes)?),
                method: get_text(&mut bytes)?,
                params: get_data(get_u8(&mut bytes)?, bytes)?,
            }),
            ANSWER => {
                let call = get_u64(&mut bytes)?;
                let outcome = match get_u8(&mut bytes)? {
                    ERROR => {
                        let code = get_text(&mut bytes)?;
                        let message = String::from_utf8(bytes.to_vec()).ok()?;
                        Err(CallError::new(code, message))
                    }
                    kind => Ok(get_data(kind, bytes)?),
                };
                Some(Relayed::Answer { call, outcome })
            }
            MESSAGE => Some(Relayed::Message {
                connection: get_u64(&mut bytes)?,
                data: Utf8Bytes::try_from(bytes).ok()?,
            }),
            _ => None,
        }
    }
}

fn put_text(out: &mut BytesMut, text: &str) -> Option<()> {
    out.put_u32(u32::try_from(text.len()).ok()?);
    out.put_slice(text.as_bytes());
    Some(())
}

fn put_data(out: &mut BytesMut, data: &Data) {
    match data {
        Data::Json(json) => {
            out.put_u8(JSON);
            out.put_slice(json.as_bytes());
        }
        Data::Binary(bytes) => {
            out.put_u8(BINARY);
            out.put_slice(bytes);
        }
    }
}

fn get_u8(bytes: &mut Bytes) -> Option<u8> {
    (bytes.remaining() >= 1).then(|| bytes.get_u8())
}

fn get_u64(bytes: &mut Bytes) -> Option<u64> {
    (bytes.remaining() >= 8).then(|| bytes.get_u64())
}

fn get_text(bytes: &mut Bytes) -> Option<String> {
    if bytes.remaining() < 4 {
        return None;
    }
    let len = usize::try_from(bytes.get_u32()).ok()?;
    if bytes.remaining() < len {
        return None;
    }
    String::from_utf8(bytes.split_to(len).to_vec()).ok()
}

/// The rest of the bytes as data of `kind`.
fn get_data(kind: u8, rest: Bytes) -> Option<Data> {
    match kind {
        JSON => Some(Data::Json(Utf8Bytes::try_from(rest).ok()?)),
        BINARY => Some(Data::Binary(rest)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_reads_back_and_no_cut_or_altered_one_panics() {
        let messages = [
            Relayed::Invoke {
                from: ServerId::from_u64(0x0123_4567_89ab_cdef),
                call: 7,
                connection: 42,
                timeout: Duration::from_millis(30_000),
                method: "confirm".to_owned(),
                params: Data::Json(Utf8Bytes::from("{\"text\":\"Delete?\"}")),
            },
            Relayed::Invoke {
                from: ServerId::from_u64(1),
                call: u64::MAX,
                connection: 0,
                timeout: Duration::ZERO,
                method: String::new(),
                params: Data::Binary(Bytes::from_static(&[0, 255, 3])),
            },
            Relayed::Answer {
                call: 7,
                outcome: Ok(Data::Json(Utf8Bytes::from("true"))),
            },
            Relayed::Answer {
                call: 8,
                outcome: Ok(Data::Binary(Bytes::new())),
            },
            Relayed::Answer {
                call: 9,
                outcome: Err(CallError::new("not_found", "nö such thing")),
            },
            Relayed::Message {
                connection: 3,
                data: Utf8Bytes::from("[1,2]"),
            },
        ];
        for message in messages {
            let bytes = message.encode().unwrap();
            assert_eq!(Relayed::decode(bytes.clone()), Some(message));
            for cut in 0..bytes.len() {
                // A message cut short reads as nothing or as a shorter payload.
                let _ = Relayed::decode(bytes.slice(..cut));
            }
            for at in 0..bytes.len() {
                let mut altered = bytes.to_vec();
                altered[at] ^= 0xff;
                let _ = Relayed::decode(Bytes::from(altered));
            }
        }
        assert_eq!(Relayed::decode(Bytes::new()), None);
        assert_eq!(Relayed::decode(Bytes::from_static(&[2, 1])), None);
        assert_eq!(Relayed::decode(Bytes::from_static(&[1, 9])), None);
        // A length past the end.
        let mut long = vec![1, 1];
        long.extend_from_slice(&[0; 32]);
        long.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Relayed::decode(Bytes::from(long)), None);
    }
}
