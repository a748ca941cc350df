//! [`Data`]: a call's parameters or result as they cross the wire.

use bytes::Bytes;

use crate::Utf8Bytes;

/// A call's parameters or result as they cross the wire: JSON (a text message's `params`
/// or `result`, as the client wrote it), or bytes (a binary message's payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Data {
    Json(Utf8Bytes),
    Binary(Bytes),
}
