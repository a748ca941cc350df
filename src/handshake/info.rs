//! [`Handshake`]: what a handler knows about the request that opened its socket.

use std::net::SocketAddr;

use bytes::BytesMut;
use http::{request::Parts, Extensions, HeaderMap, HeaderValue, Method, Uri, Version};

#[cfg(feature = "deflate")]
use crate::deflate::DeflateParams;

/// The handshake that opened a socket: the upgrade request's method, URI, headers and
/// extensions, the peer address and the agreed subprotocol. The
/// [`Handler`](crate::Handler) gets it with its socket.
///
/// Extensions carry what outer layers put on the request (an authenticated user, a
/// request id): a layer that runs before [`WebSocketLayer`](crate::WebSocketLayer) can
/// pass anything to the handler this way.
///
/// # Example
///
/// ```
/// use tower_websockets::{Handshake, Message, WebSocket, WebSocketLayer};
///
/// let layer = WebSocketLayer::new(|mut socket: WebSocket, handshake: Handshake| async move {
///     let room = handshake.uri().query().unwrap_or("lobby").to_owned();
///     socket.send(Message::text(format!("welcome to {room}"))).await
/// });
/// # let _ = layer;
/// ```
#[derive(Debug)]
pub struct Handshake {
    // One pointer: the context lives in every session's future, idle or not.
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    parts: Parts,
    protocol: Option<String>,
    #[cfg(feature = "deflate")]
    deflate: Option<DeflateParams>,
}

impl Handshake {
    pub(crate) fn new(
        mut parts: Parts,
        protocol: Option<String>,
        #[cfg(feature = "deflate")] deflate: Option<DeflateParams>,
    ) -> Self {
        detach(&mut parts);
        Handshake {
            inner: Box::new(Inner {
                parts,
                protocol,
                #[cfg(feature = "deflate")]
                deflate,
            }),
        }
    }

    /// The request method (always `GET` for an HTTP/1.1 upgrade).
    pub fn method(&self) -> &Method {
        &self.inner.parts.method
    }

    /// The request URI, query string included.
    pub fn uri(&self) -> &Uri {
        &self.inner.parts.uri
    }

    /// The HTTP version of the upgrade request.
    pub fn version(&self) -> Version {
        self.inner.parts.version
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.parts.headers
    }

    /// The request extensions, as the outer layers left them.
    pub fn extensions(&self) -> &Extensions {
        &self.inner.parts.extensions
    }

    /// The request's parts, for extractors that read them, such as axum's `Path` with a
    /// router's path parameters (see
    /// [`WebSocketLayer::into_service`](crate::WebSocketLayer::into_service)).
    pub fn parts_mut(&mut self) -> &mut Parts {
        &mut self.inner.parts
    }

    /// The subprotocols the client offered, in its order (`Sec-WebSocket-Protocol`).
    ///
    /// ```
    /// use tower_websockets::{Handshake, Message, WebSocket};
    ///
    /// async fn handler(mut socket: WebSocket, handshake: Handshake) {
    ///     let offered: Vec<&str> = handshake.offered_protocols().collect();
    ///     let note = format!("you offered {offered:?}, we agreed {:?}", handshake.protocol());
    ///     let _ = socket.send(Message::text(note)).await;
    /// }
    /// ```
    pub fn offered_protocols(&self) -> impl Iterator<Item = &str> {
        super::protocol::offered(self.headers())
    }

    /// The request extensions, mutably: `remove` moves a value out of them.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.inner.parts.extensions
    }

    /// The peer's address, when the server put it in the request's extensions: a
    /// [`SocketAddr`] (the echo example does), or with the `axum` feature, axum's
    /// `ConnectInfo<SocketAddr>` (`into_make_service_with_connect_info`).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        let extensions = &self.inner.parts.extensions;
        let direct = extensions.get::<SocketAddr>().copied();
        #[cfg(feature = "axum")]
        let direct = direct.or_else(|| {
            extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|info| info.0)
        });
        direct
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.inner.protocol.as_deref()
    }

    /// The compression agreed in the handshake (permessage-deflate and its parameters), if
    /// any: `None` when the layer does not compress or the client offered nothing it takes.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.inner.deflate
    }
}

/// Gives the headers and the URI allocations of their own.
///
/// hyper parses them as slices of the connection's read buffer (8 to 16 KiB), so keeping
/// the originals for a session's lifetime would keep that whole buffer alive for every
/// open socket. The copies cost a few small allocations per upgrade and nothing per
/// message. Extensions cannot be copied without knowing their types: with the `axum`
/// feature, axum's `OriginalUri` (which its router adds to every request) is copied too;
/// a layer of the app's own that puts a part of the request in the extensions should put
/// a copy.
fn detach(parts: &mut Parts) {
    let shared = std::mem::take(&mut parts.headers);
    // Every value goes into one buffer, and each copy is a slice of it: one allocation
    // for all the values, and one block to free when the context goes.
    let total = shared.values().map(|value| value.len()).sum();
    let mut buffer = BytesMut::with_capacity(total);
    for value in shared.values() {
        buffer.extend_from_slice(value.as_bytes());
    }
    let buffer = buffer.freeze();
    let mut owned = HeaderMap::with_capacity(shared.len());
    let mut start = 0;
    for (name, value) in &shared {
        let bytes = buffer.slice(start..start + value.len());
        start += value.len();
        let Ok(mut copy) = HeaderValue::from_maybe_shared(bytes) else {
            continue; // Cannot happen: the bytes were a valid value already.
        };
        copy.set_sensitive(value.is_sensitive());
        // Names are not slices of the read buffer: hyper gives them storage of their own.
        owned.append(name.clone(), copy);
    }
    parts.headers = owned;
    if let Some(uri) = owned_uri(&parts.uri) {
        parts.uri = uri;
    }
    // axum's router keeps the URI as it came (a slice of the same buffer) in its
    // extensions for the `OriginalUri` extractor.
    #[cfg(feature = "axum")]
    if let Some(original) = parts.extensions.get_mut::<axum::extract::OriginalUri>() {
        if let Some(uri) = owned_uri(&original.0) {
            original.0 = uri;
        }
    }
}

/// A copy of `uri` in storage of its own.
fn owned_uri(uri: &Uri) -> Option<Uri> {
    Uri::try_from(uri.to_string()).ok()
}
