//! Engines that outlive their socket's burst: the engine reads through a [`Lent`] end of the
//! connection, given it while the socket has input and taken back when the socket parks
//! the engine, which then waits in a pool of its thread for the next socket to wake there.
//!
//! Making an engine costs its 8 KiB buffer (a `malloc` and a `free` past the allocator's
//! thread cache), about 1,000 instructions: as much as the rest of a small message's
//! receive. A parked engine costs the next socket a lock and a pop.
//!
//! An engine goes back to the pool only when every byte handed to it came back in a frame
//! (see `EngineFrames::park`), so a pooled engine's buffer is always empty: what one client
//! sent never reaches another.

use std::{
    cell::RefCell,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    thread::LocalKey,
};

use bytes::{Buf, BytesMut};
use fastwebsockets::WebSocketRead;
use tokio::io::{AsyncRead, ReadBuf};

use super::scratch::{take_rest, take_scratch};
use crate::sync::lock;

/// A read side that opens again on the same connection: the engine reads through a second
/// handle, and the socket keeps the first for when the engine is parked.
pub(crate) trait Reopen {
    fn reopen(&self) -> Self;
}

/// A kind of connection whose parked engines wait in a pool per thread.
pub(crate) trait Pooled: AsyncRead + Reopen + Unpin + Send + Sized + 'static {
    /// This thread's pool of parked engines for connections of this kind.
    fn pool() -> &'static LocalKey<Pool<Self>>;
}

/// At most this many parked engines wait in a thread's pool, for each kind of connection:
/// 8 KiB each.
const POOL_SIZE: usize = 16;

/// A thread's parked engines, for connections of type `R`.
pub(crate) struct Pool<R: 'static>(RefCell<Vec<Parked<R>>>);

impl<R> Pool<R> {
    pub(crate) const fn new() -> Self {
        Pool(RefCell::new(Vec::new()))
    }

    /// How many engines wait in it.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

/// The engine over a lent end of a connection.
pub(super) type Engine<R> = WebSocketRead<Lent<R>>;

/// An engine, and a handle on the end of the connection it reads through.
pub(super) struct Parked<R> {
    pub(super) engine: Box<Engine<R>>,
    pub(super) lent: Lent<R>,
}

/// A parked engine from this thread's pool, or a new one.
pub(super) fn take<R: Pooled>() -> Parked<R> {
    R::pool()
        .try_with(|pool| pool.0.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(new)
}

/// Parks `parked` in this thread's pool; drops it when the pool is full. Only for an engine
/// whose buffer is empty.
pub(super) fn park<R: Pooled>(parked: Parked<R>) {
    let mut parked = Some(parked);
    let _ = R::pool().try_with(|pool| {
        let mut pool = pool.0.borrow_mut();
        if pool.len() < POOL_SIZE {
            pool.extend(parked.take());
        }
    });
    // Dropped here, outside the pool's borrow, when the pool was full.
    drop(parked);
}

/// A new engine, set up for our socket, with nothing lent to it yet.
fn new<R: Pooled>() -> Parked<R> {
    let lent = Lent(Arc::new(Mutex::new(Lending {
        io: None,
        scratch: None,
        rest: BytesMut::new(),
        handed: 0,
    })));
    let (mut engine, _) = fastwebsockets::after_handshake_split(
        lent.clone(),
        tokio::io::empty(),
        fastwebsockets::Role::Server,
    );
    // Pings and closes are answered by our socket, which owns the write side.
    engine.set_auto_pong(false);
    engine.set_auto_close(false);
    Parked {
        engine: Box::new(engine),
        lent,
    }
}

/// The engine's end of a connection: empty while parked.
pub(super) struct Lent<R>(Arc<Mutex<Lending<R>>>);

impl<R> Clone for Lent<R> {
    fn clone(&self) -> Self {
        Lent(self.0.clone())
    }
}

/// What a lent end reads from, in this order: the rest of the scratch read the socket
/// woke with, that scratch read, the connection.
pub(super) struct Lending<R> {
    io: Option<R>,
    /// The scratch read the engine was taken up for, until it has taken it all.
    scratch: Option<u64>,
    /// What the engine had no room for of that scratch read, moved out of the scratch
    /// buffer before the socket's poll ended (see [`Lent::keep_rest`]). Empty mostly: a new
    /// engine has room for a whole scratch read.
    rest: BytesMut,
    /// The bytes handed to the engine since it was lent this connection.
    handed: u64,
}

impl<R> Lent<R> {
    /// Lends the engine `io`, to read after the scratch read `serial`.
    pub(super) fn lend(&self, io: R, serial: u64) {
        let mut lending = lock(&self.0);
        lending.io = Some(io);
        lending.scratch = Some(serial);
        lending.handed = 0;
    }

    /// Moves what the engine has not taken of its scratch read out of the scratch buffer,
    /// for it to read next. Called before the poll that took the engine up ends: another
    /// socket of the thread may read into the scratch buffer after it.
    pub(super) fn keep_rest(&self) {
        let mut lending = lock(&self.0);
        let Some(serial) = lending.scratch else {
            return;
        };
        // Were the bytes read over, the scratch read stays: the engine's next read fails.
        if let Ok(rest) = take_rest(serial) {
            lending.scratch = None;
            lending.rest = rest.unwrap_or_default();
        }
    }

    /// Takes the connection back: the bytes handed to the engine since it was lent.
    pub(super) fn release(&self) -> u64 {
        let mut lending = lock(&self.0);
        lending.io = None;
        lending.scratch = None;
        lending.rest = BytesMut::new();
        lending.handed
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Lent<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut lending = lock(&self.0);
        let lending = &mut *lending;
        let before = buf.filled().len();
        let polled = if !lending.rest.is_empty() {
            let n = lending.rest.len().min(buf.remaining());
            buf.put_slice(&lending.rest[..n]);
            lending.rest.advance(n);
            Poll::Ready(Ok(()))
        } else if let Some(serial) = lending.scratch {
            match take_scratch(serial, buf) {
                Ok(all) => {
                    if all {
                        lending.scratch = None;
                    }
                    Poll::Ready(Ok(()))
                }
                Err(e) => Poll::Ready(Err(e)),
            }
        } else {
            match lending.io.as_mut() {
                Some(io) => Pin::new(io).poll_read(cx, buf),
                None => Poll::Ready(Err(io::Error::other("an engine read with nothing lent"))),
            }
        };
        lending.handed += (buf.filled().len() - before) as u64;
        polled
    }
}
