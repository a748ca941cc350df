//! [`Shared`]: one socket's state, shared by its halves, its session and the hubs it
//! joined: a read side and a write side, each under its own lock, and its memberships.
//!
//! The socket module's files:
//!
//! - `shared` (this file): one socket's state, a `ReadSide` and a `WriteSide` under
//!   their own locks, and the groups it joined (`membership`).
//! - `read/`: the read path. The one receive loop, for whole messages and for parts; the
//!   engine adapter over fastwebsockets, the compression marks, the reader that checks and
//!   reassembles frames, and the payload checks.
//! - `write/`: the write path. Sending, gathering and flushing; the writer, its frame
//!   encoding, its queue and the tasks waiting on it.
//! - `connection`: the upgraded connection, split between the two paths.
//! - `mod.rs` ([`WebSocket`](super::WebSocket)), `halves`, `sender`, `methods` and
//!   `state`: the public socket API. `methods` writes once what the socket and its halves
//!   share; `sender` sends from other tasks; `config` is what a socket reads of the
//!   layer's settings.
//!
//! # Locks
//!
//! A socket's state is behind several mutexes, so that a task receiving and a task
//! sending (after `split`), the session and publishers do not wait for each other. They
//! are only ever taken in this order, never the other way, and none is held across an
//! `await`:
//!
//! 1. a hub's registry (`topics`), taken before any socket's locks: subscribing then
//!    takes the socket's `memberships`, publishing its writer (`WriteSide::offer`). A
//!    socket leaving its groups releases `memberships` before it takes a registry. Also
//!    first: the layer's table of seats (`session::seats`), which the keep-alive clock
//!    holds while it counts each socket's frames (its reader) and queues its ping (its
//!    writer); no socket lock is held while a seat is taken or given up.
//! 2. The read side's reader (`ReadSide::lock`): a receive holds it throughout, and takes
//!    the writer under it to answer a ping or a close, or to fail the socket.
//!    `Shared::state`, `snapshot` and `abort` take both in this order too.
//! 3. The write side's writer (`WriteSide::lock`): every send, flush and close.
//! 4. The engine's end of the connection (`read::lent`), taken by the engine's reads under
//!    the reader; it reads the connection under it, taking the lock below.
//! 5. The innermost locks, under any of the above and never holding anything themselves:
//!    the connection's I/O (`connection`, taken by the socket's own reads under the reader
//!    or the engine's end, and by writes under the writer), the compression marks,
//!    inflater and compressor, the pools of `deflate`, and the writer's set of waiting
//!    tasks (`wakers`).
//!
//! # Gathering and flushing
//!
//! A socket whose client has sent several messages at once answers them all with one
//! write. Three marks make that work:
//!
//! - `WriteSide::input_waiting` (relaxed): set by each receive that returns, when the
//!   engine already holds (part of) the client's next frame; cleared when a receive is
//!   about to wait for input. Only a hint: a wrong value delays a write at most until the
//!   next mark below is seen.
//! - `WriteSide::deferred` (release when set, acquire when taken): a send made while input
//!   was waiting (and under 64 KiB queued) left its frame in the queue, or the session
//!   queued a ping or close, or a publish queued a message. Whoever takes it writes the queue:
//!   the receive, just before it waits for input; the session, each time its handler goes
//!   idle. So nothing gathered outlives the moment the socket would wait.
//! - `Reader::owes_flush` (under the reader's lock): the pongs or close this side queued
//!   while receiving are not all written yet; the next receive writes on before reading.

use std::{
    sync::{Arc, Mutex, Weak},
    task::Waker,
};

use super::traffic::Traffic;
use super::{
    config::SocketConfig,
    connection::{self, Io},
    membership::{Group, Memberships},
    read::{ReadSide, Reader},
    state::{Snapshot, WebSocketState},
    write::WriteSide,
};
#[cfg(feature = "deflate")]
use crate::deflate::{Compressor, Inflater};
use crate::{error::SessionError, sync::lock, CloseCode, CloseFrame};

/// One socket's state. Reads and writes each take their own lock, so that a task
/// receiving and a task sending (after `split`) do not wait for each other.
pub(crate) struct Shared {
    pub(crate) read: ReadSide,
    pub(crate) write: WriteSide,
    memberships: Mutex<Memberships>,
}

impl Shared {
    /// A socket over `io`, for the session whose task `session` wakes; `deflate`, with
    /// compression agreed: its two halves.
    pub(crate) fn new(
        io: Io,
        config: &SocketConfig,
        session: Waker,
        #[cfg(feature = "deflate")] deflate: Option<(Compressor, Inflater)>,
    ) -> Arc<Self> {
        #[cfg(feature = "deflate")]
        let (read, write) = match deflate {
            Some((compressor, inflater)) => connection::split_compressed(io, compressor, inflater),
            None => connection::split(io),
        };
        #[cfg(not(feature = "deflate"))]
        let (read, write) = connection::split(io);
        Arc::new(Shared {
            read: ReadSide::new(Reader::new(
                read,
                config.max_message_size,
                config.max_frame_size.unwrap_or(config.max_message_size),
                config.reassembly_capacity,
            )),
            write: WriteSide::new(write, config.send_timeout, session),
            memberships: Mutex::default(),
        })
    }

    /// What tells this socket from every other one alive: the address of its state.
    pub(crate) fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Records that this socket joined `group`; `false` once its session has ended (the
    /// group must not take it in then: nobody would tell it to let go).
    pub(crate) fn join(&self, group: Weak<dyn Group>) -> bool {
        lock(&self.memberships).join(group)
    }

    /// Leaves every group joined; called when the session ends, and again (doing nothing)
    /// if its task is dropped.
    pub(crate) fn leave_groups(&self) {
        let groups = lock(&self.memberships).end();
        for group in groups.iter().filter_map(Weak::upgrade) {
            group.leave(self.key());
        }
    }

    /// Where the close handshake stands.
    pub(super) fn state(&self) -> WebSocketState {
        let reader = self.read.lock();
        let writer = self.write.lock();
        let sent = writer.close_sent().is_some();
        if reader.finished() && (sent || writer.failed()) {
            return WebSocketState::Closed;
        }
        if sent || reader.close_received().is_some() {
            return WebSocketState::Closing;
        }
        WebSocketState::Open
    }

    /// The peer's close frame, once received; one without a code reads as 1005.
    pub(super) fn peer_close(&self) -> Option<CloseFrame> {
        let received = self.read.lock().close_received()?;
        Some(received.unwrap_or_else(|| CloseFrame::new(CloseCode::NO_STATUS, "")))
    }

    /// What the session driver reads when the handler is done.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let reader = self.read.lock();
        let writer = self.write.lock();
        Snapshot {
            closed_by: self.write.closed_by(),
            close_sent: writer.close_sent().cloned(),
            close_received: reader.close_received(),
            read_error: reader.error(),
            received: Traffic {
                messages: reader.messages,
                bytes: reader.bytes,
            },
            sent: Traffic {
                messages: writer.messages,
                bytes: writer.bytes,
            },
        }
    }

    /// Drops the connection now, without a close handshake: reading ends with `error` and
    /// both halves of the connection are released, whoever still holds the socket.
    pub(crate) fn abort(&self, error: SessionError) {
        let mut reader = self.read.lock();
        if !reader.finished() {
            reader.finish_with_error(error);
        }
        drop(reader);
        self.write.lock().abort();
    }
}
