//! [`Sender`]: sending on a socket from any task.

use std::{future::Future, sync::Arc};

use super::{shared::Shared, write::SendMode};
use crate::{Error, Message};

/// Sends on a socket from any task: a game loop, a notifier, a task per subscription. Made
/// by [`WebSocket::sender`](super::WebSocket::sender) (or either half's); clone it for each
/// task.
///
/// Its messages go into the socket's own queue, the one the handler's sends use, bounded
/// the same way: [`send`](Self::send) waits while 64 KiB wait for the peer to read, and
/// [`try_send`](Self::try_send) never waits, failing with [`Error::QueueFull`] instead.
/// Messages go out in the order they were queued, whichever task queued them, so each
/// task's own messages keep their order. Once the socket is closed (by either side, or
/// its session ended), sends fail with [`Error::Closed`] (or the error the connection
/// failed with). A sender does not keep the session open: the handler's return ends it.
///
/// While the socket sends a message in parts (`send_part`), a whole message from a sender
/// fails with [`Error::MessageInParts`], as the socket's own `send` does.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_websockets::{Handshake, WebSocket};
///
/// /// Echoes what the client says, and tells it the time every second meanwhile.
/// async fn handler(mut socket: WebSocket, _: Handshake) {
///     let clock = socket.sender();
///     let ticks = tokio::spawn(async move {
///         let mut second = 0u64;
///         loop {
///             tokio::time::sleep(Duration::from_secs(1)).await;
///             second += 1;
///             if clock.send(format!("{second} s")).await.is_err() {
///                 break; // closed
///             }
///         }
///     });
///     while let Some(Ok(message)) = socket.recv_data().await {
///         if socket.send(message).await.is_err() {
///             break;
///         }
///     }
///     ticks.abort();
/// }
/// ```
#[derive(Clone)]
pub struct Sender {
    shared: Arc<Shared>,
}

impl Sender {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Sender { shared }
    }

    /// Sends a message: waits while the socket's queue is full, and until the connection
    /// has taken the frame. Cancel-safe: a send dropped once its message is queued still
    /// sends it whole.
    pub fn send(
        &self,
        message: impl Into<Message>,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        self.shared.write.send(message.into(), SendMode::SEND_HALF)
    }

    /// Queues a message without waiting; the socket's session writes it out. Fails with
    /// [`Error::QueueFull`] when 64 KiB already wait for the peer to read (the message is
    /// dropped), and with [`Error::Closed`] once the socket is closed.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), Error> {
        self.shared.write.try_send(message.into())
    }

    /// Whether the socket sends no more: its close frame is queued or sent, or the
    /// connection is gone. A sender's task can stop then.
    pub fn is_closed(&self) -> bool {
        self.shared.write.is_closed()
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
