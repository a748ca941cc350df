//! A WebSocket endpoint for a router: [`WebSocketLayer::into_service`] and the
//! [`NotWebSocket`] answer behind it.

use std::{
    convert::Infallible,
    future::{ready, Ready},
    sync::Arc,
    task::{Context, Poll},
};

use http::{header, HeaderValue, Request, Response, StatusCode};
use tower::Service;

use crate::{config::Paths, Handler, WebSocketLayer, WebSocketService};

impl<H: Handler> WebSocketLayer<H> {
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

/// The inner service of [`WebSocketLayer::into_service`]: the answer to a request that is
/// no WebSocket at all (a `CONNECT` for another protocol), `400 Bad Request`.
///
/// # Example
///
/// ```
/// use tower_websockets::{Echo, NotWebSocket, WebSocketLayer, WebSocketService};
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
