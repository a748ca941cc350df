//! This thread's scratch buffer: what a socket without an engine reads into while it waits
//! for its client, one buffer per thread as uWebSockets has one per event loop. The engine
//! the socket then takes up reads those bytes first.

use std::{
    cell::RefCell,
    io,
    pin::Pin,
    task::{ready, Context, Poll},
};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};

/// The most a socket without an engine reads at once: what an engine's buffer takes in one
/// read when new (fastwebsockets starts it at 8 KiB).
pub(super) const FIRST_READ: usize = 8192;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        bytes: vec![0; FIRST_READ].into_boxed_slice(),
        start: 0,
        end: 0,
        serial: 0,
    });
}

/// The bytes read by the last socket that woke without an engine: `start..end` are not
/// taken yet.
struct Scratch {
    bytes: Box<[u8]>,
    start: usize,
    end: usize,
    /// Counts the reads into it: an engine takes only the read it was made for.
    serial: u64,
}

/// Reads from `io` into this thread's scratch buffer: the read's serial, or `None` at the
/// end of the connection.
pub(super) fn read_into_scratch<R: AsyncRead + Unpin>(
    io: &mut R,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Option<u64>>> {
    SCRATCH.with_borrow_mut(|scratch| {
        let mut buf = ReadBuf::new(&mut scratch.bytes);
        ready!(Pin::new(io).poll_read(cx, &mut buf))?;
        let len = buf.filled().len();
        scratch.start = 0;
        scratch.end = len;
        scratch.serial = scratch.serial.wrapping_add(1);
        Poll::Ready(Ok((len > 0).then_some(scratch.serial)))
    })
}

/// Copies into `buf` as much of the scratch read `serial` as it has room for: `true` once
/// all of it is taken. An error when another read took the buffer since, or when it is all
/// taken already: the socket fails rather than read bytes that are not its own, or none.
pub(super) fn take_scratch(serial: u64, buf: &mut ReadBuf<'_>) -> io::Result<bool> {
    SCRATCH.with_borrow_mut(|scratch| {
        let n = (scratch.end - scratch.start).min(buf.remaining());
        if scratch.serial != serial || n == 0 {
            return Err(lost());
        }
        buf.put_slice(&scratch.bytes[scratch.start..scratch.start + n]);
        scratch.start += n;
        Ok(scratch.start == scratch.end)
    })
}

/// What is left of the scratch read `serial`, moved out of the scratch buffer so that other
/// sockets may read into it: `None` when all of it was taken. An error when another read
/// took the buffer since.
pub(super) fn take_rest(serial: u64) -> io::Result<Option<BytesMut>> {
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.serial != serial {
            return Err(lost());
        }
        let rest = &scratch.bytes[scratch.start..scratch.end];
        scratch.start = scratch.end;
        Ok((!rest.is_empty()).then(|| BytesMut::from(rest)))
    })
}

fn lost() -> io::Error {
    io::Error::other("a socket's first bytes were lost")
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        pin::Pin,
        task::{Context, Poll},
    };

    use tokio::io::{AsyncRead, ReadBuf};

    use super::{read_into_scratch, take_rest, take_scratch};

    /// A connection with all its bytes ready for one read.
    struct Ready(Vec<u8>);

    impl AsyncRead for Ready {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.0.len().min(buf.remaining());
            buf.put_slice(&self.0[..n]);
            self.0.drain(..n);
            Poll::Ready(Ok(()))
        }
    }

    fn read(io: &mut Ready) -> u64 {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match read_into_scratch(io, &mut cx) {
            Poll::Ready(Ok(Some(serial))) => serial,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_engine_takes_only_the_scratch_read_it_was_made_for() {
        let old = read(&mut Ready(b"first".to_vec()));
        let own = read(&mut Ready(b"second".to_vec()));
        let mut space = [0u8; 64];
        let mut buf = ReadBuf::new(&mut space);
        assert!(
            take_scratch(old, &mut buf).is_err(),
            "read over by another socket"
        );
        assert!(take_rest(old).is_err(), "read over by another socket");
        assert!(buf.filled().is_empty());
        // Its own read, and only once.
        assert!(take_scratch(own, &mut buf).unwrap());
        assert_eq!(buf.filled(), b"second");
        assert!(take_scratch(own, &mut buf).is_err(), "taken twice");
        assert_eq!(take_rest(own).unwrap(), None);
    }

    #[test]
    fn a_small_buffer_takes_part_and_the_rest_moves_out() {
        let own = read(&mut Ready(b"0123456789".to_vec()));
        let mut space = [0u8; 4];
        let mut buf = ReadBuf::new(&mut space);
        assert!(
            !take_scratch(own, &mut buf).unwrap(),
            "all taken, in 4 bytes"
        );
        assert_eq!(buf.filled(), b"0123");
        assert_eq!(&take_rest(own).unwrap().unwrap()[..], b"456789");
        // Moved out: nothing is left to take, and the buffer is free for another read.
        assert_eq!(take_rest(own).unwrap(), None);
        let next = read(&mut Ready(b"next".to_vec()));
        assert!(take_rest(own).is_err());
        assert_eq!(&take_rest(next).unwrap().unwrap()[..], b"next");
    }
}
