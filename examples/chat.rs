//! The chat sample: a page at <http://localhost:5001> where you pick a room and a name, and
//! a socket at `/chat?room=NAME` that relays every text message a member sends to every
//! member of that room, the sender included, through a [`Topics`] hub.
//!
//! ```text
//! cargo run --example chat            # PORT=8080 for another port, PORT=0 for any free one
//! ```
//!
//! The page puts the name into each message's text; the server relays text as it is.
//! `GET /members?room=NAME` answers `{"room":"NAME","members":N}`, which the page shows.
//! A member that stops reading misses messages once 1 MiB is queued for it, instead of
//! growing the server. Ctrl-C closes every socket with 1001 (Going Away).
//!
//! With `REDIS_URL` set (and the `redis` feature), the rooms are shared with every chat
//! process on that Redis:
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 PORT=5001 cargo run --example chat --features redis
//! REDIS_URL=redis://127.0.0.1:6379 PORT=5002 cargo run --example chat --features redis
//! ```

mod support;

use std::{convert::Infallible, time::Duration};

use http::{header, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::net::TcpListener;
use tower::{service_fn, ServiceBuilder};
use tower_websockets::{
    deflate::DeflateConfig, Decision, Handshake, Message, Topics, WebSocket, WebSocketLayer,
};

const PAGE: &str = include_str!("chat.html");

/// The longest room name, in bytes.
const MAX_ROOM: usize = 64;

/// The room a socket joined, found by the accept hook and handed to the handler.
#[derive(Clone)]
struct Room(String);

/// A member of a room: every text message it sends goes to the whole room.
async fn member(topics: Topics, mut socket: WebSocket, handshake: Handshake) {
    let Some(Room(room)) = handshake.extensions().get::<Room>().cloned() else {
        return;
    };
    topics.subscribe(&socket, &room);
    while let Some(Ok(message)) = socket.recv().await {
        // Text is relayed unchanged; binary messages are not part of this chat.
        if let Message::Text(_) = message {
            topics.publish(&room, message);
        }
    }
    // The socket leaves the room by itself when its session ends.
}

/// What a request without a good room is told.
const BAD_ROOM: &str = "name a room of 1 to 64 bytes: ?room=NAME\n";

/// The `room` query parameter, percent-decoded; `None` if missing, empty, too long or
/// not UTF-8.
fn room_of(uri: &Uri) -> Option<String> {
    let value = uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("room="))?;
    let room = percent_decode(value)?;
    (!room.is_empty() && room.len() <= MAX_ROOM).then_some(room)
}

/// Decodes `%XX` escapes and `+` (a space, in a query).
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        bytes.push(match byte {
            b'%' => {
                let hex = [input.next()?, input.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            b'+' => b' ',
            other => other,
        });
    }
    String::from_utf8(bytes).ok()
}

fn respond(status: StatusCode, kind: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, kind)
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}

/// The inner service: the page, the member count, 404 elsewhere.
async fn pages<B>(topics: Topics, req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = "text/plain; charset=utf-8";
    Ok(match req.uri().path() {
        "/" | "/index.html" => respond(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        "/members" => match room_of(req.uri()) {
            Some(room) => {
                let members = topics.subscribers(&room);
                let room = serde_json::to_string(&room).expect("a string serializes");
                let body = format!("{{\"room\":{room},\"members\":{members}}}");
                respond(StatusCode::OK, "application/json", body)
            }
            None => respond(StatusCode::BAD_REQUEST, text, BAD_ROOM),
        },
        _ => respond(StatusCode::NOT_FOUND, text, "Not found\n"),
    })
}

/// With `REDIS_URL` set: rooms shared with every chat process on that Redis.
#[cfg(feature = "redis")]
async fn shared_topics(url: &str) -> std::io::Result<Topics> {
    let backplane = tower_websockets::redis::RedisBackplane::builder(url)
        .prefix("chat:")
        .connect()
        .await
        .map_err(|e| std::io::Error::other(format!("REDIS_URL {url}: {e}")))?;
    support::say(&format!("rooms shared through Redis at {url}"));
    Ok(Topics::builder().backplane(backplane).build())
}

#[cfg(not(feature = "redis"))]
async fn shared_topics(_: &str) -> std::io::Result<Topics> {
    Err(std::io::Error::other(
        "REDIS_URL is set, but this build has no Redis support: \
         cargo run --example chat --features redis",
    ))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = support::port(5001)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    support::say(&format!(
        "chat sample on http://localhost:{port} (sockets at ws://localhost:{port}/chat?room=NAME)"
    ));

    let topics = match std::env::var("REDIS_URL") {
        Ok(url) => match shared_topics(&url).await {
            Ok(topics) => topics,
            Err(e) => {
                // A bad or unreachable REDIS_URL: say so plainly and stop.
                eprintln!("chat: {e}");
                std::process::exit(2);
            }
        },
        Err(_) => Topics::new(),
    };
    let handler = {
        let topics = topics.clone();
        move |socket: WebSocket, handshake: Handshake| member(topics.clone(), socket, handshake)
    };
    let sockets = WebSocketLayer::new(handler)
        .path("/chat")
        // The room is checked before the 101: a bad one gets a 400 that says why.
        .on_accept(|mut handshake: Handshake| async move {
            match room_of(handshake.uri()) {
                Some(room) => {
                    handshake.extensions_mut().insert(Room(room));
                    Decision::accept(handshake)
                }
                None => Decision::refuse(
                    Response::builder()
                        .status(StatusCode::BAD_REQUEST)
                        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                        .body(BAD_ROOM)
                        .expect("static response parts are valid"),
                ),
            }
        })
        .max_message_size(64 * 1024)
        .deflate(DeflateConfig::new());
    let shutdown = sockets.shutdown_handle();
    let app = ServiceBuilder::new()
        .layer(sockets)
        .service(service_fn(move |req| pages(topics.clone(), req)));

    let builder = support::http_builder();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors and the like: wait, don't spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let connection = builder
                    .serve_connection_with_upgrades(
                        TokioIo::new(stream),
                        TowerToHyperService::new(app.clone()),
                    )
                    .into_owned();
                tokio::spawn(connection);
            }
            _ = &mut ctrl_c => break,
        }
    }
    let report = shutdown.shutdown(Duration::from_secs(5)).await;
    support::say(&format!(
        "sockets: {} closed, {} dropped",
        report.closed, report.dropped
    ));
    Ok(())
}
