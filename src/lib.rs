//! WebSockets for any [tower] / [hyper] stack, as one middleware layer.
//!
//! [`WebSocketLayer`] looks at each request. A WebSocket upgrade on one of its paths is
//! accepted (`101 Switching Protocols`) and the socket handed to a [`Handler`] in a task of
//! its own; a plain request on such a path gets `400 Bad Request` with a short reason; every
//! other request goes to the inner service untouched. Once the socket closes, the outer
//! layers see how it ended through the [`SessionHandle`](session::SessionHandle) in the `101` response's
//! extensions. The model is ASP.NET Core's WebSockets middleware; the protocol engine is
//! [fastwebsockets].
//!
//! # Example
//!
//! A socket beside ordinary routes in an axum `Router`, answering each text message:
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use tower_websockets::{Handshake, Message, WebSocket, WebSocketLayer};
//!
//! async fn shout(mut socket: WebSocket, _handshake: Handshake) {
//!     while let Some(Ok(message)) = socket.recv().await {
//!         // Binary messages, pings and pongs are passed over; the socket answers pings.
//!         if let Message::Text(text) = message {
//!             if socket.send(Message::text(text.to_uppercase())).await.is_err() {
//!                 break;
//!             }
//!         }
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(WebSocketLayer::new(shout).path("/ws"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! A handler is an async closure or a struct implementing [`Handler`];
//! [`WebSocketLayer::with_state`] hands it the app's state, and an accept hook
//! ([`WebSocketLayer::on_accept`]) decides before the `101` and may give a socket a handler
//! of its own (see [`Decision`]). [`WebSocketLayer::into_service`] gives a service that a
//! router mounts at a path with parameters. The layer works the same in front of any tower
//! service served by hyper.
//!
//! # Topics
//!
//! A [`Topics`] hub delivers a message to every socket subscribed to a topic, encoded once
//! for all of them, without ever waiting for a slow one:
//!
//! ```
//! use tower_websockets::{Handshake, Message, Topics, WebSocket, WebSocketLayer};
//!
//! let topics = Topics::new();
//! let layer = WebSocketLayer::new({
//!     let topics = topics.clone();
//!     move |mut socket: WebSocket, _: Handshake| {
//!         let topics = topics.clone();
//!         async move {
//!             topics.subscribe(&socket, "news");
//!             // Read until the client leaves; the subscription ends with the session.
//!             while let Some(Ok(_)) = socket.recv().await {}
//!         }
//!     }
//! });
//! // From anywhere else, a background task say:
//! topics.publish("news", Message::text("the server says hello"));
//! # let _ = layer;
//! ```
//!
//! With the `redis` feature, a `RedisBackplane` shares topics
//! between server processes.
//!
//! # Passing state and data to a handler
//!
//! [`WebSocketLayer::with_state`] gives each session a clone of the app's state as the
//! handler's third argument; under an axum `Router`, give it the router's state (or the
//! part the sockets need).
//!
//! ```
//! use tower_websockets::{Handshake, Topics, WebSocket, WebSocketLayer};
//!
//! #[derive(Clone)]
//! struct App {
//!     topics: Topics,
//! }
//!
//! async fn listen(mut socket: WebSocket, _: Handshake, app: App) {
//!     app.topics.subscribe(&socket, "news");
//!     while let Some(Ok(_)) = socket.recv_data().await {}
//! }
//!
//! let layer = WebSocketLayer::with_state(App { topics: Topics::new() }, listen);
//! # let _ = layer;
//! ```
//!
//! What the request says (a path parameter, a query, a cookie, a header) is read before
//! the `101` by the accept hook, which hands it on typed: see the next section.
//!
//! # Authentication
//!
//! The accept hook ([`WebSocketLayer::on_accept`]) sees each handshake before the `101`.
//! It refuses with a status and a reason, or accepts with a handler of its own that owns
//! what it found out ([`Decision::accept_with`]):
//!
//! ```
//! use http::StatusCode;
//! use tower_websockets::{Decision, Echo, Handshake, WebSocket, WebSocketLayer};
//!
//! struct User(String);
//!
//! async fn admit(handshake: Handshake) -> Decision {
//!     let user = match handshake.headers().get("authorization").map(|v| v.as_bytes()) {
//!         Some(b"Bearer ada-secret") => User("Ada".into()),
//!         _ => return Decision::refuse((StatusCode::UNAUTHORIZED, "log in first")),
//!     };
//!     Decision::accept_with(handshake, move |socket, _| greet(socket, user))
//! }
//!
//! async fn greet(mut socket: WebSocket, user: User) {
//!     let _ = socket.send(format!("hello, {}", user.0)).await;
//! }
//!
//! let layer = WebSocketLayer::new(Echo).on_accept(admit);
//! # let _ = layer;
//! ```
//!
//! # Sending from other tasks
//!
//! [`WebSocket::sender`] gives a cloneable [`Sender`](socket::Sender) on the socket's own
//! bounded queue, for a game loop, a notifier or a task per subscription; messages keep
//! the order they were queued in.
//!
//! ```
//! use tower_websockets::{Handshake, WebSocket};
//!
//! async fn handler(mut socket: WebSocket, _: Handshake) {
//!     let sender = socket.sender();
//!     tokio::spawn(async move {
//!         let _ = sender.send("from another task").await;
//!     });
//!     while let Some(Ok(message)) = socket.recv_data().await {
//!         let _ = socket.send(message).await;
//!     }
//! }
//! ```
//!
//! # TLS and HTTP/2
//!
//! Browsers speak HTTP/2 only over TLS. Offer `h2` by ALPN, serve each TLS stream with
//! hyper-util's `auto::Builder` with `http2().enable_connect_protocol()`, and a browser
//! opens its sockets on the page's HTTP/2 connection (RFC 8441); `cargo run --example tls`
//! shows it.
//!
//! ```
//! use std::sync::Arc;
//! use tokio_rustls::{rustls::ServerConfig, TlsAcceptor};
//!
//! /// TLS that offers HTTP/2 first, then HTTP/1.1.
//! fn acceptor(mut config: ServerConfig) -> TlsAcceptor {
//!     config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
//!     TlsAcceptor::from(Arc::new(config))
//! }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `http2` | yes | WebSockets over HTTP/2 (RFC 8441, extended CONNECT) |
//! | `deflate` | yes | permessage-deflate compression (RFC 7692), off until `WebSocketLayer::deflate` turns it on |
//! | `redis` | no | `RedisBackplane`: topics shared by several servers through Redis |
//! | `axum` | no | `Handshake::peer_addr` from axum's `ConnectInfo<SocketAddr>` |
//!
//! # Serving
//!
//! - Serve connections **with upgrades**: axum's `serve` does; with hyper-util,
//!   `serve_connection_with_upgrades`, or hyper's `serve_connection(..).with_upgrades()`.
//! - Set **`TCP_NODELAY`** on accepted connections (`stream.set_nodelay(true)`, or axum's
//!   `listener.tap_io(|tcp| { let _ = tcp.set_nodelay(true); })`): otherwise a small
//!   frame can wait up to 40 ms for the previous one's acknowledgement.
//! - For **HTTP/2**, announce extended CONNECT:
//!   `builder.http2().enable_connect_protocol()` on hyper-util's `auto::Builder`.
//! - Limits that belong to the HTTP server rather than the layer: a timeout for the
//!   request head (`http1().header_read_timeout(..)`, with a timer) and a cap on its size
//!   (`http1().max_buf_size(..)`). The layer answers `431` past `max_header_size` on its
//!   own paths.
//!
//! [tower]: https://docs.rs/tower
//! [hyper]: https://docs.rs/hyper
//! [fastwebsockets]: https://docs.rs/fastwebsockets

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod accept;
mod config;
#[cfg(feature = "deflate")]
pub mod deflate;
mod echo;
pub mod error;
pub mod handler;
mod handshake;
mod layer;
mod message;
mod part;
#[cfg(feature = "protocol")]
pub mod protocol;
mod random;
#[cfg(feature = "redis")]
pub mod redis;
mod rejection;
pub mod service;
pub mod session;
mod shutdown;
pub mod socket;
pub mod stats;
mod sync;
mod text;
pub mod topics;
mod upgrade;

pub use accept::Decision;
pub use echo::Echo;
pub use error::{Error, ProtocolError};
pub use handler::Handler;
pub use handshake::Handshake;
pub use layer::WebSocketLayer;
pub use message::{CloseCode, CloseFrame, Message};
pub use socket::{RecvHalf, SendHalf, WebSocket};
pub use text::Utf8Bytes;
pub use topics::Topics;

/// The README's code examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
