//! What the handshake is configured to accept, and what it answers with.

use http::HeaderValue;

use super::{origin::Origins, protocol::Protocols};
#[cfg(feature = "deflate")]
use crate::deflate::{DeflateConfig, DeflateParams};

/// What the handshake accepts: subprotocols and origins.
#[derive(Debug, Clone, Default)]
pub(crate) struct HandshakeConfig {
    pub(crate) protocols: Protocols,
    pub(crate) origins: Origins,
    /// Compression to agree with clients that offer it; `None`: decline every offer.
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<DeflateConfig>,
}

/// What an accepted handshake answers with.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// `Sec-WebSocket-Accept` (HTTP/1.1 only; RFC 8441 has no key).
    pub(crate) accept: Option<HeaderValue>,
    pub(crate) protocol: Option<HeaderValue>,
    /// The compression agreed, and the `Sec-WebSocket-Extensions` answer.
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<(DeflateParams, HeaderValue)>,
}
