//! One client of the topics protocol: its requests read and answered in order.

use std::{
    future::{poll_fn, Future},
    panic::AssertUnwindSafe,
    pin::pin,
    sync::Arc,
    task::Poll,
    time::Duration,
};

use super::{
    access::{Access, Authorize, Permissions, Verdict},
    call::{Call, Caller},
    call_error::CallError,
    calls::Calls,
    clients::{Clients, Listed},
    data::Data,
    limits::{Account, Limits, Over},
    messages::{self, Advertised, Code, Failure, Reply, Request},
    methods::{Dispatch, Outcome},
};
use crate::{
    error::Error,
    handshake::Handshake,
    identity::UserId,
    socket::WebSocket,
    topics::{Framing, SubscribeError, Topics},
    Message,
};

/// Names the user behind a connection, from its handshake.
pub(super) type Identify = dyn Fn(&Handshake) -> Option<UserId> + Send + Sync;

/// What every client's session is served with: the protocol's settings.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) topics: Topics,
    pub(super) limits: Limits,
    pub(super) authorize: Option<Arc<Authorize>>,
    /// How long an authorization that takes a wait may take.
    pub(super) authorize_timeout: Duration,
    /// Who the client is, when an accept hook left no [`UserId`] in the handshake.
    pub(super) identify: Option<Arc<Identify>>,
    /// The methods clients may call.
    pub(super) methods: Option<Arc<dyn Dispatch>>,
    /// How long a call may run.
    pub(super) call_timeout: Duration,
    /// How many calls of one client may run at once.
    pub(super) max_calls: usize,
    /// Where server code finds each connection, when it asked to.
    pub(super) clients: Option<Clients>,
}

/// A client's session: its socket, its handshake (when authorization reads it), how many
/// topics it is subscribed to and its account of publishing.
pub(super) struct Client<'a> {
    settings: &'a Settings,
    socket: WebSocket,
    /// Who the client is: its connection's id, and its user's.
    caller: Caller,
    /// What the client may do, when the app decides (`authorize`).
    permissions: Option<Permissions>,
    subscriptions: usize,
    account: Account,
    /// The client's calls that are running; made at its first call.
    calls: Option<Box<Calls>>,
    /// The connection's entry among the [`Clients`], if the protocol keeps them.
    listed: Option<Listed>,
}

/// What the session does next: read a message, or answer a call that has ended.
enum Next {
    Message(Result<Message, Error>),
    Answer(u64, Outcome),
}

impl<'a> Client<'a> {
    /// A session for `socket`. It keeps nothing of `handshake` but what the app's
    /// `authorize` made of it: the client's permissions.
    pub(super) fn new(settings: &'a Settings, socket: WebSocket, handshake: Handshake) -> Self {
        let permissions = settings
            .authorize
            .as_ref()
            .map(|authorize| authorize(&handshake));
        let user = match handshake.extensions().get::<UserId>() {
            Some(user) => Some(user.clone()),
            None => settings
                .identify
                .as_ref()
                .and_then(|identify| identify(&handshake)),
        };
        drop(handshake);
        let connection = settings.topics.connection_id();
        let listed = settings
            .clients
            .as_ref()
            .map(|clients| clients.register(connection, socket.sender()));
        Client {
            caller: Caller::new(connection, user),
            listed,
            socket,
            permissions,
            subscriptions: 0,
            account: Account::new(&settings.limits),
            calls: None,
            settings,
        }
    }

