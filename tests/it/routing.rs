//! What goes to the handler, what is refused, and what goes to the inner service.

use crate::common::{raw_http, serve, upgrade_request};
use tower_websockets::WebSocketLayer;

#[tokio::test]
async fn a_plain_get_on_the_socket_path_gets_400_and_skips_the_inner_service() {
    let server = serve(WebSocketLayer::default()).await;
    let (status, head, body) =
        raw_http(server.addr, "GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, 400);
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/plain"));
    assert!(body.contains("WebSocket"), "{body}");
    assert_eq!(server.inner_calls(), 0);
}

#[tokio::test]
async fn other_paths_reach_the_inner_service_with_their_response_intact() {
    let server = serve(WebSocketLayer::default()).await;
    let (status, head, body) = raw_http(
        server.addr,
        "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("x-inner: yes"));
    assert_eq!(body, "inner saw /hello");
    // `/ws/` and `/wss` are other paths: the match is exact.
    let (status, _, body) = raw_http(server.addr, "GET /ws/ HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!((status, body.as_str()), (200, "inner saw /ws/"));
    assert_eq!(server.inner_calls(), 2);
}

#[tokio::test]
async fn an_upgrade_on_an_unconfigured_path_goes_to_the_inner_service() {
    let server = serve(WebSocketLayer::default()).await;
    let (status, head, body) = raw_http(server.addr, &upgrade_request("/other", "")).await;
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains("x-inner: yes"));
    assert_eq!(body, "inner saw /other");
    assert_eq!(server.inner_calls(), 1);
}

#[tokio::test]
async fn several_paths_can_accept_sockets() {
    let server = serve(WebSocketLayer::default().paths(["/a", "/b"])).await;
    for path in ["/a", "/b"] {
        let mut client = server.connect_to(path).await;
        crate::common::round_trip(&mut client, "on a configured path".into()).await;
    }
    // The default `/ws` is replaced.
    let (status, _, _) = raw_http(server.addr, &upgrade_request("/ws", "")).await;
    assert_eq!(status, 200);
    assert_eq!(server.inner_calls(), 1);
}
