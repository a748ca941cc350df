//! WebSockets for any [tower] / [hyper] stack, as one middleware layer.
//!
//! [`WebSocketLayer`] looks at each request. A WebSocket upgrade on one of its paths is
//! accepted (`101 Switching Protocols`) and the socket handed to a [`Handler`] in a task of
//! its own; a plain request on such a path gets `400 Bad Request` with a short reason; every
//! other request goes to the inner service untouched. The model is ASP.NET Core's
//! WebSockets middleware: accepting ends the request's trip down the pipeline, and once the
//! socket closes the outer layers see how it ended through the [`SessionHandle`] in the
//! `101` response's extensions.
//!
//! The protocol engine is [fastwebsockets]; this crate adds the handshake, whole-message
//! reassembly, the close handshake, keep-alive pings and limits around it.
//!
//! # Example
//!
//! Echo on `/ws` in front of any service (here one that says hello), served with hyper:
//!
//! ```no_run
//! use std::{convert::Infallible, time::Duration};
//!
//! use http_body_util::Full;
//! use hyper::{body::Bytes, Request, Response};
//! use hyper_util::{rt::{TokioExecutor, TokioIo}, server::conn::auto, service::TowerToHyperService};
//! use tower::{service_fn, ServiceBuilder};
//! use tower_websockets::{Echo, WebSocketLayer};
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let service = ServiceBuilder::new()
//!     .layer(
//!         WebSocketLayer::new(Echo)
//!             .path("/ws")
//!             .keep_alive_interval(Duration::from_secs(30))
//!             .max_message_size(1 << 20),
//!     )
//!     .service(service_fn(|_req: Request<hyper::body::Incoming>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!     }));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! loop {
//!     let (stream, _) = listener.accept().await?;
//!     let service = TowerToHyperService::new(service.clone());
//!     tokio::spawn(async move {
//!         let _ = auto::Builder::new(TokioExecutor::new())
//!             .serve_connection_with_upgrades(TokioIo::new(stream), service)
//!             .await;
//!     });
//! }
//! # }
//! ```
//!
//! A handler is any `async` closure taking the socket and its [`Handshake`]:
//!
//! ```
//! use tower_websockets::{Handshake, Message, WebSocket, WebSocketLayer};
//!
//! let layer = WebSocketLayer::new(|mut socket: WebSocket, handshake: Handshake| async move {
//!     let who = handshake.headers().get("user-agent").cloned();
//!     socket.send(Message::text(format!("hello, {who:?}"))).await
//! });
//! # let _ = layer;
//! ```
//!
//! # Architecture
//!
//! One concern per file, and imports that point one way: a module never imports from a
//! module that imports it (`tests/it/layout.rs` checks this, and that no file in `src/` is
//! over 400 lines). The configuration is in `config.rs`, built by `layer.rs`.
//!
//! The path of a request:
//!
//! 1. **Detect** (`service.rs`): a request on one of the configured paths (any path, for
//!    a service from `into_service`, `route.rs`) is ours; any other goes to the inner
//!    service (`future.rs` and `body.rs` wrap its answer).
//! 2. **Validate** (`handshake/check.rs`): method, version, headers and key (RFC 6455
//!    §4.2.1) or the extended CONNECT (RFC 8441); the origin (`handshake/origin.rs`); the
//!    subprotocol (`handshake/protocol.rs`); compression (`deflate/negotiate.rs`). A
//!    failure is a `rejection.rs` answer, counted in `stats.rs`.
//! 3. **Decide** (`accept.rs`): with an accept hook, its [`Decision`], before the `101`.
//! 4. **Accept** (`upgrade.rs`): unless a shutdown began (`shutdown.rs`) or the socket
//!    limit is reached (`stats.rs`), the `101` (or `200` over HTTP/2) goes back with a
//!    [`SessionHandle`] (`session/handle.rs`).
//! 5. **Spawn** (`session/mod.rs`): a task waits for hyper's upgrade, builds the socket
//!    (`socket/shared.rs`) and runs the handler (`handler.rs`, `echo.rs`) under its
//!    supervisor (`session/supervisor.rs`: keep-alive from `session/keep_alive.rs`,
//!    shutdown, catching panics).
//! 6. **Session end** (`session/mod.rs`): the close handshake is finished within the close
//!    timeout, and a [`SessionSummary`] (`summary.rs`) is published to the handle and
//!    traced.
//!
//! The path of a message:
//!
//! 1. **Read** (`socket/engine.rs`): fastwebsockets reads a frame from the connection's
//!    read side (`socket/connection.rs`), one read in flight per socket; with compression,
//!    through the filter that takes RSV1 off each frame (`socket/marks.rs`).
//! 2. **Reassemble** (`socket/reader.rs`, `socket/checks.rs`): masking, control frames,
//!    fragments, inflating (`deflate/codec.rs`), UTF-8 and size checks; or, a part at a
//!    time (`socket/parts.rs`, `part.rs`). Pings and closes are answered on the way
//!    (`socket/receive.rs`).
//! 3. **Handler** (`socket/mod.rs`, `socket/halves.rs`): [`WebSocket::recv`] hands it
//!    over as a [`Message`] (`message.rs`; text as [`Utf8Bytes`], `text.rs`), or
//!    [`WebSocket::recv_part`] as a [`Part`]; [`WebSocket::send`] queues the answer
//!    (`socket/send.rs`). `socket/status.rs` tells where the close handshake stands.
//! 4. **Write** (`socket/writer.rs`): frames are encoded (`socket/encode.rs`; compressed
//!    by `deflate/codec.rs`) into a queue and written with vectored writes, answers to
//!    pipelined input gathered into one; tasks waiting for room wait in
//!    `socket/wakers.rs`.
//!
//! [tower]: https://docs.rs/tower
//! [hyper]: https://docs.rs/hyper
//! [fastwebsockets]: https://docs.rs/fastwebsockets

#![cfg_attr(docsrs, feature(doc_cfg))]

mod accept;
mod body;
mod config;
#[cfg(feature = "deflate")]
mod deflate;
mod echo;
mod error;
mod future;
mod handler;
mod handshake;
mod layer;
mod message;
mod part;
#[cfg(feature = "redis")]
mod redis;
mod rejection;
mod route;
mod service;
mod session;
mod shutdown;
mod socket;
mod stats;
mod summary;
mod sync;
mod text;
mod topics;
mod upgrade;

pub use accept::Decision;
pub use body::ResponseBody;
#[cfg(feature = "deflate")]
pub use deflate::{DeflateConfig, DeflateParams};
pub use echo::Echo;
pub use error::{BoxError, Error};
pub use future::ResponseFuture;
pub use handler::{Handler, HandlerOutput};
pub use handshake::Handshake;
pub use layer::WebSocketLayer;
pub use message::{CloseCode, CloseFrame, Message};
pub use part::{MessageKind, Part};
#[cfg(feature = "redis")]
pub use redis::{RedisBackplane, RedisBackplaneBuilder};
pub use route::NotWebSocket;
pub use service::WebSocketService;
pub use session::SessionHandle;
pub use shutdown::{ShutdownHandle, ShutdownReport};
pub use socket::{RecvHalf, SendHalf, State, WebSocket};
pub use stats::{Rejections, Stats};
pub use summary::{ClosedBy, SessionSummary, Traffic};
pub use text::Utf8Bytes;
pub use topics::{
    Backplane, BackplaneStats, Inbox, Member, TopicStats, Topics, TopicsBuilder, WhenFull,
};

/// The README's code examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
