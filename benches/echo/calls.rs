//! Calls both ways, side by side with what users would pick instead, in one run:
//! (a) the topics protocol's calls (`TopicsProtocol` with `Methods` and `Clients`), (f)
//! socketioxide 0.18 with acknowledgements and (g) Socket.IO 4.8 on Node.js with
//! `emitWithAck`; and (a)'s raw echo of as many bytes as a call, the mark a call's cost is
//! held to.
//!
//! ```text
//! cargo bench --bench echo -- --calls                 # 100 and 1,000 clients, 5 rounds of 3 s
//! cargo bench --bench echo -- --calls --clients 100 --rounds 3 --seconds 2 --servers calls,socketio
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
//! out). The clients speak each wire themselves (WebSocket frames written by hand; for
//! the peers, Engine.IO 4 and Socket.IO 5 packets on the `websocket` transport), so the
//! load generator costs the same for all.
//!
//! The peers are built when first needed: socketioxide from `benches/peers/socketioxide`
//! (its own crate, into `target/peers`), Socket.IO with `npm install` into
//! `target/peers/socketio`; a peer that cannot be built is left out, with the reason.

use std::{
    ffi::OsString,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tower_websockets::{
    protocol::{CallError, Caller, Clients, Methods, Params, TopicsProtocol},
    Topics,
};

use crate::{
    load::{self, cpu_time, frame_len, masked_frame, Load, Transport},
    median, servers, Server,
};

/// What every call carries, and every answer.
const PAYLOAD: &str = r#"{"text":"hello","n":42}"#;

/// The servers: kind (for `--serve` or the peer's command line) and label.
const KINDS: [(&str, &str); 3] = [
    ("calls", "(a) tower-websockets"),
    ("socketioxide", "(f) socketioxide 0.18"),
    ("socketio", "(g) Socket.IO 4.8"),
];

const SOCKETIO_VERSION: &str = "4.8.1";

/// Who calls whom.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Direction {
    ToServer,
    ToClient,
}

/// (a): the topics protocol with `echo` and `drive`, as an app would write them.
pub async fn serve(listener: TcpListener) {
    let topics = Topics::new();
    let clients = Clients::new(&topics);
    let methods = Methods::new()
        .method("echo", |Params(data): Params<Value>| async move {
            Ok::<_, CallError>(data)
        })
        .method(
            "drive",
            |caller: Caller, clients: Clients, Params(data): Params<Value>| async move {
                let timeout = Duration::from_secs(60);
                while clients
                    .call::<Value>(caller.connection(), "echo", &data, timeout)
                    .await
                    .is_ok()
                {}
                Ok::<_, CallError>(())
            },
        );
    let sockets = TopicsProtocol::new(topics)
        .methods(methods)
        .clients(clients)
        // `drive` runs as long as its client stays.
        .call_timeout(Duration::from_secs(24 * 3600))
        .layer()
        .path("/topics");
    servers::layer(listener, sockets).await
}

/// The command line of a peer (`socketioxide` or `socketio`), for the bench to start.
pub fn command_line(kind: &str) -> Vec<OsString> {
    match kind {
        "socketioxide" => vec![socketioxide().expect("built").into()],
        "socketio" => {
            let module = socketio().expect("installed");
            let script = std::fs::canonicalize("benches/peers/socketio.js").expect("the script");
            vec!["node".into(), script.into(), module.into()]
        }
        other => panic!("no peer {other}"),
    }
}

/// The socketioxide server, built on first use; `Err` says why not.
fn socketioxide() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--release",
                    "--quiet",
                    "--manifest-path",
                    "benches/peers/socketioxide/Cargo.toml",
                    "--target-dir",
                    "target/peers",
                ])
                .status()
                .map_err(|e| format!("cargo: {e}"))?;
            let binary = Path::new("target/peers/release/socketioxide-peer");
            if !status.success() || !binary.is_file() {
                return Err("building benches/peers/socketioxide failed".to_owned());
            }
            std::fs::canonicalize(binary).map_err(|e| e.to_string())
        })
        .clone()
}

/// The Socket.IO package, installed on first use; `Err` says why not.
fn socketio() -> Result<PathBuf, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let prefix = Path::new("target/peers/socketio");
            let module = prefix.join("node_modules/socket.io");
            let installed = std::fs::read_to_string(module.join("package.json"))
                .is_ok_and(|p| p.contains(&format!("\"version\": \"{SOCKETIO_VERSION}\"")));
            if !installed {
                let status = Command::new("npm")
                    .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                    .arg(prefix)
                    .arg(format!("socket.io@{SOCKETIO_VERSION}"))
                    .stdout(Stdio::null())
                    .status()
                    .map_err(|e| format!("npm: {e}"))?;
                if !status.success() {
                    return Err(format!("npm install socket.io@{SOCKETIO_VERSION} failed"));
                }
            }
            std::fs::canonicalize(module).map_err(|e| e.to_string())
        })
        .clone()
}

/// How a client speaks to a server.
#[derive(Clone, Copy, PartialEq)]
enum Wire {
    /// The topics protocol (PROTOCOL.md).
    Topics,
    /// Socket.IO 5 over Engine.IO 4's `websocket` transport.
    SocketIo,
}

impl Wire {
    fn of(kind: &str) -> Wire {
        if kind == "calls" {
            Wire::Topics
        } else {
            Wire::SocketIo
        }
    }

