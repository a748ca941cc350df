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
//! # The topics protocol
//!
//! With the `protocol` feature (on by default), `protocol::TopicsProtocol` is a handler
//! that speaks PROTOCOL.md (in the repository) over a hub of [`Topics`]: clients in any
//! language subscribe, publish, and after a reconnect recover what they missed; the
//! repository's `client/` is one for browsers and Node.js. Each client is held to limits
//! for a public endpoint (see the table below).
//!
//! # Feature flags
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `http2` | yes | WebSockets over HTTP/2 (RFC 8441, extended CONNECT) |
//! | `deflate` | yes | permessage-deflate compression (RFC 7692), off until `WebSocketLayer::deflate` turns it on |
//! | `protocol` | yes | `protocol::TopicsProtocol`, the topics protocol; nothing runs unless a layer mounts it |
//! | `redis` | no | `RedisBackplane`: topics shared by several servers through Redis |
//! | `axum` | no | for axum apps: the handshake copies axum's `OriginalUri` out of hyper's read buffer, which a handler keeping its [`Handshake`] would otherwise keep alive (8 to 16 KiB a socket); `Handshake::peer_addr` reads axum's `ConnectInfo<SocketAddr>` |
//!
//! # Limits and their defaults
//!
//! Everything that bounds what a socket or a client can make the server hold or wait
//! for, with its default and what to set on a server open to the internet:
//!
//! | setting | default | bounds | on the internet |
//! |---|---|---|---|
//! | [`WebSocketLayer::max_message_size`] | 64 MiB (`TopicsProtocol::layer`: 80 KiB) | a whole received message (1009 past it) | what the app's messages need: 64 KiB to 1 MiB |
//! | [`WebSocketLayer::max_frame_size`] | the message limit | one frame | leave it |
//! | [`WebSocketLayer::max_header_size`] | 32 KiB | an upgrade request's header fields (`431`) | 8 to 16 KiB |
//! | [`WebSocketLayer::max_sockets`] | none | open sockets (`503` past it) | what the machine's memory and file descriptors allow |
//! | [`WebSocketLayer::keep_alive_interval`] | 2 minutes (`TopicsProtocol::layer`: 30 s) | how long an idle connection goes without a ping | 30 s, under proxies' idle timeouts |
//! | [`WebSocketLayer::keep_alive_timeout`] | none (`TopicsProtocol::layer`: 30 s) | how long a peer that went away holds its socket | 10 to 30 s |
//! | [`WebSocketLayer::send_timeout`] | none | how long a send waits for a client that does not read | 10 to 30 s |
//! | [`WebSocketLayer::close_timeout`] | 5 s | the close handshake | leave it |
//! | a socket's send queue | 64 KiB and one message | what sends queue for a slow client | fixed |
//! | [`TopicsBuilder::queue_limit`](topics::TopicsBuilder::queue_limit) | 1 MiB | publications queued for a slow member (then [`WhenFull`](topics::WhenFull)) | leave it, or less for many members |
//! | [`History`](topics::History) | 100 publications, 256 KiB, 2 minutes a topic | what a topic keeps for recovery | what a reconnect should recover |
//! | [`TopicsBuilder::max_histories`](topics::TopicsBuilder::max_histories) | 10,000 topics | topics that keep history at once | with `History`, the memory the app gives history |
//! | `TopicsProtocol::max_subscriptions` | 256 | topics a client is subscribed to | what the app needs |
//! | `TopicsProtocol::max_publish_topics` | 64 | distinct topics a client publishes to | what the app needs |
//! | `TopicsProtocol::max_publication_size` | 64 KiB | one publication | what the app needs |
//! | `TopicsProtocol::publish_rate` | 50 a second | publications from one client | what a person or device sends |
//! | `TopicsProtocol::authorize_timeout` | 10 s | an `authorize_async` answer (then `unavailable`) | what the permission store answers in |
//! | `TopicsProtocol::max_concurrent_calls` | 16 | a client's calls running at once (then `too_many_calls`) | what a page has in flight |
//! | `TopicsProtocol::call_timeout` | 30 s | how long a call's method runs (then `timeout`) | what the slowest method needs |
//! | `RedisBackplane` queues | 64 Ki messages each way | messages waiting for Redis, or for this server (past it: lost, counted, histories read again) | fixed; subscriptions asked of Redis are kept one entry per channel |
//!
//! Three more belong to the HTTP server (see "Serving" below): a timeout for the request
//! head, its size, and `TCP_NODELAY`. Without `TopicsProtocol::authorize`, every client
//! may subscribe and publish to every topic within these limits.
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
pub mod identity;
mod layer;
mod message;
mod part;
#[cfg(feature = "protocol")]
pub mod protocol;
mod random;
#[cfg(feature = "redis")]
pub mod redis;
mod rejection;
mod seats;
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

/// The README's code examples, compiled and run as doctests, with the default features
/// they are written for (the topics protocol among them).
#[cfg(all(doctest, feature = "protocol"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
