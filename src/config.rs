//! The layer's configuration, shared by every service it makes and every session they
//! start.

use std::{sync::Arc, time::Duration};

#[cfg(feature = "deflate")]
use crate::deflate::{DeflateConfig, Pools};
use crate::{
    accept::AcceptHook, handshake::HandshakeConfig, shutdown::ShutdownState, socket::SocketConfig,
    stats::Stats,
};

/// Everything a [`WebSocketLayer`](crate::WebSocketLayer) was configured with, and what its
/// services and sessions share at run time.
#[derive(Debug, Clone)]
pub(crate) struct Config<H> {
    pub(crate) handler: H,
    /// The paths that accept WebSockets.
    pub(crate) paths: Paths,
    pub(crate) handshake: HandshakeConfig,
    /// Decides per request before the `101`; `None`: every valid handshake is accepted.
    pub(crate) on_accept: Option<AcceptHook>,
    pub(crate) socket: SocketConfig,
    /// How long the session waits for the close handshake once the handler is done.
    pub(crate) close_timeout: Duration,
    pub(crate) max_sockets: Option<usize>,
    /// Shared by every service the layer makes: one count per layer.
    pub(crate) stats: Stats,
    /// Likewise: one shutdown per layer.
    pub(crate) shutdown: Arc<ShutdownState>,
    /// With compression on: the settings, and the pools of compressors and decompressors
    /// that sockets borrow for a message.
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<(DeflateConfig, Arc<Pools>)>,
}

impl<H> Config<H> {
    /// The defaults, which the layer's documentation states method by method.
    pub(crate) fn new(handler: H) -> Self {
        Config {
            handler,
            paths: Paths::Exact(vec!["/ws".to_owned()]),
            handshake: HandshakeConfig::default(),
            socket: SocketConfig {
                max_message_size: 64 << 20,
                max_frame_size: None,
                reassembly_capacity: 4 * 1024,
                keep_alive_interval: Some(Duration::from_secs(120)),
                keep_alive_timeout: None,
                send_timeout: None,
            },
            close_timeout: Duration::from_secs(5),
            max_sockets: None,
            stats: Stats::default(),
            shutdown: Arc::default(),
            on_accept: None,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }
}

/// Which request paths are a layer's.
#[derive(Debug, Clone)]
pub(crate) enum Paths {
    /// These, matched exactly.
    Exact(Vec<String>),
    /// Any: a router already chose this service for the request.
    Any,
}

impl Paths {
    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            Paths::Exact(paths) => paths.iter().any(|p| p == path),
            Paths::Any => true,
        }
    }
}
