//! [`Calls`]: the calls a client's session is running, each in a task of its own under a
//! deadline, so that a slow call holds up neither the client's other calls nor its other
//! requests.

use std::{
    collections::HashMap,
    task::{Context, Poll},
    time::Duration,
};

use tokio::task::{AbortHandle, Id, JoinSet};

use super::{call_error::CallError, methods::Outcome};
use crate::topics::BoxFuture;

/// The calls a session runs: their tasks, and each one's request id.
#[derive(Default)]
pub(super) struct Calls {
    tasks: JoinSet<Outcome>,
    /// By task: the request id it answers.
    ids: HashMap<Id, u64>,
    /// By request id: its task, to cancel it.
    handles: HashMap<u64, AbortHandle>,
}

impl Calls {
    /// How many are running.
    pub(super) fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether none is running.
    pub(super) fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Whether request `id` is running.
    pub(super) fn contains(&self, id: u64) -> bool {
        self.handles.contains_key(&id)
    }

    /// Runs `method` for request `id` in a task of its own; past `deadline` it is stopped
    /// and answered `timeout`.
    pub(super) fn start(&mut self, id: u64, method: BoxFuture<Outcome>, deadline: Duration) {
        let handle = self.tasks.spawn(async move {
            match tokio::time::timeout(deadline, method).await {
                Ok(outcome) => outcome,
                Err(_) => Err(CallError::new(
                    "timeout",
                    "the method did not answer in time",
                )),
            }
        });
        self.ids.insert(handle.id(), id);
        self.handles.insert(id, handle);
    }

    /// Stops request `id`'s method; `false` if it is not running (it has answered).
    pub(super) fn cancel(&mut self, id: u64) -> bool {
        match self.handles.remove(&id) {
            Some(handle) => {
                handle.abort();
                true
            }
            None => false,
        }
    }

    /// The next call to end, with its request id; a method that panicked is answered
    /// `internal`. Calls cancelled meanwhile are passed over (their answer is sent when
    /// they are cancelled). Pending while none runs.
    pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(u64, Outcome)> {
        loop {
            let (task, outcome) = match self.tasks.poll_join_next_with_id(cx) {
                Poll::Pending | Poll::Ready(None) => return Poll::Pending,
                Poll::Ready(Some(Ok((task, outcome)))) => (task, outcome),
                Poll::Ready(Some(Err(error))) if error.is_panic() => {
                    (error.id(), Err(CallError::internal()))
                }
                Poll::Ready(Some(Err(error))) => {
                    // Cancelled: answered when it was.
                    self.ids.remove(&error.id());
                    continue;
                }
            };
            let Some(id) = self.ids.remove(&task) else {
                continue;
            };
            if self.handles.get(&id).map(AbortHandle::id) != Some(task) {
                // Cancelled after it ended (answered `cancelled` already), and its id
                // perhaps taken by another call since.
                continue;
            }
            self.handles.remove(&id);
            return Poll::Ready((id, outcome));
        }
    }
}
