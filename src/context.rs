//! What a handler knows about the request that opened its socket.

use std::net::SocketAddr;

use http::{request::Parts, Extensions, HeaderMap, Method, Uri, Version};

/// The upgrade request's method, URI, headers and extensions, the peer address and the
/// agreed subprotocol, handed to the [`Handler`](crate::Handler) with its socket.
///
/// Extensions carry what outer layers put on the request (an authenticated user, a
/// request id): a layer that runs before [`WebSocketLayer`](crate::WebSocketLayer) can
/// pass anything to the handler this way.
#[derive(Debug)]
pub struct Context {
    parts: Parts,
    protocol: Option<String>,
}

impl Context {
    pub(crate) fn new(parts: Parts, protocol: Option<String>) -> Self {
        Context { parts, protocol }
    }

    /// The request method (always `GET` for an HTTP/1.1 upgrade).
    pub fn method(&self) -> &Method {
        &self.parts.method
    }

    /// The request URI, query string included.
    pub fn uri(&self) -> &Uri {
        &self.parts.uri
    }

    /// The HTTP version of the upgrade request.
    pub fn version(&self) -> Version {
        self.parts.version
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// The request extensions, as the outer layers left them.
    pub fn extensions(&self) -> &Extensions {
        &self.parts.extensions
    }

    /// Takes the request extensions, to move values out of them.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.parts.extensions
    }

    /// The peer's address, when the server put a [`SocketAddr`] in the request's
    /// extensions (the echo example does; with axum's `into_make_service_with_connect_info`
    /// read `ConnectInfo<SocketAddr>` from [`extensions`](Self::extensions) instead).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.parts.extensions.get::<SocketAddr>().copied()
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }
}
