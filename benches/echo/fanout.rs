//! Fan-out: one room of 1,000 or 10,000 members; one member sends bursts of 100 text
//! messages of 100 B, each relayed to every member (the sender included). Side by side:
//! `topics` (the layer and a `Topics` hub) and `broadcast` (axum with a tokio broadcast
//! channel per room, as axum's chat example). Reported: deliveries per second, the
//! server's CPU time per delivery, and whether every member got every message; then the
//! server's memory growth while 10 members never read and the others get 20,000 messages.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::tcp::OwnedReadHalf,
    sync::Notify,
};

use crate::{load, median, paired_ratio, servers, Options, Server};

const KINDS: [(&str, &str); 3] = [
    ("topics", "(a) layer + Topics"),
    ("broadcast", "(c) axum + broadcast"),
    ("uws-native-room", "(e) uWebSockets, pub/sub"),
];

/// The kinds to run: (e) when it has been built (see uws.rs).
fn kinds() -> impl Iterator<Item = (usize, &'static str, &'static str)> {
    KINDS
        .iter()
        .enumerate()
        .filter(|(k, _)| *k < 2 || crate::uws::native().is_some())
        .map(|(k, (kind, label))| (k, *kind, *label))
}

const BURST: usize = 100;
const SIZE: usize = 100;

/// What the members have received, counted as it arrives.
struct Tally {
    /// By member.
    each: Vec<AtomicU64>,
    total: AtomicU64,
    /// The total the main task waits for.
    target: AtomicU64,
    reached: Notify,
    /// What message timestamps count from.
    epoch: Instant,
    /// Microseconds from send to arrival, of every measured message at every member.
    latencies: std::sync::Mutex<Vec<u32>>,
}

/// A measured message: `m`, the time it was sent (16 hex digits of microseconds since
/// `epoch`), and padding to `SIZE`.
fn stamped(epoch: Instant) -> Vec<u8> {
    let mut payload = format!("m{:016x}", epoch.elapsed().as_micros() as u64).into_bytes();
    payload.resize(SIZE, b'm');
    payload
}

/// The send time in a measured message's payload.
fn stamp_of(payload: &[u8]) -> Option<u64> {
    let digits = payload.strip_prefix(b"m")?.get(..16)?;
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// Reads a member's frames (all unmasked server frames) and counts them.
async fn member(mut stream: OwnedReadHalf, index: usize, tally: Arc<Tally>) {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut at = 0;
        let mut frames = 0;
        let now = tally.epoch.elapsed().as_micros() as u64;
        let mut latencies = Vec::new();
        while let Some((header, len)) = load::frame_len(&buf[at..]) {
            if buf.len() - at < header + len {
                break;
            }
            if let Some(sent) = stamp_of(&buf[at + header..at + header + len]) {
                latencies.push(now.saturating_sub(sent) as u32);
            }
            at += header + len;
            frames += 1;
        }
        buf.drain(..at);
        if !latencies.is_empty() {
            tally.latencies.lock().unwrap().extend(latencies);
        }
        if frames > 0 {
            tally.each[index].fetch_add(frames, Ordering::Relaxed);
            let total = tally.total.fetch_add(frames, Ordering::AcqRel) + frames;
            if total >= tally.target.load(Ordering::Acquire) {
                tally.reached.notify_one();
            }
        }
    }
}

impl Tally {
    async fn wait_for(&self, target: u64) {
        self.target.store(target, Ordering::Release);
        while self.total.load(Ordering::Acquire) < target {
            self.reached.notified().await;
        }
    }
}

struct Run {
    deliveries_per_second: f64,
    cpu_per_delivery_us: f64,
    complete: bool,
    p50_us: u32,
    p99_us: u32,
}

