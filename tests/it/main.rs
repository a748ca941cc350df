//! Behaviour over real loopback sockets, one module per capability; one binary links once.
//!
//! The `browser*` modules need Debian's `chromium` and `chromium-driver`, `client_js`
//! needs Node.js and `client_python` Python with `websockets`; their tests are ignored by a
//! plain `cargo test`: run them with `cargo test --test it -- --ignored`.

mod common;

mod accept;
mod app_state;
mod axum_router;
mod backpressure;
mod browser;
#[cfg(feature = "protocol")]
mod browser_chat;
#[cfg(feature = "protocol")]
mod browser_dashboard;
mod browser_tls;
#[cfg(feature = "protocol")]
mod client_js;
#[cfg(feature = "protocol")]
mod client_python;
mod control;
#[cfg(feature = "deflate")]
mod deflate;
#[cfg(feature = "deflate")]
mod deflate_walk;
mod docs;
mod echo;
mod example_auth;
mod example_axum;
#[cfg(feature = "protocol")]
mod example_chat;
#[cfg(feature = "protocol")]
mod example_dashboard;
mod example_echo;
#[cfg(feature = "protocol")]
mod example_topics;
mod fuzz;
mod handlers;
mod handshake;
#[cfg(feature = "http2")]
mod http2;
mod keepalive;
mod layout;
mod limits;
mod parts;
mod pipelining;
mod protocol;
#[cfg(feature = "protocol")]
mod protocol_calls;
#[cfg(feature = "protocol")]
mod protocol_invoke;
#[cfg(feature = "redis")]
mod redis_backplane;
#[cfg(all(feature = "redis", feature = "protocol"))]
mod redis_calls;
#[cfg(all(feature = "redis", feature = "protocol"))]
mod redis_history;
mod routing;
mod sender;
mod session;
mod shutdown;
mod spans;
mod topics;
mod topics_history;
#[cfg(feature = "protocol")]
mod topics_hostile;
#[cfg(feature = "protocol")]
mod topics_protocol;
