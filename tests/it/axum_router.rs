//! The layer inside an axum `Router`, beside ordinary routes.

use std::net::SocketAddr;

use crate::common::{next_data, within};
use axum::{routing::get, Extension, Router};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message as ClientMessage;
use tower_websockets::{Handshake, Message, WebSocket, WebSocketLayer};

#[derive(Clone)]
struct Greeting(&'static str);

async fn start(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

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
    let addr = start(router).await;

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
