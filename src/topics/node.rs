//! [`Node`]: this server's name among the servers that share a hub's backplane, and the
//! numbers it gives the protocol sessions it holds.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::identity::{ConnectionId, ServerId};

/// This server's name, random for each hub, and the count of connection ids it gave.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) server: ServerId,
    connections: AtomicU64,
}

impl Node {
    /// A connection id no other session of this server has had.
    #[cfg_attr(not(feature = "protocol"), allow(dead_code))]
    pub(super) fn connection_id(&self) -> ConnectionId {
        let number = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        ConnectionId::new(self.server, number)
    }
}

impl Default for Node {
    fn default() -> Self {
        Node {
            server: ServerId::random(),
            connections: AtomicU64::new(0),
        }
    }
}
