//! permessage-deflate (RFC 7692) over real sockets, with a raw client that compresses and
//! inflates with flate2 (tokio-tungstenite has no compression).

use std::collections::BTreeSet;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use proptest::prelude::*;

use crate::common::{
    bits::{BINARY, CONTINUATION, FIN, PING, RSV1, TEXT},
    serve, within, RawFrame, RawSocket,
};
use tower_websockets::{
    deflate::{DeflateConfig, DeflateParams},
    CloseCode, Handshake, Message, WebSocket, WebSocketLayer,
};

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A client's side of the extension.
struct ClientCodec {
    compress: Compress,
    decompress: Decompress,
    /// Whether the server keeps its window between messages (then so does our inflater).
    server_takeover: bool,
    client_takeover: bool,
}

impl ClientCodec {
    fn new(window_bits: u8, server_takeover: bool, client_takeover: bool) -> Self {
        ClientCodec {
            compress: Compress::new_with_window_bits(Compression::new(6), false, window_bits),
            decompress: Decompress::new_with_window_bits(false, 15),
            server_takeover,
            client_takeover,
        }
    }

    fn deflate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        let start = self.compress.total_in();
        loop {
            let done = (self.compress.total_in() - start) as usize;
            self.compress
                .compress_vec(&data[done..], &mut out, FlushCompress::Sync)
                .unwrap();
            if (self.compress.total_in() - start) as usize == data.len()
                && out.len() < out.capacity()
            {
                break;
            }
            out.reserve(out.capacity());
        }
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        if !self.client_takeover {
            self.compress.reset();
        }
        out
    }

    fn inflate(&mut self, data: &[u8]) -> Vec<u8> {
        let input = [data, &TAIL].concat();
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        let start = self.decompress.total_in();
        loop {
            let done = (self.decompress.total_in() - start) as usize;
            self.decompress
                .decompress_vec(&input[done..], &mut out, FlushDecompress::Sync)
                .unwrap();
            if (self.decompress.total_in() - start) as usize == input.len()
                && out.len() < out.capacity()
            {
                break;
            }
            out.reserve(out.capacity());
        }
        if !self.server_takeover {
            self.decompress.reset(false);
        }
        out
    }
}

/// The compressing echo sample's layer: every message compressed, whatever its size.
fn layer(config: DeflateConfig) -> WebSocketLayer {
    WebSocketLayer::default().deflate(config.min_size(0))
}

async fn connect(server_addr: std::net::SocketAddr, offer: &str) -> (RawSocket, String) {
    let extra = format!("Sec-WebSocket-Extensions: {offer}\r\n");
    RawSocket::connect_with(server_addr, &extra).await
}

/// An extension as its name and the set of its parameters: RFC 7692 fixes no order.
type Extension = (String, BTreeSet<String>);

/// `name; a; b=1` as an [`Extension`]; a parameter given twice fails the test.
fn extension(value: &str) -> Extension {
    let mut parts = value.split(';').map(|part| part.trim().to_owned());
    let name = parts.next().unwrap();
    let params: Vec<String> = parts.collect();
    let set: BTreeSet<String> = params.iter().cloned().collect();
    assert_eq!(set.len(), params.len(), "a parameter twice in {value}");
    (name, set)
}

/// The `Sec-WebSocket-Extensions` line of a response head, if any.
fn extensions(head: &str) -> Option<Extension> {
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-extensions")
            .then(|| extension(value.trim()))
    })
}

/// A JSON-like message that compresses well.
fn json(i: usize, size: usize) -> Vec<u8> {
    let mut text = String::from("[");
    let mut n = 0;
    while text.len() < size {
        text.push_str(&format!(
            "{{\"id\":{i},\"seq\":{n},\"user\":\"alice\",\"text\":\"hello, world\"}},"
        ));
        n += 1;
    }
    text.truncate(size);
    text.into_bytes()
}

async fn next_data(socket: &mut RawSocket) -> RawFrame {
    loop {
        let frame = within(socket.recv()).await.expect("a frame");
        if frame.opcode != 0xA && frame.opcode != 0x9 {
            return frame;
        }
    }
}

