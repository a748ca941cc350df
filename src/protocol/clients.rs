//! [`Clients`]: the protocol's connections on this server, by id, for server code to call
//! a client's methods or send it a message from any task; [`Link`], one connection's entry.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::oneshot;

use super::{call_error::CallError, data::Data, messages};
use crate::{
    identity::{ConnectionId, ServerId},
    socket::Sender,
    sync::lock,
    topics::Topics,
    Utf8Bytes,
};

/// The connections of the topics protocol on this server, for server code to reach a
/// client from any task: call a method the client handles (PROTOCOL.md, `invoke`) and
/// await its typed answer, or send it a `message`. Given to
/// [`TopicsProtocol::clients`](super::TopicsProtocol::clients) (sessions are listed only
/// then: without it, they cost nothing here); cheap to clone.
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

struct Directory {
    server: ServerId,
    links: Mutex<HashMap<ConnectionId, Arc<Link>>>,
}

impl Clients {
    /// How many calls to one client may wait for their answers at once, at most.
    pub const MAX_PENDING: usize = 64;

    /// The connections of the protocol sessions that `topics`' server holds.
    pub fn new(topics: &Topics) -> Self {
        Clients {
            directory: Arc::new(Directory {
                server: topics.server_id(),
                links: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How many connections there are now.
    pub fn len(&self) -> usize {
        lock(&self.directory.links).len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `connection` is open on this server.
    pub fn contains(&self, connection: ConnectionId) -> bool {
        lock(&self.directory.links).contains_key(&connection)
    }

    /// Calls the client's method `method` with `params` and waits, at most `timeout`, for
    /// its answer as `R`. Fails at once with `gone` when the connection is not open on this
    /// server (or closes before it answers), with `timeout` past the timeout, with
    /// `too_many_calls` when 64 calls to it already wait, with `bad_result` when the
    /// answer is not an `R`, and with the client's own code when it answers an error.
    pub async fn call<R: DeserializeOwned>(
        &self,
        connection: ConnectionId,
        method: &str,
        params: impl Serialize,
        timeout: Duration,
    ) -> Result<R, CallError> {
        let params = serde_json::to_string(&params)
            .map_err(|error| CallError::new("bad_params", format!("the params: {error}")))?;
        let answer = self
            .call_data(
                connection,
                method,
                Data::Json(Utf8Bytes::from(params)),
                timeout,
            )
            .await?;
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
    pub fn send(&self, connection: ConnectionId, data: impl Serialize) -> Result<(), CallError> {
        let link = self.link(connection)?;
        let data = serde_json::to_string(&data)
            .map_err(|error| CallError::new("bad_params", format!("the data: {error}")))?;
        link.sender
            .try_send(messages::message(&data))
            .map_err(|error| match error {
                crate::Error::QueueFull => {
                    CallError::new("queue_full", "the client does not read what it is sent")
                }
                _ => gone(),
            })
    }

    async fn call_data(
        &self,
        connection: ConnectionId,
        method: &str,
        params: Data,
        timeout: Duration,
    ) -> Result<Data, CallError> {
        let link = self.link(connection)?;
        let (id, answer) = link.expect()?;
        // Past the timeout, or when the caller gives up, the entry goes.
        let _waiting = Waiting { link: &link, id };
        let exchange = async {
            link.sender
                .send(messages::invoke(id, method, params))
                .await
                .map_err(|_| gone())?;
            answer.await.unwrap_or_else(|_| Err(gone()))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(CallError::new(
                    "timeout",
                    "the client did not answer in time",
                ))
            })
    }

    fn link(&self, connection: ConnectionId) -> Result<Arc<Link>, CallError> {
        if connection.server() != self.directory.server {
            return Err(gone());
        }
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
    /// A new call's id, and where its answer will come.
    fn expect(&self) -> Result<(u64, oneshot::Receiver<Result<Data, CallError>>), CallError> {
        let mut pending = lock(&self.pending);
        if pending.waiting.len() >= Clients::MAX_PENDING {
            return Err(CallError::new(
                "too_many_calls",
                "too many calls wait for this client's answers",
            ));
        }
        pending.last += 1;
        let id = pending.last;
        let (answer, answered) = oneshot::channel();
        pending.waiting.insert(id, answer);
        Ok((id, answered))
    }

    /// The client's answer to call `id`; dropped if no call with that id waits.
    pub(super) fn answer(&self, id: u64, outcome: Result<Data, CallError>) {
        let waiting = lock(&self.pending).waiting.remove(&id);
        if let Some(answer) = waiting {
            let _ = answer.send(outcome);
        }
    }
}

/// A call that waits: its entry goes when the waiting ends, however it ends.
struct Waiting<'a> {
    link: &'a Link,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(&self.link.pending).waiting.remove(&self.id);
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
