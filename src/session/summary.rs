//! How a session ended: the record that outer layers read from a [`SessionHandle`].
//!
//! [`SessionHandle`]: crate::session::SessionHandle

use std::time::Duration;

use crate::{
    error::SessionError,
    socket::{ClosedBy, Traffic},
    CloseCode,
};

/// How a session ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionSummary {
    /// The close code of the side that closed first; 1005 if its close frame had no code,
    /// 1006 if the connection ended without one (RFC 6455 §7.1.5).
    pub close_code: CloseCode,
    /// The reason that came with `close_code`.
    pub close_reason: String,
    /// Which side sent the first close frame.
    pub closed_by: ClosedBy,
    /// From the `101` to the end of the session.
    pub duration: Duration,
    /// What the client sent.
    pub received: Traffic,
    /// What the server sent.
    pub sent: Traffic,
    /// What went wrong, if anything did: the socket's failure (a protocol error, a
    /// connection lost without a close frame), a handler error or panic, a failed upgrade,
    /// or what the session did (keep-alive timeout, shutdown deadline, ...).
    pub error: Option<SessionError>,
}

impl SessionSummary {
    /// A session that ended without a close handshake, for `error`.
    pub(crate) fn abnormal(duration: Duration, error: SessionError) -> Self {
        SessionSummary {
            close_code: CloseCode::ABNORMAL,
            close_reason: String::new(),
            closed_by: ClosedBy::Neither,
            duration,
            received: Traffic::default(),
            sent: Traffic::default(),
            error: Some(error),
        }
    }

    /// The session's close, as an `INFO` event in its span.
    pub(crate) fn trace(&self) {
        let error = self.error.as_ref().map(tracing::field::display);
        tracing::info!(
            code = self.close_code.0,
            reason = %self.close_reason,
            closed_by = ?self.closed_by,
            duration_ms = self.duration.as_millis() as u64,
            received_messages = self.received.messages,
            received_bytes = self.received.bytes,
            sent_messages = self.sent.messages,
            sent_bytes = self.sent.bytes,
            error,
            "websocket closed"
        );
    }
}
