//! The service a [`WebSocketLayer`](crate::WebSocketLayer) makes: [`WebSocketService`],
//! where requests are sorted into upgrades and the rest, with its response future and
//! body, and [`NotWebSocket`], the inner service of a socket service that a router mounts
//! ([`WebSocketLayer::into_service`](crate::WebSocketLayer::into_service)).

mod body;
mod future;
mod not_websocket;

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use tower::Service;

use crate::{
    config::Config,
    echo::Echo,
    handler::Handler,
    handshake::{self, Accepted, Handshake},
    rejection::{plain_text, Rejection},
    upgrade::{self, Upgrade},
};

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use not_websocket::NotWebSocket;

/// The service made by [`WebSocketLayer`](crate::WebSocketLayer): accepts upgrades on its
/// paths and passes every other request to the inner service.
#[derive(Debug)]
#[must_use = "a service does nothing unless called"]
pub struct WebSocketService<S, H = Echo> {
    inner: S,
    config: Arc<Config<H>>,
}

impl<S: Clone, H> Clone for WebSocketService<S, H> {
    fn clone(&self) -> Self {
        WebSocketService {
            inner: self.inner.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S, H: Handler> WebSocketService<S, H> {
    /// Wraps `inner`, handing sockets on `/ws` to `handler`. Use
    /// [`WebSocketLayer`](crate::WebSocketLayer) to configure more.
    pub fn new(inner: S, handler: H) -> Self {
        Self::from_config(inner, Arc::new(Config::new(handler)))
    }

    pub(crate) fn from_config(inner: S, config: Arc<Config<H>>) -> Self {
        WebSocketService { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for WebSocketService<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    H: Handler,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let path = req.uri().path();
        if !self.config.paths.matches(path) {
            return ResponseFuture::inner(self.inner.call(req));
        }
        if req.method() == Method::CONNECT {
            // RFC 8441 over HTTP/2; a plain CONNECT or another protocol is not ours.
            #[cfg(feature = "http2")]
            if handshake::is_extended_connect(&req) {
                let checked = handshake::check_extended_connect(&req, &self.config.handshake);
                return respond(req, checked, &self.config);
            }
            return ResponseFuture::inner(self.inner.call(req));
        }
        let checked = handshake::check(&req, &self.config.handshake);
        respond(req, checked, &self.config)
    }
}

/// Answers a request on a WebSocket path: a 101 (HTTP/1.1) or 200 (HTTP/2) with the
/// session started, or a rejection; with an accept hook, once the hook has decided.
fn respond<B, F, ResBody, H: Handler>(
    req: Request<B>,
    checked: Result<Accepted, Rejection>,
    config: &Arc<Config<H>>,
) -> ResponseFuture<F, ResBody> {
    let answer =
        |response: Response<Bytes>| ResponseFuture::answered(response.map(ResponseBody::full));
    let accepted = match checked {
        Ok(accepted) => accepted,
        Err(rejection) => return answer(upgrade::reject(req.uri().path(), rejection, config)),
    };
    let (mut parts, _body) = req.into_parts();
    let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
        return answer(plain_text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "This server connection cannot be upgraded (serve it with upgrades enabled).\n",
        ));
    };
    let protocol = accepted
        .protocol
        .as_ref()
        .and_then(|p| p.to_str().ok())
        .map(str::to_owned);
    #[cfg(feature = "deflate")]
    let (deflate, extensions) = accepted.deflate.unzip();
    #[cfg(not(feature = "deflate"))]
    let extensions = None;
    let handshake = Handshake::new(
        parts,
        protocol,
        #[cfg(feature = "deflate")]
        deflate,
    );
    let upgrade = Upgrade {
        on_upgrade,
        accept: accepted.accept,
        protocol: accepted.protocol,
        extensions,
    };
    match &config.on_accept {
        None => answer(upgrade::open(config, upgrade, handshake, None, None)),
        Some(hook) => {
            let decision = upgrade::decide(config.clone(), hook.clone(), upgrade, handshake);
            ResponseFuture::deciding(Box::pin(decision))
        }
    }
}
