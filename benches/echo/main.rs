//! Echo throughput, idle memory and pass-through cost, side by side in one run:
//! (a) `WebSocketLayer` + `Echo`, (b) the bare engine (hyper + fastwebsockets), (c) axum 0.8,
//! (d) uWebSockets as uWebSockets.js runs it and (e) native uWebSockets (C++), each when it
//! is installed or built (see uws.rs).
//!
//! ```text
//! cargo bench --bench echo                 # 5 rounds of 2 s per server and scenario
//! cargo bench --bench echo -- --rounds 5 --seconds 3
//! cargo bench --bench echo -- --servers layer,bare --scenarios 100x16384,100x20x16 --no-idle --no-http2 --no-compression --no-fanout
//! cargo bench --bench echo -- --scenarios none --no-idle --no-http2 --no-compression   # fan-out only
//! cargo build --release --example echo && cargo bench --bench echo -- --soak    # see endurance.rs
//! cargo build --release --example echo && cargo bench --bench echo -- --churn
//! cargo bench --bench echo --features redis -- --recovery   # see recovery.rs
//! cargo bench --bench echo -- --calls   # calls both ways beside socketioxide and Socket.IO: calls.rs
//! cargo bench --bench echo -- --room-peers   # fan-out beside socketioxide and Socket.IO: room_peers.rs
//! target/release/deps/echo-HASH --serve layer   # prints its port; then, in another shell:
//! target/release/deps/echo-HASH --load PORT --scenarios 100x20 --seconds 5
//! target/release/deps/echo-HASH --load PORT --scenarios 100x16384 --h2   # streams of one HTTP/2 connection
//! ```
//!
//! Each server runs in its own process pinned to core 0 (`taskset -c 0`); the load
//! generator runs pinned to core 1. Servers take turns (a b c a b c ...) so that noise
//! from a shared machine falls on all of them alike. Reported: medians and min–max of
//! messages per second, the ratios a/b and a/c (of the medians, and in brackets the median
//! of each round's ratio), the server's CPU time per message and its ratio b/a (what the
//! layer adds to the server's work, however busy the load generator is), the CPU use of
//! server and load generator (the load generator must not be the limit), RSS growth per
//! idle socket at 10,000 sockets (and for (a) with compression agreed), the pass-through cost
//! of a plain HTTP request, (a) with 100 sockets as streams of one HTTP/2 connection (RFC
//! 8441) against 100 HTTP/1.1 connections, and (a) echoing 16 KiB of JSON plain, compressed
//! (permessage-deflate), and compressed with context takeover; and fan-out to a room of
//! 1,000 and 10,000 members, (a) with `Topics` against (c) axum with a tokio broadcast
//! channel (see fanout.rs).

mod calls;
mod compression;
mod endurance;
mod fanout;
mod load;
mod passthrough;
mod peers;
#[cfg(feature = "redis")]
mod recovery;
#[cfg(feature = "redis")]
mod redis;
mod room_peers;
mod rooms;
mod servers;
mod uws;

