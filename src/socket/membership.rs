//! The groups a socket belongs to (a hub of topics, say), left together when its session
//! ends.

use std::sync::Weak;

/// Something sockets join, told when one of its members' sessions ends.
pub(crate) trait Group: Send + Sync {
    /// The session of the socket with this key (see `Shared::key`) has ended: forget it.
    fn leave(&self, socket: usize);
}

/// The groups a socket has joined; none can be joined once its session has ended.
#[derive(Default)]
pub(crate) struct Memberships {
    ended: bool,
    groups: Vec<Weak<dyn Group>>,
}

impl Memberships {
    /// Records `group`, once. `false` once the session has ended: the group must not take
    /// the socket in then, since nobody would tell it to let go.
    pub(super) fn join(&mut self, group: Weak<dyn Group>) -> bool {
        if self.ended {
            return false;
        }
        if !self.groups.iter().any(|g| g.ptr_eq(&group)) {
            self.groups.push(group);
        }
        true
    }

    /// Ends the memberships: the groups to leave, and no more joining.
    pub(super) fn end(&mut self) -> Vec<Weak<dyn Group>> {
        self.ended = true;
        std::mem::take(&mut self.groups)
    }
}
