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
    error::SessionError,
    session::{ClosedBy, SessionHandle},
    CloseCode, Handshake, Message, WebSocket, WebSocketLayer,
};

#[tokio::test(start_paused = true)]
async fn a_peer_that_answers_no_ping_is_dropped_after_the_timeout() {
    let layer = WebSocketLayer::default()
        .keep_alive_interval(Duration::from_millis(100))
        .keep_alive_timeout(Duration::from_millis(200));
    let mut server = serve(layer).await;
    let mut silent = RawSocket::connect(server.addr).await;
    let session = server.next_session().await;
    let (lasted, pings) = answer_nothing_until_dropped(&mut silent, session).await;
    // First ping at 100 ms, dropped 200 ms later.
    assert!(
        lasted >= Duration::from_millis(300),
        "dropped after {lasted:?}"
    );
    assert!(pings >= 2, "{pings} pings");
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

/// Reads pings on `silent` and answers none, until the server drops the connection:
/// how long that took and how many pings came. Its session must end for the silence.
async fn answer_nothing_until_dropped(
    silent: &mut RawSocket,
    session: SessionHandle,
) -> (Duration, usize) {
    let started = Instant::now();
    let mut pings = 0;
    while let Some(frame) = within(silent.recv()).await {
        assert_eq!(frame.opcode, 9, "only pings come");
        pings += 1;
    }
    let lasted = started.elapsed();
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
    (lasted, pings)
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

/// One clock serves the layer's sockets: a socket opened half-way through an interval is
/// pinged at the layer's next tick, and when it stays silent it alone is dropped, once the
/// timeout after that ping is up; a socket that answers is kept.
#[tokio::test(start_paused = true)]
async fn the_layers_clock_drops_the_silent_socket_and_keeps_the_other() {
    let layer = WebSocketLayer::default()
        .keep_alive_interval(Duration::from_millis(100))
        .keep_alive_timeout(Duration::from_millis(250));
    let mut server = serve(layer).await;
    let mut answering = server.connect().await;
    let kept = server.next_session().await;
    // tungstenite answers each ping while it reads.
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        while let Some(Ok(message)) = answering.next().await {
            match message {
                ClientMessage::Ping(_) => pings += 1,
                ClientMessage::Close(_) => break,
                other => panic!("unexpected {other:?}"),
            }
            if pings == 6 {
                break;
            }
        }
        (answering, pings)
    });
    // Half an interval later on the paused clock, a peer that answers nothing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut silent = RawSocket::connect(server.addr).await;
    let dropped = server.next_session().await;
    let (lasted, pings) = answer_nothing_until_dropped(&mut silent, dropped).await;
    // Its first ping came at the layer's tick, 50 ms after it opened; the timeout runs
    // from there.
    assert!(
        lasted >= Duration::from_millis(300),
        "dropped after {lasted:?}"
    );
    assert!(pings >= 3, "{pings} pings");
    let (mut answering, pings) = within(reader).await.unwrap();
    assert_eq!(pings, 6);
    round_trip(&mut answering, ClientMessage::text("still connected")).await;
    assert!(kept.summary().is_none(), "{:?}", kept.summary());
}

/// The clock stops at the first tick that finds no session, and the next session starts
/// it again: its first ping comes a whole interval after it opened, not at the stopped
/// clock's phase.
#[tokio::test(start_paused = true)]
async fn the_clock_stops_with_the_last_session_and_starts_with_the_next() {
    let interval = Duration::from_millis(100);
    let mut server = serve(WebSocketLayer::default().keep_alive_interval(interval)).await;
    let mut first = server.connect().await;
    let session = server.next_session().await;
    next_ping(&mut first).await;
    first.close(None).await.unwrap();
    within(session.ended()).await;
    // Past the tick that finds no session, and 30 ms off the old clock's phase.
    tokio::time::sleep(Duration::from_millis(130)).await;
    let mut next = server.connect().await;
    let opened = Instant::now();
    next_ping(&mut next).await;
    assert_eq!(opened.elapsed(), interval);
    next_ping(&mut next).await;
    assert_eq!(opened.elapsed(), interval * 2);
}

/// A clock whose runtime shut down with it does not keep the layer from starting one in
/// the next runtime that serves it.
#[test]
fn a_layer_served_again_in_a_new_runtime_pings_again() {
    let layer = WebSocketLayer::default().keep_alive_interval(Duration::from_millis(100));
    for _ in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let server = serve(layer.clone()).await;
            let mut client = server.connect().await;
            next_ping(&mut client).await;
        });
        // Its tasks, the clock's and the session's among them, are dropped with it.
        drop(runtime);
    }
}
