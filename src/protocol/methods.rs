//! [`Methods`]: the methods clients may call, by name, each an async function of
//! extractors; [`MethodHandler`], what such a function is; [`IntoReturn`], what it may
//! return.

use std::{collections::HashMap, fmt, marker::PhantomData, sync::Arc};

use serde::Serialize;

use super::{
    call::{Binary, Call},
    call_error::CallError,
    data::Data,
};
use crate::{topics::BoxFuture, Utf8Bytes};

/// What a call's method gives back: the result, or why there is none.
pub(super) type Outcome = Result<Returned, CallError>;

/// What a method returned, as it goes to the client: JSON or bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned(pub(super) Data);

/// The methods clients may call with the topics protocol's `call` (PROTOCOL.md), by name,
/// with the state they share.
///
/// A method is an async function whose arguments are [extractors](super::FromCall) (the
/// typed parameters, the state, the caller) and which returns `Result<T, E>`: `T` is any
/// `serde::Serialize` value (sent as JSON) or [`Binary`] (sent as bytes), and `E` any
/// error that converts into a [`CallError`]. A method that fails or panics answers the
/// call with an error; the connection and the server go on.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tower_websockets::{
///     protocol::{CallError, Caller, Methods, Params, State, TopicsProtocol},
///     Topics,
/// };
///
/// #[derive(Clone)]
/// struct App {
///     greeting: &'static str,
/// }
///
/// #[derive(Deserialize)]
/// struct Join {
///     room: String,
/// }
///
/// #[derive(Serialize)]
/// struct Joined {
///     room: String,
///     message: String,
/// }
///
/// async fn join(
///     State(app): State<App>,
///     caller: Caller,
///     Params(join): Params<Join>,
/// ) -> Result<Joined, CallError> {
///     if join.room.is_empty() {
///         return Err(CallError::new("no_room", "say which room"));
///     }
///     let who = caller.user().map_or("someone", |user| user.as_str()).to_owned();
///     Ok(Joined { message: format!("{}, {who}", app.greeting), room: join.room })
/// }
///
/// async fn add(Params((a, b)): Params<(i64, i64)>) -> Result<i64, CallError> {
///     a.checked_add(b).ok_or_else(|| CallError::new("overflow", "too large"))
/// }
///
/// let methods = Methods::with_state(App { greeting: "welcome" })
///     .method("room.join", join)
///     .method("add", add);
/// let protocol = TopicsProtocol::new(Topics::new()).methods(methods);
/// # let _ = protocol;
/// ```
pub struct Methods<S = ()> {
    state: S,
    table: HashMap<Box<str>, Arc<dyn Erased<S>>>,
}

impl Methods<()> {
    /// No methods yet, and no state.
    pub fn new() -> Self {
        Methods::with_state(())
    }
}

impl Default for Methods<()> {
    fn default() -> Self {
        Methods::new()
    }
}

impl<S: Send + Sync + 'static> Methods<S> {
    /// No methods yet; `state` is what their [`State`](super::State) extractor clones.
    pub fn with_state(state: S) -> Self {
        Methods {
            state,
            table: HashMap::new(),
        }
    }

    /// Adds the method `name` (1 to 256 bytes), served by `handler`.
    ///
    /// # Panics
    ///
    /// If `name` is empty, longer than 256 bytes, or already taken: a mistake in the
    /// program, found when it starts.
    pub fn method<H, T>(mut self, name: &str, handler: H) -> Self
    where
        H: MethodHandler<S, T>,
        T: 'static,
    {
        assert!(
            !name.is_empty() && name.len() <= Self::MAX_NAME_LEN,
            "a method's name is 1 to 256 bytes: {name:?}"
        );
        let method: Arc<dyn Erased<S>> = Arc::new(Typed(handler, PhantomData));
        let taken = self.table.insert(name.into(), method).is_some();
        assert!(!taken, "two methods named {name:?}");
        self
    }

    /// The longest name a method may have, in bytes.
    pub const MAX_NAME_LEN: usize = 256;
}

