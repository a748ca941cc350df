//! The session's end as outer layers see it, keep-alive pings, limits and failures.

use std::time::Duration;

use tokio::time::Instant;

use crate::common::{expect_close, next_data, round_trip, send_fragment, serve, within};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{
    protocol::{
        frame::coding::{CloseCode as ClientCode, Data},
        CloseFrame as ClientCloseFrame,
    },
    Message as ClientMessage,
};
use tower_websockets::{
    error::SessionError,
    session::{ClosedBy, SessionSummary},
    CloseCode, Error, Handshake, Message, WebSocket, WebSocketLayer,
};

#[tokio::test]
async fn the_summary_of_a_client_close_counts_both_directions() {
    let mut server = serve(WebSocketLayer::default()).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    assert!(session.summary().is_none(), "still open");
    round_trip(&mut client, ClientMessage::text("abc")).await;
    round_trip(&mut client, ClientMessage::binary(vec![0u8; 1000])).await;
    client
        .close(Some(ClientCloseFrame {
            code: ClientCode::Normal,
            reason: "bye now".into(),
        }))
        .await
        .unwrap();
    let summary: SessionSummary = within(session.ended()).await;
    assert_eq!(summary.closed_by, ClosedBy::Client);
    assert_eq!(summary.close_code, CloseCode::NORMAL);
    assert_eq!(summary.close_reason, "bye now");
    assert_eq!(
        (summary.received.messages, summary.received.bytes),
        (2, 1003)
    );
    assert_eq!((summary.sent.messages, summary.sent.bytes), (2, 1003));
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert!(summary.duration > Duration::ZERO);
    // Every clone of the handle sees the same end.
    assert_eq!(session.summary().unwrap().close_reason, "bye now");
}

#[tokio::test]
async fn the_summary_of_a_server_close_names_the_server_and_its_code() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _handshake: Handshake| async move {
        socket
            .send(Message::text("one message, then goodbye"))
            .await?;
        socket.close(CloseCode(4000), "we are done").await?;
        // Wait for the client's answer.
        while let Some(message) = socket.recv().await {
            message?;
        }
        Ok::<_, Error>(())
    });
    let mut server = serve(layer).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("one message, then goodbye")
    );
    assert_eq!(
        expect_close(&mut client).await,
        (4000, "we are done".into())
    );

    let summary = within(session.ended()).await;
    assert_eq!(summary.closed_by, ClosedBy::Server);
    assert_eq!(summary.close_code, CloseCode(4000));
    assert_eq!(summary.close_reason, "we are done");
    assert_eq!((summary.sent.messages, summary.received.messages), (1, 0));
    assert!(summary.error.is_none(), "{:?}", summary.error);
}

#[tokio::test]
async fn a_handler_that_returns_closes_normally() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _handshake: Handshake| async move {
        let _ = socket.send(Message::text("short session")).await;
    });
    let mut server = serve(layer).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("short session")
    );
    assert_eq!(expect_close(&mut client).await.0, 1000);
    let summary = within(session.ended()).await;
    assert_eq!(
        (summary.closed_by, summary.close_code),
        (ClosedBy::Server, CloseCode::NORMAL)
    );
}

#[tokio::test(start_paused = true)]
async fn keep_alive_pings_arrive_at_the_interval() {
    let interval = Duration::from_millis(200);
    let server = serve(WebSocketLayer::default().keep_alive_interval(interval)).await;
    let mut client = server.connect().await;
    let start = Instant::now();
    let mut pings = Vec::new();
    while pings.len() < 4 {
        match within(client.next()).await.unwrap().unwrap() {
            ClientMessage::Ping(_) => pings.push(start.elapsed()),
            other => panic!("unexpected {other:?}"),
        }
    }
    // On the paused clock the timer fires at its deadline, however busy the machine.
    for pair in pings.windows(2) {
        assert_eq!(pair[1] - pair[0], interval, "pings at {pings:?}");
    }
    // Pings do not disturb the conversation.
    round_trip(&mut client, ClientMessage::text("between pings")).await;
}

#[tokio::test(start_paused = true)]
async fn no_keep_alive_means_no_pings() {
    let server = serve(WebSocketLayer::default().keep_alive_interval(None)).await;
    let mut client = server.connect().await;
    // An hour on the paused clock: 30 times the default interval.
    let quiet = tokio::time::timeout(Duration::from_secs(3600), client.next()).await;
    assert!(quiet.is_err(), "got {quiet:?}");
}

