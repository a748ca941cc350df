//! Errors: what a socket's operations return ([`Error`], with the causes of a protocol
//! error, [`ProtocolError`]), and what ended a session ([`SessionError`]).

use std::{fmt, io, sync::Arc};

use crate::CloseCode;

/// A boxed error, as handlers may return it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a socket's operations (`recv`, `send`, `close`, ...) return when they fail.
///
/// Cheap to clone, so that the same error can be handed to the handler and recorded in the
/// [`SessionSummary`](crate::session::SessionSummary) (as [`SessionError::Socket`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke RFC 6455 (or RFC 7692): the socket was closed with the cause's
    /// [close code](ProtocolError::close_code).
    Protocol(ProtocolError),
    /// The connection failed underneath the WebSocket.
    Io(Arc<io::Error>),
    /// The connection ended without a close handshake.
    ConnectionReset,
    /// The socket is closed (or closing): no more data can be sent.
    Closed,
    /// A send could not finish within the configured `send_timeout`: the peer does not
    /// read. The frame stays queued.
    SendTimeout,
    /// A whole message was received (or sent) while one was under way in parts, or the
    /// other way round: finish it the way it began. Nothing was lost.
    MessageInParts,
    /// The handler tried to send a ping or pong with a payload over 125 bytes, which RFC
    /// 6455 §5.5 forbids. Nothing was sent; the socket stays open.
    ControlFrameTooLarge,
    /// A send that does not wait ([`Sender::try_send`](crate::socket::Sender::try_send))
    /// found the socket's queue full (64 KiB waiting for the peer to read): the message
    /// was not queued. The socket stays open.
    QueueFull,
}

/// How the peer broke the protocol: the cause of an [`Error::Protocol`]. Each cause has
/// the close code the socket answered it with, and a short reason that went with it.
///
/// ```
/// use tower_websockets::{CloseCode, Error, ProtocolError};
///
/// fn log(error: &Error) {
///     match error {
///         Error::Protocol(ProtocolError::MessageTooBig) => eprintln!("raise max_message_size?"),
///         Error::Protocol(cause) => assert_ne!(cause.close_code(), CloseCode::NORMAL),
///         _ => {}
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame from the client was not masked (RFC 6455 §5.1). 1002.
    UnmaskedFrame,
    /// A reserved bit was set that no agreed extension defines (§5.2). 1002.
    ReservedBits,
    /// RSV1 (compressed) on a control or continuation frame (RFC 7692 §6). 1002.
    CompressedControlOrContinuation,
    /// An opcode that RFC 6455 reserves (§5.2). 1002.
    UnknownOpcode,
    /// A frame that could not be parsed. 1002.
    InvalidFrame,
    /// A control frame without FIN (§5.5). 1002.
    FragmentedControlFrame,
    /// A control frame with a payload over 125 bytes (§5.5). 1002.
    ControlFrameTooLarge,
    /// A continuation frame with no fragmented message to continue (§5.4). 1002.
    UnexpectedContinuation,
    /// A text or binary frame while a fragmented message was under way (§5.4). 1002.
    MessageInsideMessage,
    /// A close frame with a one-byte payload (§5.5.1). 1002.
    CloseFrameTooShort,
    /// A close code that may not be sent on the wire (§7.4). 1002.
    InvalidCloseCode,
    /// A text message that is not UTF-8 (§8.1), checked as its fragments arrive. 1007.
    InvalidUtf8,
    /// A close frame whose reason is not UTF-8 (§5.5.1). 1007.
    InvalidCloseReason,
    /// Compressed data that does not inflate (RFC 7692 §7.2.2). 1007.
    InvalidCompressedData,
    /// A message (inflated, with compression) or frame over the configured maximum. 1009.
    MessageTooBig,
}

