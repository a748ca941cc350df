//! One client of the topics protocol: its requests read and answered in order.

use std::future::poll_fn;

use super::{
    access::{Access, Authorize},
    messages::{self, Code, Failure, Reply, Request},
};
use crate::{
    error::Error,
    handshake::Handshake,
    socket::WebSocket,
    topics::{Framing, SubscribeError, Topics},
    Message,
};

/// What every client's session is served with.
pub(super) struct Settings<'a> {
    pub(super) topics: &'a Topics,
    pub(super) max_subscriptions: usize,
    pub(super) authorize: Option<&'a Authorize>,
}

/// A client's session: its socket, its handshake (for authorization) and how many topics
/// it is subscribed to.
pub(super) struct Client<'a> {
    settings: Settings<'a>,
    socket: WebSocket,
    handshake: Handshake,
    subscriptions: usize,
}

impl<'a> Client<'a> {
    pub(super) fn new(settings: Settings<'a>, socket: WebSocket, handshake: Handshake) -> Self {
        Client {
            settings,
            socket,
            handshake,
            subscriptions: 0,
        }
    }

    /// Answers requests until the client leaves. A request that cannot be read or is not
    /// allowed gets an error reply; the session goes on.
    pub(super) async fn run(mut self) -> Result<(), Error> {
        while let Some(message) = self.socket.recv_data().await {
            // A broken connection or a protocol violation: the session reports it.
            let Ok(message) = message else {
                return Ok(());
            };
            let request = match &message {
                Message::Text(text) => messages::read_text(text),
                Message::Binary(data) => messages::read_binary(data),
                _ => continue,
            };
            let answered = match request {
                Ok(request) => self.act(request).await,
                Err(refusal) => self.refuse(&refusal).await,
            };
            match answered {
                Ok(()) => {}
                Err(Error::Closed) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    async fn act(&mut self, request: Request<'_>) -> Result<(), Error> {
        match request {
            Request::Subscribe { id, topic, since } => {
                if !self.allowed(Access::Subscribe(&topic)) {
                    return self.forbid(id).await;
                }
                if self.subscriptions >= self.settings.max_subscriptions {
                    let refusal = Failure::new(
                        Some(id),
                        Code::TooManySubscriptions,
                        format!(
                            "at most {} subscriptions at once",
                            self.settings.max_subscriptions
                        ),
                    );
                    return self.refuse(&refusal).await;
                }
                // What a subscribe replays bypasses the queue's bound (the history's
                // bounds it): wait for the queue to have room first, so that a client
                // that asks for many topics at once and does not read is held back.
                let write = &self.socket.shared().write;
                poll_fn(|cx| write.poll_reserve(cx)).await?;
                let came_back = since.is_some();
                let joined = self
                    .settings
                    .topics
                    .recover(
                        self.socket.shared(),
                        &topic,
                        Framing::Enveloped,
                        since.as_ref(),
                        |recovery| {
                            Some(Reply::subscribed(id, &topic, recovery, came_back).payload())
                        },
                    )
                    .await;
                match joined {
                    Ok(_) => {
                        self.subscriptions += 1;
                        Ok(())
                    }
                    Err(SubscribeError::AlreadySubscribed) => {
                        let refusal = Failure::new(
                            Some(id),
                            Code::AlreadySubscribed,
                            "already subscribed to this topic",
                        );
                        self.refuse(&refusal).await
                    }
                    Err(_) => Err(Error::Closed),
                }
            }
            Request::Unsubscribe { id, topic } => {
                if self.settings.topics.unsubscribe(&self.socket, &topic) {
                    self.subscriptions -= 1;
                    self.reply(&Reply::Unsubscribed { id, topic: &topic }).await
                } else {
                    let refusal = Failure::new(
                        Some(id),
                        Code::NotSubscribed,
                        "not subscribed to this topic",
                    );
                    self.refuse(&refusal).await
                }
            }
            Request::Publish { id, topic, payload } => {
                if !self.allowed(Access::Publish(&topic)) {
                    return self.forbid(id).await;
                }
                match self.settings.topics.publish_payload(&topic, payload).await {
                    Ok(position) => {
                        self.reply(&Reply::published(id, &topic, position.as_ref()))
                            .await
                    }
                    Err(error) => {
                        let failure = Failure::new(
                            Some(id),
                            Code::Unavailable,
                            format!("not published: {error}"),
                        );
                        self.refuse(&failure).await
                    }
                }
            }
        }
    }

    fn allowed(&self, access: Access<'_>) -> bool {
        self.settings
            .authorize
            .is_none_or(|allow| allow(&self.handshake, access))
    }

    async fn forbid(&mut self, id: u64) -> Result<(), Error> {
        let refusal = Failure::new(Some(id), Code::Forbidden, "not allowed");
        self.refuse(&refusal).await
    }

    async fn refuse(&mut self, refusal: &Failure) -> Result<(), Error> {
        self.reply(&Reply::error(refusal)).await
    }

    async fn reply(&mut self, reply: &Reply<'_>) -> Result<(), Error> {
        self.socket.send(Message::from(reply.payload())).await
    }
}
