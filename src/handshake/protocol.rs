//! Choosing the subprotocol (RFC 6455 §1.9, §4.2.2): the server's preference, or a
//! callback's choice among those the client offered.

use std::{fmt, sync::Arc};

use http::{header, HeaderMap, HeaderValue};

/// Chooses a subprotocol from those the client offered, in the client's order.
pub(crate) type ProtocolSelector = Arc<dyn Fn(&[&str]) -> Option<String> + Send + Sync>;

/// The subprotocols the server speaks, and how one is agreed.
#[derive(Clone, Default)]
pub(crate) struct Protocols {
    /// The server's protocols, most preferred first.
    pub(crate) preferred: Vec<HeaderValue>,
    /// Replaces `preferred` when set.
    pub(crate) selector: Option<ProtocolSelector>,
    /// Reject clients with which no protocol is agreed.
    pub(crate) required: bool,
}

impl Protocols {
    /// The agreed subprotocol: the selector's choice, or the first of the server's
    /// protocols that the client offered. Never one the client did not offer.
    pub(super) fn choose(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let offered: Vec<&str> = offered(headers).collect();
        if offered.is_empty() {
            return None;
        }
        match &self.selector {
            Some(select) => {
                let chosen = select(&offered)?;
                offered
                    .contains(&chosen.as_str())
                    .then(|| HeaderValue::from_str(&chosen).ok())
                    .flatten()
            }
            None => self
                .preferred
                .iter()
                .find(|protocol| offered.iter().any(|o| o.as_bytes() == protocol.as_bytes()))
                .cloned(),
        }
    }
}

/// The subprotocols a client offered, in its order, from every `Sec-WebSocket-Protocol`
/// line.
pub(super) fn offered(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

impl fmt::Debug for Protocols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Protocols")
            .field("preferred", &self.preferred)
            .field("selector", &self.selector.as_ref().map(|_| ".."))
            .field("required", &self.required)
            .finish()
    }
}
