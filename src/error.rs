//! The socket's error type.

use std::{fmt, io, sync::Arc};

use crate::CloseCode;

/// A boxed error, as handlers may return it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong on a WebSocket session.
///
/// Cheap to clone, so that the same error can be handed to the handler and recorded in the
/// [`SessionSummary`](crate::SessionSummary).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke RFC 6455; the socket was closed with `code`.
    Protocol {
        /// The close code sent to the peer (1002, 1007 or 1009).
        code: CloseCode,
        /// What the peer did wrong.
        reason: &'static str,
    },
    /// The connection failed underneath the WebSocket.
    Io(Arc<io::Error>),
    /// The connection ended without a close handshake.
    ConnectionReset,
    /// The socket is closed (or closing): no more data can be sent.
    Closed,
    /// The HTTP upgrade did not complete.
    Upgrade(Arc<hyper::Error>),
    /// The handler returned an error.
    Handler(Arc<BoxError>),
    /// The handler panicked, with the panic message.
    HandlerPanicked(String),
    /// The session's task was dropped before the session ended (the runtime shut down).
    Aborted,
    /// A graceful shutdown's deadline passed before the close handshake finished.
    ShutdownDeadline,
    /// The peer sent nothing within the keep-alive timeout after a ping.
    KeepAliveTimeout,
    /// A send could not finish within the configured `send_timeout`: the peer does not
    /// read. The frame stays queued.
    SendTimeout,
    /// The handler dropped the connection with `abort`.
    AbortedByHandler,
    /// A whole message was received (or sent) while one was under way in parts, or the
    /// other way round: finish it the way it began. Nothing was lost.
    MessageInParts,
    /// The handler tried to send a ping or pong with a payload over 125 bytes, which RFC
    /// 6455 §5.5 forbids. Nothing was sent; the socket stays open.
    ControlFrameTooLarge,
    /// The socket's outgoing queue was full when a message was published to it, and the
    /// [`Topics`](crate::Topics) policy is to close such sockets: it was sent a close
    /// frame 1008, and dropped when the close handshake had not ended within the close
    /// timeout.
    QueueFull,
}

impl Error {
    pub(crate) fn protocol(code: CloseCode, reason: &'static str) -> Self {
        Error::Protocol { code, reason }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol { code, reason } => write!(f, "protocol error ({code}): {reason}"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::ConnectionReset => f.write_str("connection closed without a close handshake"),
            Error::Closed => f.write_str("the WebSocket is closed"),
            Error::Upgrade(e) => write!(f, "upgrade failed: {e}"),
            Error::Handler(e) => write!(f, "handler failed: {e}"),
            Error::HandlerPanicked(msg) => write!(f, "handler panicked: {msg}"),
            Error::Aborted => f.write_str("the session's task was dropped before it ended"),
            Error::SendTimeout => f.write_str("the peer took nothing within the send timeout"),
            Error::AbortedByHandler => f.write_str("the handler aborted the connection"),
            Error::MessageInParts => {
                f.write_str("a message is under way the other way (whole or in parts)")
            }
            Error::ControlFrameTooLarge => {
                f.write_str("a ping or pong payload may not be over 125 bytes")
            }
            Error::QueueFull => f.write_str(
                "dropped for falling behind: its outgoing queue was full when a message was published",
            ),
            Error::KeepAliveTimeout => {
                f.write_str("the peer answered no ping within the keep-alive timeout")
            }
            Error::ShutdownDeadline => {
                f.write_str("dropped at the shutdown deadline, before the close handshake ended")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(&**e),
            Error::Upgrade(e) => Some(&**e),
            Error::Handler(e) => Some(&***e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}
