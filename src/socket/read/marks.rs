//! The compression filter under the engine's reads: it takes RSV1 off each frame before
//! fastwebsockets sees it (the engine refuses any reserved bit) and notes it for the
//! reader, frame by frame, in the order the engine will return the frames.

use std::collections::VecDeque;

/// What the filter noted of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    /// RSV1 was set: a compressed message starts here (or the peer broke the rules).
    pub(crate) compressed: bool,
    /// The frame came as text. A compressed text frame is handed to the engine as binary,
    /// so that it does not check the UTF-8 of compressed bytes.
    pub(crate) text: bool,
}

/// Where in the byte stream the filter is.
#[derive(Debug, Clone, Copy)]
enum Scan {
    /// At the first byte of a frame.
    Start,
    /// Inside a header: how many of its bytes were seen, how many it has and how many of
    /// them give the extended length (both known from its second byte on), and the
    /// payload length read so far.
    Header {
        seen: u8,
        size: u8,
        extended: u8,
        len: u64,
    },
    /// Inside a payload, with this many bytes left.
    Payload { left: u64 },
}

/// The filter's state. Its marks are as many as the frames whose headers have been read
/// and not yet returned by the engine: bounded by what the engine buffers.
#[derive(Debug)]
pub(crate) struct FrameMarks {
    scan: Scan,
    marks: VecDeque<Mark>,
}

impl Default for FrameMarks {
    fn default() -> Self {
        FrameMarks {
            scan: Scan::Start,
            marks: VecDeque::new(),
        }
    }
}

impl FrameMarks {
    /// The mark of the oldest frame not yet returned.
    pub(crate) fn next(&mut self) -> Option<Mark> {
        self.marks.pop_front()
    }

    /// Rewrites the bytes just read, which continue those read before.
    pub(crate) fn filter(&mut self, bytes: &mut [u8]) {
        let mut at = 0;
        while at < bytes.len() {
            match &mut self.scan {
                Scan::Payload { left } => {
                    let skip = (*left).min((bytes.len() - at) as u64);
                    at += skip as usize;
                    *left -= skip;
                    if *left == 0 {
                        self.scan = Scan::Start;
                    }
                }
                Scan::Start => {
                    let first = &mut bytes[at];
                    let compressed = *first & 0x40 != 0;
                    let text = *first & 0x0f == 0x1;
                    if compressed {
                        *first &= !0x40;
                        if text {
                            *first = (*first & 0xf0) | 0x2;
                        }
                    }
                    self.marks.push_back(Mark { compressed, text });
                    self.scan = Scan::Header {
                        seen: 1,
                        size: 2,
                        extended: 0,
                        len: 0,
                    };
                    at += 1;
                }
                Scan::Header {
                    seen,
                    size,
                    extended,
                    len,
                } => {
                    let byte = bytes[at];
                    at += 1;
                    if *seen == 1 {
                        let code = byte & 0x7f;
                        *extended = match code {
                            126 => 2,
                            127 => 8,
                            _ => 0,
                        };
                        let mask = if byte & 0x80 != 0 { 4 } else { 0 };
                        *size = 2 + *extended + mask;
                        *len = if *extended == 0 { u64::from(code) } else { 0 };
                    } else if *seen < 2 + *extended {
                        *len = (*len << 8) | u64::from(byte);
                    }
                    *seen += 1;
                    if *seen == *size {
                        self.scan = match *len {
                            0 => Scan::Start,
                            left => Scan::Payload { left },
                        };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn frame(first: u8, len: usize) -> Vec<u8> {
        let mut bytes = vec![first];
        match len {
            0..=125 => bytes.push(0x80 | len as u8),
            126..=0xffff => {
                bytes.push(0x80 | 126);
                bytes.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                bytes.push(0x80 | 127);
                bytes.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        bytes.extend(std::iter::repeat_n(0x41, len));
        bytes
    }

    #[test]
    fn marks_every_frame_and_clears_rsv1_in_any_split() {
        let frames = [
            (0xc1, 10),    // compressed text, final
            (0x42, 300),   // compressed binary, first fragment
            (0x89, 0),     // ping
            (0x80, 70000), // continuation, final
            (0x81, 5),     // plain text
            (0xc9, 1),     // ping with RSV1: noted, for the reader to refuse
        ];
        let stream: Vec<u8> = frames.iter().flat_map(|&(b, len)| frame(b, len)).collect();
        for chunk in [1, 2, 3, 7, 100, 4096, stream.len()] {
            let mut bytes = stream.clone();
            let mut marks = FrameMarks::default();
            for piece in bytes.chunks_mut(chunk) {
                marks.filter(piece);
            }
            let got: Vec<Mark> = std::iter::from_fn(|| marks.next()).collect();
            let expected = [
                (true, true),
                (true, false),
                (false, false),
                (false, false),
                (false, true),
                (true, false),
            ]
            .map(|(compressed, text)| Mark { compressed, text });
            assert_eq!(got, expected, "chunks of {chunk}");
            // RSV1 is gone, and compressed text became binary; nothing else changed.
            let mut at = 0;
            for (&(first, len), rewritten) in
                frames.iter().zip([0x82, 0x02, 0x89, 0x80, 0x81, 0x89])
            {
                assert_eq!(bytes[at], rewritten, "chunks of {chunk}");
                let original = frame(first, len);
                assert_eq!(&bytes[at + 1..at + original.len()], &original[1..]);
                at += original.len();
            }
        }
    }
}
