//! [`WebSocketLayer`]: the middleware's configuration.

use std::{future::Future, sync::Arc, time::Duration};

use http::HeaderValue;

use tower::Layer;

#[cfg(feature = "deflate")]
use crate::deflate::{DeflateConfig, Pools};
use crate::{
    accept::{AcceptHook, Decision},
    config::{Config, Paths},
    echo::Echo,
    handler::{Handler, HandlerOutput},
    handshake::{Handshake, Origin},
    service::{NotWebSocket, WebSocketService},
    shutdown::ShutdownHandle,
    socket::WebSocket,
    stats::Stats,
};

/// Accepts WebSocket upgrades on configured paths and hands each socket to a [`Handler`].
///
/// On a configured path, a valid upgrade gets `101 Switching Protocols` at once and the
/// socket goes to the handler in a task of its own; any other request on that path gets a
/// `400` (`426` for an unsupported version) with a short plain-text reason. Requests on
/// every other path, upgrade requests included, go to the inner service untouched. The inner
/// service is never called for a configured path.
///
/// See the [crate documentation](crate) for an example.
#[derive(Debug, Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct WebSocketLayer<H = Echo> {
    config: Config<H>,
}

impl Default for WebSocketLayer<Echo> {
    fn default() -> Self {
        WebSocketLayer::new(Echo)
    }
}

impl WebSocketLayer {
    /// A layer that hands sockets on `/ws` to `handler` with the app's `state`: the handler
    /// takes `(WebSocket, Handshake, S)` and gets a clone of the state for each session,
    /// with no clone to write by hand. Under an axum `Router`, give the router's state
    /// (or the part of it the sockets need) here too, and handlers and routes share it.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_websockets::{Handshake, Topics, WebSocket, WebSocketLayer};
    ///
    /// #[derive(Clone)]
    /// struct App {
    ///     topics: Topics,
    /// }
    ///
    /// async fn listen(mut socket: WebSocket, _: Handshake, app: App) {
    ///     app.topics.subscribe(&socket, "news");
    ///     while let Some(Ok(_)) = socket.recv_data().await {}
    /// }
    ///
    /// let app = App { topics: Topics::new() };
    /// let layer = WebSocketLayer::with_state(app.clone(), listen).path("/news");
    /// # let _ = layer;
    /// ```
    pub fn with_state<S, F, Fut>(state: S, handler: F) -> WebSocketLayer<impl Handler>
    where
        S: Clone + Send + Sync + 'static,
        F: Fn(WebSocket, Handshake, S) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future + Send,
        Fut::Output: HandlerOutput + Send,
    {
        WebSocketLayer::new(move |socket, handshake| handler(socket, handshake, state.clone()))
    }
}

impl<H: Handler> WebSocketLayer<H> {
    /// A layer that hands sockets on `/ws` to `handler`.
    pub fn new(handler: H) -> Self {
        WebSocketLayer {
            config: Config::new(handler),
        }
    }

    /// The one path that accepts WebSockets (exact match on the URI path). Default: `/ws`.
    pub fn path(self, path: impl Into<String>) -> Self {
        self.paths([path])
    }

    /// The paths that accept WebSockets (exact match on the URI path). Default: `/ws`.
    pub fn paths<I>(mut self, paths: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.config.paths = Paths::Exact(paths.into_iter().map(Into::into).collect());
        self
    }

    /// The subprotocols the server speaks, most preferred first: the first one the client
    /// also offered is agreed and echoed in `Sec-WebSocket-Protocol`. Default: none.
    ///
    /// # Panics
    ///
    /// If a protocol is not a valid header value.
    pub fn protocols(mut self, protocols: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.config.handshake.protocols.preferred = parse_each(protocols, "a header value", |p| {
            HeaderValue::from_str(p).ok()
        });
        self
    }

    /// Lets `select` choose the subprotocol (instead of [`protocols`](Self::protocols)) from
    /// those the client offered, in the client's order. A choice the client did not offer
    /// counts as none. Default: choose by `protocols`.
    pub fn select_protocol<F>(mut self, select: F) -> Self
    where
        F: Fn(&[&str]) -> Option<String> + Send + Sync + 'static,
    {
        self.config.handshake.protocols.selector = Some(Arc::new(select));
        self
    }

    /// Whether a client with which no subprotocol is agreed (it offered none, or none that
    /// matches) is refused with `400 Bad Request`. Default: `false`.
    pub fn require_protocol(mut self, required: bool) -> Self {
        self.config.handshake.protocols.required = required;
        self
    }