#[tokio::test]
async fn compressed_plain_and_fragmented_messages_mix_on_one_socket() {
    let server = serve(layer(DeflateConfig::new())).await;
    let (mut socket, head) =
        connect(server.addr, "permessage-deflate; client_max_window_bits").await;
    assert_eq!(
        extensions(&head),
        Some(extension(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        ))
    );
    let mut codec = ClientCodec::new(15, false, false);

    // A compressed text message, in one frame: echoed compressed, and smaller on the wire.
    let message = json(1, 4000);
    let compressed = codec.deflate(&message);
    socket.send(FIN | RSV1 | TEXT, &compressed, true).await;
    let echo = next_data(&mut socket).await;
    assert!(echo.rsv1 && echo.fin && echo.opcode == TEXT, "{echo:?}");
    assert!(
        echo.payload.len() < message.len() / 4,
        "{} bytes",
        echo.payload.len()
    );
    assert_eq!(codec.inflate(&echo.payload), message);

    // An uncompressed message on the same socket: the echo is compressed all the same.
    let plain = json(2, 1000);
    socket.send(FIN | BINARY, &plain, true).await;
    let echo = next_data(&mut socket).await;
    assert!(echo.rsv1 && echo.opcode == BINARY);
    assert_eq!(codec.inflate(&echo.payload), plain);

    // A compressed message in three frames, RSV1 on the first only, a ping in between.
    let message = json(3, 20_000);
    let compressed = codec.deflate(&message);
    let third = compressed.len() / 3;
    socket.send(RSV1 | TEXT, &compressed[..third], true).await;
    socket.send(FIN | PING, b"mid", true).await;
    socket
        .send(CONTINUATION, &compressed[third..2 * third], true)
        .await;
    let pong = within(socket.recv()).await.unwrap();
    assert_eq!((pong.opcode, pong.payload.as_slice()), (0xA, &b"mid"[..]));
    socket
        .send(FIN | CONTINUATION, &compressed[2 * third..], true)
        .await;
    let echo = next_data(&mut socket).await;
    assert!(echo.rsv1 && echo.opcode == TEXT);
    assert_eq!(codec.inflate(&echo.payload), message);

    // A text message with a multi-byte character cut by a frame boundary, uncompressed.
    let text = "héllo wörld".repeat(30);
    let (a, b) = text.as_bytes().split_at(2);
    socket.send(TEXT, a, true).await;
    socket.send(FIN | CONTINUATION, b, true).await;
    let echo = next_data(&mut socket).await;
    assert_eq!(codec.inflate(&echo.payload), text.as_bytes());

    socket.send(FIN | 0x8, &1000u16.to_be_bytes(), true).await;
    assert_eq!(socket.expect_close().await, 1000);
}

/// The next frame from the server, which must be a ping.
async fn expect_ping(socket: &mut RawSocket) {
    let frame = within(socket.recv()).await.expect("a frame");
    assert_eq!(frame.opcode, 0x9, "{frame:?}");
}

/// With compression, a socket that gives its engine's read buffer back at a ping reads on
/// as before: whether each frame was compressed is still known, across messages and
/// across the fragments of one.
#[tokio::test(start_paused = true)]
async fn compressed_messages_go_on_after_the_read_buffer_is_given_back() {
    let layer =
        layer(DeflateConfig::new()).keep_alive_interval(std::time::Duration::from_millis(100));
    let server = serve(layer).await;
    let (mut socket, _) = connect(server.addr, "permessage-deflate; client_max_window_bits").await;
    let mut codec = ClientCodec::new(15, false, false);
    for round in 0..3 {
        let message = json(round, 4000);
        socket
            .send(FIN | RSV1 | TEXT, &codec.deflate(&message), true)
            .await;
        let echo = next_data(&mut socket).await;
        assert!(echo.rsv1 && echo.opcode == TEXT);
        assert_eq!(codec.inflate(&echo.payload), message);
        expect_ping(&mut socket).await;
        // Plain after compressed, then compressed in two fragments around a ping.
        let plain = json(round + 10, 500);
        socket.send(FIN | BINARY, &plain, true).await;
        let echo = next_data(&mut socket).await;
        assert_eq!(codec.inflate(&echo.payload), plain);
        let message = json(round + 20, 6000);
        let compressed = codec.deflate(&message);
        let half = compressed.len() / 2;
        socket.send(RSV1 | TEXT, &compressed[..half], true).await;
        expect_ping(&mut socket).await;
        socket
            .send(FIN | CONTINUATION, &compressed[half..], true)
            .await;
        let echo = next_data(&mut socket).await;
        assert!(echo.rsv1 && echo.opcode == TEXT);
        assert_eq!(codec.inflate(&echo.payload), message);
    }
    socket.send(FIN | 0x8, &1000u16.to_be_bytes(), true).await;
    assert_eq!(socket.expect_close().await, 1000);
}

