//! A walk through a raw deflate stream (RFC 1951) that decodes its codes without keeping
//! the output, to find the largest back-reference distance: what a window size limits.

/// Bits, least significant first (RFC 1951 §3.1.1).
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.at / 8)?;
        let bit = (byte >> (self.at % 8)) & 1;
        self.at += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |value, i| Some(value | (self.bit()? << i)))
    }
}

/// A canonical Huffman code: how many codes of each length, and the symbols in order.
struct Huffman {
    count: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut count = [0u16; 16];
        for &len in lengths {
            count[usize::from(len)] += 1;
        }
        count[0] = 0;
        let mut symbols: Vec<(u8, u16)> = lengths
            .iter()
            .enumerate()
            .filter(|(_, &len)| len > 0)
            .map(|(symbol, &len)| (len, symbol as u16))
            .collect();
        symbols.sort();
        Huffman {
            count,
            symbols: symbols.into_iter().map(|(_, s)| s).collect(),
        }
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Option<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.bit()? as i32;
            let count = i32::from(self.count[len]);
            if code - first < count {
                return self.symbols.get((index + code - first) as usize).copied();
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        None
    }
}

const LENGTH_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [usize; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// The largest distance any back-reference in `data` uses; the walk ends where the data
/// does (a message ends without a final block).
pub fn max_distance(data: &[u8]) -> usize {
    let mut bits = Bits { data, at: 0 };
    let mut largest = 0;
    while let Some(last) = bits.bit() {
        let Some(kind) = bits.bits(2) else { break };
        let codes = match kind {
            0 => {
                bits.at = bits.at.div_ceil(8) * 8;
                let Some(len) = bits.bits(16) else { break };
                bits.at += 16 + 8 * len as usize;
                None
            }
            1 => {
                let mut lengths = [8u8; 288];
                lengths[144..256].fill(9);
                lengths[256..280].fill(7);
                Some((Huffman::new(&lengths), Huffman::new(&[5; 30])))
            }
            2 => dynamic(&mut bits),
            _ => panic!("reserved block type"),
        };
        if let Some((lengths, distances)) = codes {
            loop {
                let Some(symbol) = lengths.decode(&mut bits) else {
                    return largest;
                };
                match symbol {
                    0..=255 => {}
                    256 => break,
                    _ => {
                        let i = usize::from(symbol - 257);
                        bits.bits(LENGTH_EXTRA[i]);
                        let Some(d) = distances.decode(&mut bits) else {
                            return largest;
                        };
                        let d = usize::from(d);
                        let extra = bits.bits(DIST_EXTRA[d]).unwrap_or(0) as usize;
                        largest = largest.max(DIST_BASE[d] + extra);
                    }
                }
            }
        }
        if last == 1 {
            break;
        }
    }
    largest
}

/// The codes of a dynamic block (RFC 1951 §3.2.7).
fn dynamic(bits: &mut Bits<'_>) -> Option<(Huffman, Huffman)> {
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    let literals = bits.bits(5)? as usize + 257;
    let distances = bits.bits(5)? as usize + 1;
    let code_lengths = bits.bits(4)? as usize + 4;
    let mut lengths = [0u8; 19];
    for &i in &ORDER[..code_lengths] {
        lengths[i] = bits.bits(3)? as u8;
    }
    let lencode = Huffman::new(&lengths);
    let mut all = Vec::with_capacity(literals + distances);
    while all.len() < literals + distances {
        match lencode.decode(bits)? {
            len @ 0..=15 => all.push(len as u8),
            16 => {
                let previous = *all.last()?;
                let times = 3 + bits.bits(2)? as usize;
                all.extend(std::iter::repeat_n(previous, times));
            }
            17 => all.extend(std::iter::repeat_n(0, 3 + bits.bits(3)? as usize)),
            _ => all.extend(std::iter::repeat_n(0, 11 + bits.bits(7)? as usize)),
        }
    }
    Some((
        Huffman::new(&all[..literals]),
        Huffman::new(&all[literals..literals + distances]),
    ))
}

#[test]
fn finds_the_distances_flate2_used() {
    use flate2::{Compress, Compression, FlushCompress};
    // A period of 300 bytes: a 15-bit window refers 300 back, a 9-bit one at most 250.
    let period: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
    let data = period.repeat(20);
    for (bits, expect) in [(15u8, 300usize), (9, 250)] {
        let mut compress = Compress::new_with_window_bits(Compression::new(9), false, bits);
        let mut out = Vec::with_capacity(data.len() * 2);
        compress
            .compress_vec(&data, &mut out, FlushCompress::Sync)
            .unwrap();
        let largest = max_distance(&out);
        if bits == 15 {
            assert_eq!(largest, expect);
        } else {
            assert!(largest <= expect && largest > 0, "{largest}");
        }
    }
}
