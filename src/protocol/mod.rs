//! The topics protocol: [`TopicsProtocol`], a handler that lets clients subscribe to
//! [`Topics`], publish to them and, after a reconnect, recover what they missed, over
//! the subprotocol [`NAME`] that PROTOCOL.md (in the repository) specifies.
//!
//! Mount it like any handler; clients that speak the protocol (the `client/` package in
//! the repository is one for browsers and Node.js) then need nothing else on the server:
//!
//! ```
//! use tower_websockets::{protocol::TopicsProtocol, topics::History, Topics};
//!
//! // Every topic keeps its last 100 publications for two minutes: a client that drops
//! // and comes back within that gets what it missed.
//! let topics = Topics::builder().history(History::new()).build();
//! let layer = TopicsProtocol::new(topics.clone()).layer().path("/topics");
//! # let _ = layer;
//! ```
//!
//! `layer()` is a [`WebSocketLayer`] that agrees the subprotocol [`NAME`] and refuses
//! clients that do not offer it (`400`); under another layer's settings, give the same
//! handler to [`WebSocketLayer::new`] and `.protocols([protocol::NAME])`.
//!
//! The server's side of the guarantees: each client gets a topic's publications in the
//! order of their offsets; live delivery is at most once (a client whose queue is full
//! misses publications, and sees the offsets jump); a client that comes back with a
//! position is given every publication the history still holds after it, before the
//! live ones and with none twice, or is told `recovered: false`.

mod access;
mod call;
mod call_error;
mod calls;
mod clients;
mod data;
mod limits;
mod messages;
mod methods;
mod relay;
mod session;

use std::{fmt, sync::Arc, time::Duration};

pub use access::Access;
use access::Permissions;
pub use call::{Binary, Call, Caller, FromCall, Params, State};
pub use call_error::CallError;
pub use clients::Clients;
use limits::Limits;
pub use methods::{IntoReturn, MethodHandler, Methods, Returned};
use session::{Client, Settings};

use crate::{
    error::Error,
    handler::Handler,
    handshake::Handshake,
    identity::UserId,
    layer::WebSocketLayer,
    socket::WebSocket,
    topics::{BoxFuture, Topics},
};

/// The subprotocol's name, with its version, for `Sec-WebSocket-Protocol`.
pub const NAME: &str = "tower-websockets.topics.v1";

/// A [`Handler`] that speaks the topics protocol (PROTOCOL.md) for a hub of [`Topics`]:
/// each client subscribes, unsubscribes and publishes with JSON requests, and gets the
/// topics' publications in envelopes with their positions.
#[derive(Clone)]
pub struct TopicsProtocol {
    /// Everything a client's session reads, in one place: a session keeps one reference.
    settings: Settings,
}

impl TopicsProtocol {
    /// The most topics a client may be subscribed to at once, unless set.
    pub const MAX_SUBSCRIPTIONS: usize = 256;
    /// The most distinct topics a client may publish to over its connection, unless set.
    pub const MAX_PUBLISH_TOPICS: usize = 64;
    /// The largest publication's payload a client may publish, in bytes, unless set.
    pub const MAX_PUBLICATION_SIZE: usize = 64 * 1024;
    /// How many publications a client may make per second, unless set.
    pub const PUBLISH_RATE: u32 = 50;
    /// How long an [`authorize_async`](Self::authorize_async) answer may take, unless set.
    pub const AUTHORIZE_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long a call's method may run, unless set.
    pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
    /// How many calls of one client may run at once, unless set.
    pub const MAX_CONCURRENT_CALLS: usize = 16;

    /// The protocol for the topics of `topics`, with limits for a public endpoint: each
    /// client may be subscribed to 256 topics at once, publish to 64 distinct topics, at
    /// most 50 publications a second (as many at once), of at most 64 KiB each. Without
    /// [`authorize`](Self::authorize), every client may subscribe and publish to every
    /// topic within those limits, and each topic that keeps history gets a stream when a
    /// client first publishes to it.
    pub fn new(topics: Topics) -> Self {
        TopicsProtocol {
            settings: Settings {
                topics,
                limits: Limits::default(),
                authorize: None,
                authorize_timeout: Self::AUTHORIZE_TIMEOUT,
                identify: None,
                methods: None,
                call_timeout: Self::CALL_TIMEOUT,
                max_calls: Self::MAX_CONCURRENT_CALLS,
                clients: None,
            },
        }
    }

    /// The most topics a client may be subscribed to at once (default: 256); past that,
    /// a subscribe is refused with `too_many_subscriptions`.
    pub fn max_subscriptions(mut self, count: usize) -> Self {
        self.settings.limits.subscriptions = count;
        self
    }

