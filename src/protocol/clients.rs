//! [`Clients`]: the protocol's connections on this server, by id, for server code to call
//! a client's methods or send it a message from any task; [`Link`], one connection's entry.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::oneshot;

use super::{call_error::CallError, data::Data, messages, relay::Relayed};
use crate::{
    identity::{ConnectionId, ServerId},
    socket::Sender,
    sync::lock,
    topics::{Backplane, Mailbox, Topics},
    Utf8Bytes,
};

/// The connections of the topics protocol, for server code to reach a client from any
/// task: call a method the client handles (PROTOCOL.md, `invoke`) and await its typed
/// answer, or send it a `message`. Given to
/// [`TopicsProtocol::clients`](super::TopicsProtocol::clients) (sessions are listed only
/// then: without it, they cost nothing here); cheap to clone.
///
/// It lists the connections of this server, and reaches those of the other servers that
/// share the hub's [backplane](crate::topics::Backplane) (the `RedisBackplane` does):
/// a [`ConnectionId`] names its server, so a call to it is one message to that server,
/// which makes the call and sends the answer back.
///
/// A method can reach its own caller this way: its call runs in a task of its own while
/// the session goes on reading, so the client's answer comes back to it (take `Clients`
/// as an extractor, and call [`Caller::connection`](super::Caller::connection)).
///
/// ```no_run
/// use std::time::Duration;
/// use tower_websockets::{identity::ConnectionId, protocol::{CallError, Clients}};
///
/// async fn confirm(clients: &Clients, who: ConnectionId) -> Result<bool, CallError> {
///     clients
///         .call(who, "confirm", "Delete the room?", Duration::from_secs(30))
///         .await
/// }
/// # let _ = confirm;
/// ```
#[derive(Clone)]
pub struct Clients {
    directory: Arc<Directory>,
}

/// What every `Clients` of a hub shares: the hub's mailbox for messages from other
/// servers.
struct Directory {
    server: ServerId,
    links: Mutex<HashMap<ConnectionId, Arc<Link>>>,
    backplane: Option<Arc<dyn Backplane>>,
    /// Calls made from this server to clients of other servers, waiting for answers.
    remote: Mutex<Pending>,
}

impl Clients {
    /// How many calls to one client may wait for their answers at once, at most.
    pub const MAX_PENDING: usize = 64;

    /// How many calls from this server to clients of other servers may wait for their
    /// answers at once, at most.
    pub const MAX_REMOTE_PENDING: usize = 64 * 1024;

    /// The connections of the protocol sessions that `topics`' server holds. Every
    /// `Clients` made from a hub (or from its clones) is the same list.
    pub fn new(topics: &Topics) -> Self {
        let make = || Directory {
            server: topics.server_id(),
            links: Mutex::new(HashMap::new()),
            backplane: topics.backplane(),
            remote: Mutex::new(Pending::default()),
        };
        let directory = topics.mailbox(make).unwrap_or_else(|| Arc::new(make()));
        Clients { directory }
    }

    /// How many connections there are now on this server.
    pub fn len(&self) -> usize {
        lock(&self.directory.links).len()
    }

    /// Whether there are none on this server.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `connection` is open on this server.
    pub fn contains(&self, connection: ConnectionId) -> bool {
        lock(&self.directory.links).contains_key(&connection)
    }

    /// Calls the client's method `method` with `params` and waits, at most `timeout`, for
    /// its answer as `R`.
    ///
    /// A connection held by another server is reached through the hub's
    /// [backplane](crate::topics::Backplane::send_to_server): one message to that
    /// server, one back with the answer.
    ///
    /// Fails with `gone` when the connection is not open (at once on its own server) or
    /// closes before it answers, with `timeout` past the timeout (a call whose server
    /// stopped while it waited, say), with `too_many_calls` when 64 calls to it already
    /// wait, with `unavailable` when the connection is on another server and the backplane
    /// cannot pass the call on or no server took it (none of that name is running, or it
    /// is cut off from Redis), with `bad_result` when the answer is not an `R`, and with
    /// the client's own code when it answers an error.
    pub async fn call<R: DeserializeOwned>(
        &self,
        connection: ConnectionId,
        method: &str,
        params: impl Serialize,
        timeout: Duration,
    ) -> Result<R, CallError> {
        let params = serde_json::to_string(&params)
            .map_err(|error| CallError::new("bad_params", format!("the params: {error}")))?;
        let params = Data::Json(Utf8Bytes::from(params));
        let answer = if connection.server() == self.directory.server {
            self.call_here(connection, method, params, timeout).await
        } else {
            self.call_elsewhere(connection, method, params, timeout)
                .await
        }?;
        match answer {
            Data::Json(json) => serde_json::from_str(&json)
                .map_err(|error| CallError::new("bad_result", format!("the result: {error}"))),
            Data::Binary(_) => Err(CallError::new(
                "bad_result",
                "the client answered with bytes",
            )),
        }
    }