    /// The request's path and extra header lines.
    fn request(self) -> (&'static str, &'static str) {
        match self {
            Wire::Topics => (
                "/topics",
                "Sec-WebSocket-Protocol: tower-websockets.topics.v1\r\n",
            ),
            Wire::SocketIo => ("/socket.io/?EIO=4&transport=websocket", ""),
        }
    }

    /// Call `method` with the payload, as call `id`.
    fn call(self, id: u64, method: &str) -> String {
        match self {
            Wire::Topics => {
                format!(r#"{{"type":"call","id":{id},"method":"{method}","params":{PAYLOAD}}}"#)
            }
            Wire::SocketIo => format!(r#"42{id}["{method}",{PAYLOAD}]"#),
        }
    }

    /// Whether `text` answers call `id`.
    fn answers(self, text: &[u8], id: u64) -> bool {
        let head = match self {
            Wire::Topics => format!(r#"{{"type":"result","id":{id},"#),
            Wire::SocketIo => format!("43{id}["),
        };
        text.starts_with(head.as_bytes())
    }

    /// The id of the server's call in `text`, if it is one.
    fn server_call(self, text: &[u8]) -> Option<u64> {
        let digits = match self {
            Wire::Topics => text.strip_prefix(br#"{"type":"invoke","id":"#)?,
            Wire::SocketIo => text.strip_prefix(b"42")?,
        };
        let end = digits.iter().position(|b| !b.is_ascii_digit())?;
        std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
    }

    /// The answer to the server's call `id`.
    fn answer(self, id: u64) -> String {
        match self {
            Wire::Topics => format!(r#"{{"type":"return","id":{id},"result":{PAYLOAD}}}"#),
            Wire::SocketIo => format!("43{id}[{PAYLOAD}]"),
        }
    }
}

/// One client's connection: its stream and what has been read of it.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    wire: Wire,
}

impl Conn {
    /// Connects, and waits until the server is ready for calls.
    async fn open(addr: SocketAddr, wire: Wire) -> Result<Conn, String> {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (path, extra) = wire.request();
        let mut buf = Vec::new();
        load::handshake_at(&mut stream, path, extra, &mut buf)
            .await
            .map_err(|(step, detail)| format!("{step}: {detail}"))?;
        let mut conn = Conn { stream, buf, wire };
        let first = conn.next().await.ok_or("closed before a first message")?;
        if wire == Wire::SocketIo {
            // Engine.IO's open packet; then the namespace's connect.
            if !first.starts_with(b"0{") {
                return Err(format!("open: {}", String::from_utf8_lossy(&first)));
            }
            conn.send("40").await?;
            let connected = conn.next().await.ok_or("closed before connect")?;
            if !connected.starts_with(b"40") {
                return Err(format!("connect: {}", String::from_utf8_lossy(&connected)));
            }
        } else if !first.starts_with(br#"{"type":"welcome""#) {
            return Err(format!("welcome: {}", String::from_utf8_lossy(&first)));
        }
        Ok(conn)
    }

    async fn send(&mut self, text: &str) -> Result<(), String> {
        let mut frame = masked_frame(text.as_bytes());
        frame[0] = 0x81;
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| e.to_string())
    }

    /// The next text message's payload, the protocols' pings answered on the way;
    /// `None` once the connection ends.
    async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            while let Some((header, len)) = frame_len(&self.buf) {
                if self.buf.len() < header + len {
                    break;
                }
                let opcode = self.buf[0] & 0x0f;
                let payload: Vec<u8> = self.buf[header..header + len].to_vec();
                self.buf.drain(..header + len);
                match opcode {
                    0x1 if self.wire == Wire::SocketIo && payload == b"2" => {
                        self.send("3").await.ok()?;
                    }
                    0x1 | 0x2 => return Some(payload),
                    0x9 => {
                        let mut pong = masked_frame(&payload);
                        pong[0] = 0x8a;
                        self.stream.write_all(&pong).await.ok()?;
                    }
                    0x8 => return None,
                    _ => {}
                }
            }
            self.buf.reserve(4096);
            if self.stream.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        }
    }
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
    for _ in 0..clients {
        let conn = Conn::open(addr, wire)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
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
    let percentile = |q: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let at = ((latencies.len() - 1) as f64 * q).round() as usize;
        f64::from(latencies[at])
    };
    Figures {
        per_second: done as f64 / elapsed,
        cpu_per_call: server_cpu * 1e6 / done.max(1) as f64,
        p50: percentile(0.50),
        p99: percentile(0.99),
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
pub async fn compare(rounds: usize, window: Duration, counts: &[usize], only: Option<Vec<String>>) {
    let mut kinds = Vec::new();
    let chosen = |kind: &str| {
        only.as_ref()
            .is_none_or(|only| only.iter().any(|o| o == kind))
    };
    for (kind, label) in KINDS.into_iter().filter(|(kind, _)| chosen(kind)) {
        let ready = match kind {
            "socketioxide" => socketioxide().map(drop),
            "socketio" => socketio().map(drop),
            _ => Ok(()),
        };
        match ready {
            Ok(()) => kinds.push((kind, label)),
            Err(why) => println!("{label} left out: {why}"),
        }
    }
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
        let (low, high) = rate
            .iter()
            .fold((f64::MAX, 0f64), |(l, h), r| (l.min(*r), h.max(*r)));
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
