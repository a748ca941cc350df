//! Topics' history in Redis: each topic that keeps history has a stream, the key
//! `PREFIX` `TOPIC` `:history`, of its kept publications with their offsets as entry
//! ids, and a hash, `PREFIX` `TOPIC` `:meta`, of its epoch, last offset and kept bytes.
//! Appending is one script, so every server sees one order: it gives the publication the
//! next offset, adds it to the stream, trims the stream to the bounds, and publishes it to
//! the topic's channel with its position. Both keys expire when the topic has been quiet for twice
//! the history's age; a Redis that lost them (restarted without persistence, or evicted)
//! starts the stream over under a new epoch.
//!
//! A publication with a position crosses the channel as
//!
//! ```text
//! [1: 0x03][offset, in decimal] [epoch] [the envelope of envelope.rs]
//! ```

use bytes::Bytes;
use redis::Script;

use crate::topics::{History, Position};

/// The first byte of a publication that carries its position.
pub(super) const POSITIONED: u8 = 3;

/// The scripts' start: `meta` and `stream` from KEYS, and `epoch`, the stream's, which
/// begins (empty, under the epoch in ARGV[n]) if Redis has none.
macro_rules! start {
    ($n:literal) => {
        concat!(
            "
local meta, stream = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[",
            $n,
            "]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0, 'bytes', 0)
end
"
        )
    };
}

/// KEYS: meta, stream. ARGV: channel, envelope, a fresh epoch, the most publications, the
/// most bytes, the oldest age in ms (-1: no limit), the keys' lifetime in ms (-1: none),
/// the envelope's header length (not counted in bytes). Returns {epoch, offset}.
const APPEND: &str = concat!(
    start!(3),
    r"
local offset = redis.call('HINCRBY', meta, 'offset', 1)
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local body = ARGV[2]
local header = tonumber(ARGV[8])
redis.call('XADD', stream, offset .. '-1', 'at', now, 'body', body)
local bytes = redis.call('HINCRBY', meta, 'bytes', #body - header)
local most, most_bytes, age = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
while true do
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  if not first then break end
  local at, size = tonumber(first[2][2]), #first[2][4] - header
  local old = age >= 0 and at + age <= now
  if redis.call('XLEN', stream) <= most and bytes <= most_bytes and not old then break end
  redis.call('XDEL', stream, first[1])
  bytes = redis.call('HINCRBY', meta, 'bytes', -size)
end
local lifetime = tonumber(ARGV[7])
if lifetime >= 0 then
  redis.call('PEXPIRE', meta, lifetime)
  redis.call('PEXPIRE', stream, lifetime)
end
redis.call('PUBLISH', ARGV[1], string.char(3) .. offset .. ' ' .. epoch .. ' ' .. body)
return {epoch, offset}
"
);

/// KEYS: meta, stream. ARGV: a fresh epoch. Returns {epoch, offset, entries}, each entry
/// {id, {'at', at, 'body', body}}; a topic without a stream gets one, empty.
const READ: &str = concat!(
    start!(1),
    r"
local offset = redis.call('HGET', meta, 'offset')
return {epoch, tonumber(offset), redis.call('XRANGE', stream, '-', '+')}
"
);

/// The scripts, hashed once.
pub(super) struct Scripts {
    pub(super) append: Script,
    pub(super) read: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            append: Script::new(APPEND),
            read: Script::new(READ),
        }
    }
}

/// The keys of `topic`'s history under `prefix`: its hash and its stream.
pub(super) fn keys(prefix: &str, topic: &str) -> [String; 2] {
    [
        format!("{prefix}{topic}:meta"),
        format!("{prefix}{topic}:history"),
    ]
}

/// The arguments of the bounds: most publications, most bytes, oldest age in ms (-1 for
/// none) and the keys' lifetime in ms (twice the age; -1 for none).
pub(super) fn bounds(history: History) -> [i64; 4] {
    let clamp = |n: u128| i64::try_from(n).unwrap_or(i64::MAX);
    let (most, bytes, age) = history.bounds();
    let age_ms = clamp(age.as_millis());
    let (age_arg, lifetime) = if age == std::time::Duration::MAX {
        (-1, -1)
    } else {
        (age_ms, age_ms.saturating_mul(2).max(60_000))
    };
    [clamp(most as u128), clamp(bytes as u128), age_arg, lifetime]
}

/// The position and the envelope of a positioned publication; `None` for anything else.
pub(super) fn open(message: &Bytes) -> Option<(Position, Bytes)> {
    let rest = message.strip_prefix(&[POSITIONED])?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let offset: u64 = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
    let rest = &rest[space + 1..];
    let space = rest.iter().position(|&b| b == b' ')?;
    let epoch = std::str::from_utf8(&rest[..space]).ok()?;
    let start = message.len() - rest.len() + space + 1;
    Some((Position::new(epoch, offset), message.slice(start..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_positioned_publication_is_read_back_and_others_are_not() {
        let message = Bytes::from(b"\x0342 9f2c envelope bytes".to_vec());
        let (position, envelope) = open(&message).unwrap();
        assert_eq!(position, Position::new("9f2c", 42));
        assert_eq!(&envelope[..], b"envelope bytes");
        for other in [&b"\x01abc"[..], b"\x03x y z", b"\x0342", b"\x0342 nospace"] {
            assert!(open(&Bytes::copy_from_slice(other)).is_none(), "{other:?}");
        }
    }

    #[test]
    fn bounds_become_arguments_without_overflow() {
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(bounds(History::new()), [100, 256 * 1024, 120_000, 240_000]);
        assert_eq!(
            bounds(
                History::new()
                    .max_publications(usize::MAX)
                    .max_age(std::time::Duration::MAX)
            ),
            [i64::MAX, 256 * 1024, -1, -1]
        );
        assert_eq!(
            bounds(History::new().max_age(std::time::Duration::from_secs(1)))[3],
            60_000
        );
        assert_eq!(bounds(History::new().max_age(day))[3], 2 * 86_400_000);
    }
}
