//! Messages in parts: [`Part`], what [`WebSocket::recv_part`](crate::WebSocket::recv_part)
//! returns.

use bytes::Bytes;

/// Whether a message is text or binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A text message: its parts together are UTF-8 (a character may be cut between two).
    Text,
    /// A binary message.
    Binary,
}

/// One frame's worth of a message received in parts.
///
/// A client sends a large message in several frames (fragments); each is one part, handed
/// over as soon as it has arrived, so that a message of any size takes no more memory than
/// a frame. The parts of a text message are checked as UTF-8 together: a part may end in
/// the middle of a character, and the message is failed (1007) at the part where its bytes
/// can no longer be UTF-8.
///
/// # Example
///
/// Writing each binary message to its own file as it arrives, whatever its size:
///
/// ```no_run
/// use tokio::io::AsyncWriteExt;
/// use tower_websockets::{Handshake, socket::MessageKind, WebSocket};
///
/// async fn upload(mut socket: WebSocket, _: Handshake) -> std::io::Result<()> {
///     let mut count = 0;
///     let mut file = None;
///     while let Some(Ok(part)) = socket.recv_part().await {
///         if part.kind != MessageKind::Binary {
///             continue;
///         }
///         if file.is_none() {
///             count += 1;
///             file = Some(tokio::fs::File::create(format!("upload-{count}")).await?);
///         }
///         if let Some(out) = file.as_mut() {
///             out.write_all(&part.data).await?;
///         }
///         if part.last {
///             file = None;
///         }
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Part {
    /// The message's kind, the same for all its parts.
    pub kind: MessageKind,
    /// This frame's payload (inflated, if the message is compressed).
    pub data: Bytes,
    /// Whether this is the message's last part.
    pub last: bool,
}
