//! Sending with a timeout: the named future behind `send`, and its poll by hand.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::time::Sleep;

use super::shared::{SendMode, Shared};
use crate::{Error, Message};

impl Shared {
    /// `poll_send`, failing with [`Error::SendTimeout`] once the send has waited for the
    /// configured time. The timer starts when the send first has to wait.
    pub(super) fn poll_send_timed(
        &self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
        mode: SendMode,
        timer: &mut Option<Pin<Box<Sleep>>>,
    ) -> Poll<Result<(), Error>> {
        if let Poll::Ready(result) = self.poll_send(cx, message, mode) {
            *timer = None;
            return Poll::Ready(result);
        }
        let Some(limit) = self.send_timeout else {
            return Poll::Pending;
        };
        // On a timeout the frame stays queued whole; the handler decides whether to go
        // on or to close.
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::SendTimeout)),
            Poll::Pending => Poll::Pending,
        }
    }

    pub(super) fn send(&self, message: Message, mode: SendMode) -> Sending<'_> {
        Sending {
            shared: self,
            message: Some(message),
            mode,
            timer: None,
        }
    }
}

/// A send in progress: the message until it is queued, then the flush. Cancel-safe: once
/// queued, the frame goes out whole whether this is polled again or not.
#[must_use = "a send does nothing unless polled"]
pub(super) struct Sending<'a> {
    shared: &'a Shared,
    message: Option<Message>,
    mode: SendMode,
    /// With a send timeout: started when the send first has to wait. Boxed: a timer would
    /// make every handler's future larger, and most sends never wait.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Future for Sending<'_> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.shared
            .poll_send_timed(cx, &mut this.message, this.mode, &mut this.timer)
    }
}
