//! [`Position`]: where a publication sits in its topic's stream, and where a client that
//! comes back asks to resume.

use std::{fmt, sync::Arc};

/// A place in a topic's stream of publications: the stream's epoch, and an offset in it.
///
/// In a topic with [history](crate::topics::History), each publication gets the next
/// offset: 1 for the first, then one more for each. The epoch names one life of the
/// stream: it changes whenever the stream's history is lost (the hub started afresh, the
/// stream was dropped to make room, Redis lost its data), so that offsets from an earlier
/// life are never mistaken for offsets in this one. A client keeps the position of the
/// last publication it received, and gives it back to resume after a reconnect
/// ([`Topics::subscribe_from`](crate::Topics::subscribe_from)).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Position {
    epoch: Arc<str>,
    offset: u64,
}

impl Position {
    /// The position at `offset` in the stream whose epoch is `epoch`; offset 0 is the
    /// start, before the first publication.
    pub fn new(epoch: impl Into<Arc<str>>, offset: u64) -> Position {
        Position {
            epoch: epoch.into(),
            offset,
        }
    }

    /// The stream's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The offset in the stream: how many publications the stream had at this point.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The position one publication further, in the same epoch.
    pub(crate) fn next(&self) -> Position {
        Position {
            epoch: self.epoch.clone(),
            offset: self.offset.saturating_add(1),
        }
    }
}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.offset)
    }
}
