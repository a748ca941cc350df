//! A client's call as a method sees it ([`Call`]), and what a method takes from it (the
//! [`FromCall`] extractors: [`Params`], [`Binary`], [`State`], [`Caller`], and
//! [`Clients`]).

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::{call_error::CallError, clients::Clients, data::Data};
use crate::identity::{ConnectionId, UserId};

/// Who made a call: the connection's id and, when the app knows it, the user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    connection: ConnectionId,
    user: Option<UserId>,
}

impl Caller {
    pub(super) fn new(connection: ConnectionId, user: Option<UserId>) -> Self {
        Caller { connection, user }
    }

    /// The connection the call came on, unique across servers.
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }

    /// The user behind the connection, as the accept hook or
    /// [`identify`](super::TopicsProtocol::identify) named them.
    pub fn user(&self) -> Option<&UserId> {
        self.user.as_ref()
    }
}

/// A client's call of a method, as the method's extractors read it.
#[derive(Debug)]
pub struct Call {
    method: Box<str>,
    params: Data,
    caller: Caller,
    clients: Option<Clients>,
}

impl Call {
    pub(super) fn new(
        method: Box<str>,
        params: Data,
        caller: Caller,
        clients: Option<Clients>,
    ) -> Self {
        Call {
            method,
            params,
            caller,
            clients,
        }
    }

    /// The method's name.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Who called.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

/// What a method takes from a call: each of its arguments is one. Extraction happens
/// before the method runs; an extractor that fails answers the call with its error.
///
/// `S` is the state given to [`Methods::with_state`](super::Methods::with_state).
pub trait FromCall<S>: Sized {
    /// Takes what the extractor needs from `call` and `state`.
    fn from_call(call: &Call, state: &S) -> Result<Self, CallError>;
}

/// The call's JSON parameters, as `T` (serde). Missing parameters read as `null`, so that
/// `Params<()>` and `Params<Option<T>>` take a call without any. Parameters that are not a
/// `T`, or that came as bytes, answer the call with `bad_params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params<T>(pub T);

impl<S, T: DeserializeOwned> FromCall<S> for Params<T> {
    fn from_call(call: &Call, _: &S) -> Result<Self, CallError> {
        match &call.params {
            Data::Json(json) => serde_json::from_str(json)
                .map(Params)
                .map_err(|error| CallError::bad_params(format!("the params: {error}"))),
            Data::Binary(_) => Err(CallError::bad_params(
                "the params are bytes, and this method takes JSON",
            )),
        }
    }
}

/// The call's parameters as bytes: the payload of a call sent as a binary message.
/// Parameters sent as JSON answer the call with `bad_params`.
///
/// Also what a method returns to answer with bytes (a binary message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary(pub Bytes);

impl<S> FromCall<S> for Binary {
    fn from_call(call: &Call, _: &S) -> Result<Self, CallError> {
        match &call.params {
            Data::Binary(bytes) => Ok(Binary(bytes.clone())),
            Data::Json(_) => Err(CallError::bad_params(
                "the params are JSON, and this method takes bytes",
            )),
        }
    }
}

/// A clone of the state given to [`Methods::with_state`](super::Methods::with_state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State<S>(pub S);

impl<S: Clone> FromCall<S> for State<S> {
    fn from_call(_: &Call, state: &S) -> Result<Self, CallError> {
        Ok(State(state.clone()))
    }
}

impl<S> FromCall<S> for Clients {
    /// The [`Clients`] given to [`TopicsProtocol::clients`](super::TopicsProtocol::clients);
    /// without them, the call fails with `internal`.
    fn from_call(call: &Call, _: &S) -> Result<Self, CallError> {
        call.clients.clone().ok_or_else(CallError::internal)
    }
}

impl<S> FromCall<S> for Caller {
    fn from_call(call: &Call, _: &S) -> Result<Self, CallError> {
        Ok(call.caller.clone())
    }
}
