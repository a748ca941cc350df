//! What the handshake is configured to accept, and what it answers with.

use http::HeaderValue;

use super::{origin::Origins, protocol::Protocols};
#[cfg(feature = "deflate")]
use crate::deflate::{DeflateConfig, DeflateParams};

/// The default of `max_header_size`: Kestrel's limit on a request's headers.
pub(crate) const MAX_HEADER_SIZE: usize = 32 * 1024;

/// What the handshake accepts: header size, subprotocols and origins.
#[derive(Debug, Clone)]
pub(crate) struct HandshakeConfig {
    /// The most bytes of header fields a request on the layer's paths may carry.
    pub(crate) max_header_size: usize,
    pub(crate) protocols: Protocols,
    pub(crate) origins: Origins,
    /// Compression to agree with clients that offer it; `None`: decline every offer.
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<DeflateConfig>,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        HandshakeConfig {
            max_header_size: MAX_HEADER_SIZE,
            protocols: Protocols::default(),
            origins: Origins::default(),
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }
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
