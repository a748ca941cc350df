//! How sessions end, as the layers outside see them: the [`SessionHandle`] in a `101`
//! response's extensions, the [`SessionSummary`] it gives once the socket has closed, and
//! the [`ShutdownHandle`] that ends every session of a layer.
//!
//! Inside the crate, this module runs a session from upgrade to close: the driver that
//! runs the handler under its supervisor, finishes the close handshake and publishes the
//! summary.

mod handle;
mod keep_alive;
mod summary;
mod supervisor;

use std::{
    any::Any,
    future::{poll_fn, Future},
    sync::Arc,
    task::{Poll, Waker},
    time::Duration,
};

use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tracing::Instrument;

pub use crate::socket::{ClosedBy, Traffic};
pub use handle::SessionHandle;
pub(crate) use handle::{channel, Publisher};
pub use summary::SessionSummary;
use supervisor::{Supervised, Supervisor};

#[cfg(feature = "deflate")]
use crate::deflate::{Compressor, Inflater};
pub use crate::shutdown::{ShutdownHandle, ShutdownReport};
use crate::{
    config::Config,
    error::{BoxError, SessionError},
    handler::{BoxedSession, Handler, HandlerOutput, OneSocket},
    handshake::Handshake,
    socket::{Shared, Snapshot, SocketConfig, WebSocket},
    stats::Place,
    CloseCode, CloseFrame, Error,
};

/// Starts one session in a task of its own: waits for the upgrade, runs the handler (the
/// layer's, or `handler`, the one the accept hook chose), closes the connection, publishes
/// the summary.
pub(crate) fn spawn<H: Handler>(session: Session<H>, handler: Option<OneSocket>) {
    let handshake = &session.handshake;
    // One span a session: what it served and to whom; the close is an event inside it.
    let span = tracing::info_span!(
        "websocket",
        path = %handshake.uri().path(),
        peer = tracing::field::debug(handshake.peer_addr()),
        protocol = %handshake.protocol().unwrap_or("-"),
    );
    match handler {
        None => start(span, run(session, LayerHandler)),
        Some(own) => start(span, run(session, own)),
    }
}

/// What a session starts from: hyper's upgrade, the layer's configuration, the request,
/// where its summary goes, its place in the socket count, and the accept hook's limit.
pub(crate) struct Session<H> {
    pub(crate) on_upgrade: OnUpgrade,
    pub(crate) config: Arc<Config<H>>,
    pub(crate) handshake: Handshake,
    pub(crate) publisher: Publisher,
    /// Held until the session ends, however it ends: the socket's place in the count.
    pub(crate) place: Place,
    /// For this socket, in place of the layer's `max_message_size`.
    pub(crate) max_message_size: Option<usize>,
}

/// Spawns a session's task, in its span when something records it.
fn start(span: tracing::Span, session: impl Future<Output = ()> + Send + 'static) {
    // A span that nothing records is neither entered at every poll nor kept: instrumented,
    // it would cost every idle session 40 bytes and every message ~130 instructions
    // (entering a disabled span still goes through `Span::log` when `log` is on).
    if span.is_disabled() {
        tokio::spawn(session);
    } else {
        tokio::spawn(session.instrument(span));
    }
}

/// Which handler a session runs: the layer's ([`LayerHandler`]), or the one an accept hook
/// chose for it ([`OneSocket`]). Two kinds, not an `Option`: sessions of the layer's
/// handler carry nothing for the other kind.
trait Begin<H>: Send + 'static {
    type Output: HandlerOutput + Send;

    /// Starts the handler's future on the opened socket; `layer` is the layer's handler.
    fn begin(self, layer: &H, opened: Opened) -> impl Future<Output = Self::Output> + Send + '_;
}

/// A socket just opened, and the request it was opened by.
type Opened = (WebSocket, Handshake);

/// The layer's own handler.
struct LayerHandler;

impl<H: Handler> Begin<H> for LayerHandler {
    type Output = H::Output;

    fn begin(
        self,
        layer: &H,
        (socket, handshake): Opened,
    ) -> impl Future<Output = H::Output> + Send + '_ {
        layer.call(socket, handshake)
    }
}

impl<H> Begin<H> for OneSocket {
    type Output = Result<(), BoxError>;

    // Its future is a known type: boxed, it is the same for every handler it holds.
    #[allow(refining_impl_trait)]
    fn begin(self, _: &H, (socket, handshake): Opened) -> BoxedSession {
        self.call(socket, handshake)
    }
}