impl ProtocolError {
    /// The close code the socket sent for this cause: 1002 (protocol error), 1007
    /// (invalid payload) or 1009 (message too big).
    pub fn close_code(self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            ProtocolError::MessageTooBig => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// The reason sent with the close frame: what the peer did, in a few words.
    pub fn reason(self) -> &'static str {
        match self {
            ProtocolError::UnmaskedFrame => "client frames must be masked",
            ProtocolError::ReservedBits => "reserved bits set without a negotiated extension",
            ProtocolError::CompressedControlOrContinuation => {
                "RSV1 set on a control or continuation frame"
            }
            ProtocolError::UnknownOpcode => "unknown opcode",
            ProtocolError::InvalidFrame => "invalid frame",
            ProtocolError::FragmentedControlFrame => "fragmented control frame",
            ProtocolError::ControlFrameTooLarge => "control frame payload over 125 bytes",
            ProtocolError::UnexpectedContinuation => {
                "a continuation frame without a message to continue"
            }
            ProtocolError::MessageInsideMessage => "a new message started inside a fragmented one",
            ProtocolError::CloseFrameTooShort => "close frame with a one-byte payload",
            ProtocolError::InvalidCloseCode => "close code not allowed on the wire",
            ProtocolError::InvalidUtf8 => "text message is not UTF-8",
            ProtocolError::InvalidCloseReason => "close reason is not UTF-8",
            ProtocolError::InvalidCompressedData => "invalid compressed data",
            ProtocolError::MessageTooBig => "message larger than the configured maximum",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.close_code())
    }
}

impl std::error::Error for ProtocolError {}

impl From<ProtocolError> for Error {
    fn from(cause: ProtocolError) -> Self {
        Error::Protocol(cause)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(cause) => write!(f, "protocol error: {cause}"),
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::ConnectionReset => f.write_str("connection closed without a close handshake"),
            Error::Closed => f.write_str("the WebSocket is closed"),
            Error::SendTimeout => f.write_str("the peer took nothing within the send timeout"),
            Error::MessageInParts => {
                f.write_str("a message is under way the other way (whole or in parts)")
            }
            Error::ControlFrameTooLarge => {
                f.write_str("a ping or pong payload may not be over 125 bytes")
            }
            Error::QueueFull => {
                f.write_str("the socket's queue is full: the peer reads too slowly")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Protocol(cause) => Some(cause),
            Error::Io(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

/// What ended a session abnormally, as its [`SessionSummary`](crate::session::SessionSummary)
/// records it: the socket's own failure, or something the session did to it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionError {
    /// The socket failed: a protocol error (the socket closed with its code), the
    /// connection's I/O, or the connection ending without a close handshake.
    Socket(Error),
    /// The HTTP upgrade did not complete.
    Upgrade(Arc<hyper::Error>),
    /// The handler returned an error (the socket closed with 1011).
    Handler(Arc<BoxError>),
    /// The handler panicked, with the panic message (the socket closed with 1011).
    HandlerPanicked(String),
    /// The handler dropped the connection with `abort`.
    AbortedByHandler,
    /// The session's task was dropped before the session ended (the runtime shut down).
    Aborted,
    /// A graceful shutdown's deadline passed before the close handshake finished.
    ShutdownDeadline,
    /// The peer sent nothing within the keep-alive timeout after a ping.
    KeepAliveTimeout,
    /// The socket's outgoing queue was full when a message was published to it, and the
    /// [`Topics`](crate::Topics) policy is to close such sockets: it was sent a close
    /// frame 1008, and dropped when the close handshake had not ended within the close
    /// timeout.
    QueueFull,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Socket(e) => e.fmt(f),
            SessionError::Upgrade(e) => write!(f, "upgrade failed: {e}"),
            SessionError::Handler(e) => write!(f, "handler failed: {e}"),
            SessionError::HandlerPanicked(msg) => write!(f, "handler panicked: {msg}"),
            SessionError::AbortedByHandler => f.write_str("the handler aborted the connection"),
            SessionError::Aborted => {
                f.write_str("the session's task was dropped before it ended")
            }
            SessionError::ShutdownDeadline => {
                f.write_str("dropped at the shutdown deadline, before the close handshake ended")
            }
            SessionError::KeepAliveTimeout => {
                f.write_str("the peer answered no ping within the keep-alive timeout")
            }
            SessionError::QueueFull => f.write_str(
                "dropped for falling behind: its outgoing queue was full when a message was published",
            ),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionError::Socket(e) => Some(e),
            SessionError::Upgrade(e) => Some(&**e),
            SessionError::Handler(e) => Some(&***e),
            _ => None,
        }
    }
}

impl From<Error> for SessionError {
    fn from(e: Error) -> Self {
        SessionError::Socket(e)
    }
}
