//! Calls both ways, side by side with what users would pick instead, in one run:
//! (a) the topics protocol's calls (`TopicsProtocol` with `Methods` and `Clients`), (f)
//! socketioxide 0.18 with acknowledgements and (g) Socket.IO 4.8 on Node.js with
//! `emitWithAck` (peers.rs); and (a)'s raw echo of as many bytes as a call, the mark a
//! call's cost is held to.
//!
//! ```text
//! cargo bench --bench echo -- --calls                 # 100 and 1,000 clients, 5 rounds of 3 s
//! cargo bench --bench echo -- --calls --clients 100 --rounds 3 --seconds 2 --servers protocol,socketio
//! ```
//!
//! Each client makes one call at a time in a closed loop: to the server, a call of `echo`
//! with a small JSON object that the server answers with (`call`/`result`; socketioxide
//! and Socket.IO: an event with an acknowledgement); to the client, one call of `drive`
//! after which the server calls the client's `echo` the same way, one after the other,
//! until the client goes (`invoke`/`return`; the peers: `emitWithAck`, acknowledged by
//! the client). Reported: calls a second, server CPU time per call, and latency: to the
//! server, from the call sent to its answer read; to the client, from one call read to
//! the next (the server's whole round: the answer's way back and the next call's way
//! out).

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::{
    load::{self, cpu_time, Load, Transport},
    median, min_max,
    peers::{self, Conn, Wire},
    servers, Server,
};

/// Who calls whom.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Direction {
    ToServer,
    ToClient,
}

/// What one client saw: calls done while measuring, and their latencies in µs.
#[derive(Default)]
struct Seen {
    latencies: Vec<u32>,
}

