//! The tasks beside a Redis backplane's connection: subscribing, publishing, receiving,
//! and checking that Redis answers. Each holds the backplane weakly and ends once the
//! backplane is gone.

use std::{
    collections::HashSet,
    iter::Peekable,
    sync::{atomic::Ordering, Weak},
    time::Duration,
};

use bytes::Bytes;
use redis::{aio::ConnectionManager, ErrorKind, PushInfo, PushKind, ServerErrorKind, Value};
use tokio::sync::mpsc;

use super::{
    envelope,
    history::{self, Scripts},
    state::{Append, Control, Inner},
};
use crate::topics::Position;

/// How many published messages go to Redis in one pipeline at most.
const BATCH: usize = 256;

/// How many channels one SUBSCRIBE or UNSUBSCRIBE names at most, and how many controls
/// are taken at once.
const CHANNELS_PER_COMMAND: usize = 1024;

/// Subscribes and unsubscribes channels in the order asked, and subscribes again to every
/// wanted channel when the connection is back. What has queued up goes in as few commands
/// as that order allows: each run of subscribes is one SUBSCRIBE naming all their
/// channels (one round trip for a thousand topics joined at once), each run of
/// unsubscribes one UNSUBSCRIBE, and a resync one SUBSCRIBE per 1,024 channels wanted.
pub(super) async fn control(
    mut manager: ConnectionManager,
    mut controls: mpsc::UnboundedReceiver<Control>,
    inner: Weak<Inner>,
) {
    let mut wanted = HashSet::new();
    let mut batch = Vec::with_capacity(CHANNELS_PER_COMMAND);
    while controls.recv_many(&mut batch, CHANNELS_PER_COMMAND).await > 0 {
        let mut result = Ok(());
        let mut pending = batch.drain(..).peekable();
        while let Some(control) = pending.next() {
            match control {
                Control::Subscribe(channel) => {
                    let channels = run(channel, &mut pending, |c| {
                        matches!(c, Control::Subscribe(_))
                    });
                    result = result.and(manager.subscribe(&channels).await);
                    wanted.extend(channels);
                }
                Control::Unsubscribe(channel) => {
                    let channels = run(channel, &mut pending, |c| {
                        matches!(c, Control::Unsubscribe(_))
                    });
                    for channel in &channels {
                        wanted.remove(channel);
                    }
                    result = result.and(manager.unsubscribe(&channels).await);
                }
                Control::Settled(done) => {
                    let _ = done.send(());
                }
                Control::Resync => {
                    let channels: Vec<&String> = wanted.iter().collect();
                    for chunk in channels.chunks(CHANNELS_PER_COMMAND) {
                        result = result.and(manager.subscribe(chunk).await);
                    }
                }
            }
        }
        let Some(inner) = inner.upgrade() else { return };
        if let Err(error) = result {
            // Not subscribed as wanted: the next health check that finds Redis answering
            // subscribes everything again.
            inner.note_error(&error);
            inner.connected.store(false, Ordering::Release);
        }
    }
}

/// `first`, and the channels of the controls right after it that are of its kind (`same`).
fn run(
    first: String,
    pending: &mut Peekable<impl Iterator<Item = Control>>,
    same: fn(&Control) -> bool,
) -> Vec<String> {
    let mut channels = vec![first];
    while let Some(Control::Subscribe(next) | Control::Unsubscribe(next)) = pending.next_if(same) {
        channels.push(next);
    }
    channels
}

/// Sends what local members publish, in pipelines of what has queued up; a batch that
/// fails is lost (delivery is at most once).
pub(super) async fn publish(
    mut manager: ConnectionManager,
    mut published: mpsc::Receiver<(String, Bytes)>,
    inner: Weak<Inner>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while published.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipeline = redis::pipe();
        for (channel, envelope) in &batch {
            pipeline.publish(channel, envelope.as_ref()).ignore();
        }
        let result: redis::RedisResult<()> = pipeline.query_async(&mut manager).await;
        let Some(inner) = inner.upgrade() else { return };
        let count = batch.len() as u64;
        match result {
            Ok(()) => {
                inner.messages_out.fetch_add(count, Ordering::Relaxed);
            }
            Err(error) => {
                inner.note_error(&error);
                inner.lose(count);
            }
        }
        batch.clear();
    }
}