#[tokio::test]
async fn short_messages_and_uncompressed_sends_go_out_plain() {
    let handler = |mut socket: WebSocket, handshake: Handshake| async move {
        assert!(handshake.deflate().is_some());
        let long = "secret ".repeat(100);
        socket.send(Message::text("short")).await?;
        socket.send(Message::text(long.clone())).await?;
        socket.send_uncompressed(Message::text(long)).await?;
        socket.close(CloseCode::NORMAL, "").await
    };
    let server = serve(WebSocketLayer::new(handler).deflate(DeflateConfig::new())).await;
    let (mut socket, _) = connect(server.addr, "permessage-deflate").await;
    let mut codec = ClientCodec::new(15, false, false);
    let short = next_data(&mut socket).await;
    assert!(!short.rsv1, "under min_size (256 bytes): plain");
    assert_eq!(short.payload, b"short");
    let long = next_data(&mut socket).await;
    assert!(long.rsv1);
    assert_eq!(
        codec.inflate(&long.payload),
        "secret ".repeat(100).as_bytes()
    );
    let uncompressed = next_data(&mut socket).await;
    assert!(!uncompressed.rsv1, "send_uncompressed");
    assert_eq!(uncompressed.payload, "secret ".repeat(100).as_bytes());
}

#[tokio::test]
async fn every_window_size_works_both_ways() {
    for bits in 8..=15u8 {
        let server = serve(layer(DeflateConfig::new())).await;
        let offer = format!(
            "permessage-deflate; server_max_window_bits={bits}; client_max_window_bits={bits}"
        );
        let (mut socket, head) = connect(server.addr, &offer).await;
        // The offered server window is named in the answer, 15 too (RFC 7692 §7.1.2.1);
        // the client's may be, and is where it limits the window.
        let expected = if bits == 15 {
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15".to_owned()
        } else {
            format!("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits={bits}; client_max_window_bits={bits}")
        };
        assert_eq!(extensions(&head), Some(extension(&expected)));
        // A 9-bit compressor stays within what an 8-bit window allows (see the codec).
        let mut codec = ClientCodec::new(bits.max(9), false, false);
        for i in 0..5 {
            let message = json(i, 3000 + i * 1000);
            socket
                .send(FIN | RSV1 | BINARY, &codec.deflate(&message), true)
                .await;
            let echo = next_data(&mut socket).await;
            assert!(echo.rsv1);
            let echoed = codec.inflate(&echo.payload);
            assert_eq!(echoed, message, "window bits {bits}");
            assert!(
                max_distance(&[echo.payload.as_slice(), &TAIL].concat()) <= 1 << bits,
                "window bits {bits}"
            );
        }
    }
}

#[tokio::test]
async fn context_takeover_on_and_off_across_a_thousand_messages() {
    for takeover in [false, true] {
        let config = DeflateConfig::new()
            .server_context_takeover(takeover)
            .client_context_takeover(takeover);
        let server = serve(layer(config)).await;
        let (mut socket, head) = connect(server.addr, "permessage-deflate").await;
        let (_, params) = extensions(&head).unwrap();
        for param in ["server_no_context_takeover", "client_no_context_takeover"] {
            assert_eq!(params.contains(param), !takeover, "{params:?}");
        }
        let mut codec = ClientCodec::new(15, takeover, takeover);
        let mut sizes = Vec::new();
        for i in 0..1000 {
            let message = json(i % 7, 600);
            socket
                .send(FIN | RSV1 | TEXT, &codec.deflate(&message), true)
                .await;
            let echo = next_data(&mut socket).await;
            sizes.push(echo.payload.len());
            assert_eq!(codec.inflate(&echo.payload), message, "message {i}");
        }
        // With takeover, a message like an earlier one costs a few bytes.
        if takeover {
            assert!(
                sizes[999] < sizes[0] / 4,
                "{} then {}",
                sizes[0],
                sizes[999]
            );
        } else {
            assert_eq!(sizes[7], sizes[0], "each message on its own");
        }
    }
}

