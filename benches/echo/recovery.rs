//! Recovery under load: 10,000 clients of the topics protocol (PROTOCOL.md) on 100
//! topics, all on server A; a publisher on server B; the topics' history in a Redis this
//! bench starts. Server A is stopped, B goes on publishing for 2 s, A starts again on the
//! same port, and every client reconnects and subscribes with the position it had.
//!
//! ```text
//! cargo bench --bench echo --features redis -- --recovery
//! ```
//!
//! Checked: every client gets every publication of its topic exactly once and in order,
//! before, across and after the outage, and each recovery answers `recovered: true`.
//! Reported: how long after A started again each client was subscribed again and had
//! every publication it missed (median, 99th percentile, last), what was replayed, and
//! how many times A read a topic's history from Redis to serve the 10,000 recoveries.
//! Exits with a failure when a check fails.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use http_body_util::Full;
use hyper::{body::Bytes, body::Incoming, Request, Response};
use serde::Deserialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{tcp::OwnedReadHalf, TcpListener, TcpStream},
    sync::watch,
};
use tower::{service_fn, ServiceBuilder};
use tower_websockets::{protocol::TopicsProtocol, topics::History, Topics};

use crate::{load, median, servers, Server};

const CLIENTS: usize = 10_000;
const TOPICS: usize = 100;
/// Each topic gets a publication this often.
const PACE: Duration = Duration::from_millis(50);
/// How long server A stays away while B publishes.
const AWAY: Duration = Duration::from_secs(2);
/// How long a client waits before it connects again, at most (a random share of it).
const RETRY: Duration = Duration::from_millis(200);
/// What each wait for a condition allows before the run fails.
const DEADLINE: Duration = Duration::from_secs(120);
const KIND: &str = "topics-protocol-redis";

/// The server: the topics protocol on `/ws`, every topic keeping its last 1,000
/// publications in Redis; `GET /stats` answers the hub's history figures.
pub async fn serve(listener: TcpListener) {
    let history = History::new().max_publications(1_000);
    let topics = crate::rooms::redis_hub("bench-recovery:")
        .await
        .history(history)
        .build();
    // The publisher is the bench's own: 100 topics, 2,000 publications a second from one
    // connection, past the limits a public endpoint sets for a client.
    let sockets = TopicsProtocol::new(topics.clone())
        .max_subscriptions(1)
        .max_publish_topics(100)
        .publish_rate(10_000)
        .layer()
        .path("/ws");
    let app =
        ServiceBuilder::new()
            .layer(sockets)
            .service(service_fn(move |_: Request<Incoming>| {
                let body = stats_line(&topics);
                async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
            }));
    servers::serve_app(listener, app).await
}

/// The history figures, as `name value` pairs on one line.
fn stats_line(topics: &Topics) -> String {
    let history = topics.stats().history.unwrap_or_default();
    format!(
        "recoveries {} recovered {} not_recovered {} reads {} reads_coalesced {}\n",
        history.recoveries,
        history.recovered,
        history.not_recovered,
        history.reads,
        history.reads_coalesced
    )
}

/// What a server's `GET /stats` answers, as `(name, value)` pairs.
async fn server_stats(addr: SocketAddr) -> Vec<(String, u64)> {
    let mut stream = TcpStream::connect(addr).await.expect("connect for /stats");
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let words: Vec<&str> = body.split_whitespace().collect();
    words
        .chunks(2)
        .filter_map(|pair| Some((pair[0].to_owned(), pair.get(1)?.parse().ok()?)))
        .collect()
}

/// A server message, as far as the clients read it.
#[derive(Deserialize)]
struct ServerMessage {
    #[serde(rename = "type")]
    kind: String,
    topic: Option<String>,
    epoch: Option<String>,
    offset: Option<u64>,
    recovered: Option<bool>,
    replayed: Option<u64>,
    message: Option<String>,
}

/// A client's message, in a masked text frame.
fn json_frame(json: &serde_json::Value) -> Vec<u8> {
    load::masked_text_frame(json.to_string().as_bytes())
}

