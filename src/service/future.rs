//! The service's response future.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use crate::service::ResponseBody;

pin_project! {
    /// The response future of [`WebSocketService`](crate::service::WebSocketService): the inner
    /// service's future, or a response the layer made itself (a 101 or a rejection).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F },
        Answered { response: Option<Response<ResponseBody<B>>> },
        // The accept hook deciding: boxed, on the handshake path only.
        Deciding { future: Pin<Box<dyn Future<Output = Response<Bytes>> + Send>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn inner(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn deciding(future: Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>) -> Self {
        ResponseFuture {
            kind: Kind::Deciding { future },
        }
    }

    pub(crate) fn answered(response: Response<ResponseBody<B>>) -> Self {
        ResponseFuture {
            kind: Kind::Answered {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(ResponseBody::inner))),
            KindProj::Answered { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
            KindProj::Deciding { future } => future
                .as_mut()
                .poll(cx)
                .map(|response| Ok(response.map(ResponseBody::full))),
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
