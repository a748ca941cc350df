//! Messages in parts: received a frame at a time, sent a frame at a time.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as ClientMessage;
use tower_websockets::{socket::MessageKind, Error, Handshake, Message, WebSocket, WebSocketLayer};

use crate::common::{
    bits::{BINARY, CONTINUATION, FIN, PING, TEXT},
    next_data, rss_bytes, serve, within, RawSocket,
};

/// A cheap checksum of a byte stream, kept the same way on both sides.
#[derive(Default)]
struct Sum(u64, u64);

impl Sum {
    fn add(&mut self, data: &[u8]) {
        let mut words = data.chunks_exact(8);
        for word in &mut words {
            let word = u64::from_le_bytes(word.try_into().unwrap());
            self.0 = self.0.rotate_left(5) ^ word;
        }
        for &byte in words.remainder() {
            self.0 = self.0.rotate_left(5) ^ u64::from(byte);
        }
        self.1 += data.len() as u64;
    }
}

/// Counts and sums each message a part at a time, and says what it got.
async fn summing(mut socket: WebSocket, _: Handshake) {
    let mut sum = Sum::default();
    while let Some(part) = socket.recv_part().await {
        let part = match part {
            Ok(part) => part,
            Err(_) => return,
        };
        sum.add(&part.data);
        if part.last {
            let kind = if part.kind == MessageKind::Text {
                "text"
            } else {
                "binary"
            };
            let report = format!("{kind} {} bytes, sum {:x}", sum.1, sum.0);
            if socket.send(Message::text(report)).await.is_err() {
                return;
            }
            sum = Sum::default();
        }
    }
}

/// A 256 MiB message in 1 MiB frames costs the server about a frame of memory. RSS is a
/// process's, and this binary runs other tests at the same time, so the test runs itself
/// again in a process of its own (marked by `ALONE`) and there does the work; the parent
/// checks that exactly this one test ran and passed in that process.
#[test]
fn a_256_mib_message_streams_through_in_little_memory() {
    const ALONE: &str = "TOWER_WEBSOCKETS_ALONE";
    const NAME: &str = "parts::a_256_mib_message_streams_through_in_little_memory";
    if std::env::var_os(ALONE).is_some() {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(stream_256_mib());
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--test-threads=1"])
        .env(ALONE, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the test did not run alone:\n{stdout}"
    );
}

async fn stream_256_mib() {
    const FRAME: usize = 1 << 20;
    const FRAMES: usize = 256;
    // The layer's whole-message limit stays at its default (64 MiB): in parts, only a
    // frame's size counts.
    let server = serve(WebSocketLayer::new(summing)).await;
    let mut socket = RawSocket::connect(server.addr).await;
    let before = rss_bytes();
    let mut sum = Sum::default();
    let mut payload = vec![0u8; FRAME];
    for i in 0..FRAMES {
        payload.fill(i as u8);
        payload[i] = 0xff;
        sum.add(&payload);
        let first = match (i, i + 1 == FRAMES) {
            (0, _) => BINARY,
            (_, true) => FIN | CONTINUATION,
            _ => CONTINUATION,
        };
        // Masked with a key of zeros (allowed, RFC 6455 §5.3): the payload goes as it is.
        let mut head = vec![first, 0x80 | 127];
        head.extend_from_slice(&(FRAME as u64).to_be_bytes());
        head.extend_from_slice(&[0; 4]);
        socket.write(&head).await;
        socket.write(&payload).await;
    }
    let report = within(socket.recv()).await.unwrap();
    let growth = rss_bytes().saturating_sub(before);
    assert_eq!(
        String::from_utf8(report.payload).unwrap(),
        format!("binary {} bytes, sum {:x}", sum.1, sum.0)
    );
    assert!(growth < 16 << 20, "RSS grew by {} MiB", growth >> 20);
}

#[tokio::test]
async fn text_parts_may_cut_a_character_but_not_break_utf8() {
    let server = serve(WebSocketLayer::new(summing)).await;
    let mut socket = RawSocket::connect(server.addr).await;
    // "héllo €" in three frames, cutting é and € between them.
    let text = "héllo €".as_bytes();
    socket.send(TEXT, &text[..2], true).await;
    socket.send(CONTINUATION, &text[2..8], true).await;
    socket.send(FIN | CONTINUATION, &text[8..], true).await;
    let mut sum = Sum::default();
    sum.add(&text[..2]);
    sum.add(&text[2..8]);
    sum.add(&text[8..]);
    let report = within(socket.recv()).await.unwrap();
    assert_eq!(
        String::from_utf8(report.payload).unwrap(),
        format!("text {} bytes, sum {:x}", sum.1, sum.0)
    );
    // Then a text whose second part cannot complete the first's cut character: 1007.
    socket.send(TEXT, b"ok \xe2\x82", true).await;
    socket.send(CONTINUATION, b"A", true).await;
    assert_eq!(socket.expect_close().await, 1007);
}

#[tokio::test]
async fn pings_between_parts_are_answered() {
    let server = serve(WebSocketLayer::new(summing)).await;
    let mut socket = RawSocket::connect(server.addr).await;
    socket.send(BINARY, &[1; 1000], true).await;
    socket.send(FIN | PING, b"are you there", true).await;
    let pong = within(socket.recv()).await.unwrap();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (0xA, &b"are you there"[..])
    );
    socket.send(FIN | CONTINUATION, &[2; 1000], true).await;
    let report = within(socket.recv()).await.unwrap();
    assert!(String::from_utf8(report.payload)
        .unwrap()
        .starts_with("binary 2000 bytes"));
}

