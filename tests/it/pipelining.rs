//! Pipelined messages: answers to input that is already waiting are gathered and written
//! together, without ever holding a message back or reordering anything.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use crate::common::{serve, within, RawFrame, RawSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_websockets::WebSocketLayer;

const FIN_TEXT: u8 = 0x81;
const FIN_BINARY: u8 = 0x82;
const FIN_CLOSE: u8 = 0x88;

/// Many frames in one write, as a pipelining client sends them.
fn burst(messages: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
    messages
        .into_iter()
        .flat_map(|payload| RawSocket::frame(FIN_BINARY, &payload, true))
        .collect()
}

fn payload(i: usize) -> Vec<u8> {
    // Sizes from 0 to 2,999 bytes, so that short and long frames mix.
    let len = (i * 37) % 3000;
    (0..len).map(|j| (i + j) as u8).collect()
}

#[tokio::test]
async fn a_pipelined_burst_is_echoed_whole_and_in_order() {
    let server = serve(WebSocketLayer::default()).await;
    let mut socket = RawSocket::connect(server.addr).await;
    socket.write(&burst((0..1000).map(payload))).await;
    for i in 0..1000 {
        let echo = socket.recv().await.expect("an echo");
        assert_eq!(
            (echo.opcode, echo.payload.len()),
            (2, payload(i).len()),
            "message {i}"
        );
        assert!(echo.payload == payload(i), "message {i} differs");
    }
}

#[tokio::test]
async fn a_lone_message_is_not_held_back() {
    let server = serve(WebSocketLayer::default()).await;
    let mut socket = RawSocket::connect(server.addr).await;
    // After a burst, and then on its own: each is answered with nothing else in flight.
    socket.write(&burst((0..50).map(payload))).await;
    for _ in 0..50 {
        socket.recv().await.unwrap();
    }
    for text in ["alone", "again alone"] {
        socket.send(FIN_TEXT, text.as_bytes(), true).await;
        let echo = socket.recv().await.unwrap();
        assert_eq!(echo.payload, text.as_bytes());
    }
}

#[tokio::test]
async fn a_long_burst_is_answered_while_it_is_still_arriving() {
    // 64 MiB of 1 KiB messages is far more than the kernel buffers both ways hold, so the
    // client cannot finish writing before the server has read most of it. Were answers
    // gathered until the input ended, none would come before the last byte was written
    // (and this test would time out). They go out each time the server's read would wait,
    // that is after each read's worth of frames (the engine reads up to 8 KiB at a time),
    // and at the latest at the 64 KiB gathering limit.
    let _heavy = crate::common::heavy().await;
    let server = serve(WebSocketLayer::default()).await;
    let socket = RawSocket::connect(server.addr).await;
    let (mut read, mut write, _) = socket.into_split();
    let one = RawSocket::frame(FIN_BINARY, &[7u8; 1024], true);
    let chunk = one.repeat(1024);
    let frames = 64 * 1024;
    let written = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let written = written.clone();
        async move {
            for _ in 0..frames / 1024 {
                write.write_all(&chunk).await.unwrap();
            }
            written.store(true, Ordering::SeqCst);
            write
        }
    });
    // Whether the whole burst was written when the first echo came.
    let mut burst_written_at_first_echo = None;
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let expected = frames * (4 + 1024);
    while received < expected {
        let n = within(read.read(&mut buf)).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        burst_written_at_first_echo.get_or_insert_with(|| written.load(Ordering::SeqCst));
        received += n;
    }
    let _write = writer.await.unwrap();
    assert_eq!(received, expected, "every echo, nothing else");
    assert_eq!(
        burst_written_at_first_echo,
        Some(false),
        "no answer before the whole burst was sent"
    );
}

#[tokio::test]
async fn a_client_that_closes_mid_burst_gets_every_echo_before_its_close() {
    let server = serve(WebSocketLayer::default()).await;
    let mut socket = RawSocket::connect(server.addr).await;
    let mut bytes = burst((0..50).map(payload));
    bytes.extend(RawSocket::frame(FIN_CLOSE, b"\x03\xe8bye", true));
    bytes.extend(burst((50..60).map(payload))); // after the close: to be ignored
    socket.write(&bytes).await;
    for i in 0..50 {
        let echo: RawFrame = socket.recv().await.expect("an echo");
        assert!(
            echo.opcode == 2 && echo.payload == payload(i),
            "message {i}"
        );
    }
    assert_eq!(socket.expect_close().await, 1000);
}

/// A payload that names its client and its index in its first 8 bytes, so that no frame of
/// another client's can pass for it; 8 to 5,007 bytes, short frames mixed with ones that grow
/// an engine's buffer.
fn own_payload(client: usize, i: usize) -> Vec<u8> {
    let len = 8 + (i * 613 + client * 97) % 5000;
    let mut payload: Vec<u8> = (0..len).map(|j| (client * 31 + i + j) as u8).collect();
    payload[..4].copy_from_slice(&(client as u32).to_be_bytes());
    payload[4..8].copy_from_slice(&(i as u32).to_be_bytes());
    payload
}

/// Sockets on two threads take engines up from their threads' pools and park them in turn:
/// each client's bursts, cut at a different point each round (a frame half sent), come back
/// whole, in order, and only its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_two_threads_get_back_only_their_own_bursts() {
    let server = serve(WebSocketLayer::default()).await;
    let mut clients = Vec::new();
    for client in 0..16usize {
        let mut socket = RawSocket::connect(server.addr).await;
        clients.push(tokio::spawn(async move {
            for round in 0..20usize {
                let sent: Vec<Vec<u8>> =
                    (0..8).map(|i| own_payload(client, round * 8 + i)).collect();
                let bytes = burst(sent.clone());
                let cut = (client * 131 + round * 1009) % bytes.len();
                socket.write(&bytes[..cut]).await;
                tokio::task::yield_now().await;
                socket.write(&bytes[cut..]).await;
                for (i, payload) in sent.iter().enumerate() {
                    let echo = within(socket.recv()).await.expect("an echo");
                    assert!(
                        echo.payload == *payload,
                        "client {client}, round {round}, message {i}"
                    );
                }
            }
        }));
    }
    for client in clients {
        within(client).await.unwrap();
    }
}