    /// Answers requests until the client leaves. A request that cannot be read or is not
    /// allowed gets an error reply; the session goes on.
    #[allow(clippy::manual_async_fn)] // on purpose: see below
    pub(super) fn run(mut self) -> impl Future<Output = Result<(), Error>> + Send + 'a {
        // An `async` block that uses `self` where it was captured: an `async fn` would move
        // its argument into a second place in the future, and an idle session's task would
        // hold the client twice.
        async move {
            // What is not waiting for the client is boxed: sending the welcome, and what a
            // request does (a recovery that reads a history store is large). Inline, the
            // largest of them would be part of every idle session's future.
            let welcomed = Box::pin(self.welcome()).await;
            if !goes_on(welcomed)? {
                return Ok(());
            }
            // The welcome is written: a client that says nothing more holds no buffer for
            // it (small frames are copied into one that keeps its size between writes).
            self.socket.shared().write.release_staging();
            loop {
                let next = match self.calls.as_deref().is_some_and(|calls| !calls.is_empty()) {
                    // With calls running, whichever comes first.
                    true => Box::pin(self.next()).await,
                    false => self.socket.recv_data().await.map(Next::Message),
                };
                let answered = match next {
                    None => return Ok(()),
                    // A broken connection or a protocol violation: the session reports it.
                    Some(Next::Message(Err(_))) => return Ok(()),
                    Some(Next::Message(Ok(message))) => Box::pin(self.answer(message)).await,
                    Some(Next::Answer(id, outcome)) => {
                        Box::pin(self.answer_call(id, outcome)).await
                    }
                };
                if !goes_on(answered)? {
                    return Ok(());
                }
            }
        }
    }

    /// The next message from the client or the next call to end, whichever comes first;
    /// `None` once the client has left.
    async fn next(&mut self) -> Option<Next> {
        let Client { socket, calls, .. } = self;
        let mut message = pin!(socket.recv_data());
        poll_fn(|cx| {
            if let Some(calls) = calls.as_deref_mut() {
                if let Poll::Ready((id, outcome)) = calls.poll_next(cx) {
                    return Poll::Ready(Some(Next::Answer(id, outcome)));
                }
            }
            // Cancel-safe: dropped when a call ends first, it loses nothing.
            message
                .as_mut()
                .poll(cx)
                .map(|message| message.map(Next::Message))
        })
        .await
    }

    /// The server's first message: the protocol's version, the client's identity and its
    /// limits.
    async fn welcome(&mut self) -> Result<(), Error> {
        let limits = &self.settings.limits;
        let user = self.caller.user().cloned();
        let welcome = Reply::Welcome {
            version: 1,
            connection: self.caller.connection(),
            user: user.as_ref().map(UserId::as_str),
            limits: Advertised {
                message_size: self.socket.shared().read.max_message_size(),
                publication_size: limits.publication_size,
                subscriptions: limits.subscriptions,
                publish_topics: limits.topics,
                publish_rate: limits.publish_rate,
            },
        };
        self.reply(&welcome).await
    }

    /// Reads a request from `message` and answers it.
    async fn answer(&mut self, message: Message) -> Result<(), Error> {
        let request = match &message {
            Message::Text(text) => messages::read_text(text),
            Message::Binary(data) => messages::read_binary(data),
            _ => return Ok(()),
        };
        match request {
            Ok(request) => self.act(request).await,
            Err(refusal) => self.refuse(&refusal).await,
        }
    }

    async fn act(&mut self, request: Request<'_>) -> Result<(), Error> {
        match request {
            Request::Subscribe { id, topic, since } => {
                if let Some(refusal) = self.refusal(id, Access::Subscribe(&topic)).await {
                    return self.refuse(&refusal).await;
                }
                if self.subscriptions >= self.settings.limits.subscriptions {
                    let refusal = Failure::new(
                        Some(id),
                        Code::TooManySubscriptions,
                        format!(
                            "at most {} subscriptions at once",
                            self.settings.limits.subscriptions
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
            Request::Ping { id } => self.reply(&Reply::Pong { id }).await,
            Request::Call { id, method, params } => self.call(id, &method, params).await,
            Request::Return { id, outcome } => {
                // No reply: a return whose call no longer waits (it timed out) is dropped.
                if let Some(listed) = &self.listed {
                    listed.link().answer(id, outcome);
                }
                Ok(())
            }
            Request::Cancel { id } => {
                match self
                    .calls
                    .as_deref_mut()
                    .is_some_and(|calls| calls.cancel(id))
                {
                    true => {
                        let refusal =
                            Failure::new(Some(id), Code::Cancelled, "cancelled by the client");
                        self.refuse(&refusal).await
                    }
                    // Answered already, or never made: nothing to do.
                    false => Ok(()),
                }
            }
            Request::Publish { id, topic, payload } => {
                if let Some(refusal) = self.refusal(id, Access::Publish(&topic)).await {
                    return self.refuse(&refusal).await;
                }
                let limits = &self.settings.limits;
                if let Err(over) = self.account.publish(limits, &topic, payload.len()) {
                    let (code, message) = match over {
                        Over::Size => (
                            Code::TooLarge,
                            format!("a publication is at most {} bytes", limits.publication_size),
                        ),
                        Over::Topics => (
                            Code::TooManyTopics,
                            format!("a connection publishes to at most {} topics", limits.topics),
                        ),
                        Over::Rate => (
                            Code::RateLimited,
                            format!("at most {} publications a second", limits.publish_rate),
                        ),
                    };
                    return self.refuse(&Failure::new(Some(id), code, message)).await;
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

    /// Starts call `id` of `method`, or refuses it at once.
    async fn call(&mut self, id: u64, method: &str, params: Data) -> Result<(), Error> {
        let settings = self.settings;
        let calls = self.calls.get_or_insert_with(Box::default);
        let refusal = if calls.contains(id) {
            Failure::new(Some(id), Code::BadRequest, "a call with this id is running")
        } else if calls.len() >= settings.max_calls {
            Failure::new(
                Some(id),
                Code::TooManyCalls,
                format!("at most {} calls at once", settings.max_calls),
            )
        } else {
            let clients = settings.clients.clone();
            let call = Call::new(method.into(), params, self.caller.clone(), clients);
            match settings
                .methods
                .as_ref()
                .and_then(|methods| methods.dispatch(call))
            {
                Some(mut running) => {
                    // A method that answers without waiting is answered now, without a
                    // task of its own; one that waits goes on in one (whose first poll
                    // takes over the wake-ups this one asked for).
                    let polled = poll_fn(|cx| {
                        let poll = AssertUnwindSafe(|| running.as_mut().poll(cx));
                        Poll::Ready(std::panic::catch_unwind(poll))
                    })
                    .await;
                    return match polled {
                        Ok(Poll::Pending) => {
                            calls.start(id, running, settings.call_timeout);
                            Ok(())
                        }
                        Ok(Poll::Ready(outcome)) => self.answer_call(id, outcome).await,
                        Err(_) => self.answer_call(id, Err(CallError::internal())).await,
                    };
                }
                None => Failure::new(
                    Some(id),
                    Code::UnknownMethod,
                    format!("no method is named {method:?}"),
                ),
            }
        };
        self.refuse(&refusal).await
    }

    /// Answers call `id` with how it ended.
    async fn answer_call(&mut self, id: u64, outcome: Outcome) -> Result<(), Error> {
        match outcome {
            Ok(returned) => self.socket.send(messages::result(id, returned.0)).await,
            Err(error) => self.reply(&Reply::call_failed(id, &error)).await,
        }
    }

    /// The refusal of request `id` to do `access`, unless it is allowed.
    async fn refusal(&self, id: u64, access: Access<'_>) -> Option<Failure> {
        let permissions = self.permissions.as_ref()?;
        match permissions
            .allows(access, self.settings.authorize_timeout)
            .await
        {
            Verdict::Allowed => None,
            Verdict::Forbidden => Some(Failure::new(Some(id), Code::Forbidden, "not allowed")),
            Verdict::Unanswered => Some(Failure::new(
                Some(id),
                Code::Unavailable,
                "authorization did not answer in time",
            )),
        }
    }

    async fn refuse(&mut self, refusal: &Failure) -> Result<(), Error> {
        self.reply(&Reply::error(refusal)).await
    }

    async fn reply(&mut self, reply: &Reply<'_>) -> Result<(), Error> {
        self.socket.send(Message::from(reply.payload())).await
    }
}

/// Whether the session goes on after a reply: not once the socket is closed; an error
/// other than that ends it with the error.
fn goes_on(sent: Result<(), Error>) -> Result<bool, Error> {
    match sent {
        Ok(()) => Ok(true),
        Err(Error::Closed) => Ok(false),
        Err(error) => Err(error),
    }
}