/// Opens a connection to `/ws` asking for the topics protocol; what was read past the
/// response head comes with it.
async fn connect(addr: SocketAddr) -> Option<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let mut buf = Vec::with_capacity(4096);
    let offer = format!(
        "Sec-WebSocket-Protocol: {}\r\n",
        tower_websockets::protocol::NAME
    );
    load::handshake(&mut stream, &offer, &mut buf).await.ok()?;
    Some((stream, buf))
}

/// The complete frames at the start of `buf` (all unmasked server frames), as (opcode,
/// payload); `buf` keeps what is left.
fn frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut at = 0;
    let mut out = Vec::new();
    while let Some((header, len)) = load::frame_len(&buf[at..]) {
        if buf.len() - at < header + len {
            break;
        }
        out.push((buf[at] & 0x0f, buf[at + header..at + header + len].to_vec()));
        at += header + len;
    }
    buf.drain(..at);
    out
}

/// What the clients share with the run, by client.
struct Shared {
    start: Instant,
    /// The offset of the last publication received in order.
    last: Vec<AtomicU64>,
    /// When (microseconds since `start`, plus one) the client was subscribed again after
    /// a reconnection; 0 until then.
    resubscribed_at: Vec<AtomicU64>,
    /// When the client had everything it missed, or what the server still had of it
    /// (with `recovered: false`); 0 until then.
    recovered_at: Vec<AtomicU64>,
    /// Clients subscribed now.
    subscribed: AtomicUsize,
}

impl Shared {
    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64 + 1
    }
}

/// What a client saw that it must not see, and what it did.
#[derive(Default)]
struct Report {
    connections: u64,
    duplicates: u64,
    missing: u64,
    not_recovered: u64,
    replayed: u64,
    errors: Vec<String>,
}

