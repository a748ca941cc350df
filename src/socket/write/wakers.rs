//! The set of tasks waiting for the connection to take more bytes.

use std::{
    sync::{Arc, Mutex},
    task::{Wake, Waker},
};

use crate::sync::lock;

/// Wakes every task that waited for the connection to become writable.
///
/// The connection remembers one waker per direction; when the reader (answering a ping),
/// the writer and the session driver all flush, each registers here instead.
#[derive(Default)]
pub(crate) struct WakerSet {
    wakers: Mutex<Vec<Waker>>,
}

impl WakerSet {
    pub(crate) fn register(&self, waker: &Waker) {
        let mut wakers = lock(&self.wakers);
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }
}

impl Wake for WakerSet {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *lock(&self.wakers));
        for waker in wakers {
            waker.wake();
        }
    }
}