/// The session's future. Not an `async fn`: that would copy its argument into a local of
/// the future, and every idle session's task would carry both.
fn run<H: Handler>(
    session: Session<H>,
    handler: impl Begin<H>,
) -> impl Future<Output = ()> + Send + 'static {
    let Session {
        on_upgrade,
        config,
        handshake,
        mut publisher,
        place,
        max_message_size,
    } = session;
    async move {
        // Held until the session ends, however it ends.
        let _place = &place;
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => {
                // The `101` response, and the handle it carried, are gone by now.
                publisher.release_if_unwatched();
                upgraded
            }
            Err(e) => {
                let error = SessionError::Upgrade(Arc::new(e));
                publisher.publish(SessionSummary::abnormal(publisher.elapsed(), error));
                return;
            }
        };
        // This task's waker: other tasks that queue frames for the socket (publishing to a
        // topic) wake it to write them.
        let session = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        let shared = socket(upgraded, &config, &handshake, max_message_size, session);
        // However the session ends, even with its task dropped, the socket leaves its topics.
        let _leave = LeaveGroups(&shared);
        let socket = WebSocket::new(shared.clone(), handshake.protocol().map(str::to_owned));
        // Built and awaited in one expression: the handler's future then has one slot in
        // this one, not a second for a local it was first put in.
        let outcome = Supervisor::new(
            handler.begin(&config.handler, (socket, handshake)),
            &shared,
            &config,
        )
        .await;
        let outcome = match outcome {
            Supervised::Ended(outcome) => outcome,
            Supervised::Dropped(error) => {
                // Past a shutdown's deadline, or a peer that stopped answering pings: drop the
                // connection where it stands, whoever still holds the socket.
                shared.abort(error.clone());
                shared.leave_groups();
                let mut summary = summarize(shared.snapshot(), None, publisher.elapsed());
                summary.error = Some(error);
                publisher.publish(summary);
                return;
            }
        };
        let handler_error = match outcome {
            Ok(output) => output
                .into_result()
                .err()
                .map(|e| SessionError::Handler(Arc::new(e))),
            Err(panic) => Some(SessionError::HandlerPanicked(panic_message(&*panic))),
        };
        // Boxed: its state (a timer among it) is needed only once the session ends, and
        // would otherwise make every idle session's task larger.
        Box::pin(finish(
            &shared,
            handler_error.is_some(),
            config.close_timeout,
        ))
        .await;

        shared.leave_groups();
        publisher.publish(summarize(
            shared.snapshot(),
            handler_error,
            publisher.elapsed(),
        ));
    }
}

/// Makes the socket leave the groups it joined when dropped.
struct LeaveGroups<'a>(&'a Shared);

impl Drop for LeaveGroups<'_> {
    fn drop(&mut self) {
        self.0.leave_groups();
    }
}

/// The socket over the upgraded connection, with this session's settings. A plain
/// function: what it builds on the way is not kept in every session's future.
fn socket<H>(
    upgraded: Upgraded,
    config: &Config<H>,
    handshake: &Handshake,
    max_message_size: Option<usize>,
    session: Waker,
) -> Arc<Shared> {
    #[cfg(not(feature = "deflate"))]
    let _ = handshake;
    #[cfg(feature = "deflate")]
    let deflate = match (&config.deflate, handshake.deflate()) {
        (Some((settings, pools)), Some(params)) => Some((
            Compressor::new(&params, settings, pools.clone()),
            Inflater::new(&params, pools.clone()),
        )),
        _ => None,
    };
    // The accept hook may have set this socket's own limit.
    let overridden;
    let socket_config = match max_message_size {
        Some(max_message_size) => {
            overridden = SocketConfig {
                max_message_size,
                ..config.socket.clone()
            };
            &overridden
        }
        None => &config.socket,
    };
    Shared::new(
        TokioIo::new(upgraded),
        socket_config,
        session,
        #[cfg(feature = "deflate")]
        deflate,
    )
}

/// Completes the close handshake after the handler is done, within `timeout`.
async fn finish(shared: &Shared, handler_failed: bool, timeout: Duration) {
    let state = shared.snapshot();
    let connection_lost = matches!(
        state.read_error,
        Some(
            SessionError::Socket(Error::ConnectionReset | Error::Io(_))
                | SessionError::AbortedByHandler
        )
    );
    if connection_lost {
        return;
    }
    if state.close_sent.is_none() {
        let frame = if handler_failed {
            CloseFrame::new(CloseCode::INTERNAL_ERROR, "internal error")
        } else {
            CloseFrame::new(CloseCode::NORMAL, "")
        };
        shared.write.push_close(Some(&frame));
    }
    let _ = tokio::time::timeout(timeout, async {
        // Send our close frame, wait for the peer's (whatever else it still sends is
        // dropped), then close the TCP connection from our side.
        poll_fn(|cx| shared.write.poll_flush(cx)).await?;
        while let Some(Ok(_)) = poll_fn(|cx| shared.read.poll_recv(&shared.write, cx, true)).await {
        }
        poll_fn(|cx| shared.write.poll_shutdown(cx)).await
    })
    .await;
}

fn summarize(
    state: Snapshot,
    handler_error: Option<SessionError>,
    duration: Duration,
) -> SessionSummary {
    let (closed_by, frame) = match state.closed_by {
        ClosedBy::Client => (
            ClosedBy::Client,
            state
                .close_received
                .flatten()
                .unwrap_or_else(|| CloseFrame::new(CloseCode::NO_STATUS, "")),
        ),
        ClosedBy::Server => (
            ClosedBy::Server,
            state
                .close_sent
                .unwrap_or_else(|| CloseFrame::new(CloseCode::NO_STATUS, "")),
        ),
        ClosedBy::Neither => (ClosedBy::Neither, CloseFrame::new(CloseCode::ABNORMAL, "")),
    };
    SessionSummary {
        close_code: frame.code,
        close_reason: frame.reason,
        closed_by,
        duration,
        received: state.received,
        sent: state.sent,
        error: handler_error.or(state.read_error),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