    /// Sends `data` (any JSON value) to the client as a `message`, without an answer.
    /// Fails with `gone` when the connection is not open on this server, and with
    /// `queue_full` when the client does not read what it is sent (nothing is sent).
    /// For a connection on another server, `Ok` says that the message was passed on
    /// (at most once): whether the client got it is not known; `unavailable` that it
    /// could not be.
    pub fn send(&self, connection: ConnectionId, data: impl Serialize) -> Result<(), CallError> {
        let data = serde_json::to_string(&data)
            .map_err(|error| CallError::new("bad_params", format!("the data: {error}")))?;
        let data = Utf8Bytes::from(data);
        if connection.server() == self.directory.server {
            return self.send_here(connection, &data);
        }
        let message = Relayed::Message {
            connection: connection.number(),
            data,
        };
        self.relay(connection.server(), &message)
    }

    fn send_here(&self, connection: ConnectionId, data: &str) -> Result<(), CallError> {
        let link = self.link(connection)?;
        link.sender
            .try_send(messages::message(data))
            .map_err(|error| match error {
                crate::Error::QueueFull => {
                    CallError::new("queue_full", "the client does not read what it is sent")
                }
                _ => gone(),
            })
    }

    /// A call to a client of this server.
    async fn call_here(
        &self,
        connection: ConnectionId,
        method: &str,
        params: Data,
        timeout: Duration,
    ) -> Result<Data, CallError> {
        let link = self.link(connection)?;
        // Past the timeout, or when the caller gives up, the entry goes.
        let (waiting, answer) = Waiting::start(&link.pending, Clients::MAX_PENDING)?;
        let exchange = async {
            link.sender
                .send(messages::invoke(waiting.id, method, params))
                .await
                .map_err(|_| gone())?;
            answer.await.unwrap_or_else(|_| Err(gone()))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(timed_out()))
    }

    /// A call to a client of another server, through the backplane.
    async fn call_elsewhere(
        &self,
        connection: ConnectionId,
        method: &str,
        params: Data,
        timeout: Duration,
    ) -> Result<Data, CallError> {
        let (waiting, answer) =
            Waiting::start(&self.directory.remote, Clients::MAX_REMOTE_PENDING)?;
        let invoke = Relayed::Invoke {
            from: self.directory.server,
            call: waiting.id,
            connection: connection.number(),
            timeout,
            method: method.to_owned(),
            params,
        };
        self.relay(connection.server(), &invoke)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(gone()),
            Err(_) => Err(timed_out()),
        }
    }

    /// Sends `message` to `server` through the backplane.
    fn relay(&self, server: ServerId, message: &Relayed) -> Result<(), CallError> {
        let bytes = message
            .encode()
            .ok_or_else(|| CallError::bad_params("the method's name is too long"))?;
        match &self.directory.backplane {
            Some(backplane) if backplane.send_to_server(server, bytes) => Ok(()),
            Some(_) => Err(CallError::new(
                "unavailable",
                "the backplane could not pass it on to the connection's server",
            )),
            // Without a backplane, only this server's connections are known.
            None => Err(gone()),
        }
    }

    fn link(&self, connection: ConnectionId) -> Result<Arc<Link>, CallError> {
        lock(&self.directory.links)
            .get(&connection)
            .cloned()
            .ok_or_else(gone)
    }

    /// Lists a session's connection, until the returned entry is dropped.
    pub(super) fn register(&self, connection: ConnectionId, sender: Sender) -> Listed {
        let link = Arc::new(Link {
            sender,
            pending: Mutex::new(Pending::default()),
        });
        lock(&self.directory.links).insert(connection, link.clone());
        Listed {
            directory: self.directory.clone(),
            connection,
            link,
        }
    }
}

