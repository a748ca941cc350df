//! Keep-alive: pings go out whatever the handler does, and a silent peer is dropped.
//!
//! On tokio's paused clock: time moves only when every task waits, so "100 ms" is exact and
//! a loaded machine cannot make a timer fire early or late.

use std::time::Duration;

use tokio::time::Instant;

use crate::common::{expect_text, round_trip, send_fragment, serve, within, RawSocket};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::{protocol::frame::coding::Data, Message as ClientMessage};
use tower_websockets::{
    error::SessionError, session::ClosedBy, CloseCode, Handshake, Message, WebSocket,
    WebSocketLayer,
};

#[tokio::test(start_paused = true)]
async fn a_peer_that_answers_no_ping_is_dropped_after_the_timeout() {
    let layer = WebSocketLayer::default()
        .keep_alive_interval(Duration::from_millis(100))
        .keep_alive_timeout(Duration::from_millis(200));
    let mut server = serve(layer).await;
    let mut silent = RawSocket::connect(server.addr).await;
    let session = server.next_session().await;
    let started = Instant::now();
    // Read pings, answer none, until the server ends the connection.
    let mut pings = 0;
    while let Some(frame) = silent.recv().await {
        assert_eq!(frame.opcode, 9, "only pings come");
        pings += 1;
    }
    let dropped_after = started.elapsed();
    // First ping at 100 ms, dropped 200 ms later.
    assert!(
        dropped_after >= Duration::from_millis(300),
        "dropped after {dropped_after:?}"
    );
    assert!(pings >= 2, "{pings} pings");
    let summary = within(session.ended()).await;
    assert!(
        matches!(summary.error, Some(SessionError::KeepAliveTimeout)),
        "{:?}",
        summary.error
    );
    assert_eq!(
        (summary.closed_by, summary.close_code),
        (ClosedBy::Neither, CloseCode::ABNORMAL)
    );
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_answers_is_kept() {
    let layer = WebSocketLayer::default()
        .keep_alive_interval(Duration::from_millis(50))
        .keep_alive_timeout(Duration::from_millis(100));
    let mut server = serve(layer).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    // tungstenite answers each ping while it reads; read for ten timeouts.
    let until = Instant::now() + Duration::from_millis(1000);
    let mut pings = 0;
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(100), client.next()).await {
            Ok(Some(Ok(ClientMessage::Ping(_)))) => pings += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {}
        }
    }
    assert!(pings >= 10, "{pings} pings");
    assert!(
        session.summary().is_none(),
        "the session ended: {:?}",
        session.summary()
    );
    round_trip(&mut client, ClientMessage::text("still connected")).await;
}

#[tokio::test(start_paused = true)]
async fn pings_go_out_while_the_handler_is_busy_sending() {
    // A handler that only sends, for about a second, and never receives.
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _handshake: Handshake| async move {
        let until = Instant::now() + Duration::from_millis(1000);
        while Instant::now() < until {
            if socket.send(Message::binary(vec![1u8; 1024])).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .keep_alive_interval(Duration::from_millis(100));
    let server = serve(layer).await;
    let mut client = server.connect().await;
    let (mut pings, mut data) = (0, 0);
    while let Some(Ok(message)) = within(client.next()).await {
        match message {
            ClientMessage::Ping(_) => pings += 1,
            ClientMessage::Binary(_) => data += 1,
            _ => {}
        }
    }
    assert!(data > 100, "{data} messages");
    assert!(pings >= 5, "{pings} pings while the handler was sending");
}

/// `Duration::MAX` for the interval or the timeout means "never": no deadline may overflow
/// the clock (`Instant + Duration` panics).
#[tokio::test(start_paused = true)]
async fn intervals_and_timeouts_of_duration_max_never_fire() {
    for (interval, timeout) in [
        (Duration::MAX, Some(Duration::MAX)),
        (Duration::from_millis(100), Some(Duration::MAX)),
        (Duration::MAX, None),
    ] {
        let mut layer = WebSocketLayer::default().keep_alive_interval(interval);
        if let Some(timeout) = timeout {
            layer = layer.keep_alive_timeout(timeout);
        }
        let mut server = serve(layer).await;
        let mut client = server.connect().await;
        let session = server.next_session().await;
        // An hour of silence on the paused clock (and 50 ms, to be clear of the 36,000th
        // ping): pings come only at a finite interval.
        let quiet_until = Instant::now() + Duration::from_millis(3_600_050);
        let mut pings = 0;
        while let Ok(message) = tokio::time::timeout_at(quiet_until, client.next()).await {
            match message {
                Some(Ok(ClientMessage::Ping(_))) => pings += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        let expected = if interval == Duration::MAX { 0 } else { 36_000 };
        assert_eq!(
            pings, expected,
            "interval {interval:?}, timeout {timeout:?}"
        );
        round_trip(&mut client, ClientMessage::text("still connected")).await;
        assert!(session.summary().is_none(), "{:?}", session.summary());
    }
}

/// Waits for the server's next ping, which no data may come before.
async fn next_ping(client: &mut crate::common::Client) {
    match within(client.next()).await {
        Some(Ok(ClientMessage::Ping(_))) => {}
        other => panic!("expected a ping, got {other:?}"),
    }
}

/// At each ping a socket whose input is all read gives its engine's read buffer back; it
/// reads on after: a message larger than the buffer, a message whose fragments have a ping
/// between them, and a message after a message, round after round.
#[tokio::test(start_paused = true)]
async fn a_socket_reads_on_after_giving_its_read_buffer_back_at_a_ping() {
    let layer = WebSocketLayer::default().keep_alive_interval(Duration::from_millis(100));
    let mut server = serve(layer).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    for round in 0..3u8 {
        round_trip(&mut client, ClientMessage::text(format!("round {round}"))).await;
        next_ping(&mut client).await;
        round_trip(&mut client, ClientMessage::binary(vec![round; 100_000])).await;
        send_fragment(&mut client, b"frag", Some(Data::Text), false).await;
        next_ping(&mut client).await;
        send_fragment(&mut client, b"ments", None, true).await;
        expect_text(&mut client, "fragments").await;
        next_ping(&mut client).await;
    }
    assert!(session.summary().is_none(), "{:?}", session.summary());
}