/// 1 GiB of zeros, compressed to about 1 MiB: one MiB compressed once, then the same block
/// of back-references (which needs nothing but earlier zeros) 1,023 times more.
fn zip_bomb() -> Vec<u8> {
    let mut compress = Compress::new(Compression::new(9), false);
    let zeros = vec![0u8; 1 << 20];
    let mut first = Vec::with_capacity(1 << 16);
    compress
        .compress_vec(&zeros, &mut first, FlushCompress::Sync)
        .unwrap();
    let mut repeat = Vec::with_capacity(1 << 16);
    compress
        .compress_vec(&zeros, &mut repeat, FlushCompress::Sync)
        .unwrap();
    let mut bomb = first;
    for _ in 0..1023 {
        bomb.extend_from_slice(&repeat);
    }
    assert!(bomb.len() < 4 << 20, "{} bytes", bomb.len());
    bomb
}

#[tokio::test]
async fn a_zip_bomb_is_closed_with_1009() {
    let server = serve(layer(DeflateConfig::new()).max_message_size(1 << 20)).await;
    let (mut socket, _) = connect(server.addr, "permessage-deflate").await;
    socket.send(FIN | RSV1 | BINARY, &zip_bomb(), true).await;
    assert_eq!(socket.expect_close().await, 1009);
}

/// `usize::MAX`, the natural "no limit": inflating must not overflow while it checks the
/// limit (a debug build panicked, a release build closed every compressed message with 1009).
#[tokio::test]
async fn no_limit_on_message_size_inflates_whole_messages() {
    let server = serve(layer(DeflateConfig::new()).max_message_size(usize::MAX)).await;
    let (mut socket, _) = connect(server.addr, "permessage-deflate").await;
    let mut codec = ClientCodec::new(15, false, false);
    for size in [1_000, 100_000] {
        let message = json(size, size);
        socket
            .send(FIN | RSV1 | TEXT, &codec.deflate(&message), true)
            .await;
        let echo = next_data(&mut socket).await;
        assert!(echo.rsv1 && echo.opcode == TEXT, "{echo:?}");
        assert_eq!(codec.inflate(&echo.payload), message);
    }
}

/// The memory a zip bomb costs, measured on the echo sample in a process of its own (the
/// test binary runs other tests at the same time): the peak RSS grows by no more than the
/// sample's `max_message_size`, 64 MiB, and what the frame itself takes.
#[tokio::test]
async fn a_zip_bomb_costs_at_most_max_message_size() {
    let (sample, addr) = crate::common::sample::start("echo");
    let peak = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", sample.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    let bomb = zip_bomb();
    let (mut socket, _) = connect(addr, "permessage-deflate").await;
    let before = peak();
    socket.send(FIN | RSV1 | BINARY, &bomb, true).await;
    assert_eq!(socket.expect_close().await, 1009);
    let growth = peak().saturating_sub(before);
    // 64 MiB inflated at most, plus the ~1 MiB frame as read, and allocator slack.
    assert!(growth < 72 << 20, "peak RSS grew by {} MiB", growth >> 20);
    // Without the limit applied while inflating, this would be a GiB.
    assert!(growth > 0, "the peak was read");
}