/// One client's closed loop until `stop`.
async fn client(
    mut conn: Conn,
    direction: Direction,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> Result<Seen, String> {
    let wire = conn.wire;
    let mut seen = Seen::default();
    let note = |since: Instant, seen: &mut Seen| {
        if measuring.load(Ordering::Relaxed) {
            count.fetch_add(1, Ordering::Relaxed);
            let micros = since.elapsed().as_micros();
            seen.latencies
                .push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
    };
    match direction {
        Direction::ToServer => {
            let mut id = 0;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                let sent = Instant::now();
                conn.send(&wire.call(id, "echo")).await?;
                loop {
                    let message = conn.next().await.ok_or("closed mid-call")?;
                    if wire.answers(&message, id) {
                        break;
                    }
                }
                note(sent, &mut seen);
            }
        }
        Direction::ToClient => {
            conn.send(&wire.call(1, "drive")).await?;
            let mut last: Option<Instant> = None;
            while !stop.load(Ordering::Relaxed) {
                let message = conn.next().await.ok_or("closed while driven")?;
                let Some(id) = wire.server_call(&message) else {
                    continue;
                };
                if let Some(last) = last {
                    note(last, &mut seen);
                }
                last = Some(Instant::now());
                conn.send(&wire.answer(id)).await?;
            }
        }
    }
    Ok(seen)
}

/// One round's figures.
struct Figures {
    per_second: f64,
    /// Server CPU time per call, µs.
    cpu_per_call: f64,
    p50: f64,
    p99: f64,
    server_cpu: f64,
    load_cpu: f64,
}

/// `clients` clients of a `kind` server calling as `direction` says, measured over
/// `window` after a warm-up.
async fn round(kind: &str, clients: usize, direction: Direction, window: Duration) -> Figures {
    let server = Server::start(kind);
    let addr = servers::addr(server.port);
    let wire = Wire::of(kind);
    let (measuring, stop, count) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut tasks = Vec::with_capacity(clients);
    // Every client connects before any calls: a connection made while others call would
    // wait its turn behind them.
    for conn in peers::open_many(addr, wire, clients).await {
        let conn = conn.unwrap_or_else(|e| panic!("{kind}: {e}"));
        tasks.push(tokio::spawn(client(
            conn,
            direction,
            measuring.clone(),
            stop.clone(),
            count.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let (server_start, load_start) = (cpu_time(&server.pid), cpu_time("self"));
    tokio::time::sleep(window).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let (server_cpu, load_cpu) = (
        (cpu_time(&server.pid) - server_start).as_secs_f64(),
        (cpu_time("self") - load_start).as_secs_f64(),
    );
    let done = count.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        // A client driven by the server stops at the next call it reads.
        match tokio::time::timeout(Duration::from_secs(30), task).await {
            Ok(Ok(Ok(seen))) => latencies.extend(seen.latencies),
            Ok(Ok(Err(e))) => panic!("{kind}: a client failed: {e}"),
            Ok(Err(e)) => panic!("{kind}: a client panicked: {e}"),
            Err(_) => panic!("{kind}: a client did not stop within 30 s"),
        }
    }
    drop(server);
    latencies.sort_unstable();
    Figures {
        per_second: done as f64 / elapsed,
        cpu_per_call: server_cpu * 1e6 / done.max(1) as f64,
        p50: f64::from(load::percentile(&latencies, 0.50)),
        p99: f64::from(load::percentile(&latencies, 0.99)),
        server_cpu: server_cpu / elapsed,
        load_cpu: load_cpu / elapsed,
    }
}

/// (a)'s raw echo at `clients` sockets of the bytes of one call: server CPU µs per message.
async fn raw_echo(clients: usize, window: Duration) -> f64 {
    let server = Server::start("layer");
    let load = Load {
        connections: clients,
        size: Wire::Topics.call(1, "echo").len(),
        depth: 1,
        transport: Transport::Http1,
    };
    let addr = servers::addr(server.port);
    let measured = load::throughput(addr, &server.pid, load, Duration::from_millis(500), window);
    let measured = measured.await;
    measured.server_cpu * 1e6 / measured.per_second
}

/// `--calls`: every server and direction, `rounds` times in turn, at each client count.
pub async fn compare(rounds: usize, window: Duration, counts: &[usize], only: Option<&[String]>) {
    let kinds = peers::available(only);
    println!(
        "\n### Calls: {rounds} rounds of {} s per server, direction and client count, servers in turn\n",
        window.as_secs()
    );
    for &clients in counts {
        for direction in [Direction::ToServer, Direction::ToClient] {
            let mut figures: Vec<Vec<Figures>> = kinds.iter().map(|_| Vec::new()).collect();
            let mut raw = Vec::new();
            for _ in 0..rounds {
                for (i, (kind, _)) in kinds.iter().enumerate() {
                    figures[i].push(round(kind, clients, direction, window).await);
                }
                if direction == Direction::ToServer {
                    raw.push(raw_echo(clients, window).await);
                }
            }
            report(clients, direction, &kinds, &figures, &raw);
        }
    }
}

fn report(
    clients: usize,
    direction: Direction,
    kinds: &[(&str, &str)],
    figures: &[Vec<Figures>],
    raw: &[f64],
) {
    let title = match direction {
        Direction::ToServer => "client calls server",
        Direction::ToClient => "server calls client",
    };
    println!("#### {clients} clients, {title}\n");
    println!("| server | calls/s (min-max) | server CPU per call | x (a) | p50 | p99 | server CPU | load CPU |");
    println!("|---|---|---|---|---|---|---|---|");
    let of = |i: usize, f: fn(&Figures) -> f64| -> Vec<f64> { figures[i].iter().map(f).collect() };
    let ours = median(&of(0, |f| f.cpu_per_call));
    for (i, (_, label)) in kinds.iter().enumerate() {
        let rate = of(i, |f| f.per_second);
        let (low, high) = min_max(&rate);
        let cpu = median(&of(i, |f| f.cpu_per_call));
        println!(
            "| {label} | {:.0} ({low:.0}-{high:.0}) | {cpu:.2} µs | {:.2} | {:.0} µs | {:.0} µs | {:.0} % | {:.0} % |",
            median(&rate),
            cpu / ours,
            median(&of(i, |f| f.p50)),
            median(&of(i, |f| f.p99)),
            median(&of(i, |f| f.server_cpu)) * 100.0,
            median(&of(i, |f| f.load_cpu)) * 100.0,
        );
    }
    if !raw.is_empty() {
        let raw = median(raw);
        println!(
            "\n(a)'s raw echo of as many bytes at {clients} sockets: {raw:.2} µs of server CPU per message; a call costs {:.2} times that.",
            ours / raw
        );
    }
    println!();
}
