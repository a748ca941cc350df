//! What a handler can see of its socket while it runs, and `abort`.

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    protocol::{frame::coding::CloseCode as ClientCode, CloseFrame as ClientClose},
    Message as ClientMessage,
};
use tower_websockets::{
    error::SessionError, session::ClosedBy, socket::WebSocketState, CloseCode, CloseFrame,
    Handshake, Message, WebSocket, WebSocketLayer,
};

use crate::common::{next_data, serve, within};

#[tokio::test]
async fn the_state_and_the_peers_close_frame_are_readable_during_and_after() {
    let (report, mut reports) = mpsc::unbounded_channel();
    let layer = WebSocketLayer::new(move |socket: WebSocket, _: Handshake| {
        let report = report.clone();
        async move {
            let _ = report.send((socket.state(), socket.close_frame()));
            let (mut rx, tx) = socket.split();
            while let Some(Ok(_)) = rx.recv().await {}
            // Both halves see the peer's close, answered: the handshake is over.
            let _ = report.send((rx.state(), rx.close_frame()));
            let _ = report.send((tx.state(), None));
        }
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    assert_eq!(
        within(reports.recv()).await.unwrap(),
        (WebSocketState::Open, None)
    );
    client
        .close(Some(ClientClose {
            code: ClientCode::from(4000),
            reason: "done".into(),
        }))
        .await
        .unwrap();
    let expected = Some(CloseFrame::new(CloseCode(4000), "done"));
    assert_eq!(
        within(reports.recv()).await.unwrap(),
        (WebSocketState::Closed, expected)
    );
    assert_eq!(
        within(reports.recv()).await.unwrap(),
        (WebSocketState::Closed, None)
    );
}

#[tokio::test]
async fn a_close_without_a_code_reads_as_1005() {
    let (report, mut reports) = mpsc::unbounded_channel();
    let layer = WebSocketLayer::new(move |mut socket: WebSocket, _: Handshake| {
        let report = report.clone();
        async move {
            while let Some(Ok(_)) = socket.recv().await {}
            let _ = report.send(socket.close_frame());
        }
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    client.close(None).await.unwrap();
    let frame = within(reports.recv()).await.unwrap().unwrap();
    assert_eq!(frame.code, CloseCode::NO_STATUS);
}

#[tokio::test]
async fn abort_drops_the_connection_and_the_summary_says_so() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _: Handshake| async move {
        let _ = socket.send(Message::text("about to go")).await;
        // Wait for the client's word, then drop it without a close frame.
        let _ = socket.recv().await;
        socket.abort();
        assert_eq!(socket.state(), WebSocketState::Closed);
        assert!(socket.recv().await.is_none(), "nothing after an abort");
        assert!(socket.send(Message::text("too late")).await.is_err());
    });
    let mut server = serve(layer).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("about to go")
    );
    client.send(ClientMessage::text("go on")).await.unwrap();
    // The client sees the connection end with no close frame.
    match within(client.next()).await {
        Some(Err(_)) | None => {}
        other => panic!("expected an abrupt end, got {other:?}"),
    }
    let summary = within(session.ended()).await;
    assert!(
        matches!(summary.error, Some(SessionError::AbortedByHandler)),
        "{:?}",
        summary.error
    );
    assert_eq!(
        (summary.closed_by, summary.close_code),
        (ClosedBy::Neither, CloseCode::ABNORMAL)
    );
}

#[tokio::test]
async fn the_handler_sees_the_offered_subprotocols_in_order() {
    let (report, mut reports) = mpsc::unbounded_channel();
    let layer = WebSocketLayer::new(move |_: WebSocket, handshake: Handshake| {
        let offered: Vec<String> = handshake.offered_protocols().map(str::to_owned).collect();
        let _ = report.send((offered, handshake.protocol().map(str::to_owned)));
        async {}
    })
    .protocols(["c", "b"]);
    let server = serve(layer).await;
    // Two header lines make one list (RFC 9110 §5.3).
    let extra = "Sec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Protocol: c\r\n";
    let (_socket, head) = crate::common::RawSocket::connect_with(server.addr, extra).await;
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-protocol: c"),
        "{head}"
    );
    let (offered, agreed) = within(reports.recv()).await.unwrap();
    assert_eq!(offered, ["a", "b", "c"]);
    assert_eq!(agreed.as_deref(), Some("c"));
}
