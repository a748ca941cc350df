//! [`NotWebSocket`]: the inner service of a socket service that a router mounts.

use std::{
    convert::Infallible,
    future::{ready, Ready},
    task::{Context, Poll},
};

use http::{header, HeaderValue, Request, Response, StatusCode};
use tower::Service;

/// The inner service of
/// [`WebSocketLayer::into_service`](crate::WebSocketLayer::into_service): the answer to a
/// request that is no WebSocket at all (a `CONNECT` for another protocol), `400 Bad
/// Request`.
///
/// # Example
///
/// ```
/// use tower_websockets::{
///     service::{NotWebSocket, WebSocketService},
///     Echo, WebSocketLayer,
/// };
///
/// let service: WebSocketService<NotWebSocket, Echo> = WebSocketLayer::new(Echo).into_service();
/// # let _ = service;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NotWebSocket;

impl<B> Service<Request<B>> for NotWebSocket {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut response =
            Response::new("This endpoint serves WebSocket connections only.\n".to_owned());
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        ready(Ok(response))
    }
}
