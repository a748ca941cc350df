//! [`Utf8Bytes`]: the text of a text message, validated once and shared without copies.

use std::{fmt, ops::Deref};

use bytes::Bytes;
use bytestring::ByteString;

/// UTF-8 text in shared bytes: what [`Message::Text`](crate::Message::Text) holds.
///
/// Validated once, when it is made; cloning it shares the bytes. A received text message's
/// bytes are the frame's as read, and sending one passes them to the connection as they are,
/// so text can be forwarded, echoed, or encoded once and sent to many sockets without a
/// copy.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use tower_websockets::{Message, Utf8Bytes};
///
/// let greeting = Utf8Bytes::from_static("hello");
/// let shared = greeting.clone(); // no copy
/// assert_eq!(shared.as_str(), "hello");
///
/// let from_wire = Utf8Bytes::try_from(Bytes::from_static(b"caf\xc3\xa9")).unwrap();
/// assert_eq!(from_wire, "café");
/// assert!(Utf8Bytes::try_from(Bytes::from_static(b"\xff")).is_err());
///
/// let message = Message::Text(greeting);
/// assert_eq!(message.as_text(), Some("hello"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(ByteString);

impl Utf8Bytes {
    /// Text that lives for the whole program, without a copy.
    pub const fn from_static(text: &'static str) -> Self {
        Utf8Bytes(ByteString::from_static(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bytes, shared.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// The bytes, without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for Utf8Bytes {
    /// Copies the text; [`from_static`](Utf8Bytes::from_static) takes text that lives for
    /// the whole program without a copy.
    fn from(text: &str) -> Self {
        Utf8Bytes(ByteString::from(text))
    }
}

impl From<String> for Utf8Bytes {
    /// Takes the string's buffer, without a copy.
    fn from(text: String) -> Self {
        Utf8Bytes(ByteString::from(text))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(text: &String) -> Self {
        Utf8Bytes(ByteString::from(text.as_str()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.into_bytes()
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    /// Checks that the bytes are UTF-8, and keeps them without a copy.
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        ByteString::try_from(bytes).map(Utf8Bytes)
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    /// Checks that the bytes are UTF-8, and keeps them without a copy.
    fn try_from(bytes: Vec<u8>) -> Result<Self, Self::Error> {
        Utf8Bytes::try_from(Bytes::from(bytes))
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_keep_the_bytes_where_they_are() {
        let bytes = Bytes::from(String::from("shared text").into_bytes());
        let text = Utf8Bytes::try_from(bytes.clone()).unwrap();
        assert_eq!(
            text.as_bytes().as_ptr(),
            bytes.as_ptr(),
            "no copy on validation"
        );
        assert_eq!(
            text.clone().into_bytes().as_ptr(),
            bytes.as_ptr(),
            "no copy on clone"
        );
        let owned = String::from("from a string");
        let pointer = owned.as_ptr();
        assert_eq!(Utf8Bytes::from(owned).as_bytes().as_ptr(), pointer);
        assert!(Utf8Bytes::try_from(vec![0xc3]).is_err(), "a cut character");
        assert_eq!(format!("{}", Utf8Bytes::from("é")), "é");
    }
}
