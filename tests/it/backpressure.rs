//! A client that stops reading cannot make the server buffer without bound.

use std::time::Duration;

use crate::common::{heavy, rss_bytes, serve, within, RawSocket};
use tower_websockets::{Handshake, Message, WebSocket, WebSocketLayer};

// On the paused clock, a send times out only once every task waits: the handler has sent
// all the connection takes, and nothing can move.
#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_stalls_the_sender_instead_of_growing_memory() {
    const MESSAGE: usize = 64 * 1024;
    const GIB: u64 = 1 << 30;
    let _heavy = heavy().await;
    let (report, mut outcome) = tokio::sync::mpsc::unbounded_channel();
    // The handler tries to send 1 GiB, each message a fresh allocation (a shared buffer
    // would hide growth), until a send has waited a second.
    let layer = WebSocketLayer::new(move |mut socket: WebSocket, _handshake: Handshake| {
        let report = report.clone();
        async move {
            let mut sent = 0u64;
            while sent < GIB {
                let message = Message::binary(vec![0x5a; MESSAGE]);
                if let Err(e) = socket.send(message).await {
                    let _ = report.send((sent, e));
                    return;
                }
                sent += MESSAGE as u64;
            }
            let _ = report.send((sent, tower_websockets::Error::Closed));
        }
    })
    .send_timeout(Duration::from_secs(1))
    .keep_alive_interval(None);
    let server = serve(layer).await;
    let before = rss_bytes();
    // Connected, and then never reads.
    let _client = RawSocket::connect(server.addr).await;
    let (stalled_at, error) = within(outcome.recv()).await.unwrap();
    let growth = rss_bytes().saturating_sub(before);

    // The sender stopped once the kernel's buffers (a few MiB on loopback) were full.
    assert!(
        matches!(error, tower_websockets::Error::SendTimeout),
        "{error:?}"
    );
    assert!(
        stalled_at < 64 << 20,
        "{} MiB taken before stalling",
        stalled_at >> 20
    );
    // Our side holds at most one message and 64 KiB gathered; the process grew by far
    // less than what the handler tried to send.
    assert!(growth < 64 << 20, "RSS grew by {} MiB", growth >> 20);
}

// On the paused clock: a write counts as blocked once it has waited half a second with
// every task waiting, that is once nothing can move.
#[tokio::test(start_paused = true)]
async fn a_client_that_sends_faster_than_the_handler_reads_is_slowed_by_tcp() {
    let _heavy = heavy().await;
    // A handler that reads nothing at all for a while.
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _handshake: Handshake| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let _ = socket.recv().await;
    })
    .keep_alive_interval(None);
    let server = serve(layer).await;
    let before = rss_bytes();
    let socket = RawSocket::connect(server.addr).await;
    let (_read, mut write, _) = socket.into_split();
    let frame = RawSocket::frame(0x82, &[1u8; 64 * 1024], true);
    // Write until the connection stops taking bytes: TCP holds the client back.
    let mut written = 0u64;
    loop {
        match tokio::time::timeout(
            Duration::from_millis(500),
            tokio::io::AsyncWriteExt::write_all(&mut write, &frame),
        )
        .await
        {
            Ok(Ok(())) => written += frame.len() as u64,
            Ok(Err(e)) => panic!("write failed: {e}"),
            Err(_) => break, // blocked: flow control
        }
        assert!(
            written < 1 << 30,
            "1 GiB written into a server that does not read"
        );
    }
    let growth = rss_bytes().saturating_sub(before);
    assert!(growth < 64 << 20, "RSS grew by {} MiB", growth >> 20);
}

#[tokio::test(start_paused = true)]
async fn with_a_send_timeout_a_stalled_send_fails_with_a_clear_error() {
    let (report, mut outcome) = tokio::sync::mpsc::unbounded_channel();
    let layer = WebSocketLayer::new(move |mut socket: WebSocket, _handshake: Handshake| {
        let report = report.clone();
        async move {
            let mut sent = 0u64;
            loop {
                match socket.send(Message::binary(vec![0u8; 64 * 1024])).await {
                    Ok(()) => sent += 1,
                    Err(e) => {
                        let _ = report.send((sent, e));
                        return;
                    }
                }
            }
        }
    })
    .send_timeout(Duration::from_millis(200))
    .close_timeout(Duration::from_millis(100))
    .keep_alive_interval(None);
    let server = serve(layer).await;
    let _client = RawSocket::connect(server.addr).await; // never reads
    let (sent, error) = within(outcome.recv()).await.unwrap();
    assert!(
        matches!(error, tower_websockets::Error::SendTimeout),
        "{error:?}"
    );
    assert!(
        sent < 1024,
        "{sent} messages of 64 KiB taken by a client that never reads"
    );
}
