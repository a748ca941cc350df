//! [`SocketConfig`]: the settings a socket and its session read while they run.

use std::time::Duration;

/// What each socket and its session read while they run: limits and timers.
#[derive(Debug, Clone)]
pub(crate) struct SocketConfig {
    pub(crate) max_message_size: usize,
    /// The largest single frame; `None`: `max_message_size`.
    pub(crate) max_frame_size: Option<usize>,
    /// The initial capacity of the buffer that reassembles a fragmented message.
    pub(crate) reassembly_capacity: usize,
    pub(crate) keep_alive_interval: Option<Duration>,
    pub(crate) keep_alive_timeout: Option<Duration>,
    pub(crate) send_timeout: Option<Duration>,
}
