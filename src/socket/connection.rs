//! The upgraded connection, split into a read and a write side that share one lock.

use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::{Context, Poll},
    thread::LocalKey,
};

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, ReadBuf};

use super::read::lent::{Pool, Pooled, Reopen};
#[cfg(feature = "deflate")]
use super::read::marks::{FrameMarks, Mark};
#[cfg(feature = "deflate")]
use crate::deflate::{Compressor, Inflater};
use crate::sync::lock;

/// The upgraded connection, as hyper hands it over.
pub(crate) type Io = TokioIo<Upgraded>;

/// What both sides hold: the connection, and how many bytes it has handed to the reader.
/// One allocation per socket for both.
struct Connection<T> {
    io: Mutex<T>,
    /// Bytes read from the connection so far. With the bytes of the frames the engine
    /// returned, it tells whether more input is already buffered.
    delivered: AtomicU64,
    /// With compression agreed: its state for both sides. Boxed: most sockets have none,
    /// and it keeps the reader and the writer, which every socket has, as small as without.
    #[cfg(feature = "deflate")]
    deflate: Option<Box<Deflate>>,
}

/// A socket's compression state, each part under the lock of the side that uses it.
#[cfg(feature = "deflate")]
struct Deflate {
    /// The filter that takes RSV1 off each frame before the engine sees it.
    marks: Mutex<FrameMarks>,
    inflater: Mutex<Inflater>,
    compressor: Mutex<Compressor>,
}

/// Splits the connection into its read side and its write side.
pub(crate) fn split<T>(io: T) -> (ReadIo<T>, WriteIo<T>) {
    share(Connection {
        io: Mutex::new(io),
        delivered: AtomicU64::new(0),
        #[cfg(feature = "deflate")]
        deflate: None,
    })
}

/// [`split`], with compression agreed: frames may carry RSV1.
#[cfg(feature = "deflate")]
pub(crate) fn split_compressed<T>(
    io: T,
    compressor: Compressor,
    inflater: Inflater,
) -> (ReadIo<T>, WriteIo<T>) {
    share(Connection {
        io: Mutex::new(io),
        delivered: AtomicU64::new(0),
        deflate: Some(Box::new(Deflate {
            marks: Mutex::default(),
            inflater: Mutex::new(inflater),
            compressor: Mutex::new(compressor),
        })),
    })
}

/// Both sides of one connection.
fn share<T>(connection: Connection<T>) -> (ReadIo<T>, WriteIo<T>) {
    let connection = Arc::new(connection);
    (ReadIo(connection.clone()), WriteIo(connection))
}

/// The read side; it counts the bytes it reads.
pub(crate) struct ReadIo<T>(Arc<Connection<T>>);

impl<T> Reopen for ReadIo<T> {
    fn reopen(&self) -> Self {
        ReadIo(self.0.clone())
    }
}

#[cfg(feature = "deflate")]
impl<T> Reopen for MarkingIo<T> {
    // The marks' state is the connection's: a second handle goes on where the first was.
    fn reopen(&self) -> Self {
        MarkingIo(self.0.reopen())
    }
}

impl Pooled for ReadIo<Io> {
    fn pool() -> &'static LocalKey<Pool<Self>> {
        thread_local! {
            static POOL: Pool<ReadIo<Io>> = const { Pool::new() };
        }
        &POOL
    }
}

#[cfg(feature = "deflate")]
impl Pooled for MarkingIo<Io> {
    fn pool() -> &'static LocalKey<Pool<Self>> {
        thread_local! {
            static POOL: Pool<MarkingIo<Io>> = const { Pool::new() };
        }
        &POOL
    }
}

impl<T> ReadIo<T> {
    /// A handle on what the read side learns as it reads, for the side that consumes it.
    pub(crate) fn progress(&self) -> ReadProgress<T> {
        ReadProgress(self.0.clone())
    }
}

/// What the read side learns as it reads: how many bytes it has read, and (with
/// compression) each frame's marks.
pub(crate) struct ReadProgress<T>(Arc<Connection<T>>);

// By hand: a derived `Clone` would ask `T: Clone`, and only the `Arc` is cloned.
impl<T> Clone for ReadProgress<T> {
    fn clone(&self) -> Self {
        ReadProgress(self.0.clone())
    }
}

impl<T> ReadProgress<T> {
    /// The bytes read from the connection so far.
    pub(crate) fn delivered(&self) -> u64 {
        self.0.delivered.load(Ordering::Relaxed)
    }

    /// Whether compression was agreed.
    #[cfg(feature = "deflate")]
    pub(crate) fn compressed(&self) -> bool {
        self.0.deflate.is_some()
    }

    /// With compression agreed, the marks of the next frame the engine returns.
    #[cfg(feature = "deflate")]
    pub(crate) fn next_mark(&self) -> Option<Mark> {
        lock(&self.0.deflate.as_deref()?.marks).next()
    }

    /// With compression agreed, the socket's inflater.
    #[cfg(feature = "deflate")]
    pub(crate) fn inflater(&self) -> Option<MutexGuard<'_, Inflater>> {
        Some(lock(&self.0.deflate.as_deref()?.inflater))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadIo<T> {
    // Inlined into the engine's read: called once or twice per message.
    #[inline(always)]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *lock(&self.0.io)).poll_read(cx, buf);
        if polled.is_ready() {
            // Only this side adds to the count, under the lock: no read-modify-write needed.
            let read = (buf.filled().len() - before) as u64;
            let delivered = &self.0.delivered;
            delivered.store(delivered.load(Ordering::Relaxed) + read, Ordering::Relaxed);
        }
        polled
    }
}

/// The read side with the compression filter: what it reads passes through the frame
/// marks before the engine sees it. A type of its own, so that sockets without
/// compression read through plain [`ReadIo`], with no check for it.
#[cfg(feature = "deflate")]
pub(crate) struct MarkingIo<T>(pub(crate) ReadIo<T>);

#[cfg(feature = "deflate")]
impl<T: AsyncRead + Unpin> AsyncRead for MarkingIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if let Some(deflate) = self.0 .0.deflate.as_deref() {
            lock(&deflate.marks).filter(&mut buf.filled_mut()[before..]);
        }
        polled
    }
}

/// The write side: it writes through [`lock`](Self::lock), several writes and their flush
/// (or the shutdown) under one lock.
pub(crate) struct WriteIo<T>(Arc<Connection<T>>);

impl<T> WriteIo<T> {
    /// The connection itself.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        lock(&self.0.io)
    }

    /// With compression agreed, the socket's compressor.
    #[cfg(feature = "deflate")]
    pub(crate) fn compressor(&self) -> Option<MutexGuard<'_, Compressor>> {
        Some(lock(&self.0.deflate.as_deref()?.compressor))
    }
}