/// A client on topic `index % TOPICS`: subscribes, reads, and after a drop connects again
/// (after a random wait of up to `RETRY`, again and again while the server is away) and
/// subscribes with the position of the last publication it received.
async fn client(
    index: usize,
    addr: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Report {
    let topic = format!("t{}", index % TOPICS);
    let mut report = Report::default();
    // The epoch and the offset of the last publication received.
    let mut position: Option<(String, u64)> = None;
    let mut random = index as u64 * 0x9e37_79b9_7f4a_7c15 + 1;
    'connections: loop {
        let (stream, mut buf) = loop {
            if *stop.borrow() {
                return report;
            }
            if let Some(connected) = connect(addr).await {
                break connected;
            }
            // xorshift: a wait spread over 0..RETRY.
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            let wait = RETRY.as_micros() as u64 * (random % 1000) / 1000;
            tokio::time::sleep(Duration::from_micros(wait)).await;
        };
        report.connections += 1;
        let (mut reader, mut writer) = stream.into_split();
        let mut subscribe = serde_json::json!({"type": "subscribe", "id": 1, "topic": topic});
        if let Some((epoch, offset)) = &position {
            subscribe["since"] = serde_json::json!({"epoch": epoch, "offset": offset});
        }
        if writer.write_all(&json_frame(&subscribe)).await.is_err() {
            continue;
        }
        // The offset a recovery must reach: the stream's end when the server answered.
        let mut until: Option<u64> = None;
        let mut subscribed = false;
        loop {
            let mut pongs = Vec::new();
            for (opcode, payload) in frames(&mut buf) {
                if opcode != 1 {
                    // A ping is answered, as any client does (the server's keep-alive
                    // drops a client that does not); a close is not expected.
                    match opcode {
                        9 => {
                            let mut pong = load::masked_frame(&payload);
                            pong[0] = 0x8a;
                            pongs.extend(pong);
                        }
                        8 => report
                            .errors
                            .push("the server closed the socket".to_owned()),
                        _ => {}
                    }
                    continue;
                }
                let message: ServerMessage = match serde_json::from_slice(&payload) {
                    Ok(message) => message,
                    Err(error) => {
                        report.errors.push(format!("unreadable message: {error}"));
                        continue;
                    }
                };
                let (Some(epoch), Some(offset)) = (message.epoch, message.offset) else {
                    if message.kind == "error" {
                        report.errors.push(format!("error: {:?}", message.message));
                    }
                    continue;
                };
                match message.kind.as_str() {
                    "subscribed" => {
                        subscribed = true;
                        shared.subscribed.fetch_add(1, Ordering::AcqRel);
                        let Some((known, last)) = &position else {
                            shared.last[index].store(offset, Ordering::Release);
                            position = Some((epoch, offset));
                            continue;
                        };
                        shared.resubscribed_at[index].store(shared.now(), Ordering::Release);
                        report.replayed += message.replayed.unwrap_or(0);
                        if message.recovered != Some(true) {
                            report.not_recovered += 1;
                        }
                        if *known != epoch {
                            // Nothing to replay: the client goes on from the answer.
                            shared.last[index].store(offset, Ordering::Release);
                            shared.recovered_at[index].store(shared.now(), Ordering::Release);
                            position = Some((epoch, offset));
                        } else if offset <= *last {
                            shared.recovered_at[index].store(shared.now(), Ordering::Release);
                        } else {
                            until = Some(offset);
                        }
                    }
                    "publication" if message.topic.as_deref() == Some(&topic) => {
                        let Some((known, last)) = position.as_mut().filter(|_| subscribed) else {
                            report
                                .errors
                                .push("a publication before `subscribed`".to_owned());
                            continue;
                        };
                        if *known != epoch {
                            report
                                .errors
                                .push("a publication of another epoch".to_owned());
                        } else if offset <= *last {
                            report.duplicates += 1;
                        } else {
                            report.missing += offset - *last - 1;
                            *last = offset;
                            shared.last[index].store(offset, Ordering::Release);
                            if until.is_some_and(|until| offset >= until) {
                                until = None;
                                shared.recovered_at[index].store(shared.now(), Ordering::Release);
                            }
                        }
                    }
                    _ => {}
                }
            }
            if !pongs.is_empty() {
                // A connection that fails here is noticed by the read below.
                let _ = writer.write_all(&pongs).await;
            }
            if buf.capacity() - buf.len() < 2048 {
                buf.reserve(8192);
            }
            tokio::select! {
                read = reader.read_buf(&mut buf) => if !matches!(read, Ok(n) if n > 0) {
                    if subscribed {
                        shared.subscribed.fetch_sub(1, Ordering::AcqRel);
                    }
                    continue 'connections;
                },
                _ = stop.changed() => return report,
            }
        }
    }
}

/// The publisher, on server B: one publication on each topic every `PACE`, until told to
/// stop; then it waits for every acknowledgement.
struct Publisher {
    /// Publications sent.
    sent: Arc<AtomicU64>,
    /// By topic: the offset of its last acknowledged publication.
    ends: Arc<Mutex<Vec<u64>>>,
    acknowledged: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
}

impl Publisher {
    async fn start(addr: SocketAddr) -> Publisher {
        let (stream, buf) = connect(addr).await.expect("the publisher connects to B");
        let (reader, mut writer) = stream.into_split();
        let sent = Arc::new(AtomicU64::new(0));
        let ends = Arc::new(Mutex::new(vec![0; TOPICS]));
        let acknowledged = Arc::new(AtomicU64::new(0));
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(acknowledgements(
            reader,
            buf,
            ends.clone(),
            acknowledged.clone(),
        ));
        let counter = sent.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PACE);
            let mut id = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return,
                }
                let mut batch = Vec::new();
                for topic in 0..TOPICS {
                    id += 1;
                    batch.extend(json_frame(&serde_json::json!({
                        "type": "publish", "id": id, "topic": format!("t{topic}"), "data": {"n": id}
                    })));
                }
                writer.write_all(&batch).await.expect("publish on B");
                counter.fetch_add(TOPICS as u64, Ordering::AcqRel);
            }
        });
        Publisher {
            sent,
            ends,
            acknowledged,
            stop,
        }
    }

    /// Stops publishing and waits for the acknowledgements; each topic's last offset.
    async fn finish(self) -> Vec<u64> {
        let _ = self.stop.send(true);
        // The writer may be in the middle of a batch: wait until the count holds still.
        until("the publisher stops", || {
            (self.stop.receiver_count() == 0).then_some(())
        })
        .await;
        let sent = self.sent.load(Ordering::Acquire);
        until("every publication is acknowledged", || {
            (self.acknowledged.load(Ordering::Acquire) == sent).then_some(())
        })
        .await;
        let ends = self.ends.lock().unwrap().clone();
        ends
    }
}

