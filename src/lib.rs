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
//! A handler is any `async` closure taking the socket and its [`Context`]:
//!
//! ```
//! use tower_websockets::{Context, Message, WebSocket, WebSocketLayer};
//!
//! let layer = WebSocketLayer::new(|mut socket: WebSocket, cx: Context| async move {
//!     let who = cx.headers().get("user-agent").cloned();
//!     socket.send(Message::text(format!("hello, {who:?}"))).await
//! });
//! # let _ = layer;
//! ```
//!
//! [tower]: https://docs.rs/tower
//! [hyper]: https://docs.rs/hyper
//! [fastwebsockets]: https://docs.rs/fastwebsockets

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod body;
mod context;
mod error;
mod future;
mod handler;
mod handshake;
mod layer;
mod message;
mod origin;
mod service;
pub mod session;
mod shutdown;
pub mod socket;
mod stats;

pub use body::ResponseBody;
pub use context::Context;
pub use error::{BoxError, Error};
pub use future::ResponseFuture;
pub use handler::{Echo, Handler, HandlerOutput};
pub use layer::WebSocketLayer;
pub use message::{CloseCode, CloseFrame, Message};
pub use service::WebSocketService;
pub use session::{ClosedBy, SessionHandle, SessionSummary, Traffic};
pub use shutdown::{ShutdownHandle, ShutdownReport};
pub use socket::{RecvHalf, SendHalf, WebSocket};
pub use stats::{Rejections, Stats};

/// The README's code examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
