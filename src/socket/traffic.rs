//! [`Traffic`]: what a socket counts of its messages in one direction.

/// Messages and payload bytes in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Whole text and binary messages (control frames are not counted).
    pub messages: u64,
    /// Their payload bytes.
    pub bytes: u64,
}