impl Mailbox for Directory {
    fn receive(self: Arc<Self>, message: Bytes) {
        let Some(message) = Relayed::decode(message) else {
            return;
        };
        let clients = Clients { directory: self };
        let server = clients.directory.server;
        match message {
            Relayed::Invoke {
                from,
                call,
                connection,
                timeout,
                method,
                params,
            } => {
                // Answered from a task of its own: the backplane's delivery goes on.
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                runtime.spawn(async move {
                    let connection = ConnectionId::new(server, connection);
                    let outcome = clients
                        .call_here(connection, &method, params, timeout)
                        .await;
                    let _ = clients.relay(from, &Relayed::Answer { call, outcome });
                });
            }
            Relayed::Answer { call, outcome } => settle(&clients.directory.remote, call, outcome),
            Relayed::Message { connection, data } => {
                let _ = clients.send_here(ConnectionId::new(server, connection), &data);
            }
        }
    }

    /// Fails the call that `message` made, if it is one and it waits.
    fn undeliverable(self: Arc<Self>, message: Bytes) {
        let Some(Relayed::Invoke { call, .. }) = Relayed::decode(message) else {
            return;
        };
        let unavailable = CallError::new(
            "unavailable",
            "no server took the call: the connection's server is not running, or not reachable now",
        );
        settle(&self.remote, call, Err(unavailable));
    }
}

impl fmt::Debug for Clients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clients")
            .field("server", &self.directory.server)
            .field("connections", &self.len())
            .finish()
    }
}

fn gone() -> CallError {
    CallError::new("gone", "the connection is not open")
}

fn timed_out() -> CallError {
    CallError::new("timeout", "the client did not answer in time")
}

/// One connection: where its messages go, and the server's calls that wait for answers.
pub(super) struct Link {
    sender: Sender,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// The last id given to a call.
    last: u64,
    waiting: HashMap<u64, oneshot::Sender<Result<Data, CallError>>>,
}

impl Link {
    /// The client's answer to call `id`; dropped if no call with that id waits.
    pub(super) fn answer(&self, id: u64, outcome: Result<Data, CallError>) {
        settle(&self.pending, id, outcome);
    }
}

/// Hands `outcome` to call `id` among `pending`'s; dropped if no call with that id waits.
fn settle(pending: &Mutex<Pending>, id: u64, outcome: Result<Data, CallError>) {
    let waiting = lock(pending).waiting.remove(&id);
    if let Some(answer) = waiting {
        let _ = answer.send(outcome);
    }
}

/// A call that waits: its entry goes when the waiting ends, however it ends.
struct Waiting<'a> {
    pending: &'a Mutex<Pending>,
    id: u64,
}

impl<'a> Waiting<'a> {
    /// A new call among `pending`'s, and where its answer will come; fails if `most`
    /// calls wait.
    fn start(
        pending: &'a Mutex<Pending>,
        most: usize,
    ) -> Result<(Self, oneshot::Receiver<Result<Data, CallError>>), CallError> {
        let mut calls = lock(pending);
        if calls.waiting.len() >= most {
            return Err(CallError::new(
                "too_many_calls",
                "too many calls wait for the client's answers",
            ));
        }
        calls.last += 1;
        let id = calls.last;
        let (answer, answered) = oneshot::channel();
        calls.waiting.insert(id, answer);
        Ok((Waiting { pending, id }, answered))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(self.pending).waiting.remove(&self.id);
    }
}

/// A session's entry in the list: taken out when dropped, and with it every call that
/// waits for the client (each fails with `gone` at once).
pub(super) struct Listed {
    directory: Arc<Directory>,
    connection: ConnectionId,
    link: Arc<Link>,
}

impl Listed {
    pub(super) fn link(&self) -> &Link {
        &self.link
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        lock(&self.directory.links).remove(&self.connection);
        lock(&self.link.pending).waiting.clear();
    }
}
