//! The methods that [`WebSocket`](super::WebSocket) shares with its halves, each written
//! once: receiving (the socket and [`RecvHalf`](super::RecvHalf)), sending (the socket and
//! [`SendHalf`](super::SendHalf)), what all three can tell and do, and the `Stream` and
//! `Sink` implementations. Each type invokes them beside its own inherent impl.
//!
//! Every type they are invoked for has a `shared: Arc<Shared>` field.

/// `recv` and `recv_part`, for a type that receives.
macro_rules! receiving {
    ($ty:ty) => {
        impl $ty {
            /// The next message, `None` once the connection is closed.
            ///
            /// A close frame from the peer is returned as [`Message::Close`](crate::Message::Close) after the
            /// socket has answered it with the same code; the next call returns `None`. A
            /// protocol error is returned as an [`Error::Protocol`](crate::Error::Protocol) after the socket has
            /// sent the matching close code. Pings are answered by the socket and also
            /// returned, for information, and so are pongs, which may come at any time.
            pub async fn recv(&mut self) -> Option<Result<$crate::Message, $crate::Error>> {
                std::future::poll_fn(|cx| self.shared.read.poll_recv(&self.shared.write, cx, true))
                    .await
            }

            /// The next text or binary message, `None` once the connection is closed: for a
            /// handler that wants data only. Pings are answered and pongs consumed without
            /// being returned; the peer's close frame is answered and ends it (it is in
            /// [`close_frame`](Self::close_frame)). Errors are returned as by
            /// [`recv`](Self::recv). Cancel-safe, as `recv` is.
            ///
            /// # Example
            ///
            /// ```
            /// use tower_websockets::{Handshake, Message, WebSocket};
            ///
            /// async fn shout(mut socket: WebSocket, _: Handshake) {
            ///     while let Some(Ok(message)) = socket.recv_data().await {
            ///         if let Some(text) = message.as_text() {
            ///             if socket.send(text.to_uppercase()).await.is_err() {
            ///                 break;
            ///             }
            ///         }
            ///     }
            /// }
            /// ```
            pub async fn recv_data(&mut self) -> Option<Result<$crate::Message, $crate::Error>> {
                std::future::poll_fn(|cx| self.shared.read.poll_recv(&self.shared.write, cx, false))
                    .await
            }

            /// The next part of a message, for messages too large to hold whole: each frame
            /// the client sends is handed over as it arrives (see [`Part`](crate::socket::Part)). Pings between
            /// parts are answered, not returned; `None` once the connection is closed (the
            /// peer's close frame is in [`close_frame`](Self::close_frame)).
            ///
            /// `max_message_size` does not apply to a message taken in parts, only the size
            /// of one frame does (the engine reads each frame whole): a client sends a large
            /// message in several frames. Once a message's first part is taken this way,
            /// take the rest this way too: [`recv`](Self::recv) fails with
            /// [`Error::MessageInParts`](crate::Error::MessageInParts) until the last. Cancel-safe, as `recv` is.
            ///
            /// # Example
            ///
            /// ```
            /// use tower_websockets::{Handshake, WebSocket};
            ///
            /// /// Counts the bytes of each message, however large, a frame at a time.
            /// async fn count(mut socket: WebSocket, _: Handshake) {
            ///     let mut bytes = 0;
            ///     while let Some(Ok(part)) = socket.recv_part().await {
            ///         bytes += part.data.len();
            ///         if part.last {
            ///             println!("a message of {bytes} bytes");
            ///             bytes = 0;
            ///         }
            ///     }
            /// }
            /// ```
            pub async fn recv_part(
                &mut self,
            ) -> Option<Result<$crate::socket::Part, $crate::Error>> {
                std::future::poll_fn(|cx| self.shared.read.poll_recv_part(&self.shared.write, cx))
                    .await
            }
        }

        impl futures_core::Stream for $ty {
            type Item = Result<$crate::Message, $crate::Error>;

            fn poll_next(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Self::Item>> {
                self.shared.read.poll_recv(&self.shared.write, cx, true)
            }
        }
    };
}

/// `send`, `send_uncompressed`, `send_part` and `close`, for a type that sends in `mode`;
/// the attributes given go on `send` (what the mode means for it).
macro_rules! sending {
    ($ty:ty, $mode:expr, $(#[$send:meta])*) => {
        impl $ty {
            /// Sends a message: a [`Message`](crate::Message), or anything that becomes one (`&str` and
            /// `String` become text, `Bytes` and `Vec<u8>` binary).
            ///
            $(#[$send])*
            ///
            /// Sending [`Message::Close`](crate::Message::Close) is the same as [`close`](Self::close). Fails with
            /// [`Error::Closed`](crate::Error::Closed) once a close frame has been sent.
            pub fn send(
                &mut self,
                message: impl Into<$crate::Message>,
            ) -> impl std::future::Future<Output = Result<(), $crate::Error>> + '_ {
                self.shared.write.send(message.into(), $mode)
            }

            /// [`send`](Self::send), never compressed, whatever was agreed: for a message
            /// that holds a secret beside text an attacker may choose (see the security
            /// note on `DeflateConfig`, `deflate` feature).
            pub fn send_uncompressed(
                &mut self,
                message: impl Into<$crate::Message>,
            ) -> impl std::future::Future<Output = Result<(), $crate::Error>> + '_ {
                self.shared.write.send(message.into(), $mode.uncompressed())
            }

            /// Sends one part of a message: the first part of a text or binary message
            /// starts it, later ones continue it (they must be of the same kind), and the
            /// one with `last` ends it; each goes out as one frame, uncompressed. Control
            /// messages (ping, pong, close) may go out between parts, with `last` unused. A
            /// whole message sent while one is under way in parts fails with
            /// [`Error::MessageInParts`](crate::Error::MessageInParts).
            ///
            /// # Example
            ///
            /// ```
            /// use tower_websockets::{Handshake, Message, WebSocket};
            ///
            /// /// Sends a report as it is computed, one line a frame.
            /// async fn report(mut socket: WebSocket, _: Handshake) -> Result<(), tower_websockets::Error> {
            ///     for line in ["first line\n", "second line\n"] {
            ///         socket.send_part(Message::text(line), false).await?;
            ///     }
            ///     socket.send_part(Message::text("done\n"), true).await
            /// }
            /// ```
            pub fn send_part(
                &mut self,
                message: impl Into<$crate::Message>,
                last: bool,
            ) -> impl std::future::Future<Output = Result<(), $crate::Error>> + '_ {
                self.shared.write.send(message.into(), $mode.part(last))
            }

            /// Starts the close handshake with this code and reason (cut to 123 bytes), and
            /// waits until the frame is written. Does nothing if a close frame was already
            /// sent (for example in answer to the peer's). Keep receiving to see the peer's
            /// answer; when the handler returns, the session waits for it (up to the
            /// configured close timeout) and closes the connection.
            pub async fn close(&mut self, code: $crate::CloseCode, reason: &str) -> Result<(), $crate::Error> {
                self.shared.write.close(code, reason).await
            }
        }

        impl futures_sink::Sink<$crate::Message> for $ty {
            type Error = $crate::Error;

            fn poll_ready(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), $crate::Error>> {
                self.shared.write.poll_reserve(cx)
            }

            fn start_send(self: std::pin::Pin<&mut Self>, message: $crate::Message) -> Result<(), $crate::Error> {
                self.shared.write.push(message)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), $crate::Error>> {
                self.shared.write.poll_flush(cx)
            }

            /// Sends a normal close (1000) unless a close frame was sent already, and flushes.
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), $crate::Error>> {
                self.shared
                    .write
                    .push_close(Some(&$crate::CloseFrame::new($crate::CloseCode::NORMAL, "")));
                self.shared.write.poll_flush(cx)
            }
        }
    };
}

