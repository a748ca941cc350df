//! The opening handshake: what a request must be to become a socket (RFC 6455 §4.2,
//! RFC 8441 §4–5), the choice of subprotocol and the origin check, and [`Handshake`], what
//! the handler is told about the request that opened its socket.

mod check;
mod config;
mod info;
mod origin;
mod protocol;

pub(crate) use check::check;
#[cfg(feature = "http2")]
pub(crate) use check::{check_extended_connect, is_extended_connect};
pub(crate) use config::{Accepted, HandshakeConfig};
pub use info::Handshake;
pub(crate) use origin::Origin;