/// Reads the publisher's `published` answers.
async fn acknowledgements(
    mut reader: OwnedReadHalf,
    mut buf: Vec<u8>,
    ends: Arc<Mutex<Vec<u64>>>,
    acknowledged: Arc<AtomicU64>,
) {
    loop {
        for (_, payload) in frames(&mut buf) {
            let Ok(message) = serde_json::from_slice::<ServerMessage>(&payload) else {
                continue;
            };
            if message.kind != "published" {
                if message.kind == "error" {
                    eprintln!("publisher: {:?}", message.message);
                }
                continue;
            }
            let topic = message.topic.as_deref().and_then(|t| t.strip_prefix('t'));
            let topic = topic.and_then(|t| t.parse::<usize>().ok());
            if let (Some(topic), Some(offset)) = (topic, message.offset) {
                let mut ends = ends.lock().unwrap();
                let end = &mut ends[topic];
                *end = (*end).max(offset);
                acknowledged.fetch_add(1, Ordering::AcqRel);
            }
        }
        buf.reserve(8192);
        if !matches!(reader.read_buf(&mut buf).await, Ok(n) if n > 0) {
            return;
        }
    }
}

/// Polls `check` every 10 ms until it gives a value; panics after `DEADLINE`.
async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The microsecond marks in `marks` that are set, less `since`, in milliseconds, sorted.
fn millis_since(marks: &[AtomicU64], since: u64) -> Vec<f64> {
    let mut out: Vec<f64> = marks
        .iter()
        .map(|m| m.load(Ordering::Acquire))
        .filter(|&m| m > 0)
        .map(|m| m.saturating_sub(since) as f64 / 1000.0)
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

/// `--recovery`: the run described at the top of this file.
pub async fn run() {
    let Some(redis) = crate::redis::RedisServer::start().await else {
        println!("recovery: skipped, no redis-server (apt install redis-server)");
        std::process::exit(1);
    };
    std::env::set_var("TW_BENCH_REDIS_URL", redis.url());
    let a = Server::start(KIND);
    let b = Server::start(KIND);
    let (addr_a, port_a) = (servers::addr(a.port), a.port);
    println!(
        "recovery: {CLIENTS} clients on {TOPICS} topics on server A, a publication on every topic every {PACE:?} from server B, history in Redis"
    );

    let shared = Arc::new(Shared {
        start: Instant::now(),
        last: (0..CLIENTS).map(|_| AtomicU64::new(0)).collect(),
        resubscribed_at: (0..CLIENTS).map(|_| AtomicU64::new(0)).collect(),
        recovered_at: (0..CLIENTS).map(|_| AtomicU64::new(0)).collect(),
        subscribed: AtomicUsize::new(0),
    });
    let (stop, stopped) = watch::channel(false);
    let mut clients = Vec::with_capacity(CLIENTS);
    // In steps of 500, so that the server's accept queue never overflows.
    for first in (0..CLIENTS).step_by(500) {
        for index in first..(first + 500).min(CLIENTS) {
            clients.push(tokio::spawn(client(
                index,
                addr_a,
                shared.clone(),
                stopped.clone(),
            )));
        }
        let target = clients.len();
        until("clients subscribe", || {
            (shared.subscribed.load(Ordering::Acquire) == target).then_some(())
        })
        .await;
    }
    println!("  {CLIENTS} clients subscribed on A");

    let publisher = Publisher::start(servers::addr(b.port)).await;
    // Live delivery first: half a second.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = publisher.sent.load(Ordering::Acquire);
    drop(a);
    let stopped_at = Instant::now();
    until("every client notices that A is gone", || {
        (shared.subscribed.load(Ordering::Acquire) == 0).then_some(())
    })
    .await;
    tokio::time::sleep(AWAY.saturating_sub(stopped_at.elapsed())).await;
    let a = Server::start_on(KIND, port_a);
    let restarted = shared.now();
    let own_pid = std::process::id().to_string();
    let cpu_before = (load::cpu_time(&a.pid), load::cpu_time(&own_pid));
    let away = publisher.sent.load(Ordering::Acquire) - before;
    println!(
        "  A stopped for {:.2} s, {away} publications meanwhile ({} per topic); A started again",
        stopped_at.elapsed().as_secs_f64(),
        away / TOPICS as u64
    );

    until("every client recovers", || {
        shared
            .recovered_at
            .iter()
            .all(|m| m.load(Ordering::Acquire) > restarted)
            .then_some(())
    })
    .await;
    let recovery_took = Duration::from_micros(shared.now() - restarted);
    let cpu = (
        load::cpu_time(&a.pid) - cpu_before.0,
        load::cpu_time(&own_pid) - cpu_before.1,
    );
    // Live delivery after the recovery, then the end of publishing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ends = publisher.finish().await;
    until("every client has every publication", || {
        (0..CLIENTS)
            .all(|i| shared.last[i].load(Ordering::Acquire) >= ends[i % TOPICS])
            .then_some(())
    })
    .await;
    let _ = stop.send(true);
    let mut reports = Vec::with_capacity(CLIENTS);
    for client in clients {
        reports.push(client.await.expect("a client task"));
    }
    let stats = server_stats(servers::addr(a.port)).await;
    drop((a, b));

    let resubscribed = millis_since(&shared.resubscribed_at, restarted);
    let recovered = millis_since(&shared.recovered_at, restarted);
    let at =
        |values: &[f64], share: f64| values[((values.len() - 1) as f64 * share).round() as usize];
    let sum = |f: fn(&Report) -> u64| reports.iter().map(f).sum::<u64>();
    let errors: Vec<&String> = reports.iter().flat_map(|r| &r.errors).collect();
    println!(
        "\n| after A started again | median | p99 | last |\n|---|---|---|---|\n\
         | subscribed again (ms) | {:.0} | {:.0} | {:.0} |\n\
         | had everything it missed (ms) | {:.0} | {:.0} | {:.0} |",
        median(&resubscribed),
        at(&resubscribed, 0.99),
        at(&resubscribed, 1.0),
        median(&recovered),
        at(&recovered, 0.99),
        at(&recovered, 1.0),
    );
    let stat = |name: &str| {
        stats
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, value)| *value)
    };
    println!(
        "\n  CPU while the clients recovered ({:.2} s): server A {:.0}%, these {CLIENTS} clients {:.0}%",
        recovery_took.as_secs_f64(),
        cpu.0.as_secs_f64() / recovery_took.as_secs_f64() * 100.0,
        cpu.1.as_secs_f64() / recovery_took.as_secs_f64() * 100.0,
    );
    println!(
        "  publications replayed: {} ({} per client); reconnections: {}",
        sum(|r| r.replayed),
        sum(|r| r.replayed) / CLIENTS as u64,
        sum(|r| r.connections) - CLIENTS as u64,
    );
    println!(
        "  server A after the restart: {} recoveries, {} recovered, {} not; history reads from Redis: {}, recoveries served by another's read: {}",
        stat("recoveries"),
        stat("recovered"),
        stat("not_recovered"),
        stat("reads"),
        stat("reads_coalesced"),
    );
    let (duplicates, missing, not_recovered) = (
        sum(|r| r.duplicates),
        sum(|r| r.missing),
        sum(|r| r.not_recovered),
    );
    println!(
        "  publications received twice: {duplicates}; missed: {missing}; recoveries answered not recovered: {not_recovered}; other errors: {}",
        errors.len()
    );
    for error in errors.iter().take(10) {
        println!("    {error}");
    }
    let passed = duplicates == 0 && missing == 0 && not_recovered == 0 && errors.is_empty();
    println!(
        "  every client got every publication once, in order: {}",
        if passed { "yes" } else { "NO" }
    );
    if !passed {
        std::process::exit(1);
    }
}
