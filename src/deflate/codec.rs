//! Compressing messages and inflating them (RFC 7692 §7.2), with the pools that lend
//! compressors and decompressors to sockets that keep none between messages.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::config::{DeflateConfig, DeflateParams};
use crate::error::ProtocolError;
use crate::{sync::lock, Error};

/// What a sender's `Z_SYNC_FLUSH` ends with, which the wire leaves out (§7.2.1) and the
/// receiver puts back (§7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The least an inflated message's buffer grows by.
const INFLATE_CHUNK: usize = 16 * 1024;

/// A layer's compressors and decompressors that no socket holds: taken for one message
/// and given back after it, so that an idle socket holds none. A compressor is taken and
/// given back within one call, so there are at most as many as threads that compress at
/// once; a decompressor stays out while a fragmented message arrives.
pub(crate) struct Pools {
    level: Compression,
    /// By window bits, 9 to 15.
    compressors: [Mutex<Vec<Compress>>; 7],
    decompressors: Mutex<Vec<Decompress>>,
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pools")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl Pools {
    pub(crate) fn new(config: &DeflateConfig) -> Self {
        Pools {
            level: Compression::new(config.level),
            compressors: Default::default(),
            decompressors: Mutex::default(),
        }
    }

    fn compressor(&self, bits: u8) -> Compress {
        let pooled = lock(&self.compressors[usize::from(bits - 9)]).pop();
        pooled.unwrap_or_else(|| Compress::new_with_window_bits(self.level, false, bits))
    }

    fn give_compressor(&self, bits: u8, mut compressor: Compress) {
        compressor.reset();
        lock(&self.compressors[usize::from(bits - 9)]).push(compressor);
    }

    fn decompressor(&self) -> Decompress {
        let pooled = lock(&self.decompressors).pop();
        // A 15-bit window reads what any smaller window wrote.
        pooled.unwrap_or_else(|| Decompress::new_with_window_bits(false, 15))
    }

    fn give_decompressor(&self, mut decompressor: Decompress) {
        decompressor.reset(false);
        lock(&self.decompressors).push(decompressor);
    }
}

/// A socket's sending side of the extension.
pub(crate) struct Compressor {
    pools: Arc<Pools>,
    /// The compressor's window. zlib refuses a raw 8-bit window; a 9-bit compressor never
    /// refers further back than 250 bytes (its window less the 262-byte lookahead,
    /// `max_dist` in zlib-rs's deflate.rs), within what an 8-bit window allows.
    bits: u8,
    min_size: usize,
    /// With server context takeover, the socket's own compressor, kept between messages.
    own: Option<Compress>,
    takeover: bool,
}

impl Compressor {
    pub(crate) fn new(params: &DeflateParams, config: &DeflateConfig, pools: Arc<Pools>) -> Self {
        Compressor {
            pools,
            bits: params.server_max_window_bits.max(9),
            min_size: config.min_size,
            own: None,
            takeover: !params.server_no_context_takeover,
        }
    }

    /// The payload compressed, without the flush's tail; `None` when the message goes
    /// better as it is (shorter than the minimum, or no smaller compressed).
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Option<Bytes> {
        if payload.len() < self.min_size {
            return None;
        }
        let mut compressor = match self.own.take() {
            Some(own) => own,
            None => self.pools.compressor(self.bits),
        };
        // An error leaves the compressor in no known state: it is dropped, not kept.
        let compressed = deflate(&mut compressor, payload)?;
        if self.takeover {
            self.own = Some(compressor);
        } else {
            self.pools.give_compressor(self.bits, compressor);
        }
        // With context takeover the message is in the window now: it must go compressed.
        (self.takeover || compressed.len() < payload.len()).then_some(compressed)
    }
}

impl Compressor {
    /// Without server context takeover, the window bits this socket's messages are
    /// compressed with: a message compressed alone with them suits every socket that
    /// returns the same bits, so it can be compressed once for all of them.
    pub(crate) fn shareable_bits(&self) -> Option<u8> {
        (!self.takeover).then_some(self.bits)
    }

    /// The payload compressed alone, for every socket with the same
    /// [`shareable_bits`](Self::shareable_bits); `None` when it goes better as it is.
    pub(crate) fn compress_alone(&self, payload: &[u8]) -> Option<Bytes> {
        alone(&self.pools, self.bits, self.min_size, payload)
    }

    /// What compresses messages alone for every socket with this one's
    /// [`shareable_bits`](Self::shareable_bits), without the socket.
    pub(crate) fn sharer(&self) -> Option<Sharer> {
        Some(Sharer {
            pools: self.pools.clone(),
            bits: self.shareable_bits()?,
            min_size: self.min_size,
        })
    }
}

/// Compresses messages alone for every socket that agreed no server context takeover with
/// the same window bits: what a hub of topics compresses a publication with, once for all
/// of them, before it takes its locks.
#[derive(Clone)]
pub(crate) struct Sharer {
    pools: Arc<Pools>,
    bits: u8,
    min_size: usize,
}

impl Sharer {
    /// One with the default settings, for window bits `bits`.
    #[cfg(test)]
    pub(crate) fn for_tests(bits: u8) -> Sharer {
        let config = DeflateConfig::new();
        Sharer {
            pools: Arc::new(Pools::new(&config)),
            bits,
            min_size: config.min_size,
        }
    }

    /// The window bits of the sockets it compresses for (9 to 15).
    pub(crate) fn bits(&self) -> u8 {
        self.bits
    }

    /// The smallest message it compresses.
    #[cfg(feature = "protocol")]
    pub(crate) fn min_size(&self) -> usize {
        self.min_size
    }

    /// As [`Compressor::compress_alone`].
    pub(crate) fn compress(&self, payload: &[u8]) -> Option<Bytes> {
        alone(&self.pools, self.bits, self.min_size, payload)
    }