    /// The origins (`scheme://host[:port]`) whose pages may open sockets: a request with
    /// another `Origin` gets `403 Forbidden`. This is the defence against cross-site
    /// WebSocket hijacking. Compared as RFC 6454 says (scheme and host in any case, a
    /// default port the same as none); give internationalised hosts in their ASCII
    /// (punycode) form. Default: empty, any origin.
    ///
    /// # Panics
    ///
    /// If an entry is not of the form `scheme://host[:port]`.
    pub fn allowed_origins(mut self, origins: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        self.config.handshake.origins.allowed =
            parse_each(origins, "an origin (scheme://host[:port])", Origin::parse);
        self
    }

    /// Whether a request without an `Origin` header passes the origin check. Browsers
    /// always send one; other clients usually do not. Default: `true`.
    pub fn allow_missing_origin(mut self, allowed: bool) -> Self {
        self.config.handshake.origins.refuse_missing = !allowed;
        self
    }

    /// Compresses messages with clients that offer permessage-deflate (RFC 7692; every
    /// browser does), with these settings. Read the security note on [`DeflateConfig`]
    /// first: compressing a secret beside text an attacker chooses can reveal it. Default:
    /// off, every offer declined.
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, config: DeflateConfig) -> Self {
        self.config.handshake.deflate = Some(config);
        self.config.deflate = Some((config, Arc::new(Pools::new(&config))));
        self
    }

    /// Decides per request, before the `101`: `hook` gets the [`Handshake`] (method, URI,
    /// headers, extensions, the client's offered subprotocols, what was agreed; its
    /// [`parts_mut`](Handshake::parts_mut) for a router's extractors) and returns a
    /// [`Decision`]: accept it (optionally with this socket's own `max_message_size`, and a
    /// handler of its own that owns, typed, what the hook found out), or refuse it with a
    /// status and a reason, or a response of its own, such as a `401`. A refused request
    /// never reaches a handler and counts in [`Stats::rejections`]. The handshake's own
    /// checks (version, origin, subprotocol) run first. Default: accept every valid
    /// handshake.
    ///
    /// # Example
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_websockets::{Decision, Echo, Handshake, WebSocketLayer};
    ///
    /// let layer = WebSocketLayer::new(Echo).on_accept(|handshake: Handshake| async move {
    ///     match handshake.headers().get("authorization") {
    ///         Some(_) => Decision::accept(handshake).max_message_size(1 << 30),
    ///         None => Decision::refuse((StatusCode::UNAUTHORIZED, "log in first")),
    ///     }
    /// });
    /// # let _ = layer;
    /// ```
    pub fn on_accept<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Handshake) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Decision> + Send + 'static,
    {
        self.config.on_accept = Some(AcceptHook::new(hook));
        self
    }

    /// How often to send a ping so that proxies keep an idle connection open; `None` sends
    /// none. Pings go out whatever the handler is doing: waiting to receive, sending, or
    /// neither. Default: 2 minutes.
    ///
    /// The layer's sockets share one clock (a task that runs while the layer has sessions),
    /// so a socket's first ping comes at the layer's next tick, at most one interval after
    /// it opened, and every interval after that.
    pub fn keep_alive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.config.socket.keep_alive_interval = interval.into();
        self
    }

    /// With `keep_alive_interval` set: how long after a ping the peer may stay silent (no
    /// pong, no other frame) before the connection is dropped; the session summary then
    /// carries [`SessionError::KeepAliveTimeout`](crate::error::SessionError::KeepAliveTimeout). `None` never
    /// drops a silent peer. Default: `None`.
    ///
    /// Frames are read as the handler receives them, so the peer's pongs count only while
    /// the handler is in `recv` (or holds the receiving half there). A handler that only
    /// sends should keep a `recv` pending, for example in a task of its own after
    /// [`split`](crate::WebSocket::split), or leave this off.
    pub fn keep_alive_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.socket.keep_alive_timeout = timeout.into();
        self
    }

    /// How long a `send` may wait for a peer that does not read before it fails with
    /// [`Error::SendTimeout`](crate::Error::SendTimeout); `None` waits as long as it takes.
    /// Either way a socket never queues more than one message and 64 KiB. Default: `None`.
    pub fn send_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.config.socket.send_timeout = timeout.into();
        self
    }

    /// The initial capacity, in bytes, of the buffer in which a fragmented message is
    /// reassembled; it grows as fragments arrive, up to `max_message_size`. Raise it when
    /// clients fragment large messages, to save re-allocations. Unfragmented messages are
    /// taken straight from the engine's read buffer and do not use it. (ASP.NET Core calls
    /// its nearest option `ReceiveBufferSize`.) Default: 4 KiB.
    pub fn reassembly_capacity(mut self, bytes: usize) -> Self {
        self.config.socket.reassembly_capacity = bytes;
        self
    }

    /// The largest whole message accepted, in bytes (inflated, with compression); a larger
    /// one closes the socket with 1009 before its payload is buffered. Messages taken in
    /// parts ([`recv_part`](crate::WebSocket::recv_part)) are not bounded by it, only each
    /// of their frames is (see [`max_frame_size`](Self::max_frame_size)). Default: 64 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.socket.max_message_size = bytes;
        self
    }

    /// The largest single frame accepted, in bytes; a larger one closes the socket with
    /// 1009 before it is read. The engine reads each frame whole, so this is the memory a
    /// message taken in parts costs at most: a client streams a large message by
    /// fragmenting it. Raise it above `max_message_size` for handlers that read in parts
    /// and clients that send large frames; a whole message still may not pass
    /// `max_message_size`. The engine reserves room for a frame as its header announces it,
    /// so keep this finite: it bounds what one client can make a socket allocate. Default:
    /// `max_message_size`.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.config.socket.max_frame_size = Some(bytes);
        self
    }

    /// The most bytes of header fields a request on the layer's paths may carry (each name
    /// and value, and 4 bytes a line for `: ` and CRLF); a request with more is answered
    /// `431 Request Header Fields Too Large` (RFC 6585) before any other check. Requests
    /// on other paths are left to the server's own limits (hyper's `max_buf_size`).
    /// Default: 32 KiB, as Kestrel.
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.config.handshake.max_header_size = bytes;
        self
    }

    /// The most sockets open at once; an upgrade over it gets `503 Service Unavailable`
    /// with `Retry-After: 1`. A socket gives its place back however it ends (close, error,
    /// handler panic, vanished client). `None` for no limit. Default: `None`.
    pub fn max_sockets(mut self, limit: impl Into<Option<usize>>) -> Self {
        self.config.max_sockets = limit.into();
        self
    }

    /// The counters of this layer's sockets: open now, accepted, rejected by reason.
    /// Every service made by this layer (and by its clones) counts into the same ones.
    pub fn stats(&self) -> Stats {
        self.config.stats.clone()
    }

    /// A handle that shuts down this layer's sockets gracefully: new upgrades get `503`,
    /// open sockets get close 1001, and those still open at a deadline are dropped.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.config.shutdown.clone(), self.config.stats.clone())
    }

    /// How long, after the handler returns, the session waits for the close handshake to
    /// finish before it drops the connection. Default: 5 seconds.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// This layer's settings as a service of its own, for a router to mount where it
    /// likes: every request it is given is a WebSocket handshake on its path, whatever the
    /// path (the layer's [`path`](Self::path) settings do not apply). A request that is
    /// not gets `400` with a plain-text reason, as on a layer's own paths.
    ///
    /// What the router put in the request's extensions reaches the handler: with axum,
    /// `MatchedPath` and the path parameters, which `Path` extracts from
    /// [`Handshake::parts_mut`](crate::Handshake::parts_mut).
    ///
    /// # Example
    ///
    /// ```
    /// use axum::{extract::{FromRequestParts, Path}, Router};
    /// use tower_websockets::{Handshake, Message, WebSocket, WebSocketLayer};
    ///
    /// async fn room(mut socket: WebSocket, mut handshake: Handshake) {
    ///     let Ok(Path(room)) = Path::<String>::from_request_parts(handshake.parts_mut(), &()).await
    ///     else {
    ///         return;
    ///     };
    ///     while let Some(Ok(message)) = socket.recv().await {
    ///         // Binary messages, pings and pongs (which may come at any time) are passed over.
    ///         if let Message::Text(text) = message {
    ///             if socket.send(Message::text(format!("[{room}] {text}"))).await.is_err() {
    ///                 break;
    ///             }
    ///         }
    ///     }
    /// }
    ///
    /// let app: Router = Router::new()
    ///     .route_service("/rooms/{room}/ws", WebSocketLayer::new(room).into_service());
    /// ```
    pub fn into_service(self) -> WebSocketService<NotWebSocket, H> {
        let mut config = self.into_config();
        config.paths = Paths::Any;
        WebSocketService::from_config(NotWebSocket, Arc::new(config))
    }
}

/// Parses each item of a builder's argument, panicking with `form` on one that is not.
fn parse_each<T>(
    items: impl IntoIterator<Item = impl AsRef<str>>,
    form: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Vec<T> {
    items
        .into_iter()
        .map(|item| {
            let item = item.as_ref();
            parse(item).unwrap_or_else(|| panic!("{item:?} is not {form}"))
        })
        .collect()
}

impl<H> WebSocketLayer<H> {
    /// The settings, for a service made without an inner one.
    pub(crate) fn into_config(self) -> Config<H> {
        self.config
    }
}

impl<S, H: Handler> Layer<S> for WebSocketLayer<H> {
    type Service = WebSocketService<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        WebSocketService::from_config(inner, Arc::new(self.config.clone()))
    }
}
