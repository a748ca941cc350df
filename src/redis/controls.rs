//! [`Controls`]: what the control task is asked to do, held coalesced, so that nothing a
//! client does makes it grow past one entry per channel.

use std::{
    collections::HashMap,
    mem,
    sync::{Arc, Mutex},
};

use tokio::sync::{mpsc, oneshot};

use crate::sync::lock;

/// A Redis channel's name: a topic's (`PREFIX` + topic, UTF-8) or a server's (`PREFIX`,
/// the byte 0xFF, which no UTF-8 text holds, so that no topic's channel is ever a
/// server's, `server:` and the server id).
pub(super) type Channel = Vec<u8>;

/// The backplane's end: what it asks, and a wake-up for the task. When the backplane is
/// dropped, so is the wake-up's sender, and the task ends.
pub(super) struct Controls {
    pending: Arc<Mutex<Pending>>,
    wake: mpsc::Sender<()>,
}

/// The control task's end.
pub(super) struct Asked {
    pending: Arc<Mutex<Pending>>,
    woken: mpsc::Receiver<()>,
}

/// What is asked and not yet done.
#[derive(Default)]
pub(super) struct Pending {
    /// For each channel, whether it is wanted: the last of its subscribes and unsubscribes.
    pub(super) channels: HashMap<Channel, bool>,
    /// The connection is back: subscribe again to every channel wanted.
    pub(super) resync: bool,
    /// Each answered once everything asked before it is done.
    pub(super) settled: Vec<oneshot::Sender<()>>,
}

/// A pair of ends.
pub(super) fn controls() -> (Controls, Asked) {
    let pending = Arc::new(Mutex::new(Pending::default()));
    // One wake-up waiting is enough: the task takes everything asked when it wakes.
    let (wake, woken) = mpsc::channel(1);
    (
        Controls {
            pending: pending.clone(),
            wake,
        },
        Asked { pending, woken },
    )
}

impl Controls {
    /// `channel` is wanted (`true`) or not: this replaces what was asked for it before.
    pub(super) fn want(&self, channel: Channel, wanted: bool) {
        lock(&self.pending).channels.insert(channel, wanted);
        self.wake();
    }

    /// Subscribe again to every channel wanted.
    pub(super) fn resync(&self) {
        lock(&self.pending).resync = true;
        self.wake();
    }

    /// Answers `done` once everything asked so far is done.
    pub(super) fn settled(&self, done: oneshot::Sender<()>) {
        lock(&self.pending).settled.push(done);
        self.wake();
    }

    fn wake(&self) {
        let _ = self.wake.try_send(());
    }
}

impl Asked {
    /// Everything asked since the last time, once there is something; `None` once the
    /// backplane is gone.
    pub(super) async fn next(&mut self) -> Option<Pending> {
        self.woken.recv().await?;
        Some(mem::take(&mut *lock(&self.pending)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn what_is_asked_keeps_one_entry_a_channel_and_ends_with_the_backplane() {
        let (controls, mut asked) = controls();
        // A client that joins and leaves a topic a million times makes one entry.
        for i in 0..1_000_000 {
            controls.want(b"t:a".to_vec(), i % 2 == 0);
        }
        controls.want(b"t:b".to_vec(), true);
        let (done, settled) = oneshot::channel();
        controls.settled(done);
        controls.resync();
        let pending = asked.next().await.unwrap();
        assert_eq!(
            pending.channels,
            HashMap::from([(b"t:a".to_vec(), false), (b"t:b".to_vec(), true)])
        );
        assert!(pending.resync);
        assert_eq!(pending.settled.len(), 1);
        drop(pending);
        assert!(settled.await.is_err(), "answered by the task, not here");
        drop(controls);
        assert!(asked.next().await.is_none());
    }
}
