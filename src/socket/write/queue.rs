//! [`Queue`]: encoded bytes waiting for the connection, written out with vectored writes.

use std::{
    collections::VecDeque,
    io::{self, IoSlice},
    pin::Pin,
    task::{ready, Context, Poll},
};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWrite;

/// Payloads up to this size are copied next to their header; larger ones are queued as they
/// are and written with the header in one vectored write, without a copy.
const INLINE_PAYLOAD: usize = 1024;

/// How many queued chunks one vectored write takes at most: published frames are queued
/// one chunk each, so a member that fell behind catches up in few system calls.
const MAX_IOVECS: usize = 64;

/// Chunks up to this many take a short array of slices.
const FEW_IOVECS: usize = 4;

/// A queue that grew past this many chunks (a member that fell behind) gives its room back
/// once it is empty.
const KEPT_CHUNKS: usize = 64;

/// Encoded frames in order: small ones gathered in one buffer, large payloads and frames
/// shared with other sockets as chunks of their own.
#[derive(Default)]
pub(super) struct Queue {
    /// Encoded bytes after everything in `chunks`.
    staging: BytesMut,
    /// Chunks waiting for the connection, oldest first.
    chunks: VecDeque<Bytes>,
    /// Bytes in both.
    len: usize,
}

impl Queue {
    /// Bytes queued.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Queues a frame's header and its payload: copied together when the payload is small.
    #[inline]
    pub(super) fn push(&mut self, head: &[u8], payload: Bytes) {
        self.len += head.len() + payload.len();
        self.staging.extend_from_slice(head);
        if payload.len() <= INLINE_PAYLOAD {
            self.staging.extend_from_slice(&payload);
        } else {
            self.chunks.push_back(self.staging.split().freeze());
            self.chunks.push_back(payload);
        }
    }

    /// Queues a whole encoded frame as a chunk of its own, without a copy.
    pub(super) fn push_encoded(&mut self, frame: Bytes) {
        self.len += frame.len();
        if !self.staging.is_empty() {
            self.chunks.push_back(self.staging.split().freeze());
        }
        self.chunks.push_back(frame);
    }

    /// Lets the buffer for small frames go if nothing waits in it, so that a socket that
    /// falls idle after a burst holds none.
    #[cfg(feature = "protocol")]
    pub(super) fn release_staging(&mut self) {
        if self.staging.is_empty() {
            self.staging = BytesMut::new();
        }
    }

    /// Drops everything queued.
    pub(super) fn clear(&mut self) {
        self.chunks = VecDeque::new();
        self.staging.clear();
        self.len = 0;
    }

    /// Writes everything queued to `io`: ready once all of it is written.
    #[inline]
    pub(super) fn poll_write<T: AsyncWrite + Unpin>(
        &mut self,
        mut io: Pin<&mut T>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let Queue {
            staging,
            chunks,
            len,
        } = self;
        // Small frames only: write straight from the staging buffer.
        while chunks.is_empty() && !staging.is_empty() {
            let n = written(ready!(io.as_mut().poll_write(cx, staging)))?;
            if n == staging.len() {
                // All of it: keep the buffer, with its capacity, for the next frames.
                staging.clear();
            } else {
                staging.advance(n);
            }
            *len -= n;
        }
        if !staging.is_empty() {
            chunks.push_back(staging.split().freeze());
        }
        while !chunks.is_empty() {
            // Most writes are a header and its payload: a short array to fill for those.
            let n = if chunks.len() <= FEW_IOVECS {
                ready!(write_vectored::<FEW_IOVECS, T>(io.as_mut(), cx, chunks))?
            } else {
                ready!(write_vectored::<MAX_IOVECS, T>(io.as_mut(), cx, chunks))?
            };
            advance(chunks, len, n);
        }
        if chunks.capacity() > KEPT_CHUNKS {
            *chunks = VecDeque::new();
        }
        debug_assert!(*len == 0 && staging.is_empty());
        Poll::Ready(Ok(()))
    }
}

/// One vectored write of the first `N` chunks at most.
#[inline(always)]
fn write_vectored<const N: usize, T: AsyncWrite + Unpin>(
    io: Pin<&mut T>,
    cx: &mut Context<'_>,
    chunks: &VecDeque<Bytes>,
) -> Poll<io::Result<usize>> {
    let mut slices = [IoSlice::new(&[]); N];
    let count = chunks.len().min(N);
    for (slice, chunk) in slices.iter_mut().zip(chunks.iter()) {
        *slice = IoSlice::new(chunk);
    }
    io.poll_write_vectored(cx, &slices[..count]).map(written)
}

/// The bytes a write took; taking none is an error.
fn written(result: io::Result<usize>) -> io::Result<usize> {
    match result {
        Ok(0) => Err(io::ErrorKind::WriteZero.into()),
        other => other,
    }
}

/// Drops `n` written bytes from the front of the queue.
fn advance(chunks: &mut VecDeque<Bytes>, len: &mut usize, mut n: usize) {
    *len -= n;
    while n > 0 {
        let Some(front) = chunks.front_mut() else {
            break;
        };
        if n >= front.len() {
            n -= front.len();
            chunks.pop_front();
        } else {
            front.advance(n);
            n = 0;
        }
    }
}
