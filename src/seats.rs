//! The layer's open sessions: a seat for each while its handler runs, which a shutdown
//! goes through to wake them and the keep-alive clock to ping them.

use std::sync::{Arc, Mutex, Weak};

use crate::{socket::Shared, sync::lock};

/// The seats of a layer's open sessions, in slots that closed sessions leave free. A
/// session holds a 16-byte [`Seat`]; what the layer keeps of it here is its socket (weak)
/// and its keep-alive clock's [`Watch`].
#[derive(Default)]
pub(crate) struct Seats {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    taken: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// Whether the keep-alive clock's task is running (see [`Seats::visit`]).
    clock: bool,
}

struct Entry {
    socket: Weak<Shared>,
    watch: Watch,
}

/// What the keep-alive clock keeps of one socket: after a ping that nothing has answered
/// yet, the ping's tick (never 0) and the count of frames received by then; `tick` is 0
/// while no ping is unanswered. Both wrap at 32 bits, to keep the seat at 16 bytes: the
/// clock compares them only for equality, within one timeout.
#[derive(Default)]
pub(crate) struct Watch {
    pub(crate) tick: u32,
    pub(crate) frames: u32,
}

impl Seats {
    /// A seat for `socket`, for as long as the seat lives. With `clock`, the session wants
    /// the keep-alive clock: the second value says that it is not running, and that the
    /// caller must start it (it is marked running already).
    pub(crate) fn take(&self, socket: &Arc<Shared>, clock: bool) -> (Seat<'_>, bool) {
        let mut table = lock(&self.table);
        let entry = Some(Entry {
            socket: Arc::downgrade(socket),
            watch: Watch::default(),
        });
        let index = match table.free.pop() {
            Some(index) => {
                table.taken[index] = entry;
                index
            }
            None => {
                table.taken.push(entry);
                table.taken.len() - 1
            }
        };
        let start = clock && !table.clock;
        table.clock |= clock;
        (Seat { seats: self, index }, start)
    }

    /// The sockets of the open sessions.
    pub(crate) fn sockets(&self) -> Vec<Arc<Shared>> {
        lock(&self.table)
            .taken
            .iter()
            .flatten()
            .filter_map(|entry| entry.socket.upgrade())
            .collect()
    }

    /// Calls `visit` with each open session's socket and watch, under the table's lock
    /// (which comes before any socket's locks). `false` when no seat is taken: the clock
    /// calling it is then marked stopped, and must stop.
    pub(crate) fn visit(&self, mut visit: impl FnMut(&Shared, &mut Watch)) -> bool {
        let mut table = lock(&self.table);
        let mut open = false;
        for entry in table.taken.iter_mut().flatten() {
            open = true;
            if let Some(socket) = entry.socket.upgrade() {
                visit(&socket, &mut entry.watch);
            }
        }
        if !open {
            table.clock = false;
        }
        open
    }

    /// Marks the clock stopped: its task was dropped before it stopped by itself.
    pub(crate) fn clock_dropped(&self) {
        lock(&self.table).clock = false;
    }
}

/// A session's seat; given up when dropped.
pub(crate) struct Seat<'a> {
    seats: &'a Seats,
    index: usize,
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        let mut table = lock(&self.seats.table);
        if let Some(slot) = table.taken.get_mut(self.index) {
            *slot = None;
            table.free.push(self.index);
        }
    }
}
