//! The upgraded connection, split into a read and a write side that share one lock.

use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::{Context, Poll},
};

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, ReadBuf};

#[cfg(feature = "deflate")]
use super::marks::{FrameMarks, Mark};
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
    /// With compression agreed: the filter that takes RSV1 off each frame before the
    /// engine sees it. Boxed: most sockets have none.
    #[cfg(feature = "deflate")]
    marks: Option<Box<Mutex<FrameMarks>>>,
}

/// Splits the connection into its read side and its write side; `compressed`: whether
/// compression was agreed, so that frames may carry RSV1.
pub(crate) fn split<T>(io: T, compressed: bool) -> (ReadIo<T>, WriteIo<T>) {
    #[cfg(not(feature = "deflate"))]
    let _ = compressed;
    let connection = Arc::new(Connection {
        io: Mutex::new(io),
        delivered: AtomicU64::new(0),
        #[cfg(feature = "deflate")]
        marks: compressed.then(Box::default),
    });
    (ReadIo(connection.clone()), WriteIo(connection))
}

/// The read side; it counts the bytes it reads.
pub(crate) struct ReadIo<T>(Arc<Connection<T>>);

impl<T> ReadIo<T> {
    /// A handle on what the read side learns as it reads, for the side that consumes it.
    pub(crate) fn tap(&self) -> Tap<T> {
        Tap(self.0.clone())
    }
}

/// What the read side learns as it reads: how many bytes it has read, and (with
/// compression) each frame's marks.
pub(crate) struct Tap<T>(Arc<Connection<T>>);

impl<T> Tap<T> {
    /// The bytes read from the connection so far.
    pub(crate) fn delivered(&self) -> u64 {
        self.0.delivered.load(Ordering::Relaxed)
    }

    /// With compression agreed, the marks of the next frame the engine returns.
    #[cfg(feature = "deflate")]
    pub(crate) fn next_mark(&self) -> Option<Mark> {
        lock(self.0.marks.as_deref()?).next()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *lock(&self.0.io)).poll_read(cx, buf);
        if polled.is_ready() {
            #[cfg(feature = "deflate")]
            if let Some(marks) = self.0.marks.as_deref() {
                lock(marks).filter(&mut buf.filled_mut()[before..]);
            }
            // Only this side adds to the count, under the lock: no read-modify-write needed.
            let read = (buf.filled().len() - before) as u64;
            let delivered = &self.0.delivered;
            delivered.store(delivered.load(Ordering::Relaxed) + read, Ordering::Relaxed);
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
}
