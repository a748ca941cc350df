//! Opening a socket once a request is accepted (after the accept hook's decision, if the
//! layer has one): the last checks (shutdown, the socket limit), the session's start, and
//! the `101` (or `200` over HTTP/2); or the rejection.

use std::{panic::AssertUnwindSafe, sync::Arc};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{header, HeaderValue, Response, StatusCode};
use hyper::upgrade::OnUpgrade;

use crate::{
    accept::{AcceptHook, Decision, Kind},
    config::Config,
    handler::{Handler, OneSocket},
    handshake::Handshake,
    rejection::{plain_text, Rejection},
    session::{self, Session},
};

/// What the answer to an accepted handshake carries, and hyper's upgrade to wait for.
pub(crate) struct Upgrade {
    pub(crate) on_upgrade: OnUpgrade,
    /// `Sec-WebSocket-Accept` (HTTP/1.1 only).
    pub(crate) accept: Option<HeaderValue>,
    pub(crate) protocol: Option<HeaderValue>,
    /// `Sec-WebSocket-Extensions`, when compression was agreed.
    pub(crate) extensions: Option<HeaderValue>,
}

/// Starts the session and answers with the `101` (HTTP/1.1) or `200` (HTTP/2), unless a
/// shutdown began or the socket limit is reached. `max_message_size` overrides the
/// layer's for this socket, and `handler` its handler.
pub(crate) fn open<H: Handler>(
    config: &Arc<Config<H>>,
    upgrade: Upgrade,
    handshake: Handshake,
    max_message_size: Option<usize>,
    handler: Option<OneSocket>,
) -> Response<Bytes> {
    if config.shutdown.is_going_away() {
        return reject(handshake.uri().path(), Rejection::ShuttingDown, config);
    }
    let place = match config.stats.admit(config.max_sockets) {
        Ok(place) => place,
        Err(rejection) => return reject(handshake.uri().path(), rejection, config),
    };
    let (handle, publisher) = session::channel();
    session::spawn(
        Session {
            on_upgrade: upgrade.on_upgrade,
            config: config.clone(),
            handshake,
            publisher,
            place,
            max_message_size,
        },
        handler,
    );

    let mut response = Response::new(Bytes::new());
    match upgrade.accept {
        // HTTP/1.1: switch protocols (RFC 6455 §4.2.2).
        Some(accept) => {
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let headers = response.headers_mut();
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        // HTTP/2: a 2xx opens the stream for the socket (RFC 8441 §5).
        None => *response.status_mut() = StatusCode::OK,
    }
    let headers = response.headers_mut();
    if let Some(protocol) = upgrade.protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    if let Some(extensions) = upgrade.extensions {
        headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, extensions);
    }
    response.extensions_mut().insert(handle);
    response
}

/// Counts and traces a rejected request, and answers it.
pub(crate) fn reject<H>(path: &str, rejection: Rejection, config: &Config<H>) -> Response<Bytes> {
    trace_rejection(path, rejection, rejection.status(), rejection.reason());
    config.stats.reject(rejection);
    rejection.response()
}

/// A rejected handshake, as a `DEBUG` event.
pub(crate) fn trace_rejection(path: &str, rejection: Rejection, status: StatusCode, reason: &str) {
    tracing::debug!(
        path,
        status = status.as_u16(),
        reason = reason.trim_end(),
        kind = ?rejection,
        "websocket handshake rejected"
    );
}

/// Runs the hook, then opens the socket or answers with the hook's response. A panic in
/// the hook is answered with `500`, and the server goes on.
pub(crate) async fn decide<H: Handler>(
    config: Arc<Config<H>>,
    hook: AcceptHook,
    upgrade: Upgrade,
    handshake: Handshake,
) -> Response<Bytes> {
    let path = handshake.uri().path().to_owned();
    // A panic while the hook builds its future is caught as well as one while it runs.
    let decision = AssertUnwindSafe(async { hook.call(handshake).await })
        .catch_unwind()
        .await;
    match decision.map(Decision::into_kind) {
        Ok(Kind::Accept {
            handshake,
            max_message_size,
            handler,
        }) => open(&config, upgrade, handshake, max_message_size, handler),
        Ok(Kind::Refuse(response)) => {
            let reason = String::from_utf8_lossy(response.body()).into_owned();
            trace_rejection(&path, Rejection::ByHook, response.status(), &reason);
            config.stats.reject(Rejection::ByHook);
            response
        }
        Err(_) => {
            tracing::error!(path, "the websocket accept hook panicked");
            plain_text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server failed to decide on this WebSocket.\n",
            )
        }
    }
}
