//! The chat sample: a page at <http://localhost:5001> where you pick a room and a name.
//! The page talks the topics protocol (PROTOCOL.md) to `/chat` through the JavaScript
//! client in `client/` (served at `/client.js`): each room is a topic, every message goes
//! to the whole room, and a page whose connection drops reconnects by itself and shows
//! the messages it missed, or says plainly that it could not get them all.
//!
//! ```text
//! cargo run --example chat            # PORT=8080 for another port, PORT=0 for any free one
//! ```
//!
//! Each room keeps its last 100 messages for two minutes: a page away for longer, or that
//! missed more, is told so. `GET /members?room=NAME` answers `{"room":"NAME","members":N}`,
//! which the page shows. `/?servers=ws://a/chat,ws://b/chat` gives the page several servers
//! to try in turn. A member that stops reading misses messages once 1 MiB is queued for it
//! (its page sees the jump and asks again), instead of growing the server. Ctrl-C closes
//! every socket with 1001 (Going Away).
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
    deflate::DeflateConfig,
    protocol::{Access, TopicsProtocol},
    topics::{History, TopicsBuilder},
    Topics,
};

const PAGE: &str = include_str!("chat.html");

/// The client of the topics protocol, as the page imports it.
const CLIENT: &str = include_str!("../client/src/index.js");

/// The longest room name, in bytes.
const MAX_ROOM: usize = 64;

/// Whether `room` names a room: 1 to 64 bytes.
fn is_room(room: &str) -> bool {
    !room.is_empty() && room.len() <= MAX_ROOM
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
    is_room(&room).then_some(room)
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
        "/client.js" => respond(StatusCode::OK, "text/javascript; charset=utf-8", CLIENT),
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
/// The rooms' hub: each room keeps its last 100 messages for two minutes.
fn rooms() -> TopicsBuilder {
    Topics::builder().history(History::new().max_publications(100))
}

#[cfg(feature = "redis")]
async fn shared_topics(url: &str) -> std::io::Result<Topics> {
    let backplane = tower_websockets::redis::RedisBackplane::builder(url)
        .prefix("chat:")
        .connect()
        .await
        .map_err(|e| std::io::Error::other(format!("REDIS_URL {url}: {e}")))?;
    support::say(&format!("rooms shared through Redis at {url}"));
    Ok(rooms().backplane(backplane).build())
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
        "chat sample on http://localhost:{port} (the topics protocol at ws://localhost:{port}/chat)"
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
        Err(_) => rooms().build(),
    };
    // Any room a client names, as long as it is a room name; 20 messages a second from one
    // page, unless PUBLISH_RATE says otherwise.
    let rate = support::number("PUBLISH_RATE", 20)?;
    let sockets = TopicsProtocol::new(topics.clone())
        .publish_rate(rate)
        .authorize(|_| {
            |access| match access {
                Access::Subscribe(room) | Access::Publish(room) => is_room(room),
                _ => false,
            }
        })
        .layer()
        .path("/chat")
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
