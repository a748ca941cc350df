//! The tasks beside a Redis backplane's connection: subscribing, publishing, receiving,
//! and checking that Redis answers. Each holds the backplane weakly and ends once the
//! backplane is gone.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Weak,
    },
    time::Duration,
};

use bytes::Bytes;
use redis::{aio::ConnectionManager, ErrorKind, PushInfo, PushKind, ServerErrorKind, Value};
use tokio::sync::mpsc;

use super::{
    controls::{Asked, Channel},
    envelope,
    history::{self, Scripts},
    state::{Append, Inner},
};
use crate::topics::Position;

/// How many published messages go to Redis in one pipeline at most.
const BATCH: usize = 256;

/// How many SUBSCRIBE or UNSUBSCRIBE commands go to Redis in one pipeline at most.
const CHANNELS_PER_PIPELINE: usize = 1024;

/// Subscribes and unsubscribes channels as asked, and subscribes again to every wanted
/// channel when the connection is back. What has been asked since the task last looked
/// goes in as few round trips as it can: one pipeline of SUBSCRIBEs for every channel newly
/// wanted (one round trip for a thousand topics joined at once), one of UNSUBSCRIBEs for
/// those no longer wanted, up to 1,024 commands each; a channel asked for and let go
/// meanwhile costs at most an UNSUBSCRIBE. Then those waiting for it all are answered.
pub(super) async fn control(mut manager: ConnectionManager, mut asked: Asked, inner: Weak<Inner>) {
    let mut wanted = HashSet::new();
    while let Some(pending) = asked.next().await {
        let mut result = Ok(());
        let (subscribe, unsubscribe): (Vec<_>, Vec<_>) =
            pending.channels.into_iter().partition(|(_, want)| *want);
        let subscribe: Vec<Channel> = subscribe.into_iter().map(|(channel, _)| channel).collect();
        let unsubscribe: Vec<Channel> = unsubscribe
            .into_iter()
            .map(|(channel, _)| channel)
            .collect();
        result = result.and(each_channel(&mut manager, "SUBSCRIBE", &subscribe).await);
        result = result.and(each_channel(&mut manager, "UNSUBSCRIBE", &unsubscribe).await);
        for channel in &unsubscribe {
            wanted.remove(channel);
        }
        wanted.extend(subscribe);
        if pending.resync {
            let channels: Vec<Channel> = wanted.iter().cloned().collect();
            result = result.and(each_channel(&mut manager, "SUBSCRIBE", &channels).await);
        }
        for done in pending.settled {
            let _ = done.send(());
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

/// Sends `command` (SUBSCRIBE or UNSUBSCRIBE) for each of `channels`, one channel a command,
/// in pipelines of up to 1,024. Redis answers such a command once for each channel it
/// names, and the connection, which shares its answers among every command in flight,
/// pairs each answer with one command: a command naming two channels would hand its
/// second answer to whatever command was sent next (a history read given a SUBSCRIBE's
/// answer, or one topic's history given another's).
async fn each_channel(
    manager: &mut ConnectionManager,
    command: &str,
    channels: &[Channel],
) -> redis::RedisResult<()> {
    for chunk in channels.chunks(CHANNELS_PER_PIPELINE) {
        let mut pipeline = redis::pipe();
        for channel in chunk {
            pipeline.cmd(command).arg(channel).ignore();
        }
        pipeline.exec_async(manager).await?;
    }
    Ok(())
}

/// Sends what local members publish and what goes to other servers, in pipelines of what
/// has queued up; a batch that fails is lost (delivery is at most once). A message to a
/// server that no server took (Redis counts the subscribers each publish reached) goes
/// back to the hub's inbox.
pub(super) async fn publish(
    mut manager: ConnectionManager,
    mut published: mpsc::Receiver<(Channel, Bytes, bool)>,
    inner: Weak<Inner>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while published.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipeline = redis::pipe();
        for (channel, payload, to_server) in &batch {
            pipeline.publish(channel, payload.as_ref());
            if !to_server {
                pipeline.ignore();
            }
        }
        // The subscribers reached, for each message to a server, in order.
        let result: redis::RedisResult<Vec<u64>> = pipeline.query_async(&mut manager).await;
        let Some(inner) = inner.upgrade() else { return };
        let count = batch.len() as u64;
        match result {
            Ok(reached) => {
                inner.messages_out.fetch_add(count, Ordering::Relaxed);
                let to_servers = batch.iter().filter(|(_, _, to_server)| *to_server);
                for ((_, payload, _), reached) in to_servers.zip(reached) {
                    if reached == 0 {
                        if let Some(inbox) = inner.inbox.get() {
                            inbox.undeliverable(payload.clone());
                        }
                    }
                }
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
pub(super) async fn receive(
    mut pushes: mpsc::Receiver<PushInfo>,
    overflowed: Arc<AtomicU64>,
    inner: Weak<Inner>,
) {
    while let Some(push) = pushes.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        let lost = overflowed.swap(0, Ordering::AcqRel);
        if lost > 0 {
            // Messages were lost while this task was behind: what they carried of the
            // topics' histories is read again before it serves a recovery.
            inner.lose(lost);
            inner.note_error("messages from Redis lost: this server fell behind");
            if let Some(inbox) = inner.inbox.get() {
                inbox.continuity_lost();
            }
        }
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
    if inner.server_channel.get() == Some(&channel) {
        // Sent to this server alone.
        inner.messages_in.fetch_add(1, Ordering::Relaxed);
        if let Some(inbox) = inner.inbox.get() {
            inbox.deliver_to_server(Bytes::from(payload));
        }
        return;
    }
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
                    inner.control.resync();
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