impl<S> fmt::Debug for Methods<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.table.keys().map(|name| &**name).collect();
        names.sort_unstable();
        f.debug_struct("Methods").field("names", &names).finish()
    }
}

/// A set of methods with its state hidden: what the protocol's sessions call.
pub(super) trait Dispatch: Send + Sync {
    /// The running of `call`'s method, or `None` when there is no such method.
    fn dispatch(&self, call: Call) -> Option<BoxFuture<Outcome>>;
}

impl<S: Send + Sync + 'static> Dispatch for Methods<S> {
    fn dispatch(&self, call: Call) -> Option<BoxFuture<Outcome>> {
        let method = self.table.get(call.method())?;
        Some(method.call(call, &self.state))
    }
}

/// A method of one type, behind a pointer that forgets the type.
trait Erased<S>: Send + Sync {
    fn call(&self, call: Call, state: &S) -> BoxFuture<Outcome>;
}

struct Typed<H, T>(H, PhantomData<fn() -> T>);

impl<S, H: MethodHandler<S, T>, T> Erased<S> for Typed<H, T> {
    fn call(&self, call: Call, state: &S) -> BoxFuture<Outcome> {
        self.0.clone().call(call, state)
    }
}

/// An async function that serves a method: implemented for functions and closures of up
/// to eight [extractors](super::FromCall) that return an [`IntoReturn`]. `T` tells the
/// implementations apart (the extractors' types); a method's author never names it.
pub trait MethodHandler<S, T>: Clone + Send + Sync + Sized + 'static {
    /// Takes the extractors from `call` and runs the function.
    fn call(self, call: Call, state: &S) -> BoxFuture<Result<Returned, CallError>>;
}

/// What a method may return: `Result<T, E>` with `T` a `serde::Serialize` value (sent as
/// JSON) or [`Binary`] (sent as bytes), and `E` anything that converts into a
/// [`CallError`].
pub trait IntoReturn {
    /// The result as it goes to the client, or the error.
    fn into_return(self) -> Result<Returned, CallError>;
}

impl<T: Serialize, E: Into<CallError>> IntoReturn for Result<T, E> {
    fn into_return(self) -> Result<Returned, CallError> {
        let value = self.map_err(Into::into)?;
        let json = serde_json::to_string(&value).map_err(|_| CallError::internal())?;
        Ok(Returned(Data::Json(Utf8Bytes::from(json))))
    }
}

impl<E: Into<CallError>> IntoReturn for Result<Binary, E> {
    fn into_return(self) -> Result<Returned, CallError> {
        let Binary(bytes) = self.map_err(Into::into)?;
        Ok(Returned(Data::Binary(bytes)))
    }
}

macro_rules! method_handler {
    ($($extractor:ident),*) => {
        impl<F, Fut, R, S, $($extractor,)*> $crate::protocol::MethodHandler<S, ($($extractor,)*)> for F
        where
            F: FnOnce($($extractor),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: ::std::future::Future<Output = R> + Send + 'static,
            R: $crate::protocol::IntoReturn,
            $($extractor: $crate::protocol::FromCall<S> + Send + 'static,)*
        {
            #[allow(non_snake_case, unused_variables)]
            fn call(
                self,
                call: $crate::protocol::Call,
                state: &S,
            ) -> $crate::topics::BoxFuture<
                Result<$crate::protocol::Returned, $crate::protocol::CallError>,
            > {
                $(
                    let $extractor =
                        match <$extractor as $crate::protocol::FromCall<S>>::from_call(&call, state) {
                            Ok(extracted) => extracted,
                            Err(error) => return Box::pin(async move { Err(error) }),
                        };
                )*
                Box::pin(async move {
                    $crate::protocol::IntoReturn::into_return(self($($extractor),*).await)
                })
            }
        }
    };
}

method_handler!();
method_handler!(A);
method_handler!(A, B);
method_handler!(A, B, C);
method_handler!(A, B, C, D);
method_handler!(A, B, C, D, E);
method_handler!(A, B, C, D, E, G);
method_handler!(A, B, C, D, E, G, H);
method_handler!(A, B, C, D, E, G, H, I);