#[tokio::test]
async fn whole_and_part_reads_do_not_mix_within_a_message() {
    let (report, mut reports) = mpsc::unbounded_channel();
    let layer = WebSocketLayer::new(move |mut socket: WebSocket, _: Handshake| {
        let report = report.clone();
        async move {
            let first = socket.recv_part().await.unwrap().unwrap();
            let mixed = socket.recv().await;
            let rest = socket.recv_part().await.unwrap().unwrap();
            let whole = socket.recv().await;
            let _ = report.send((first.last, mixed, rest.last, whole));
        }
    });
    let server = serve(layer).await;
    let mut socket = RawSocket::connect(server.addr).await;
    socket.send(BINARY, b"one", true).await;
    socket.send(FIN | CONTINUATION, b"two", true).await;
    socket.send(FIN | TEXT, b"whole", true).await;
    let (first_last, mixed, rest_last, whole) = within(reports.recv()).await.unwrap();
    assert!(!first_last && rest_last);
    assert!(
        matches!(mixed, Some(Err(Error::MessageInParts))),
        "{mixed:?}"
    );
    assert_eq!(whole.unwrap().unwrap(), Message::text("whole"));
}

#[tokio::test]
async fn a_message_sent_in_parts_goes_out_as_fragments() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _: Handshake| async move {
        socket.send_part(Message::text("hél"), false).await?;
        // A control message may go out between parts; a whole message may not.
        socket
            .send_part(Message::Ping("between".into()), false)
            .await?;
        assert!(matches!(
            socket.send(Message::text("whole")).await,
            Err(Error::MessageInParts)
        ));
        socket.send_part(Message::text("lo, "), false).await?;
        socket.send_part(Message::text("wörld"), true).await?;
        socket.send(Message::text("then whole")).await
    });
    let server = serve(layer.keep_alive_interval(None)).await;
    let mut raw = RawSocket::connect(server.addr).await;
    let frames: Vec<(bool, u8, Vec<u8>)> = {
        let mut frames = Vec::new();
        for _ in 0..5 {
            let frame = within(raw.recv()).await.unwrap();
            frames.push((frame.fin, frame.opcode, frame.payload));
        }
        frames
    };
    assert_eq!(
        frames,
        [
            (false, 0x1, "hél".as_bytes().to_vec()),
            (true, 0x9, b"between".to_vec()),
            (false, 0x0, b"lo, ".to_vec()),
            (true, 0x0, "wörld".as_bytes().to_vec()),
            (true, 0x1, b"then whole".to_vec()),
        ]
    );
    // And a client library reassembles them.
    let mut client = server.connect().await;
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("héllo, wörld")
    );
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("then whole")
    );
    let _ = client.next().await;
}

#[tokio::test]
async fn the_frame_limit_bounds_parts_and_the_message_limit_whole_messages() {
    // Whole messages up to 1,000 bytes; frames up to 64 KiB.
    fn limits<H: tower_websockets::Handler>(layer: WebSocketLayer<H>) -> WebSocketLayer<H> {
        layer.max_message_size(1000).max_frame_size(64 << 10)
    }
    let parts = serve(limits(WebSocketLayer::new(summing))).await;
    let mut socket = RawSocket::connect(parts.addr).await;
    socket.send(FIN | BINARY, &[5; 10_000], true).await;
    let report = within(socket.recv()).await.unwrap();
    assert!(String::from_utf8(report.payload)
        .unwrap()
        .starts_with("binary 10000 bytes"));
    // A frame over the frame limit is refused before it is read.
    socket.send(FIN | BINARY, &[5; 100_000], true).await;
    assert_eq!(socket.expect_close().await, 1009);

    // Taken whole, a message in one frame still may not pass the message limit.
    let whole = serve(limits(WebSocketLayer::default())).await;
    let mut socket = RawSocket::connect(whole.addr).await;
    socket.send(FIN | BINARY, &[5; 900], true).await;
    assert_eq!(within(socket.recv()).await.unwrap().payload.len(), 900);
    socket.send(FIN | BINARY, &[5; 2000], true).await;
    assert_eq!(socket.expect_close().await, 1009);
}
