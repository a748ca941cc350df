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
    /// `None` once no handle is left to read the summary.
    end: Option<Arc<End>>,
    started: Instant,
    published: bool,
}

impl Publisher {
    /// How long the session has lasted so far.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Lets the summary's slot go if no handle is left to read it: the `101` response
    /// that carried one is gone and nobody kept a clone. None can be made again (handles
    /// come only from handles), and an idle session then keeps one allocation less.
    pub(crate) fn release_if_unwatched(&mut self) {
        if self
            .end
            .as_ref()
            .is_some_and(|end| Arc::strong_count(end) == 1)
        {
            self.end = None;
        }
    }

    /// Records `summary` and wakes every handle waiting for it; later calls do nothing.
    pub(crate) fn publish(&mut self, summary: SessionSummary) {
        if std::mem::replace(&mut self.published, true) {
            return;
        }
        summary.trace();
        if let Some(end) = &self.end {
            *lock(&end.summary) = Some(Box::new(summary));
            end.published.notify_waiters();
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
        end: Some(end.clone()),
        started: Instant::now(),
        published: false,
    };
    (SessionHandle { end }, publisher)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> SessionSummary {
        SessionSummary::abnormal(Duration::ZERO, SessionError::Aborted)
    }

    #[tokio::test]
    async fn a_watched_summary_is_kept_and_read_once_published() {
        let (handle, mut publisher) = channel();
        publisher.release_if_unwatched();
        assert!(publisher.end.is_some(), "a handle is left: the slot stays");
        let waiting = tokio::spawn({
            let handle = handle.clone();
            async move { handle.ended().await }
        });
        publisher.publish(summary());
        let ended = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("timed out")
            .unwrap();
        assert!(matches!(ended.error, Some(SessionError::Aborted)));
        assert!(handle.summary().is_some());
    }

    #[test]
    fn an_unwatched_summary_lets_its_slot_go_and_is_published_once() {
        let (handle, mut publisher) = channel();
        drop(handle);
        publisher.release_if_unwatched();
        assert!(publisher.end.is_none(), "no handle is left: the slot goes");
        publisher.publish(summary());
        assert!(publisher.published);
        // Dropping it publishes nothing more (and has nowhere to).
        drop(publisher);
    }
}
