//! The groups a socket belongs to (a hub of topics, say), left together when its session
//! ends.

use std::sync::Weak;

/// Something sockets join, told when one of its members' sessions ends.
pub(crate) trait Group: Send + Sync {
    /// The session of the socket with this key (see `Shared::key`) has ended: forget it.
    fn leave(&self, socket: usize);
}

/// The groups a socket has joined; none can be joined once its session has ended. Boxed:
/// every socket has this, few join anything.
#[derive(Default)]
pub(crate) struct Memberships {
    ended: bool,
    // A box in every socket rather than a vector: in the idle-socket bench, each byte the
    // socket's state grows costs several in RSS (its size is checked in `socket`).
    #[allow(clippy::box_collection)]
    groups: Option<Box<Vec<Weak<dyn Group>>>>,
}

impl Memberships {
    /// Records `group`, once. `false` once the session has ended: the group must not take
    /// the socket in then, since nobody would tell it to let go.
    pub(super) fn join(&mut self, group: Weak<dyn Group>) -> bool {
        if self.ended {
            return false;
        }
        let groups = self.groups.get_or_insert_with(Box::default);
        if !groups.iter().any(|g| g.ptr_eq(&group)) {
            groups.push(group);
        }
        true
    }

    /// Ends the memberships: the groups to leave, and no more joining.
    pub(super) fn end(&mut self) -> Vec<Weak<dyn Group>> {
        self.ended = true;
        self.groups.take().map(|groups| *groups).unwrap_or_default()
    }
}
