//! [`Node`]: this server's name among the servers that share a hub's backplane, the
//! numbers it gives the protocol sessions it holds, and what takes the messages other
//! servers send it.

use std::{
    any::Any,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
};

use bytes::Bytes;

use crate::identity::{ConnectionId, ServerId};

/// Takes the messages other servers send this one through the backplane
/// ([`Backplane::send_to_server`](super::Backplane::send_to_server)).
pub(crate) trait Mailbox: Send + Sync + 'static {
    /// One message, as another server sent it: anything, so read with care.
    fn receive(self: Arc<Self>, message: Bytes);

    /// One message this server sent that no server took.
    fn undeliverable(self: Arc<Self>, message: Bytes);
}

/// This server's name, random for each hub, the count of connection ids it gave, and its
/// mailbox once something asked for one.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) server: ServerId,
    connections: AtomicU64,
    mailbox: OnceLock<Installed>,
}

/// The mailbox, twice: as itself (for [`Node::mailbox`] to give back) and as a
/// [`Mailbox`].
struct Installed {
    any: Arc<dyn Any + Send + Sync>,
    mailbox: Arc<dyn Mailbox>,
}

impl std::fmt::Debug for Installed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailbox")
    }
}

impl Node {
    /// A connection id no other session of this server has had.
    #[cfg_attr(not(feature = "protocol"), allow(dead_code))]
    pub(super) fn connection_id(&self) -> ConnectionId {
        let number = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        ConnectionId::new(self.server, number)
    }

    /// The node's mailbox, made by `make` if it has none yet; `None` if it has one of
    /// another type.
    #[cfg_attr(not(feature = "protocol"), allow(dead_code))]
    pub(super) fn mailbox<M: Mailbox>(&self, make: impl FnOnce() -> M) -> Option<Arc<M>> {
        let installed = self.mailbox.get_or_init(|| {
            let made = Arc::new(make());
            Installed {
                any: made.clone(),
                mailbox: made,
            }
        });
        installed.any.clone().downcast().ok()
    }

    /// Hands back to the mailbox a message of its that no server took.
    pub(super) fn undeliverable(&self, message: Bytes) {
        if let Some(installed) = self.mailbox.get() {
            installed.mailbox.clone().undeliverable(message);
        }
    }

    /// Hands `message` from another server to the mailbox; dropped if there is none.
    pub(super) fn receive(&self, message: Bytes) {
        if let Some(installed) = self.mailbox.get() {
            installed.mailbox.clone().receive(message);
        }
    }
}

impl Default for Node {
    fn default() -> Self {
        Node {
            server: ServerId::random(),
            connections: AtomicU64::new(0),
            mailbox: OnceLock::new(),
        }
    }
}
