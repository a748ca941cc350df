//! Authentication before the `101`: a token in the query or in a cookie, checked by the
//! accept hook; the handler greets the user it found by name.
//!
//! ```text
//! cargo run --example auth     # PORT=8080 for another port, PORT=0 for any free one
//! npx wscat -c 'ws://localhost:5003/ws?token=ada-secret'
//! ```
//!
//! Without a token, or with one nobody has, the answer is `401 Unauthorized` with the
//! reason as plain text, and no socket is opened: `curl -i localhost:5003/ws -H
//! 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H
//! 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='` shows it. A browser page on the same
//! origin sends the cookie `token=...` with its socket's handshake; tools send
//! `Cookie: token=...`. The users and their tokens are made up for the example: keep real
//! tokens in a store, and compare them in constant time.

mod support;

use std::collections::HashMap;

use axum::{routing::get, Router};
use http::{header, StatusCode};
use tower_websockets::{Decision, Echo, Handshake, WebSocket, WebSocketLayer};

/// Who a client is, as its token says.
struct User {
    name: String,
}

/// The tokens this example knows.
fn users() -> HashMap<&'static str, &'static str> {
    HashMap::from([("ada-secret", "Ada"), ("alan-secret", "Alan")])
}

/// The token from `?token=` or, failing that, from the `token` cookie.
fn token(handshake: &Handshake) -> Option<String> {
    let from_query = handshake.uri().query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
    });
    let from_cookie = || {
        handshake
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .find_map(|cookie| cookie.trim().strip_prefix("token="))
    };
    from_query.or_else(from_cookie).map(str::to_owned)
}

/// The accept hook: a known token gets a socket with a handler that owns its user;
/// anything else gets a `401` that says what is wrong.
async fn admit(handshake: Handshake) -> Decision {
    let Some(token) = token(&handshake) else {
        return Decision::refuse((
            StatusCode::UNAUTHORIZED,
            "no token: add ?token=... to the URL, or send a token cookie",
        ));
    };
    let Some(name) = users().get(token.as_str()).copied() else {
        return Decision::refuse((StatusCode::UNAUTHORIZED, "unknown token"));
    };
    let user = User {
        name: name.to_owned(),
    };
    Decision::accept_with(handshake, move |socket, _| greet(socket, user))
}

/// Greets the user, then answers each text message with the user's name in front.
async fn greet(mut socket: WebSocket, user: User) -> Result<(), tower_websockets::Error> {
    socket.send(format!("hello, {}", user.name)).await?;
    while let Some(message) = socket.recv_data().await {
        if let Some(text) = message?.as_text() {
            socket.send(format!("{}: {text}", user.name)).await?;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Every socket the hook accepts gets the hook's handler; `Echo` stands for none.
    let sockets = WebSocketLayer::new(Echo).path("/ws").on_accept(admit);
    let app = Router::new()
        .route(
            "/",
            get(|| async { "sockets at /ws?token=ada-secret (or a token cookie)\n" }),
        )
        .layer(sockets);

    let (listener, port) = support::axum_listener(5003).await?;
    support::say(&format!(
        "auth example on http://localhost:{port} (socket at ws://localhost:{port}/ws?token=ada-secret)"
    ));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