#[tokio::test]
async fn a_message_over_the_limit_is_closed_with_1009() {
    let mut server = serve(WebSocketLayer::default().max_message_size(1000)).await;

    // Exactly the limit is fine.
    let mut client = server.connect().await;
    let _ = server.next_session().await;
    round_trip(&mut client, ClientMessage::binary(vec![1u8; 1000])).await;
    // One byte more in a single frame is not.
    client
        .send(ClientMessage::binary(vec![1u8; 1001]))
        .await
        .unwrap();
    assert_eq!(expect_close(&mut client).await.0, 1009);

    // Nor is a fragmented message that grows past the limit.
    let mut client = server.connect().await;
    let session = server.next_session().await;
    send_fragment(&mut client, &[2u8; 600], Some(Data::Binary), false).await;
    send_fragment(&mut client, &[2u8; 600], None, true).await;
    assert_eq!(expect_close(&mut client).await.0, 1009);
    let summary = within(session.ended()).await;
    assert_eq!(
        (summary.closed_by, summary.close_code),
        (ClosedBy::Server, CloseCode::MESSAGE_TOO_BIG)
    );
    assert!(
        matches!(
            summary.error,
            Some(SessionError::Socket(Error::Protocol(_)))
        ),
        "{:?}",
        summary.error
    );
}

#[tokio::test]
async fn a_panicking_handler_closes_its_socket_with_1011_and_nothing_else() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _handshake: Handshake| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if message == Message::text("panic") {
                panic!("the handler gave up");
            }
            if message.is_data() && socket.send(message).await.is_err() {
                break;
            }
        }
    });
    let mut server = serve(layer).await;
    let mut healthy = server.connect().await;
    let _ = server.next_session().await;
    let mut doomed = server.connect().await;
    let session = server.next_session().await;

    doomed.send(ClientMessage::text("panic")).await.unwrap();
    assert_eq!(expect_close(&mut doomed).await.0, 1011);
    let summary = within(session.ended()).await;
    assert_eq!(summary.close_code, CloseCode::INTERNAL_ERROR);
    match summary.error {
        Some(SessionError::HandlerPanicked(message)) => assert_eq!(message, "the handler gave up"),
        other => panic!("expected a panic in the summary, got {other:?}"),
    }
    round_trip(&mut healthy, ClientMessage::text("still here")).await;
    let mut fresh = server.connect().await;
    round_trip(&mut fresh, ClientMessage::text("and new sockets too")).await;
}

#[tokio::test]
async fn a_handler_error_closes_with_1011_and_is_reported() {
    let layer = WebSocketLayer::new(|_socket: WebSocket, _handshake: Handshake| async move {
        Err::<(), _>("database unavailable")
    });
    let mut server = serve(layer).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    assert_eq!(expect_close(&mut client).await.0, 1011);
    let summary = within(session.ended()).await;
    match summary.error {
        Some(SessionError::Handler(e)) => assert_eq!(e.to_string(), "database unavailable"),
        other => panic!("expected the handler's error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_that_vanishes_ends_the_session_as_abnormal() {
    let mut server = serve(WebSocketLayer::default()).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    round_trip(&mut client, ClientMessage::text("then silence")).await;
    drop(client);
    let summary = within(session.ended()).await;
    assert_eq!(summary.closed_by, ClosedBy::Neither);
    assert_eq!(summary.close_code, CloseCode::ABNORMAL);
    assert!(
        matches!(
            summary.error,
            Some(SessionError::Socket(Error::ConnectionReset | Error::Io(_)))
        ),
        "{:?}",
        summary.error
    );
    assert_eq!(summary.received.messages, 1);
}

#[tokio::test]
async fn a_protocol_error_is_closed_with_1002_and_the_server_keeps_serving() {
    let mut server = serve(WebSocketLayer::default()).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    // A continuation with no message to continue.
    send_fragment(&mut client, b"orphan", None, true).await;
    assert_eq!(expect_close(&mut client).await.0, 1002);
    let summary = within(session.ended()).await;
    assert_eq!(summary.close_code, CloseCode::PROTOCOL_ERROR);
    let mut next = server.connect().await;
    round_trip(&mut next, ClientMessage::text("next client is fine")).await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_answers_the_close_is_dropped_after_the_close_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let layer = WebSocketLayer::new(|_socket: WebSocket, _handshake: Handshake| async {})
        .close_timeout(Duration::from_millis(300));
    let mut server = serve(layer).await;
    let mut raw = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    raw.write_all(crate::common::upgrade_request("/ws", "").as_bytes())
        .await
        .unwrap();
    let session = server.next_session().await;
    let started = Instant::now();
    // Read the 101 and the close frame, answer nothing, and wait for the server's FIN.
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = within(raw.read(&mut chunk)).await.unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&chunk[..n]);
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "closed after {waited:?}"
    );
    // The response head, then a close frame with code 1000 (0x03e8).
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&received[head_end..], &[0x88, 0x02, 0x03, 0xe8]);
    let summary = within(session.ended()).await;
    assert_eq!(
        (summary.closed_by, summary.close_code),
        (ClosedBy::Server, CloseCode::NORMAL)
    );
}
