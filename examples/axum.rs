//! `WebSocketLayer` inside an axum `Router`, beside ordinary routes.
//!
//! ```text
//! cargo run --example axum     # then open ws://127.0.0.1:3000/chat?name=ada
//! ```
//!
//! An outer middleware reads a (pretend) session cookie and puts the user in the request's
//! extensions; the socket handler greets that user by name and tags each echo with the
//! peer address that axum's `ConnectInfo` records.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request},
    middleware::{self, Next},
    response::Response,
    routing::get,
    Router,
};
use tower_websockets::{Handshake, Message, WebSocket, WebSocketLayer};

/// Who is on the other end, as the authentication middleware found out.
#[derive(Clone, Debug)]
struct User(String);

/// Stands in for real authentication: the `name` query parameter or "guest".
async fn authenticate(mut req: Request, next: Next) -> Response {
    let name = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("name=")))
        .unwrap_or("guest")
        .to_owned();
    req.extensions_mut().insert(User(name));
    next.run(req).await
}

async fn chat(mut socket: WebSocket, handshake: Handshake) -> Result<(), tower_websockets::Error> {
    let user = handshake
        .extensions()
        .get::<User>()
        .map_or("stranger", |u| u.0.as_str())
        .to_owned();
    let peer = handshake
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.to_string());
    socket
        .send(Message::text(format!("welcome, {user} ({peer})")))
        .await?;
    while let Some(message) = socket.recv().await {
        if let Message::Text(text) = message? {
            socket
                .send(Message::text(format!("{user}: {text}")))
                .await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/",
            get(|| async { "an ordinary axum route; the socket is at /chat" }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(WebSocketLayer::new(chat).path("/chat"))
        .layer(middleware::from_fn(authenticate));

    // Small WebSocket frames must not wait for Nagle's algorithm (see the README).
    use axum::serve::ListenerExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    println!("axum example on http://127.0.0.1:3000 (socket at ws://127.0.0.1:3000/chat?name=you)");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
