//! The opening handshake over real sockets: each refusal with its status, subprotocols and
//! allowed origins. The inner service never sees a request on the socket path.

use crate::common::{raw_http, round_trip, serve, upgrade_request, Server};
use tower_websockets::{Echo, WebSocketLayer};

/// Sends `request`, returns status and lower-cased head; the server must stay up after it.
async fn answer(server: &Server, request: &str) -> (u16, String) {
    let (status, head, body) = raw_http(server.addr, request).await;
    if status != 101 {
        assert!(!body.is_empty(), "a refusal says why");
        assert!(head
            .to_ascii_lowercase()
            .contains("content-type: text/plain"));
    }
    (status, head.to_ascii_lowercase())
}

#[tokio::test]
async fn each_malformed_handshake_gets_the_rfc_status() {
    let server = serve(WebSocketLayer::default()).await;
    let good = upgrade_request("/ws", "");
    let without = |line: &str| good.replace(line, "");
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "plain GET",
            "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n".into(),
            400,
        ),
        ("no Upgrade", without("Upgrade: websocket\r\n"), 400),
        ("no Connection", without("Connection: Upgrade\r\n"), 400),
        (
            "Connection without the token",
            good.replace("Connection: Upgrade", "Connection: keep-alive"),
            400,
        ),
        (
            "another Upgrade",
            good.replace("Upgrade: websocket", "Upgrade: h2c"),
            400,
        ),
        (
            "POST",
            good.replacen("GET", "POST", 1)
                .replace("Host:", "Content-Length: 0\r\nHost:"),
            400,
        ),
        ("HTTP/1.0", good.replace("HTTP/1.1", "HTTP/1.0"), 400),
        (
            "no key",
            without("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            400,
        ),
        (
            "key of 5 bytes",
            good.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
            400,
        ),
        (
            "key not base64",
            good.replace("dGhlIHNhbXBsZSBub25jZQ==", "!!!!!!!!!!!!!!!!!!!!!!=="),
            400,
        ),
        (
            "two keys",
            good.replace(
                "\r\n\r\n",
                "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            ),
            400,
        ),
        ("no version", without("Sec-WebSocket-Version: 13\r\n"), 426),
        ("version 8", good.replace("Version: 13", "Version: 8"), 426),
    ];
    for (what, request, expected) in cases {
        let (status, head) = answer(&server, &request).await;
        assert_eq!(status, expected, "{what}");
        if expected == 426 {
            assert!(head.contains("sec-websocket-version: 13"), "{what}: {head}");
        }
    }
    assert_eq!(server.inner_calls(), 0);
    // Tokens are case-insensitive and may stand in lists.
    let relaxed = good
        .replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE")
        .replace("Upgrade: websocket", "Upgrade: WebSocket");
    let (status, head) = answer(&server, &relaxed).await;
    assert_eq!(status, 101);
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="));
    let mut client = server.connect().await;
    round_trip(&mut client, "serving after all that".into()).await;
}

#[tokio::test]
async fn subprotocols_chosen_none_offered_none_matching_required() {
    let server = serve(WebSocketLayer::new(Echo).protocols(["graphql-ws", "chat"])).await;
    let offer = |protocols: &str| {
        upgrade_request("/ws", &format!("Sec-WebSocket-Protocol: {protocols}\r\n"))
    };

    let (status, head) = answer(&server, &offer("chat, graphql-ws")).await;
    assert_eq!(status, 101);
    assert!(
        head.contains("sec-websocket-protocol: graphql-ws\r\n"),
        "{head}"
    );

    let (status, head) = answer(&server, &upgrade_request("/ws", "")).await;
    assert_eq!(status, 101);
    assert!(!head.contains("sec-websocket-protocol"), "{head}");

    let (status, head) = answer(&server, &offer("mqtt")).await;
    assert_eq!(status, 101);
    assert!(!head.contains("sec-websocket-protocol"), "{head}");

    let strict = serve(
        WebSocketLayer::new(Echo)
            .protocols(["chat"])
            .require_protocol(true),
    )
    .await;
    assert_eq!(answer(&strict, &offer("mqtt")).await.0, 400);
    assert_eq!(answer(&strict, &upgrade_request("/ws", "")).await.0, 400);
    assert_eq!(answer(&strict, &offer("chat")).await.0, 101);
}

#[tokio::test]
async fn a_selector_can_choose_the_subprotocol() {
    let layer = WebSocketLayer::new(Echo).select_protocol(|offered| {
        offered
            .iter()
            .find(|p| p.starts_with("v"))
            .map(|p| p.to_string())
    });
    let server = serve(layer).await;
    let request = upgrade_request("/ws", "Sec-WebSocket-Protocol: json, v3, v2\r\n");
    let (status, head) = answer(&server, &request).await;
    assert_eq!(status, 101);
    assert!(head.contains("sec-websocket-protocol: v3\r\n"), "{head}");
}

#[tokio::test]
async fn only_allowed_origins_may_open_sockets() {
    let layer =
        WebSocketLayer::default().allowed_origins(["https://app.example", "http://localhost:5000"]);
    let server = serve(layer).await;
    let from = |origin: &str| upgrade_request("/ws", &format!("Origin: {origin}\r\n"));
    for allowed in [
        "https://app.example",
        "HTTPS://App.Example:443",
        "http://localhost:5000",
    ] {
        assert_eq!(answer(&server, &from(allowed)).await.0, 101, "{allowed}");
    }
    for refused in [
        "https://evil.example",
        "http://app.example",
        "http://localhost:5001",
        "null",
        "garbage",
    ] {
        assert_eq!(answer(&server, &from(refused)).await.0, 403, "{refused}");
    }
    // Non-browser clients send no Origin: allowed unless told otherwise.
    assert_eq!(answer(&server, &upgrade_request("/ws", "")).await.0, 101);
    let strict = serve(
        WebSocketLayer::default()
            .allowed_origins(["https://app.example"])
            .allow_missing_origin(false),
    )
    .await;
    assert_eq!(answer(&strict, &upgrade_request("/ws", "")).await.0, 403);
    assert_eq!(answer(&strict, &from("https://app.example")).await.0, 101);
    assert_eq!(server.inner_calls() + strict.inner_calls(), 0);
}