#[tokio::test]
async fn protocol_errors_get_their_close_codes() {
    let mut codec = ClientCodec::new(15, false, false);
    let not_utf8 = codec.deflate(b"bad \xff\xfe text");
    let cases: [(&str, Vec<Vec<u8>>, u16); 5] = [
        (
            "RSV1 on a ping",
            vec![RawSocket::frame(FIN | RSV1 | PING, b"", true)],
            1002,
        ),
        (
            "RSV1 on a continuation",
            vec![
                RawSocket::frame(RSV1 | TEXT, &codec.deflate(b"a"), true),
                RawSocket::frame(FIN | RSV1 | CONTINUATION, b"", true),
            ],
            1002,
        ),
        (
            "not deflate data",
            vec![RawSocket::frame(FIN | RSV1 | BINARY, &[0xff; 40], true)],
            1007,
        ),
        (
            "compressed text that is not UTF-8",
            vec![RawSocket::frame(FIN | RSV1 | TEXT, &not_utf8, true)],
            1007,
        ),
        (
            "RSV2",
            vec![RawSocket::frame(FIN | 0x20 | TEXT, b"x", true)],
            1002,
        ),
    ];
    let server = serve(layer(DeflateConfig::new())).await;
    for (what, frames, code) in cases {
        let (mut socket, _) = connect(server.addr, "permessage-deflate").await;
        socket.write(&frames.concat()).await;
        assert_eq!(socket.expect_close().await, code, "{what}");
    }
    // Without compression agreed, RSV1 is a protocol error.
    let plain = serve(WebSocketLayer::default()).await;
    let (mut socket, head) = connect(plain.addr, "permessage-deflate").await;
    assert_eq!(extensions(&head), None);
    socket
        .send(FIN | RSV1 | TEXT, &codec.deflate(b"hello"), true)
        .await;
    assert_eq!(socket.expect_close().await, 1002);
}

#[tokio::test]
async fn the_handler_sees_what_was_agreed() {
    let (tx, mut agreed) = tokio::sync::mpsc::unbounded_channel();
    let handler = move |_socket: WebSocket, handshake: Handshake| {
        let _ = tx.send(handshake.deflate());
        async {}
    };
    let config = DeflateConfig::new().server_max_window_bits(10);
    let server = serve(WebSocketLayer::new(handler).deflate(config)).await;
    let _ = connect(server.addr, "permessage-deflate; client_max_window_bits=12").await;
    let params: DeflateParams = within(agreed.recv()).await.unwrap().unwrap();
    assert_eq!(
        (
            params.server_no_context_takeover,
            params.client_no_context_takeover,
            params.server_max_window_bits,
            params.client_max_window_bits
        ),
        (true, true, 10, 12)
    );
    let _ = RawSocket::connect(server.addr).await;
    assert_eq!(within(agreed.recv()).await.unwrap(), None);
}

use crate::deflate_walk::max_distance;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn random_messages_in_random_frames_round_trip(
        messages in prop::collection::vec(
            (any::<bool>(), prop::collection::vec(any::<u8>(), 0..3000), 1usize..5, any::<bool>()),
            1..6,
        ),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let server = serve(layer(DeflateConfig::new())).await;
            let (mut socket, _) = connect(server.addr, "permessage-deflate").await;
            let mut codec = ClientCodec::new(15, false, false);
            for (text, bytes, parts, compress) in messages {
                let payload = if text {
                    String::from_utf8_lossy(&bytes).into_owned().into_bytes()
                } else {
                    bytes
                };
                let wire = if compress { codec.deflate(&payload) } else { payload.clone() };
                let kind = if text { TEXT } else { BINARY };
                let chunk = wire.len().div_ceil(parts).max(1);
                let pieces: Vec<&[u8]> = if wire.is_empty() { vec![&[]] } else { wire.chunks(chunk).collect() };
                for (i, piece) in pieces.iter().enumerate() {
                    let mut first = if i == 0 { kind } else { CONTINUATION };
                    if i == 0 && compress {
                        first |= RSV1;
                    }
                    if i + 1 == pieces.len() {
                        first |= FIN;
                    }
                    socket.send(first, piece, true).await;
                }
                let echo = next_data(&mut socket).await;
                assert_eq!(echo.opcode, kind);
                // Sent compressed unless that would not have made it smaller.
                let echoed = if echo.rsv1 { codec.inflate(&echo.payload) } else { echo.payload };
                assert_eq!(echoed, payload);
            }
        });
    }
}
