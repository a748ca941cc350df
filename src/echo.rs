//! [`Echo`], the default handler.

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use crate::{handler::Handler, handshake::Handshake, socket::WebSocket, Message};

/// The default handler: sends every text and binary message back unchanged until the
/// client closes, then closes with the client's own code and reason.
///
/// Fragmented messages are echoed whole, as one frame. Pings are answered with pongs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Handler for Echo {
    type Output = ();

    fn call(&self, socket: WebSocket, handshake: Handshake) -> impl Future<Output = ()> + Send {
        // Not needed here: free it now rather than at the end of the session.
        drop(handshake);
        EchoSession {
            socket,
            state: State::Receiving,
            timer: None,
        }
    }
}

/// [`Echo`]'s session, written out by hand: it lives in every echo socket's task, idle or
/// not, and as a plain struct it holds the socket and one message, where an `async fn`
/// would keep a slot for each future it awaits.
struct EchoSession {
    socket: WebSocket,
    state: State,
    /// The send timeout's timer, while a send waits.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

enum State {
    /// Waiting for the next message.
    Receiving,
    /// Sending a message back: the message until it is queued, then nothing while the
    /// frame is written (or gathered with the answers to input already read). Queued is
    /// not sent: a message larger than the connection's buffers takes several polls.
    Sending(Option<Message>),
}

impl Future for EchoSession {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if let State::Sending(message) = &mut this.state {
                match ready!(this.socket.poll_send(cx, message, &mut this.timer)) {
                    Ok(()) => this.state = State::Receiving,
                    Err(_) => return Poll::Ready(()),
                }
            }
            match ready!(this.socket.poll_recv(cx)) {
                Some(Ok(message)) if message.is_data() => {
                    this.state = State::Sending(Some(message));
                }
                // Pings were answered by the socket; a close was answered with the
                // client's own code, and the next `recv` returns `None`.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Poll::Ready(()),
            }
        }
    }
}
