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
mod messages;
mod session;

use std::{fmt, sync::Arc};

pub use access::Access;
use access::Authorize;
use session::{Client, Settings};

use crate::{
    error::Error, handler::Handler, handshake::Handshake, layer::WebSocketLayer, socket::WebSocket,
    topics::Topics,
};

/// The subprotocol's name, with its version, for `Sec-WebSocket-Protocol`.
pub const NAME: &str = "tower-websockets.topics.v1";

/// A [`Handler`] that speaks the topics protocol (PROTOCOL.md) for a hub of [`Topics`]:
/// each client subscribes, unsubscribes and publishes with JSON requests, and gets the
/// topics' publications in envelopes with their positions.
#[derive(Clone)]
pub struct TopicsProtocol {
    topics: Topics,
    max_subscriptions: usize,
    authorize: Option<Arc<Authorize>>,
}

impl TopicsProtocol {
    /// The most topics a client may be subscribed to at once, unless set.
    pub const MAX_SUBSCRIPTIONS: usize = 256;

    /// The protocol for the topics of `topics`: every client may subscribe and publish
    /// to every topic, up to 256 subscriptions each.
    pub fn new(topics: Topics) -> Self {
        TopicsProtocol {
            topics,
            max_subscriptions: Self::MAX_SUBSCRIPTIONS,
            authorize: None,
        }
    }

    /// The most topics a client may be subscribed to at once (default: 256); past that,
    /// a subscribe is refused with `too_many_subscriptions`.
    pub fn max_subscriptions(mut self, count: usize) -> Self {
        self.max_subscriptions = count;
        self
    }

    /// Lets `allow` decide what each client may do: it is asked before each subscribe
    /// and each publish, with the client's [`Handshake`] (where an accept hook can leave
    /// who the client is, in [`Handshake::extensions_mut`]). A refused request gets a
    /// `forbidden` error.
    ///
    /// ```
    /// use tower_websockets::{protocol::{Access, TopicsProtocol}, Topics};
    ///
    /// // Anyone may read; only clients that sent a token may publish.
    /// let protocol = TopicsProtocol::new(Topics::new()).authorize(|handshake, access| {
    ///     match access {
    ///         Access::Subscribe(_) => true,
    ///         Access::Publish(_) => handshake.uri().query().is_some_and(|q| q.starts_with("token=")),
    ///         _ => false,
    ///     }
    /// });
    /// # let _ = protocol;
    /// ```
    pub fn authorize(
        mut self,
        allow: impl Fn(&Handshake, Access<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.authorize = Some(Arc::new(allow));
        self
    }

    /// A layer that serves this protocol: it agrees the subprotocol [`NAME`], and refuses
    /// (`400`) a client that does not offer it. Set its paths and the rest as for any
    /// layer.
    pub fn layer(self) -> WebSocketLayer<TopicsProtocol> {
        WebSocketLayer::new(self)
            .protocols([NAME])
            .require_protocol(true)
    }

    /// The hub it serves.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }
}

impl Handler for TopicsProtocol {
    type Output = Result<(), Error>;

    async fn call(&self, socket: WebSocket, handshake: Handshake) -> Result<(), Error> {
        let settings = Settings {
            topics: &self.topics,
            max_subscriptions: self.max_subscriptions,
            authorize: self.authorize.as_deref(),
        };
        Client::new(settings, socket, handshake).run().await
    }
}

impl fmt::Debug for TopicsProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicsProtocol")
            .field("topics", &self.topics)
            .field("max_subscriptions", &self.max_subscriptions)
            .field("authorize", &self.authorize.is_some())
            .finish()
    }
}
