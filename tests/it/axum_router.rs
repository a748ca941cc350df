//! The layer inside an axum `Router`, beside ordinary routes.

use crate::common::{next_data, serve_router, within};
use axum::{routing::get, Extension, Router};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message as ClientMessage;
use tower_websockets::{Handshake, Message, WebSocket, WebSocketLayer};

#[derive(Clone)]
struct Greeting(&'static str);

#[tokio::test]
async fn works_inside_an_axum_router_beside_ordinary_routes() {
    let handler = |mut socket: WebSocket, handshake: Handshake| async move {
        let greeting = handshake
            .extensions()
            .get::<Greeting>()
            .map_or("?", |g| g.0);
        socket.send(Message::text(greeting)).await?;
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Text(text) = message {
                socket.send(Message::text(format!("axum: {text}"))).await?;
            }
        }
        Ok::<_, tower_websockets::Error>(())
    };
    let router = Router::new()
        .route("/", get(|| async { "an ordinary route" }))
        .layer(WebSocketLayer::new(handler).path("/socket"))
        .layer(Extension(Greeting("hello from axum")));
    let addr = serve_router(router).await;

    let (status, _, body) =
        crate::common::raw_http(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!((status, body.as_str()), (200, "an ordinary route"));
    let (status, _, _) =
        crate::common::raw_http(addr, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 404);
    let (status, _, _) =
        crate::common::raw_http(addr, "GET /socket HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 400);

    let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket"
    )))
    .await
    .unwrap();
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("hello from axum")
    );
    client.send(ClientMessage::text("hi")).await.unwrap();
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("axum: hi")
    );
}

#[tokio::test]
async fn a_router_mounts_the_socket_at_its_own_path_with_its_parameters() {
    use axum::extract::{FromRequestParts, MatchedPath, Path};

    async fn room(mut socket: WebSocket, mut handshake: Handshake) {
        let matched = handshake
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned());
        let Ok(Path(room)) = Path::<String>::from_request_parts(handshake.parts_mut(), &()).await
        else {
            return;
        };
        let hello = format!("{room} via {matched:?}");
        if socket.send(Message::text(hello)).await.is_err() {
            return;
        }
        while let Some(Ok(message)) = socket.recv().await {
            let Message::Text(text) = message else {
                continue;
            };
            if socket
                .send(Message::text(format!("[{room}] {text}")))
                .await
                .is_err()
            {
                break;
            }
        }
    }
    let router = Router::new()
        .route("/", get(|| async { "home" }))
        .route_service("/rooms/{room}/ws", WebSocketLayer::new(room).into_service())
        .nest_service("/nested", WebSocketLayer::new(room).into_service());
    let addr = serve_router(router).await;

    let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/rooms/lobby/ws"
    )))
    .await
    .unwrap();
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("lobby via Some(\"/rooms/{room}/ws\")")
    );
    client.send(ClientMessage::text("hi")).await.unwrap();
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("[lobby] hi")
    );

    // A plain request at the socket's path: 400 from the socket service, not the router.
    let (status, _, body) =
        crate::common::raw_http(addr, "GET /rooms/lobby/ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("WebSocket"), "{body}");
    // Other paths are still the router's.
    let (status, _, _) =
        crate::common::raw_http(addr, "GET /rooms/lobby HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 404);

    // Nested: any path under the prefix is the socket's; no `room` parameter there.
    let (mut nested, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/nested/anything"
    )))
    .await
    .unwrap();
    match within(futures_util::StreamExt::next(&mut nested)).await {
        Some(Ok(ClientMessage::Close(_))) | None => {}
        other => panic!("the handler ends without a room: {other:?}"),
    }
}