    /// The most distinct topics a client may publish to over its connection's life
    /// (default: 64); a publish to one more is refused with `too_many_topics`. This bounds
    /// how many streams of history one client can make.
    pub fn max_publish_topics(mut self, count: usize) -> Self {
        self.settings.limits.topics = count;
        self
    }

    /// The most bytes of payload one publication may have (default: 64 KiB): the JSON of
    /// `data` as the client wrote it, or a binary publish's bytes. A larger one is refused
    /// with `too_large` and takes no offset. [`layer`](Self::layer) sets the socket's
    /// message limit a little above it.
    pub fn max_publication_size(mut self, bytes: usize) -> Self {
        self.settings.limits.publication_size = bytes;
        self
    }

    /// How many publications a client may make per second, over time (default: 50); as
    /// many may come at once. A publish beyond it is refused with `rate_limited`.
    pub fn publish_rate(mut self, per_second: u32) -> Self {
        self.settings.limits.publish_rate = per_second;
        self
    }

    /// Lets the app decide what each client may do. `client` is called once, when a client
    /// connects, with its [`Handshake`] (where an accept hook can leave who the client is,
    /// in [`Handshake::extensions_mut`]): it reads what it needs and returns the client's
    /// permissions, a function asked before each subscribe and each publish. A refused
    /// request gets a `forbidden` error. The session keeps the permissions and nothing of
    /// the handshake: what they capture is all a client's authorization costs for the
    /// connection's life (nothing, for a function that captures nothing).
    ///
    /// Without `authorize`, every client may subscribe and publish to every topic, within
    /// the limits above; each topic that keeps history then gets a stream of it when a
    /// client first publishes there.
    ///
    /// ```
    /// use tower_websockets::{protocol::{Access, TopicsProtocol}, Topics};
    ///
    /// // Anyone may read; only clients that sent a token may publish.
    /// let protocol = TopicsProtocol::new(Topics::new()).authorize(|handshake| {
    ///     let token = handshake.uri().query().is_some_and(|q| q.starts_with("token="));
    ///     move |access| match access {
    ///         Access::Subscribe(_) => true,
    ///         Access::Publish(_) => token,
    ///         _ => false,
    ///     }
    /// });
    /// # let _ = protocol;
    /// ```
    pub fn authorize<P>(mut self, client: impl Fn(&Handshake) -> P + Send + Sync + 'static) -> Self
    where
        P: Fn(Access<'_>) -> bool + Send + Sync + 'static,
    {
        let client = move |handshake: &Handshake| Permissions::Now(Box::new(client(handshake)));
        self.settings.authorize = Some(Arc::new(client));
        self
    }

    /// [`authorize`](Self::authorize) with answers that take a wait: the client's
    /// permissions read what they need of the access at once and return a future that
    /// decides (a database lookup, a call to another service). The client's requests are
    /// answered in order, so its next request waits for the answer; requests of other
    /// clients do not. An answer that does not come within
    /// [`authorize_timeout`](Self::authorize_timeout) (10 seconds unless set) refuses the
    /// request with `unavailable`, and the client's next request is read.
    ///
    /// ```
    /// use tower_websockets::{protocol::{Access, TopicsProtocol}, Topics};
    ///
    /// async fn may_publish(user: Option<String>, topic: String) -> bool {
    ///     // Ask the database whether `user` may post in `topic`.
    ///     user.is_some() && !topic.starts_with("announcements:")
    /// }
    ///
    /// let protocol = TopicsProtocol::new(Topics::new()).authorize_async(|handshake| {
    ///     // Who the client is, as an accept hook found out.
    ///     let user = handshake.extensions().get::<String>().cloned();
    ///     move |access| {
    ///         let publish = match access {
    ///             Access::Publish(topic) => Some(topic.to_owned()),
    ///             _ => None,
    ///         };
    ///         let user = user.clone();
    ///         async move {
    ///             match publish {
    ///                 Some(topic) => may_publish(user, topic).await,
    ///                 None => true,
    ///             }
    ///         }
    ///     }
    /// });
    /// # let _ = protocol;
    /// ```
    pub fn authorize_async<P, F>(
        mut self,
        client: impl Fn(&Handshake) -> P + Send + Sync + 'static,
    ) -> Self
    where
        P: Fn(Access<'_>) -> F + Send + Sync + 'static,
        F: std::future::Future<Output = bool> + Send + 'static,
    {
        let client = move |handshake: &Handshake| {
            let allow = client(handshake);
            Permissions::Later(Box::new(move |access| -> BoxFuture<bool> {
                Box::pin(allow(access))
            }))
        };
        self.settings.authorize = Some(Arc::new(client));
        self
    }

    /// How long an [`authorize_async`](Self::authorize_async) answer may take (default:
    /// 10 seconds): past it, the request is refused with `unavailable`, as when a
    /// publication's store is out of reach. A stalled database then holds each client's
    /// requests for this long at most.
    pub fn authorize_timeout(mut self, timeout: Duration) -> Self {
        self.settings.authorize_timeout = timeout;
        self
    }

    /// Names the user behind each connection from its handshake (a token's subject, a
    /// session cookie's user), when an accept hook has not left a [`UserId`] in the
    /// handshake's extensions (that one wins). Called once, when the client connects; the
    /// session keeps the id, and the client learns it in the `welcome`.
    ///
    /// ```
    /// use tower_websockets::{identity::UserId, protocol::TopicsProtocol, Topics};
    ///
    /// let protocol = TopicsProtocol::new(Topics::new()).identify(|handshake| {
    ///     let query = handshake.uri().query()?;
    ///     UserId::new(query.strip_prefix("user=")?)
    /// });
    /// # let _ = protocol;
    /// ```
    pub fn identify(
        mut self,
        user: impl Fn(&Handshake) -> Option<UserId> + Send + Sync + 'static,
    ) -> Self {
        self.settings.identify = Some(Arc::new(user));
        self
    }

    /// The methods clients may call (PROTOCOL.md, `call`). Without them, every call is
    /// answered `unknown_method`. Each call runs in a task of its own: a client's calls run
    /// at once, up to [`max_concurrent_calls`](Self::max_concurrent_calls), beside its
    /// other requests, and their results come back as they end, in any order. A call is
    /// stopped when it runs past [`call_timeout`](Self::call_timeout) (answered
    /// `timeout`), when the client cancels it, and when the connection ends.
    pub fn methods<S: Send + Sync + 'static>(mut self, methods: Methods<S>) -> Self {
        self.settings.methods = Some(Arc::new(methods));
        self
    }

    /// Lists every connection in `clients`, so that server code can call a client's
    /// methods or send it messages from any task ([`Clients::call`], [`Clients::send`]),
    /// and methods can take `Clients` as an extractor. Without it, sessions are listed
    /// nowhere.
    pub fn clients(mut self, clients: Clients) -> Self {
        self.settings.clients = Some(clients);
        self
    }

    /// How long a call's method may run (default: 30 seconds); past it, the method is
    /// stopped and the call answered `timeout`.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.settings.call_timeout = timeout;
        self
    }

    /// How many calls of one client may run at once (default: 16); one more is answered
    /// `too_many_calls` at once.
    pub fn max_concurrent_calls(mut self, calls: usize) -> Self {
        self.settings.max_calls = calls;
        self
    }

    /// A layer that serves this protocol: it agrees the subprotocol [`NAME`], and refuses
    /// (`400`) a client that does not offer it. Set for a public endpoint: its message
    /// limit is the publication limit plus 16 KiB for the request around it (a message
    /// over it closes the socket with 1009), and it pings each socket every 30 seconds and
    /// drops one whose client sends nothing within 30 seconds of a ping. Set its paths and
    /// the rest as for any layer.
    pub fn layer(self) -> WebSocketLayer<TopicsProtocol> {
        let message = self
            .settings
            .limits
            .publication_size
            .saturating_add(Self::ENVELOPE);
        WebSocketLayer::new(self)
            .protocols([NAME])
            .require_protocol(true)
            .max_message_size(message)
            .keep_alive_interval(Self::KEEP_ALIVE)
            .keep_alive_timeout(Self::KEEP_ALIVE)
    }

    /// How often [`layer`](Self::layer) pings, and how long it waits for an answer.
    const KEEP_ALIVE: Duration = Duration::from_secs(30);

    /// Room in a message for what surrounds a publication's payload: the request's fields
    /// and a topic's name of up to 1,024 bytes, escaped.
    const ENVELOPE: usize = 16 * 1024;

    /// The hub it serves.
    pub fn topics(&self) -> &Topics {
        &self.settings.topics
    }
}

impl Handler for TopicsProtocol {
    type Output = Result<(), Error>;

    // Not an `async fn`: the session's future is the client's, with nothing kept beside it
    // (an `async fn` would keep its arguments and `&self` in every idle session's task).
    fn call(
        &self,
        socket: WebSocket,
        handshake: Handshake,
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send {
        Client::new(&self.settings, socket, handshake).run()
    }
}

impl fmt::Debug for TopicsProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicsProtocol")
            .field("topics", &self.settings.topics)
            .field("limits", &self.settings.limits)
            .field("authorize", &self.settings.authorize.is_some())
            .field("authorize_timeout", &self.settings.authorize_timeout)
            .field("identify", &self.settings.identify.is_some())
            .field("methods", &self.settings.methods.is_some())
            .field("call_timeout", &self.settings.call_timeout)
            .field("max_concurrent_calls", &self.settings.max_calls)
            .field("clients", &self.settings.clients)
            .finish()
    }
}
