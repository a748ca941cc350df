//! Graceful shutdown: 503 for new upgrades, 1001 for open sockets, a deadline for the rest.

use std::time::Duration;

use tokio::time::Instant;

use crate::common::{raw_http, serve, upgrade_request, within, Client};
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message as ClientMessage;
use tower_websockets::{error::SessionError, session::ClosedBy, CloseCode, WebSocketLayer};

/// Reads until the connection ends, as a client does (tungstenite answers the close
/// frame): the close code and reason received, if any.
async fn read_to_the_end(mut client: Client) -> Option<(u16, String)> {
    let mut close = None;
    while let Some(Ok(message)) = client.next().await {
        if let ClientMessage::Close(frame) = message {
            close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
        }
    }
    close
}

#[tokio::test]
async fn a_hundred_open_sockets_all_get_1001_and_close_cleanly() {
    let layer = WebSocketLayer::default();
    let shutdown = layer.shutdown_handle();
    let stats = layer.stats();
    let mut server = serve(layer).await;
    let mut clients = Vec::new();
    let mut sessions = Vec::new();
    for _ in 0..100 {
        let client = server.connect().await;
        sessions.push(server.next_session().await);
        clients.push(tokio::spawn(read_to_the_end(client)));
    }
    assert_eq!(stats.open(), 100);
    let report = within(shutdown.shutdown(Duration::from_secs(5))).await;
    assert_eq!((report.closed, report.dropped), (100, 0));
    assert_eq!(stats.open(), 0);
    for client in clients {
        let (code, reason) = within(client).await.unwrap().expect("a close frame");
        assert_eq!((code, reason.as_str()), (1001, "server shutting down"));
    }
    for session in sessions {
        let summary = within(session.ended()).await;
        assert_eq!(
            (summary.closed_by, summary.close_code),
            (ClosedBy::Server, CloseCode::GOING_AWAY)
        );
        assert!(summary.error.is_none(), "{:?}", summary.error);
    }
    // Still shutting down: new upgrades are refused, other requests still served.
    let (status, head, _) = raw_http(server.addr, &upgrade_request("/ws", "")).await;
    assert_eq!(status, 503);
    assert!(head.to_ascii_lowercase().contains("retry-after"));
    assert_eq!(
        raw_http(server.addr, "GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .0,
        200
    );
    assert!(shutdown.is_shutting_down());
    assert_eq!(stats.rejections().shutting_down, 1);
}

/// Sockets that opened where closed ones had been (their places in the list a shutdown
/// wakes taken again) are told 1001 like the others; the closed ones are not counted.
#[tokio::test]
async fn sockets_opened_after_others_closed_all_get_1001() {
    let layer = WebSocketLayer::default();
    let shutdown = layer.shutdown_handle();
    let stats = layer.stats();
    let mut server = serve(layer).await;
    let mut open = Vec::new();
    for round in 0..3 {
        let mut batch = Vec::new();
        for _ in 0..4 {
            let client = server.connect().await;
            batch.push((client, server.next_session().await));
        }
        // Close half of each batch; the next batch takes their places.
        for (mut client, session) in batch.drain(..2) {
            within(client.close(None)).await.unwrap();
            let summary = within(session.ended()).await;
            assert_eq!(summary.closed_by, ClosedBy::Client, "round {round}");
        }
        open.extend(batch);
    }
    assert_eq!(stats.open(), 6);
    let readers: Vec<_> = open
        .into_iter()
        .map(|(client, session)| (tokio::spawn(read_to_the_end(client)), session))
        .collect();
    let report = within(shutdown.shutdown(Duration::from_secs(5))).await;
    assert_eq!((report.closed, report.dropped), (6, 0));
    for (reader, session) in readers {
        let (code, _) = within(reader).await.unwrap().expect("a close frame");
        assert_eq!(code, 1001);
        let summary = within(session.ended()).await;
        assert_eq!(summary.close_code, CloseCode::GOING_AWAY);
    }
}

// On the paused clock: the deadline passes only once every task waits.
#[tokio::test(start_paused = true)]
async fn a_client_that_never_answers_is_dropped_at_the_deadline() {
    let layer = WebSocketLayer::default();
    let shutdown = layer.shutdown_handle();
    let mut server = serve(layer).await;
    // A raw client: it reads what comes but never answers the close frame.
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut silent, upgrade_request("/ws", "").as_bytes())
        .await
        .unwrap();
    let session = server.next_session().await;
    let reader = tokio::spawn(async move {
        let mut received = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match silent.read(&mut chunk).await {
                Ok(0) | Err(_) => return received,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    });

    let started = Instant::now();
    let deadline = Duration::from_millis(400);
    let shutting_down = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.shutdown(deadline).await }
    });
    // Wait until the shutdown has begun, then try a new socket.
    within(async {
        while !shutdown.is_shutting_down() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(
        raw_http(server.addr, &upgrade_request("/ws", "")).await.0,
        503
    );

    let report = within(shutting_down).await.unwrap();
    assert!(started.elapsed() >= deadline, "ended before the deadline");
    assert_eq!((report.closed, report.dropped), (0, 1));
    let summary = within(session.ended()).await;
    assert!(
        matches!(summary.error, Some(SessionError::ShutdownDeadline)),
        "{:?}",
        summary.error
    );
    // The client saw the 101, then close 1001 (0x03e9), then the end of the connection.
    let received = within(reader).await.unwrap();
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&received[head_end..head_end + 4], &[0x88, 22, 0x03, 0xe9]);
}