/// `sender`, `state`, `close_frame` and `abort`, which the socket and both halves have, and the
/// crate's access to the state they share.
macro_rules! controlling {
    ($ty:ty) => {
        impl $ty {
            /// The socket's state, shared with its session.
            pub(crate) fn shared(&self) -> &std::sync::Arc<Shared> {
                &self.shared
            }

            /// A [`Sender`](crate::socket::Sender) for this socket, to send from other
            /// tasks; clone it for each.
            pub fn sender(&self) -> $crate::socket::Sender {
                $crate::socket::Sender::new(self.shared.clone())
            }

            /// Where the close handshake stands: open, closing or closed.
            pub fn state(&self) -> $crate::socket::WebSocketState {
                self.shared.state()
            }

            /// The close frame the peer sent, once received (one without a code reads as
            /// [`CloseCode::NO_STATUS`](crate::CloseCode::NO_STATUS), 1005). The session's summary has it too.
            pub fn close_frame(&self) -> Option<$crate::CloseFrame> {
                self.shared.peer_close()
            }

            /// Drops the connection now, without a close handshake: the peer sees the TCP
            /// connection end. Every later `recv` ends and every `send` fails; the session's
            /// summary records [`SessionError::AbortedByHandler`](crate::error::SessionError::AbortedByHandler)
            /// with close code 1006.
            ///
            /// # Example
            ///
            /// ```
            /// use tower_websockets::{Handshake, Message, WebSocket};
            ///
            /// /// A client that sends binary where text was agreed is cut off, no questions asked.
            /// async fn strict(mut socket: WebSocket, _: Handshake) {
            ///     while let Some(Ok(message)) = socket.recv().await {
            ///         if let Message::Binary(_) = message {
            ///             socket.abort();
            ///         }
            ///     }
            /// }
            /// ```
            pub fn abort(&self) {
                self.shared
                    .abort($crate::error::SessionError::AbortedByHandler);
            }
        }
    };
}

pub(super) use {controlling, receiving, sending};