    /// `piece` compressed on its own, ending in a sync flush whose tail is kept: pieces
    /// compressed this way and put one after the other, the last with its tail dropped,
    /// are one message compressed (each piece refers only to itself, and each begins on a
    /// byte boundary). `None` if compressing fails.
    #[cfg(any(test, feature = "protocol"))]
    pub(crate) fn compress_piece(&self, piece: &[u8]) -> Option<Bytes> {
        let mut compressor = self.pools.compressor(self.bits);
        let compressed = deflate(&mut compressor, piece)?;
        self.pools.give_compressor(self.bits, compressor);
        let mut whole = Vec::with_capacity(compressed.len() + TAIL.len());
        whole.extend_from_slice(&compressed);
        whole.extend_from_slice(&TAIL);
        Some(Bytes::from(whole))
    }
}

/// `payload` compressed alone with a pooled compressor of `bits`; `None` under `min_size`
/// or when it goes better as it is.
fn alone(pools: &Pools, bits: u8, min_size: usize, payload: &[u8]) -> Option<Bytes> {
    if payload.len() < min_size {
        return None;
    }
    let mut compressor = pools.compressor(bits);
    let compressed = deflate(&mut compressor, payload)?;
    pools.give_compressor(bits, compressor);
    (compressed.len() < payload.len()).then_some(compressed)
}

/// Compresses `input` with a sync flush and drops the flush's tail.
fn deflate(compressor: &mut Compress, input: &[u8]) -> Option<Bytes> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let start = compressor.total_in();
    loop {
        let consumed = (compressor.total_in() - start) as usize;
        compressor
            .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
            .ok()?;
        let all_in = (compressor.total_in() - start) as usize == input.len();
        if all_in && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    Some(Bytes::from(out))
}

/// A socket's receiving side of the extension.
pub(crate) struct Inflater {
    pools: Arc<Pools>,
    /// With client context takeover, the socket's own decompressor, kept between messages.
    own: Option<Decompress>,
    takeover: bool,
    /// The decompressor of the message under way.
    current: Option<Decompress>,
}

impl Inflater {
    pub(crate) fn new(params: &DeflateParams, pools: Arc<Pools>) -> Self {
        Inflater {
            pools,
            own: None,
            takeover: !params.client_no_context_takeover,
            current: None,
        }
    }

    /// Inflates one frame's payload of a compressed message onto `out`, which never grows
    /// past `limit` bytes: a message that would is refused with 1009 with no more than
    /// `limit` bytes allocated. `last` is the message's final frame.
    pub(crate) fn inflate(
        &mut self,
        payload: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), Error> {
        let mut decompressor = match self.current.take() {
            Some(current) => current,
            None => match self.own.take() {
                Some(own) => own,
                None => self.pools.decompressor(),
            },
        };
        // On an error the decompressor is dropped: the socket is being failed.
        inflate(&mut decompressor, payload, out, limit)?;
        if !last {
            self.current = Some(decompressor);
            return Ok(());
        }
        inflate(&mut decompressor, &TAIL, out, limit)?;
        if self.takeover {
            self.own = Some(decompressor);
        } else {
            self.pools.give_decompressor(decompressor);
        }
        Ok(())
    }
}

fn inflate(
    decompressor: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), Error> {
    let too_big = || Error::Protocol(ProtocolError::MessageTooBig);
    let invalid = || Error::Protocol(ProtocolError::InvalidCompressedData);
    loop {
        if out.len() == out.capacity() {
            // Grow by doubling, never past one byte over the limit (a limit of
            // `usize::MAX` has no byte over it).
            let room = out
                .len()
                .max(INFLATE_CHUNK)
                .min(limit.saturating_add(1).saturating_sub(out.len()));
            if room == 0 {
                return Err(too_big());
            }
            out.reserve_exact(room);
        }
        let (before_in, before_out) = (decompressor.total_in(), out.len());
        let status = decompressor
            .decompress_vec(input, out, FlushDecompress::None)
            .map_err(|_| invalid())?;
        if out.len() > limit {
            return Err(too_big());
        }
        let consumed = (decompressor.total_in() - before_in) as usize;
        let produced = out.len() - before_out;
        input = &input[consumed..];
        if status == Status::StreamEnd {
            // A final block (BFINAL) ends the stream: what follows starts a new one.
            decompressor.reset(false);
        }
        if out.len() < out.capacity() {
            if input.is_empty() {
                return Ok(());
            }
            if consumed == 0 && produced == 0 {
                return Err(invalid());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inflates a message's payload as a receiver does: the tail put back, then inflated.
    fn inflate(compressed: &[u8]) -> Vec<u8> {
        let mut input = compressed.to_vec();
        input.extend_from_slice(&TAIL);
        let mut decompressor = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 20);
        decompressor
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    #[test]
    fn pieces_compressed_apart_make_one_message() {
        let pools = Arc::new(Pools::new(&DeflateConfig::new()));
        let sharer = Sharer {
            pools,
            bits: 9,
            min_size: 0,
        };
        let head = br#"{"type":"publication","topic":"t","offset":7,"data":"#;
        let body: Vec<u8> = b"[\"abcabcabc\","
            .iter()
            .chain(&[b'1'; 5000])
            .chain(b"\"]}")
            .copied()
            .collect();
        let mut whole = sharer.compress_piece(head).unwrap().to_vec();
        whole.extend_from_slice(&sharer.compress(&body).unwrap());
        let mut expected = head.to_vec();
        expected.extend_from_slice(&body);
        assert_eq!(inflate(&whole), expected);
        // Alone, each is a message too.
        assert_eq!(inflate(&sharer.compress(&body).unwrap()), body);
    }
}
