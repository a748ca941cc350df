//! [`CallError`]: why a call failed, in either direction.

use std::{borrow::Cow, fmt};

/// Why a call failed, as its `error` reply says: a `code` for programs and a `message`
/// for people.
///
/// A method returns one with a code of the app's choosing (`not_found`, `conflict`); the
/// server answers with its own codes for calls it could not make (PROTOCOL.md lists
/// them: `unknown_method`, `bad_params`, `timeout`, `cancelled`, `too_many_calls`,
/// `internal`). Any error converts into one with the code `internal` and a message that
/// says nothing of the error, so that `?` works in a method without showing clients the
/// server's insides.
///
/// ```
/// use tower_websockets::protocol::CallError;
///
/// let error = CallError::new("not_found", "no room of that name");
/// assert_eq!((error.code(), error.message()), ("not_found", "no room of that name"));
///
/// let parsed: Result<u32, CallError> = "x".parse::<u32>().map_err(CallError::from);
/// assert_eq!(parsed.unwrap_err().code(), "internal");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CallError {
    code: Cow<'static, str>,
    message: Cow<'static, str>,
}

impl CallError {
    /// An error with `code` and `message`.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        CallError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(super) fn bad_params(message: impl Into<Cow<'static, str>>) -> Self {
        CallError::new("bad_params", message)
    }

    pub(super) fn internal() -> Self {
        CallError::new("internal", "the method failed")
    }
}

impl fmt::Debug for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallError({}: {})", self.code, self.message)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl<E: std::error::Error> From<E> for CallError {
    /// `internal`, with a message that says nothing of `error`.
    fn from(_: E) -> Self {
        CallError::internal()
    }
}
