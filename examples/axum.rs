//! WebSockets inside an axum `Router`, beside ordinary routes, two ways.
//!
//! ```text
//! cargo run --example axum     # PORT=8080 for another port, PORT=0 for any free one
//! ```
//!
//! - `/rooms/{room}/ws`: a socket service the router mounts (`into_service`). Its handler
//!   is a struct holding the app's state (a `Topics` hub, which the ordinary route
//!   `GET /rooms/{room}` shares to count members); it takes the room from the path and
//!   relays each text message to everyone in the room with the room's name in front
//!   (`[lobby] hi`). This is the README's quick start.
//! - `/chat?name=ada`: the layer in front of the router, on its own path. An outer
//!   middleware puts a (pretend) user in the request's extensions; the handler greets that
//!   user by name and tags each echo with the peer address axum's `ConnectInfo` records.
//!
//! Try it with any WebSocket client, e.g. `npx wscat -c ws://localhost:3000/rooms/lobby/ws`.

mod support;

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts, Path, Request, State},
    middleware::{self, Next},
    response::Response,
    routing::get,
    Router,
};
use tower_websockets::{Error, Handler, Handshake, Message, Topics, WebSocket, WebSocketLayer};

/// The app's state: the socket handler and the router's routes share it.
#[derive(Clone)]
struct Rooms {
    topics: Topics,
}

impl Handler for Rooms {
    type Output = Result<(), Error>;

    async fn call(&self, mut socket: WebSocket, mut handshake: Handshake) -> Result<(), Error> {
        // The router's path parameters are in the request's parts, for axum's extractors.
        let Ok(Path(room)) = Path::<String>::from_request_parts(handshake.parts_mut(), &()).await
        else {
            return Ok(());
        };
        self.topics.subscribe(&socket, &room);
        // Every message but text (binary, pings, pongs) is passed over: the socket answers
        // pings itself, and a pong may come at any time.
        while let Some(message) = socket.recv().await {
            if let Message::Text(text) = message? {
                let line = Message::text(format!("[{room}] {text}"));
                self.topics.publish(&room, line);
            }
        }
        Ok(())
    }
}

/// `GET /rooms/{room}`: how many sockets are in the room.
async fn members(State(rooms): State<Rooms>, Path(room): Path<String>) -> String {
    rooms.topics.subscribers(&room).to_string()
}

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

async fn chat(mut socket: WebSocket, handshake: Handshake) -> Result<(), Error> {
    let user = handshake
        .extensions()
        .get::<User>()
        .map_or("stranger", |u| u.0.as_str())
        .to_owned();
    let peer = handshake
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.to_string());
    // What the handler needs is out: the handshake (every request header among it) goes
    // now instead of living as long as the socket.
    drop(handshake);
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
    let rooms = Rooms {
        topics: Topics::new(),
    };
    let app = Router::new()
        .route(
            "/",
            get(|| async { "an ordinary axum route; sockets at /rooms/{room}/ws and /chat" }),
        )
        .route("/rooms/{room}", get(members))
        .route_service(
            "/rooms/{room}/ws",
            WebSocketLayer::new(rooms.clone()).into_service(),
        )
        .with_state(rooms)
        .layer(WebSocketLayer::new(chat).path("/chat"))
        .layer(middleware::from_fn(authenticate));

    let (listener, port) = support::axum_listener(3000).await?;
    support::say(&format!(
        "axum example on http://localhost:{port} (sockets at ws://localhost:{port}/rooms/lobby/ws \
         and ws://localhost:{port}/chat?name=you)"
    ));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