use std::{
    ffi::OsString,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

const KINDS: [(&str, &str); 5] = [
    ("layer", "(a) layer"),
    ("bare", "(b) bare engine"),
    ("axum", "(c) axum"),
    ("uws", "(d) uWebSockets.js"),
    ("uws-native", "(e) uWebSockets"),
];

/// The servers the layer is measured against for the CPU goal, by index in [`KINDS`].
const MARKS: [usize; 2] = [3, 4];

/// Connections, message size, messages in flight on each connection, label.
const SCENARIOS: [(usize, usize, usize, &str); 6] = [
    (1, 20, 1, "1 x 20 B"),
    (100, 20, 1, "100 x 20 B"),
    (100, 16 * 1024, 1, "100 x 16 KiB"),
    (10, 1 << 20, 1, "10 x 1 MiB"),
    (100, 20, 16, "100 x 20 B, 16 in flight"),
    (10, 16 * 1024, 16, "10 x 16 KiB, 16 in flight"),
];

const IDLE_SOCKETS: usize = 10_000;

/// The median of the rounds' own ratios `x[i] / y[i]` (rounds are paired by position);
/// `None` without rounds.
fn paired_ratio(x: &[f64], y: &[f64]) -> Option<f64> {
    let ratios: Vec<f64> = x.iter().zip(y).map(|(x, y)| x / y).collect();
    (!ratios.is_empty()).then(|| median(&ratios))
}

/// The least and the greatest of `values`.
fn min_max(values: &[f64]) -> (f64, f64) {
    let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = values.iter().cloned().fold(0.0, f64::max);
    (min, max)
}

/// The median of `values`, which keep their order (rounds are paired by position).
fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// A server process, pinned to core 0; stopped when dropped (its stdin closes).
struct Server {
    child: Child,
    pid: String,
    port: u16,
}

impl Server {
    fn start(kind: &str) -> Server {
        Server::start_on(kind, 0)
    }

    /// A `kind` server on `port` (0: any free port): where one that stopped was.
    fn start_on(kind: &str, port: u16) -> Server {
        let mut line: Vec<OsString> = match kind {
            "uws" => uws::command_line(),
            "uws-native" => uws::native_command_line("echo"),
            "uws-native-room" => uws::native_command_line("room"),
            "socketioxide" | "socketio" => peers::command_line(kind),
            _ => vec![
                std::env::current_exe().unwrap().into(),
                "--serve".into(),
                kind.into(),
            ],
        };
        if pinning() {
            line.splice(0..0, ["taskset".into(), "-c".into(), "0".into()]);
        }
        // A profiler for the servers: TW_BENCH_WRAP="valgrind --tool=callgrind
        // --trace-children=yes" (the command line is split at spaces).
        if let Ok(wrap) = std::env::var("TW_BENCH_WRAP") {
            let words: Vec<OsString> = wrap.split(' ').map(Into::into).collect();
            line.splice(0..0, words);
        }
        let mut command = Command::new(&line[0]);
        command
            .args(&line[1..])
            .env("TW_BENCH_PORT", port.to_string());
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        let pid = child.id().to_string();
        Server { child, pid, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn pinning() -> bool {
    std::env::var_os("TW_BENCH_NO_PIN").is_none()
        && Command::new("taskset")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// The comma-separated values of `--name`, if given.
fn list(args: &[String], name: &str) -> Option<Vec<String>> {
    let i = args.iter().position(|a| a == name)?;
    Some(args.get(i + 1)?.split(',').map(str::to_owned).collect())
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        servers::serve(&args[i + 1]);
        return;
    }
    if args.iter().any(|a| a == "--soak" || a == "--churn") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        if args.iter().any(|a| a == "--soak") {
            runtime.block_on(endurance::soak(&args));
        } else {
            runtime.block_on(endurance::churn(&args));
        }
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--load") {
        let port = args.get(i + 1).and_then(|p| p.parse().ok());
        load_only(port.expect("--load PORT"), &args);
        return;
    }
    // The load generator runs on core 1: re-run ourselves pinned there.
    if pinning() && std::env::var_os("TW_BENCH_PINNED").is_none() {
        let status = Command::new("taskset")
            .args(["-c", "1"])
            .arg(std::env::current_exe().unwrap())
            .args(&args[1..])
            .env("TW_BENCH_PINNED", "1")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let peers = [("--calls", "--clients"), ("--room-peers", "--members")];
    if let Some((mode, sizes)) = peers
        .into_iter()
        .find(|(mode, _)| args.contains(&mode.to_string()))
    {
        // Client counts (calls) or room sizes (fan-out).
        let sizes: Vec<usize> = list(&args, sizes).map_or(vec![100, 1_000], |sizes| {
            sizes.iter().map(|n| n.parse().expect("N,N")).collect()
        });
        let rounds = arg(&args, "--rounds", 5) as usize;
        let window = Duration::from_secs(arg(&args, "--seconds", 3));
        let only = list(&args, "--servers");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            match mode {
                "--calls" => calls::compare(rounds, window, &sizes, only.as_deref()).await,
                _ => room_peers::compare(rounds, window, &sizes, only.as_deref()).await,
            }
        });
        return;
    }
    if args.iter().any(|a| a == "--recovery") {
        #[cfg(feature = "redis")]
        {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(recovery::run());
            return;
        }
        #[cfg(not(feature = "redis"))]
        {
            eprintln!("--recovery needs the Redis backplane: cargo bench --bench echo --features redis -- --recovery");
            std::process::exit(2);
        }
    }
    let options = Options {
        rounds: arg(&args, "--rounds", 5) as usize,
        window: Duration::from_secs(arg(&args, "--seconds", 2)),
        servers: list(&args, "--servers"),
        scenarios: list(&args, "--scenarios"),
        idle: !args.iter().any(|a| a == "--no-idle"),
        http2: !args.iter().any(|a| a == "--no-http2"),
        compression: !args.iter().any(|a| a == "--no-compression"),
        fanout: !args.iter().any(|a| a == "--no-fanout"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(options));
}

/// `--load PORT`: one scenario against a server started by hand (under a profiler, say),
/// unpinned. Prints the messages echoed in all, warm-up included, so that two runs of
/// different lengths give a cost per message with the set-up cancelled out.
fn load_only(port: u16, args: &[String]) {
    let scenario = list(args, "--scenarios").map_or("100x20".to_owned(), |s| s[0].clone());
    let numbers: Vec<usize> = scenario.split('x').filter_map(|n| n.parse().ok()).collect();
    let [connections, size, ..] = numbers[..] else {
        panic!("--scenarios wants CONNECTIONSxBYTES[xDEPTH], not {scenario}");
    };
    let depth = numbers.get(2).copied().unwrap_or(1);
    let window = Duration::from_secs(arg(args, "--seconds", 2));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(load::throughput(
        servers::addr(port),
        "0",
        load::Load {
            connections,
            size,
            depth,
            transport: if args.iter().any(|a| a == "--h2") {
                load::Transport::Http2
            } else {
                load::Transport::Http1
            },
        },
        Duration::ZERO,
        window,
    ));
    println!(
        "{scenario}: {} messages in all, {:.0} per second",
        result.total, result.per_second
    );
}

struct Options {
    rounds: usize,
    window: Duration,
    /// Only these servers (`layer`, `bare`, `axum`, `uws`, `uws-native`); all there by default.
    servers: Option<Vec<String>>,
    /// Only these scenarios, as `CONNECTIONSxBYTES`; all by default.
    scenarios: Option<Vec<String>>,
    /// Whether to measure idle memory.
    idle: bool,
    /// Whether to compare HTTP/2 and HTTP/1.1 sockets on the layer.
    http2: bool,
    /// Whether to compare plain and compressed JSON on the layer.
    compression: bool,
    /// Whether to compare fan-out to a room: Topics against axum with a broadcast channel.
    fanout: bool,
}

/// (a) over HTTP/2, 100 sockets on one connection, against 100 HTTP/1.1 connections.
async fn http2(options: &Options) {
    println!(
        "\n(a) layer: 100 sockets as streams of one HTTP/2 connection vs 100 HTTP/1.1 connections"
    );
    println!(
        "\n| size | HTTP/1.1 msg/s | HTTP/2 msg/s | h2/h1 | server CPU µs per message (h1, h2) |"
    );
    println!("|---|---|---|---|---|");
    for size in [20, 16 * 1024] {
        let (mut rates, mut costs): ([Vec<f64>; 2], [Vec<f64>; 2]) = Default::default();
        for _ in 0..options.rounds {
            for (t, transport) in [load::Transport::Http1, load::Transport::Http2]
                .into_iter()
                .enumerate()
            {
                let server = Server::start("layer");
                let result = load::throughput(
                    servers::addr(server.port),
                    &server.pid,
                    load::Load {
                        connections: 100,
                        size,
                        depth: 1,
                        transport,
                    },
                    Duration::from_millis(300),
                    options.window,
                )
                .await;
                rates[t].push(result.per_second);
                costs[t].push(result.server_cpu / result.per_second * 1e6);
            }
        }
        let h1 = median(&rates[0]);
        let h2 = median(&rates[1]);
        println!(
            "| {} | {h1:.0} | {h2:.0} | {:.2} | {:.2}, {:.2} |",
            if size == 20 {
                "20 B".to_owned()
            } else {
                "16 KiB".to_owned()
            },
            h2 / h1,
            median(&costs[0]),
            median(&costs[1])
        );
    }
}

async fn run(options: Options) {
    let (rounds, window) = (options.rounds, options.window);
    let kinds: Vec<(usize, &str, &str)> = KINDS
        .iter()
        .enumerate()
        .filter(|(_, (kind, _))| match options.servers.as_ref() {
            Some(only) => only.iter().any(|o| o == kind),
            // (d) and (e) when they are there.
            None => match *kind {
                "uws" => uws::module().is_some(),
                "uws-native" => uws::native().is_some(),
                _ => true,
            },
        })
        .map(|(k, (kind, label))| (k, *kind, *label))
        .collect();
    let cores = std::fs::read_to_string("/proc/cpuinfo").map_or(0, |info| {
        info.lines().filter(|l| l.starts_with("processor")).count()
    });
    println!(
        "machine: {cores} cores; {}; rounds: {rounds}, {} s each",
        if pinning() {
            "servers pinned to core 0, load generator to core 1"
        } else {
            "not pinned"
        },
        window.as_secs()
    );

    let (plain, through) = passthrough::measure(7, 1_000_000).await;
    println!("\npass-through, plain HTTP request (median of 7 x 1,000,000, in process):");
    println!(
        "  inner service alone: {plain:.1} ns; through the layer: {through:.1} ns; cost: {:.1} ns",
        through - plain
    );

    println!(
        "\n| scenario (connections x size) | (a) layer msg/s | (b) bare msg/s | (c) axum msg/s \
         | a/b (paired) | a/c (paired) | server CPU µs per message (a, b, c) | CPU cost b/a | CPU server / load (a, b, c) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // Against (d) and (e), when they ran: printed after the main table.
    let mut against_uws: [Vec<String>; MARKS.len()] = Default::default();
    for (connections, size, depth, name) in SCENARIOS {
        let key = if depth == 1 {
            format!("{connections}x{size}")
        } else {
            format!("{connections}x{size}x{depth}")
        };
        if options
            .scenarios
            .as_ref()
            .is_some_and(|only| !only.contains(&key))
        {
            continue;
        }
        let mut rates: [Vec<f64>; KINDS.len()] = Default::default();
        let mut cpu: [Vec<(f64, f64)>; KINDS.len()] = Default::default();
        for _ in 0..rounds {
            for &(k, kind, _) in &kinds {
                let server = Server::start(kind);
                let result = load::throughput(
                    servers::addr(server.port),
                    &server.pid,
                    load::Load {
                        connections,
                        size,
                        depth,
                        transport: load::Transport::Http1,
                    },
                    Duration::from_millis(300),
                    window,
                )
                .await;
                rates[k].push(result.per_second);
                cpu[k].push((result.server_cpu, result.load_cpu));
            }
        }
        let cell = |values: &[f64]| {
            if values.is_empty() {
                return (f64::NAN, "-".to_owned());
            }
            let (min, max) = min_max(values);
            let med = median(values);
            (med, format!("{med:.0} ({min:.0}–{max:.0})"))
        };
        // Rounds run a b c back to back, so a round's ratio compares servers measured
        // under the same conditions; its median is steadier than the ratio of medians.
        let paired = |x: usize, y: usize| {
            paired_ratio(&rates[x], &rates[y]).map_or("-".to_owned(), |r| format!("{r:.3}"))
        };
        let (paired_ab, paired_ac) = (paired(0, 1), paired(0, 2));
        let (a, a_cell) = cell(&rates[0]);
        let (b, b_cell) = cell(&rates[1]);
        let (c, c_cell) = cell(&rates[2]);
        // Server CPU time per echoed message, round by round: what each server costs,
        // whatever the load generator can push.
        let round_costs: Vec<Vec<f64>> = cpu
            .iter()
            .zip(&rates)
            .map(|(runs, rates)| {
                runs.iter()
                    .zip(rates)
                    .map(|(r, rate)| r.0 / rate * 1e6)
                    .collect()
            })
            .collect();
        let costs: Vec<Option<f64>> = round_costs
            .iter()
            .map(|costs| (!costs.is_empty()).then(|| median(costs)))
            .collect();
        let per_message: Vec<String> = costs[..3]
            .iter()
            .map(|c| c.map_or("-".to_owned(), |c| format!("{c:.2}")))
            .collect();
        // What the layer adds to the server's own work per message, whatever the load
        // generator manages to push: the measure that a saturated load generator cannot blur.
        let cost_ratio = match (costs[0], costs[1]) {
            (Some(a), Some(b)) => format!("{:.3}", b / a),
            _ => "-".to_owned(),
        };
        let ratio = |x: f64, y: f64, digits: usize| {
            if x.is_nan() || y.is_nan() {
                "-".to_owned()
            } else {
                format!("{:.digits$}", x / y)
            }
        };
        let usage: Vec<String> = cpu[..3]
            .iter()
            .map(|runs| {
                let server: Vec<f64> = runs.iter().map(|r| r.0 * 100.0).collect();
                let load: Vec<f64> = runs.iter().map(|r| r.1 * 100.0).collect();
                if runs.is_empty() {
                    return "-".to_owned();
                }
                format!("{:.0}%/{:.0}%", median(&server), median(&load))
            })
            .collect();
        println!(
            "| {name} | {a_cell} | {b_cell} | {c_cell} | {} ({paired_ab}) | {} ({paired_ac}) | {} | {cost_ratio} | {} |",
            ratio(a, b, 3),
            ratio(a, c, 2),
            per_message.join(", "),
            usage.join(", ")
        );
        // Each round's CPU ratio, as for the rates: servers measured back to back.
        for (rows, &d) in against_uws.iter_mut().zip(&MARKS) {
            let (Some(a_cost), Some(d_cost), Some(paired_cpu)) = (
                costs[0],
                costs[d],
                paired_ratio(&round_costs[0], &round_costs[d]),
            ) else {
                continue;
            };
            let (d_rate, _) = cell(&rates[d]);
            rows.push(format!(
                "| {name} | {a_cost:.2}, {d_cost:.2} | {:.3} ({paired_cpu:.3}) | {} | {} ({}) |",
                a_cost / d_cost,
                if paired_cpu <= 1.0 { "met" } else { "not met" },
                ratio(a, d_rate, 3),
                paired(0, d),
            ));
        }
    }

    for (rows, &d) in against_uws.iter().zip(&MARKS) {
        if rows.is_empty() {
            continue;
        }
        let label = KINDS[d].1;
        let letter = &label[1..2];
        println!("\n(a) layer against {label} (see uws.rs): server CPU per message");
        println!(
            "\n| scenario | server CPU µs per message (a, {letter}) | CPU a/{letter} (paired) | a at or below {letter} | throughput a/{letter} (paired) |"
        );
        println!("|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
    }

    if options.http2 {
        http2(&options).await;
    }

    if options.compression {
        compression::compare(&options).await;
    }

    if options.fanout {
        fanout::compare(&options).await;
    }

    if !options.idle {
        return;
    }
    println!("\nidle memory: RSS growth per open socket with {IDLE_SOCKETS} idle sockets (median of {rounds})");
    println!("\n| server | never used, KiB per socket | after one echo of 20 B, KiB per socket |");
    println!("|---|---|---|");
    const USES: [load::Idle; 2] = [load::Idle::NeverUsed, load::Idle::AfterOneEcho];
    // By server kind, then by use.
    let mut idle: [[Vec<f64>; 2]; KINDS.len()] = Default::default();
    // And (a) with compression agreed, clients offering what Chromium offers.
    let mut compressed: [Vec<f64>; 2] = Default::default();
    let with_layer = kinds.iter().any(|&(_, kind, _)| kind == "layer");
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    for _ in 0..rounds {
        for (u, use_) in USES.into_iter().enumerate() {
            for &(k, kind, _) in &kinds {
                let server = Server::start(kind);
                let addr = servers::addr(server.port);
                let bytes =
                    load::idle_bytes_per_socket(addr, &server.pid, IDLE_SOCKETS, "", use_).await;
                idle[k][u].push(bytes);
            }
            if with_layer {
                let server = Server::start("layer-deflate");
                let addr = servers::addr(server.port);
                let bytes =
                    load::idle_bytes_per_socket(addr, &server.pid, IDLE_SOCKETS, offer, use_).await;
                compressed[u].push(bytes);
            }
        }
    }
    let kib = |values: &[f64]| format!("{:.2}", median(values) / 1024.0);
    for &(k, _, label) in &kinds {
        println!("| {label} | {} | {} |", kib(&idle[k][0]), kib(&idle[k][1]));
    }
    if with_layer {
        println!(
            "| (a) with permessage-deflate agreed | {} | {} |",
            kib(&compressed[0]),
            kib(&compressed[1])
        );
    }
}
