//! The limit on open sockets and the layer's counters.

use crate::common::{
    bits::{CONTINUATION, FIN, TEXT},
    raw_http, round_trip, serve, upgrade_request, within, RawSocket,
};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message as ClientMessage;
use tower_websockets::{Handshake, Message, WebSocket, WebSocketLayer};

#[tokio::test]
async fn the_limit_refuses_with_503_and_admits_again_when_a_socket_ends() {
    let layer = WebSocketLayer::default().max_sockets(2);
    let stats = layer.stats();
    let mut server = serve(layer).await;
    let mut first = server.connect().await;
    let first_session = server.next_session().await;
    let mut second = server.connect().await;
    let _ = server.next_session().await;
    assert_eq!(stats.open(), 2);

    let (status, head, body) = raw_http(server.addr, &upgrade_request("/ws", "")).await;
    assert_eq!(status, 503);
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    assert!(!body.is_empty());
    assert_eq!(server.inner_calls(), 0);

    // The two admitted sockets still work; when one closes, a new one gets its place.
    round_trip(&mut second, ClientMessage::text("still here")).await;
    first.close(None).await.unwrap();
    within(first_session.ended()).await;
    assert_eq!(stats.open(), 1);
    let mut third = server.connect().await;
    round_trip(&mut third, ClientMessage::text("admitted again")).await;
    assert_eq!((stats.accepted(), stats.rejections().over_limit), (3, 1));
}

#[tokio::test]
async fn a_panicking_handler_and_a_vanished_client_give_their_places_back() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _handshake: Handshake| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if message == Message::text("panic") {
                panic!("on purpose");
            }
            if message.is_data() && socket.send(message).await.is_err() {
                break;
            }
        }
    })
    .max_sockets(1);
    let stats = layer.stats();
    let mut server = serve(layer).await;

    let mut doomed = server.connect().await;
    let session = server.next_session().await;
    doomed.send(ClientMessage::text("panic")).await.unwrap();
    assert_eq!(crate::common::expect_close(&mut doomed).await.0, 1011);
    within(session.ended()).await;
    assert_eq!(stats.open(), 0);

    let mut vanishing = server.connect().await;
    let session = server.next_session().await;
    round_trip(&mut vanishing, ClientMessage::text("then gone")).await;
    drop(vanishing);
    within(session.ended()).await;
    assert_eq!(stats.open(), 0);

    let mut last = server.connect().await;
    round_trip(&mut last, ClientMessage::text("the place is free")).await;
    assert_eq!(stats.rejections().over_limit, 0);
}

#[tokio::test]
async fn the_counters_count_each_refusal_by_reason() {
    let layer = WebSocketLayer::default()
        .allowed_origins(["https://app.example"])
        .protocols(["chat"])
        .require_protocol(true);
    let stats = layer.stats();
    let server = serve(layer).await;
    let good = upgrade_request("/ws", "Sec-WebSocket-Protocol: chat\r\n");
    let requests = [
        "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        good.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
        good.replace("Version: 13", "Version: 8"),
        good.replace("\r\n\r\n", "\r\nOrigin: https://evil.example\r\n\r\n"),
        upgrade_request("/ws", ""),
        good.clone(),
    ];
    let mut statuses = Vec::new();
    for request in &requests {
        statuses.push(raw_http(server.addr, request).await.0);
    }
    assert_eq!(statuses, [400, 400, 426, 403, 400, 101]);
    let rejected = stats.rejections();
    assert_eq!(
        (
            rejected.not_websocket,
            rejected.bad_handshake,
            rejected.unsupported_version,
            rejected.forbidden_origin,
            rejected.no_protocol,
            rejected.over_limit,
        ),
        (1, 1, 1, 1, 1, 0)
    );
    assert_eq!(stats.accepted(), 1);
}

/// Header lines of `size` bytes in all, as `X-Filler-N: xxx...`, 8 KiB a line at most.
fn filler(size: usize) -> String {
    let mut lines = String::new();
    let mut left = size;
    let mut n = 0;
    while left > 0 {
        let name = format!("X-Filler-{n}");
        let value_len = left.saturating_sub(name.len() + 4).clamp(1, 8 * 1024);
        lines.push_str(&format!("{name}: {}\r\n", "x".repeat(value_len)));
        left = left.saturating_sub(name.len() + value_len + 4);
        n += 1;
    }
    lines
}

#[tokio::test]
async fn oversized_headers_on_the_socket_path_get_431_and_elsewhere_pass() {
    let layer = WebSocketLayer::default();
    let stats = layer.stats();
    let server = serve(layer).await;

    let (status, _, body) = raw_http(server.addr, &upgrade_request("/ws", &filler(200_000))).await;
    assert_eq!(status, 431);
    assert!(body.contains("header fields are larger"), "{body}");
    // A plain request on the path is refused the same way, before any other check.
    let plain = format!(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
        filler(40_000)
    );
    assert_eq!(raw_http(server.addr, &plain).await.0, 431);
    assert_eq!(stats.rejections().headers_too_large, 2);
    assert_eq!(server.inner_calls(), 0);

    // Other paths are the inner service's business.
    let elsewhere = format!(
        "GET /page HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
        filler(200_000)
    );
    let (status, _, body) = raw_http(server.addr, &elsewhere).await;
    assert_eq!((status, body.as_str()), (200, "inner saw /page"));

    // Just under the default 32 KiB (with the handshake's own lines): accepted.
    let (status, _, _) = raw_http(server.addr, &upgrade_request("/ws", &filler(31 * 1024))).await;
    assert_eq!(status, 101);
}

#[tokio::test]
async fn the_header_limit_is_configurable() {
    let server = serve(WebSocketLayer::default().max_header_size(1024)).await;
    let (status, _, _) = raw_http(server.addr, &upgrade_request("/ws", &filler(2_000))).await;
    assert_eq!(status, 431);
    let (status, _, _) = raw_http(server.addr, &upgrade_request("/ws", "")).await;
    assert_eq!(status, 101);
}

/// Sizes from configuration never overflow nor become allocations that cannot be made: a
/// reassembly buffer as large as `usize::MAX` is the message limit's size at most.
#[tokio::test]
async fn a_reassembly_capacity_of_usize_max_takes_fragmented_messages() {
    let layer = WebSocketLayer::default()
        .reassembly_capacity(usize::MAX)
        .max_message_size(1 << 16);
    let server = serve(layer).await;
    let mut socket = RawSocket::connect(server.addr).await;
    socket.send(TEXT, b"in ", true).await;
    socket.send(FIN | CONTINUATION, b"two", true).await;
    let echo = within(socket.recv()).await.expect("the echo");
    assert_eq!((echo.opcode, echo.payload.as_slice()), (1, &b"in two"[..]));
}
