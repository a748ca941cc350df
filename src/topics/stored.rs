//! [`Stored`]: what a backplane's history store read of a topic's stream.

use super::position::Position;
use crate::Message;

/// What a [`HistoryStore`](super::HistoryStore) keeps of a topic.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Stored {
    /// The position of the stream's last publication.
    pub top: Position,
    /// The publications kept, oldest first, each with its offset.
    pub publications: Vec<(u64, Message)>,
}

impl Stored {
    /// What a store read.
    pub fn new(top: Position, publications: Vec<(u64, Message)>) -> Self {
        Stored { top, publications }
    }
}
