//! Who is at the other end of a protocol session: [`ConnectionId`], unique across servers
//! and naming the server that holds the connection, and [`UserId`], the app's name for the
//! person or device behind it.

use std::{fmt, str::FromStr, sync::Arc};

/// A server's name among the servers that share a hub's backplane: random, one per hub,
/// so that servers started at once never share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(u64);

impl ServerId {
    /// A fresh, random one.
    pub(crate) fn random() -> ServerId {
        ServerId(crate::random::random_u64())
    }

    /// The id as the number it is, for messages between servers.
    #[cfg_attr(not(feature = "protocol"), allow(dead_code))]
    pub(crate) fn get(self) -> u64 {
        self.0
    }

    /// The id that [`get`](Self::get) gave.
    #[cfg_attr(not(feature = "protocol"), allow(dead_code))]
    pub(crate) fn from_u64(id: u64) -> ServerId {
        ServerId(id)
    }
}

impl fmt::Display for ServerId {
    /// 16 lowercase hexadecimal digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A protocol session's name: the server that holds it and a number that server gave no
/// other session. Unique across servers, and read by any of them without a lookup: a
/// message for the connection goes straight to its server.
///
/// Written as the server's 16 hexadecimal digits, `-`, and the number in decimal
/// (`9f2c51e07a6b3d18-42`); [`FromStr`] reads that form back.
///
/// ```
/// use tower_websockets::identity::ConnectionId;
///
/// let id: ConnectionId = "9f2c51e07a6b3d18-42".parse().unwrap();
/// assert_eq!(id.to_string(), "9f2c51e07a6b3d18-42");
/// assert_eq!(id.server().to_string(), "9f2c51e07a6b3d18");
/// assert!("42".parse::<ConnectionId>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    server: ServerId,
    number: u64,
}

impl ConnectionId {
    pub(crate) fn new(server: ServerId, number: u64) -> ConnectionId {
        ConnectionId { server, number }
    }

    /// The server that holds the connection.
    pub fn server(&self) -> ServerId {
        self.server
    }

    /// The number its server gave it.
    #[cfg_attr(not(feature = "protocol"), allow(dead_code))]
    pub(crate) fn number(&self) -> u64 {
        self.number
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.server, self.number)
    }
}

/// As its text, `9f2c51e07a6b3d18-42` (the `protocol` feature).
#[cfg(feature = "protocol")]
impl serde::Serialize for ConnectionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From its text (the `protocol` feature): what a client sends back of a `welcome`'s
/// `connection`.
#[cfg(feature = "protocol")]
impl<'de> serde::Deserialize<'de> for ConnectionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a string is not a [`ConnectionId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConnectionId;

impl fmt::Display for InvalidConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a connection id is 16 hexadecimal digits, `-` and a decimal number")
    }
}

impl std::error::Error for InvalidConnectionId {}

impl FromStr for ConnectionId {
    type Err = InvalidConnectionId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (server, number) = text.split_once('-').ok_or(InvalidConnectionId)?;
        let hex = server.len() == 16 && server.bytes().all(|b| b.is_ascii_hexdigit());
        let decimal = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
        if !hex || !decimal {
            return Err(InvalidConnectionId);
        }
        let server = u64::from_str_radix(server, 16).map_err(|_| InvalidConnectionId)?;
        let number = number.parse().map_err(|_| InvalidConnectionId)?;
        Ok(ConnectionId::new(ServerId(server), number))
    }
}

/// The app's name for who is behind a connection (a user's id, a device's): any text of
/// 1 to 256 bytes, shared without copies.
///
/// An accept hook that has found out who the client is leaves it in the handshake's
/// extensions, where the topics protocol's session reads it:
///
/// ```
/// use tower_websockets::{identity::UserId, Decision, Handshake};
///
/// async fn admit(mut handshake: Handshake) -> Decision {
///     // A real hook checks a token here.
///     if let Some(user) = UserId::new("ada") {
///         handshake.extensions_mut().insert(user);
///     }
///     Decision::accept(handshake)
/// }
/// # let _ = admit;
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Arc<str>);

impl UserId {
    /// The longest user id, in bytes.
    pub const MAX_LEN: usize = 256;

    /// `id` as a user id; `None` if it is empty or longer than [`MAX_LEN`](Self::MAX_LEN).
    pub fn new(id: impl AsRef<str>) -> Option<UserId> {
        let id = id.as_ref();
        (!id.is_empty() && id.len() <= Self::MAX_LEN).then(|| UserId(Arc::from(id)))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_read_back_what_they_write_and_nothing_else() {
        let id = ConnectionId::new(ServerId(0x00ab), 7);
        assert_eq!(id.to_string(), "00000000000000ab-7");
        assert_eq!("00000000000000ab-7".parse(), Ok(id));
        for bad in [
            "",
            "-",
            "ab-7",
            "00000000000000ab-",
            "00000000000000ab-+7",
            "00000000000000ag-7",
            "00000000000000ab-18446744073709551616",
            "+0000000000000ab-7",
        ] {
            assert_eq!(
                bad.parse::<ConnectionId>(),
                Err(InvalidConnectionId),
                "{bad:?}"
            );
        }
    }

    #[cfg(feature = "protocol")]
    #[test]
    fn connection_ids_are_json_strings() {
        let id = ConnectionId::new(ServerId(0x00ab), 7);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"00000000000000ab-7\""
        );
        assert_eq!(
            serde_json::from_str::<ConnectionId>("\"00000000000000ab-7\"").unwrap(),
            id
        );
        assert!(serde_json::from_str::<ConnectionId>("\"7\"").is_err());
        assert!(serde_json::from_str::<ConnectionId>("7").is_err());
    }

    #[test]
    fn user_ids_are_bounded() {
        assert!(UserId::new("").is_none());
        assert!(UserId::new("a".repeat(256)).is_some());
        assert!(UserId::new("a".repeat(257)).is_none());
    }
}
