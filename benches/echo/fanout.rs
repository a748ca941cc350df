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

use crate::{load, median, servers, Options, Server};

const KINDS: [(&str, &str); 2] = [
    ("topics", "(a) layer + Topics"),
    ("broadcast", "(c) axum + broadcast"),
];

const BURST: usize = 100;
const SIZE: usize = 100;

/// A client's masked text frame.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = load::masked_frame(payload);
    frame[0] = 0x81;
    frame
}

/// What the members have received, counted as it arrives.
struct Tally {
    /// By member.
    each: Vec<AtomicU64>,
    total: AtomicU64,
    /// The total the main task waits for.
    target: AtomicU64,
    reached: Notify,
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
        while let Some((header, len)) = frame_at(&buf[at..]) {
            if buf.len() - at < header + len {
                break;
            }
            at += header + len;
            frames += 1;
        }
        buf.drain(..at);
        if frames > 0 {
            tally.each[index].fetch_add(frames, Ordering::Relaxed);
            let total = tally.total.fetch_add(frames, Ordering::AcqRel) + frames;
            if total >= tally.target.load(Ordering::Acquire) {
                tally.reached.notify_one();
            }
        }
    }
}

/// The header and payload lengths of the server frame at the start of `buf`.
fn frame_at(buf: &[u8]) -> Option<(usize, usize)> {
    let len = *buf.get(1)? & 0x7f;
    Some(match len {
        126 => (
            4,
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (2, n as usize),
    })
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
}

/// One round against a fresh server: `members` connect, then bursts of 100 messages until
/// `window` has passed.
async fn round(kind: &str, members: usize, window: Duration) -> Run {
    let server = Server::start(kind);
    let addr = servers::addr(server.port);
    let tally = Arc::new(Tally {
        each: (0..members).map(|_| AtomicU64::new(0)).collect(),
        total: AtomicU64::new(0),
        target: AtomicU64::new(u64::MAX),
        reached: Notify::new(),
    });
    // Kept until the round ends: dropping a write half would end its connection.
    let mut writers = Vec::with_capacity(members);
    for index in 0..members {
        let (read, write) = load::connect(addr).await.into_split();
        writers.push(write);
        tokio::spawn(member(read, index, tally.clone()));
    }
    let publisher = &mut writers[0];
    // A first message through: every member is subscribed once every member has it.
    publisher
        .write_all(&text_frame(&[b'w'; SIZE]))
        .await
        .unwrap();
    tally.wait_for(members as u64).await;

    let burst: Vec<u8> = (0..BURST).flat_map(|_| text_frame(&[b'm'; SIZE])).collect();
    let (cpu_before, started) = (load::cpu_time(&server.pid), Instant::now());
    let mut bursts = 0u64;
    while bursts == 0 || started.elapsed() < window {
        publisher.write_all(&burst).await.unwrap();
        bursts += 1;
        tally
            .wait_for(members as u64 * (1 + bursts * BURST as u64))
            .await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (load::cpu_time(&server.pid) - cpu_before).as_secs_f64();
    let deliveries = (bursts * BURST as u64 * members as u64) as f64;
    let each = 1 + bursts * BURST as u64;
    let complete = tally.each.iter().all(|n| n.load(Ordering::Relaxed) == each);
    Run {
        deliveries_per_second: deliveries / elapsed,
        cpu_per_delivery_us: cpu / deliveries * 1e6,
        complete,
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
    publisher.write_all(&text_frame(b"hello")).await.unwrap();
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
    let batch: Vec<u8> = (0..100).flat_map(|_| text_frame(&[b'x'; 1024])).collect();
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
            while let Some((header, len)) = frame_at(&self.buf[at..]) {
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
         | server CPU µs per delivery (a, c) | every member got every message (a, c) |"
    );
    println!("|---|---|---|---|---|---|");
    for members in [1_000, 10_000] {
        let mut rates: [Vec<f64>; 2] = Default::default();
        let mut costs: [Vec<f64>; 2] = Default::default();
        let mut complete = [true; 2];
        for _ in 0..options.rounds {
            for (k, (kind, _)) in KINDS.iter().enumerate() {
                let run = round(kind, members, options.window).await;
                rates[k].push(run.deliveries_per_second);
                costs[k].push(run.cpu_per_delivery_us);
                complete[k] &= run.complete;
            }
        }
        let paired: Vec<f64> = rates[0].iter().zip(&rates[1]).map(|(a, c)| a / c).collect();
        println!(
            "| {members} | {:.0} | {:.0} | {:.2} ({:.2}) | {:.3}, {:.3} | {}, {} |",
            median(&rates[0]),
            median(&rates[1]),
            median(&rates[0]) / median(&rates[1]),
            median(&paired),
            median(&costs[0]),
            median(&costs[1]),
            if complete[0] { "yes" } else { "NO" },
            if complete[1] { "yes" } else { "NO" },
        );
    }
    println!(
        "\nmemory: server RSS growth while 10 members never read and 20,000 x 1 KiB are published"
    );
    for (kind, label) in KINDS {
        let (growth, got) = slow_members_memory(kind).await;
        println!(
            "  {label}: {:.1} MiB; a reading member got {got} of 20000",
            growth as f64 / 1024.0,
        );
    }
}