/// One round against fresh servers: `members` connect to a `kind` server, then one
/// member sends bursts of 100 messages until `window` has passed. With `across`, the
/// sender is on a second `kind` server instead, and the messages go through Redis.
async fn round(kind: &str, members: usize, window: Duration, across: bool) -> Run {
    let server = Server::start(kind);
    let other = across.then(|| Server::start(kind));
    let addr = servers::addr(server.port);
    let tally = Arc::new(Tally {
        each: (0..members).map(|_| AtomicU64::new(0)).collect(),
        total: AtomicU64::new(0),
        target: AtomicU64::new(u64::MAX),
        reached: Notify::new(),
        epoch: Instant::now(),
        latencies: Default::default(),
    });
    // Kept until the round ends: dropping a write half would end its connection.
    let mut writers = Vec::with_capacity(members);
    for index in 0..members {
        let (read, write) = load::connect(addr).await.into_split();
        writers.push(write);
        tokio::spawn(member(read, index, tally.clone()));
    }
    let mut publisher = match &other {
        Some(other) => {
            let (mut own, write) = load::connect(servers::addr(other.port)).await.into_split();
            // Its own copies come back from its server: read and dropped.
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(1..) = own.read(&mut buf).await {}
            });
            write
        }
        // Member 0 sends, and gets its own messages too, as a member.
        None => writers.swap_remove(0),
    };
    // A first message through: every member is subscribed once every member has it.
    // Across servers, the members' server subscribes to Redis as they join: until it
    // has, a message is lost, so the first one is sent again until one arrives.
    loop {
        publisher
            .write_all(&load::masked_text_frame(&[b'w'; SIZE]))
            .await
            .unwrap();
        let arrived = tally.wait_for(members as u64);
        if tokio::time::timeout(Duration::from_secs(1), arrived)
            .await
            .is_ok()
        {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    tally.latencies.lock().unwrap().clear();
    let base = tally.total.load(Ordering::Acquire);
    let servers: Vec<&Server> = std::iter::once(&server).chain(&other).collect();
    let cpu_of = |servers: &[&Server]| -> f64 {
        servers
            .iter()
            .map(|s| load::cpu_time(&s.pid).as_secs_f64())
            .sum()
    };
    let (cpu_before, started) = (cpu_of(&servers), Instant::now());
    let mut bursts = 0u64;
    while bursts == 0 || started.elapsed() < window {
        let burst: Vec<u8> = (0..BURST)
            .flat_map(|_| load::masked_text_frame(&stamped(tally.epoch)))
            .collect();
        publisher.write_all(&burst).await.unwrap();
        bursts += 1;
        tally
            .wait_for(base + members as u64 * bursts * BURST as u64)
            .await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_of(&servers) - cpu_before;
    let deliveries = (bursts * BURST as u64 * members as u64) as f64;
    let first = tally.each[0].load(Ordering::Relaxed);
    let complete = tally
        .each
        .iter()
        .all(|n| n.load(Ordering::Relaxed) == first);
    let mut latencies = std::mem::take(&mut *tally.latencies.lock().unwrap());
    latencies.sort_unstable();
    let at = |q: f64| load::percentile(&latencies, q);
    Run {
        deliveries_per_second: deliveries / elapsed,
        cpu_per_delivery_us: cpu / deliveries * 1e6,
        complete,
        p50_us: at(0.5),
        p99_us: at(0.99),
    }
}

/// Server RSS growth, in KiB, while 10 members never read and the others are sent 20,000
/// messages of 1 KiB; and how many of them a reading member got.
async fn slow_members_memory(kind: &str) -> (u64, usize) {
    const MESSAGES: usize = 20_000;
    let server = Server::start(kind);
    let addr = servers::addr(server.port);
    let (mut own_copies, mut publisher) = load::connect(addr).await.into_split();
    let mut slow = Vec::new();
    for _ in 0..10 {
        slow.push(load::connect(addr).await);
    }
    let reader = load::connect(addr).await;
    // Everyone subscribed: the publisher has its first message back.
    publisher
        .write_all(&load::masked_text_frame(b"hello"))
        .await
        .unwrap();
    let mut own = Reading::default();
    own.until(&mut own_copies, 1).await;
    // The reading member counts what it gets, whatever the pace.
    let got = Arc::new(AtomicU64::new(0));
    let counted = got.clone();
    tokio::spawn(async move {
        let mut reader = reader;
        let mut reading = Reading::default();
        for n in 1.. {
            reading.until(&mut reader, n).await;
            counted.store(n as u64, Ordering::Relaxed);
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = load::rss_kib(&server.pid);
    let batch: Vec<u8> = (0..100)
        .flat_map(|_| load::masked_text_frame(&[b'x'; 1024]))
        .collect();
    for sent in (100..=MESSAGES).step_by(100) {
        if publisher.write_all(&batch).await.is_err() {
            break;
        }
        // Paced by the publisher's own copies (it is a member too); a server that stops
        // relaying to it (one that dropped it, say) ends the run.
        let back = own.until(&mut own_copies, 1 + sent);
        if tokio::time::timeout(Duration::from_secs(10), back)
            .await
            .is_err()
        {
            break;
        }
    }
    // What is on its way to the reading member arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let growth = load::rss_kib(&server.pid).saturating_sub(before);
    drop(slow);
    (growth, got.load(Ordering::Relaxed) as usize - 1)
}

/// Counts frames read from one member.
#[derive(Default)]
struct Reading {
    buf: Vec<u8>,
    frames: usize,
}

impl Reading {
    async fn until(&mut self, stream: &mut (impl AsyncReadExt + Unpin), frames: usize) {
        while self.frames < frames {
            self.buf.reserve(64 * 1024);
            if let Ok(0) | Err(_) = stream.read_buf(&mut self.buf).await {
                // The server closed this member: it gets no more.
                std::future::pending::<()>().await;
            }
            let mut at = 0;
            while let Some((header, len)) = load::frame_len(&self.buf[at..]) {
                if self.buf.len() - at < header + len {
                    break;
                }
                at += header + len;
                self.frames += 1;
            }
            self.buf.drain(..at);
        }
    }
}

pub async fn compare(options: &Options) {
    println!(
        "\nfan-out: one room, one member sends bursts of {BURST} x {SIZE} B text, relayed to every member (median of {})",
        options.rounds
    );
    println!(
        "\n| members | (a) layer + Topics deliveries/s | (c) axum + broadcast deliveries/s | a/c (paired) \
         | server CPU µs per delivery (a, c) | latency p50/p99 µs (a; c) | every member got every message (a, c) |"
    );
    println!("|---|---|---|---|---|---|---|");
    // Against (e), when it ran: printed after this table.
    let mut against_native = Vec::new();
    for members in [1_000, 10_000] {
        let mut runs: [Vec<Run>; KINDS.len()] = Default::default();
        for _ in 0..options.rounds {
            for (k, kind, _) in kinds() {
                runs[k].push(round(kind, members, options.window, false).await);
            }
        }
        // Each kind's rounds, in order: rounds run back to back, so the median of each
        // round's ratio (`paired_ratio`) compares like with like.
        let per_second =
            |k: usize| -> Vec<f64> { runs[k].iter().map(|r| r.deliveries_per_second).collect() };
        let cpu =
            |k: usize| -> Vec<f64> { runs[k].iter().map(|r| r.cpu_per_delivery_us).collect() };
        let rate = |k: usize| median(&per_second(k));
        let cost = |k: usize| median(&cpu(k));
        let paired = |x: &[f64], y: &[f64]| paired_ratio(x, y).unwrap_or(f64::NAN);
        let p = |k: usize, f: fn(&Run) -> u32| {
            median(&runs[k].iter().map(|r| f(r) as f64).collect::<Vec<_>>())
        };
        let complete = |k: usize| {
            if runs[k].iter().all(|r| r.complete) {
                "yes"
            } else {
                "NO"
            }
        };
        println!(
            "| {members} | {:.0} | {:.0} | {:.2} ({:.2}) | {:.3}, {:.3} | {:.0}/{:.0}; {:.0}/{:.0} | {}, {} |",
            rate(0),
            rate(1),
            rate(0) / rate(1),
            paired(&per_second(0), &per_second(1)),
            cost(0),
            cost(1),
            p(0, |r| r.p50_us),
            p(0, |r| r.p99_us),
            p(1, |r| r.p50_us),
            p(1, |r| r.p99_us),
            complete(0),
            complete(1),
        );
        if !runs[2].is_empty() {
            let paired = paired(&cpu(0), &cpu(2));
            against_native.push(format!(
                "| {members} | {:.3}, {:.3} | {:.3} ({paired:.3}) | {} | {:.0}, {:.0} | {}, {} |",
                cost(0),
                cost(2),
                cost(0) / cost(2),
                if paired <= 1.0 { "met" } else { "not met" },
                rate(0),
                rate(2),
                complete(0),
                complete(2),
            ));
        }
    }
    if !against_native.is_empty() {
        println!(
            "\n(a) layer + Topics against (e) native uWebSockets pub/sub: server CPU per delivery"
        );
        println!("\n| members | server CPU µs per delivery (a, e) | CPU a/e (paired) | a at or below e | deliveries/s (a, e) | every member got every message (a, e) |");
        println!("|---|---|---|---|---|---|");
        for row in against_native {
            println!("{row}");
        }
    }
    with_history(options).await;
    #[cfg(feature = "redis")]
    across_servers(options).await;
    println!(
        "\nmemory: server RSS growth while 10 members never read and 20,000 x 1 KiB are published"
    );
    for (_, kind, label) in kinds() {
        let (growth, got) = slow_members_memory(kind).await;
        println!(
            "  {label}: {:.1} MiB; a reading member got {got} of 20000",
            growth as f64 / 1024.0,
        );
    }
}

/// (a) with the room keeping history (each publication given a position and kept),
/// beside the same room without, in alternating rounds: deliveries per second and CPU
/// per delivery, and their ratios.
async fn with_history(options: &Options) {
    const MEMBERS: usize = 1_000;
    println!(
        "\nfan-out with history: {MEMBERS} members, the room keeping its last 100 publications (median of {})",
        options.rounds
    );
    println!(
        "\n| room | deliveries/s | server CPU µs per delivery | every member got every message |"
    );
    println!("|---|---|---|---|");
    let mut runs: [Vec<Run>; 2] = Default::default();
    for _ in 0..options.rounds {
        for (k, kind) in ["topics", "topics-history"].iter().enumerate() {
            runs[k].push(round(kind, MEMBERS, options.window, false).await);
        }
    }
    let rate = |k: usize| {
        median(
            &runs[k]
                .iter()
                .map(|r| r.deliveries_per_second)
                .collect::<Vec<_>>(),
        )
    };
    let cost = |k: usize| {
        median(
            &runs[k]
                .iter()
                .map(|r| r.cpu_per_delivery_us)
                .collect::<Vec<_>>(),
        )
    };
    for (k, label) in ["without history", "with history"].iter().enumerate() {
        let complete = if runs[k].iter().all(|r| r.complete) {
            "yes"
        } else {
            "NO"
        };
        println!("| {label} | {:.0} | {:.3} | {complete} |", rate(k), cost(k));
    }
    println!(
        "| with / without | {:.2} | {:.2} | |",
        rate(1) / rate(0),
        cost(1) / cost(0)
    );
}

/// (a) across two servers sharing a room through a `redis-server` this bench starts:
/// the sender on one, 1,000 members on the other; beside the one-server figure.
#[cfg(feature = "redis")]
async fn across_servers(options: &Options) {
    let Some(redis) = crate::redis::RedisServer::start().await else {
        println!("\nacross servers: skipped, no redis-server (apt install redis-server)");
        return;
    };
    // The servers this bench starts read it.
    std::env::set_var("TW_BENCH_REDIS_URL", redis.url());
    println!(
        "\nacross servers: (a) with a RedisBackplane, 1,000 members on one server, the sender on another (median of {})",
        options.rounds
    );
    println!("\n| where | deliveries/s | server CPU µs per delivery (both servers) | latency p50/p99 µs | every member got every message |");
    println!("|---|---|---|---|---|");
    for (label, kind, across) in [
        ("one server", "topics-redis", false),
        ("across two servers", "topics-redis", true),
        (
            "one server, history in Redis",
            "topics-redis-history",
            false,
        ),
        (
            "across two servers, history in Redis",
            "topics-redis-history",
            true,
        ),
    ] {
        let mut runs = Vec::new();
        for _ in 0..options.rounds {
            runs.push(round(kind, 1_000, options.window, across).await);
        }
        let of = |f: fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        println!(
            "| {label} | {:.0} | {:.3} | {:.0}/{:.0} | {} |",
            of(|r| r.deliveries_per_second),
            of(|r| r.cpu_per_delivery_us),
            of(|r| r.p50_us as f64),
            of(|r| r.p99_us as f64),
            if runs.iter().all(|r| r.complete) {
                "yes"
            } else {
                "NO"
            },
        );
    }
}
