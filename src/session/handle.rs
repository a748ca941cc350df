//! [`SessionHandle`]: how outer layers see a session end, and the end that publishes it.

use std::{
    pin::pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

use crate::{error::SessionError, session::SessionSummary, sync::lock};

/// Resolves when its session has ended. Found in the extensions of the `101` response.
///
/// Its [`ended`](SessionHandle::ended) future resolves once the socket has closed, with a
/// [`SessionSummary`]: the Rust form of ASP.NET Core's "when the socket closes, the request
/// goes back up the pipeline".
///
/// # Example
///
/// An outer layer that logs how each session ended:
///
/// ```
/// use std::convert::Infallible;
///
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use hyper::body::Bytes;
/// use tower::{service_fn, ServiceBuilder};
/// use tower_websockets::{service::ResponseBody, session::SessionHandle, WebSocketLayer};
///
/// let service = ServiceBuilder::new()
///     .map_response(|response: Response<ResponseBody<Full<Bytes>>>| {
///         if let Some(session) = response.extensions().get::<SessionHandle>().cloned() {
///             tokio::spawn(async move {
///                 let summary = session.ended().await;
///                 println!("{:?} closed with {}", summary.closed_by, summary.close_code);
///             });
///         }
///         response
///     })
///     .layer(WebSocketLayer::default())
///     .service(service_fn(|_: Request<hyper::body::Incoming>| async {
///         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("not a socket"))))
///     }));
/// # let _ = service;
/// ```
#[derive(Clone)]
pub struct SessionHandle {
    end: Arc<End>,
}

/// Where the summary lands: set once, then read by any number of handles.
///
/// Hand-written rather than a `tokio::sync::watch` channel: one lives as long as each open
/// socket, and this is 64 bytes where a watch channel's shared state is 352.
#[derive(Default)]
struct End {
    summary: Mutex<Option<Box<SessionSummary>>>,
    published: Notify,
}

impl SessionHandle {
    /// Waits until the socket has closed and returns how the session ended.
    pub async fn ended(&self) -> SessionSummary {
        loop {
            let mut published = pin!(self.end.published.notified());
            // Registered before looking, so a publication in between is not missed.
            published.as_mut().enable();
            if let Some(summary) = self.summary() {
                return summary;
            }
            published.await;
        }
    }

    /// How the session ended, or `None` while it is still open.
    pub fn summary(&self) -> Option<SessionSummary> {
        lock(&self.end.summary).as_deref().cloned()
    }
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("summary", &self.summary())
            .finish()
    }
}

/// Publishes the summary exactly once, even when the session's task is dropped early.
pub(crate) struct Publisher {
    end: Arc<End>,
    started: Instant,
}

impl Publisher {
    /// How long the session has lasted so far.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records `summary` and wakes every handle waiting for it; later calls do nothing.
    pub(crate) fn publish(&self, summary: SessionSummary) {
        let mut slot = lock(&self.end.summary);
        if slot.is_none() {
            summary.trace();
            *slot = Some(Box::new(summary));
            drop(slot);
            self.end.published.notify_waiters();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // A no-op when the session published its summary; otherwise it was cut short.
        self.publish(SessionSummary::abnormal(
            self.elapsed(),
            SessionError::Aborted,
        ));
    }
}

/// A session's handle and the end that publishes its summary.
pub(crate) fn channel() -> (SessionHandle, Publisher) {
    let end = Arc::new(End::default());
    let publisher = Publisher {
        end: end.clone(),
        started: Instant::now(),
    };
    (SessionHandle { end }, publisher)
}