/// Appends publications to their topics' histories, in pipelines of what has queued up,
/// in the order asked; each learns its position, or why it has none (then it reached
/// nobody).
pub(super) async fn append(
    mut manager: ConnectionManager,
    mut appends: mpsc::Receiver<Append>,
    inner: Weak<Inner>,
) {
    let scripts = Scripts::new();
    let mut batch = Vec::with_capacity(BATCH);
    while appends.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipeline = redis::pipe();
        for append in &batch {
            let [meta, stream] = &append.keys;
            let [most, bytes, age, lifetime] = append.bounds;
            pipeline
                .cmd("EVALSHA")
                .arg(scripts.append.get_hash())
                .arg(2)
                .arg(meta)
                .arg(stream)
                .arg(&append.channel)
                .arg(append.envelope.as_ref())
                .arg(&append.epoch)
                .arg(most)
                .arg(bytes)
                .arg(age)
                .arg(lifetime)
                .arg(envelope::HEADER);
        }
        let mut result: redis::RedisResult<Vec<(String, u64)>> =
            pipeline.query_async(&mut manager).await;
        if matches!(&result, Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript)) {
            // Redis forgot the script (it restarted): load it, and try once more.
            let loaded: redis::RedisResult<String> = scripts.append.load_async(&mut manager).await;
            result = match loaded {
                Ok(_) => pipeline.query_async(&mut manager).await,
                Err(e) => Err(e),
            };
        }
        let Some(inner) = inner.upgrade() else { return };
        let count = batch.len() as u64;
        match result {
            Ok(positions) => {
                inner.messages_out.fetch_add(count, Ordering::Relaxed);
                for (append, (epoch, offset)) in batch.drain(..).zip(positions) {
                    let _ = append.reply.send(Ok(Position::new(epoch, offset)));
                }
            }
            Err(error) => {
                inner.note_error(&error);
                inner.lose(count);
                for append in batch.drain(..) {
                    let _ = append.reply.send(Err(error.to_string()));
                }
            }
        }
        batch.clear();
    }
}

/// Hands what other servers publish to the hub, and notes a lost connection.
pub(super) async fn receive(mut pushes: mpsc::UnboundedReceiver<PushInfo>, inner: Weak<Inner>) {
    while let Some(push) = pushes.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        match push.kind {
            PushKind::Message => deliver(&inner, push.data),
            PushKind::Disconnection => {
                inner.note_error("connection to Redis lost");
                inner.connected.store(false, Ordering::Release);
                // Publications may pass while it is down: histories are read again.
                if let Some(inbox) = inner.inbox.get() {
                    inbox.continuity_lost();
                }
            }
            _ => {}
        }
    }
}

/// One pub/sub message: `[channel, payload]`.
fn deliver(inner: &Inner, data: Vec<Value>) {
    let mut data = data.into_iter();
    let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
        (data.next(), data.next())
    else {
        return;
    };
    let Some(topic) = channel.strip_prefix(inner.prefix.as_bytes()) else {
        return;
    };
    let payload = Bytes::from(payload);
    if let Some((position, envelope)) = history::open(&payload) {
        // Appended to the topic's history: every server delivers it, its own included.
        let (Ok(topic), Some((_, message))) =
            (std::str::from_utf8(topic), envelope::open(envelope))
        else {
            return;
        };
        inner.messages_in.fetch_add(1, Ordering::Relaxed);
        if let Some(inbox) = inner.inbox.get() {
            inbox.deliver_at(topic, message, position);
        }
        return;
    }
    let (Ok(topic), Some((origin, message))) =
        (std::str::from_utf8(topic), envelope::open(payload))
    else {
        return;
    };
    if origin == inner.origin {
        // Our own, back from Redis: our members had it directly.
        return;
    }
    inner.messages_in.fetch_add(1, Ordering::Relaxed);
    if let Some(inbox) = inner.inbox.get() {
        inbox.deliver(topic, message);
    }
}

/// Pings Redis every `interval`. A failed ping marks the backplane disconnected (and makes
/// the connection manager reconnect); the first ping answered after that counts a
/// reconnection and subscribes every wanted channel again.
pub(super) async fn check_health(
    mut manager: ConnectionManager,
    interval: Duration,
    inner: Weak<Inner>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let answered: redis::RedisResult<()> = redis::cmd("PING").query_async(&mut manager).await;
        let Some(inner) = inner.upgrade() else { return };
        match answered {
            Ok(()) => {
                if !inner.connected.swap(true, Ordering::AcqRel) {
                    inner.reconnects.fetch_add(1, Ordering::Relaxed);
                    let _ = inner.control.send(Control::Resync);
                    if let Some(inbox) = inner.inbox.get() {
                        inbox.continuity_lost();
                    }
                }
            }
            Err(error) => {
                inner.note_error(&error);
                inner.connected.store(false, Ordering::Release);
            }
        }
    }
}
