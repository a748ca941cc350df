//! The servers users would pick instead of the topics protocol, for the benches that put
//! them side by side (calls.rs, room_peers.rs): socketioxide 0.18 (the Rust Socket.IO
//! server, a tower layer) and Socket.IO 4.8 on Node.js; (a)'s own server of the topics
//! protocol; and a client of either wire, written by hand so that the load generator
//! costs the same for all (WebSocket frames; for the peers, Engine.IO 4 and Socket.IO 5
//! packets on the `websocket` transport).
//!
//! The peers are built when first needed: socketioxide from `benches/peers/socketioxide`
//! (its own crate, into `target/peers`), Socket.IO with `npm install` into
//! `target/peers/socketio`; a peer that cannot be built is left out, with the reason.
//! Each peer serves, on its default namespace: `echo` (acknowledged with what it was
//! sent), `drive` (calls the client's `echo` with an acknowledgement, one call after the
//! other, until the client goes), `join` (joins the room `room`, acknowledged) and `say`
//! (emits `msg` with what it was sent to every socket in `room`, acknowledged).

use std::{
    ffi::OsString,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::Duration,
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
    load::{self, frame_len, masked_frame},
    servers,
};

/// What every call carries, and every answer.
pub const PAYLOAD: &str = r#"{"text":"hello","n":42}"#;

/// The servers: kind (for `--serve` or the peer's command line) and label.
pub const KINDS: [(&str, &str); 3] = [
    ("protocol", "(a) tower-websockets"),
    ("socketioxide", "(f) socketioxide 0.18"),
    ("socketio", "(g) Socket.IO 4.8"),
];

const SOCKETIO_VERSION: &str = "4.8.1";

/// The kinds of `KINDS` that `only` names (all without it) and that can run here; says
/// which cannot, and why.
pub fn available(only: Option<&[String]>) -> Vec<(&'static str, &'static str)> {
    let chosen = |kind: &str| only.is_none_or(|only| only.iter().any(|o| o == kind));
    let mut kinds = Vec::new();
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
    kinds
}

/// (a): the topics protocol with `echo` and `drive`, as an app would write them; clients
/// may subscribe and publish as often as they like (the publisher of room_peers.rs).
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
        .publish_rate(u32::MAX)
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
pub enum Wire {
    /// The topics protocol (PROTOCOL.md).
    Topics,
    /// Socket.IO 5 over Engine.IO 4's `websocket` transport.
    SocketIo,
}

impl Wire {
    pub fn of(kind: &str) -> Wire {
        if kind == "protocol" {
            Wire::Topics
        } else {
            Wire::SocketIo
        }
    }

    /// The request's path and extra header lines.
    pub fn request(self) -> (&'static str, &'static str) {
        match self {
            Wire::Topics => (
                "/topics",
                "Sec-WebSocket-Protocol: tower-websockets.topics.v1\r\n",
            ),
            Wire::SocketIo => ("/socket.io/?EIO=4&transport=websocket", ""),
        }
    }

    /// Call `method` with the payload, as call `id`.
    pub fn call(self, id: u64, method: &str) -> String {
        match self {
            Wire::Topics => {
                format!(r#"{{"type":"call","id":{id},"method":"{method}","params":{PAYLOAD}}}"#)
            }
            Wire::SocketIo => format!(r#"42{id}["{method}",{PAYLOAD}]"#),
        }
    }

    /// Whether `text` answers call `id`.
    pub fn answers(self, text: &[u8], id: u64) -> bool {
        let head = match self {
            Wire::Topics => format!(r#"{{"type":"result","id":{id},"#),
            Wire::SocketIo => format!("43{id}["),
        };
        text.starts_with(head.as_bytes())
    }

    /// The id of the server's call in `text`, if it is one.
    pub fn server_call(self, text: &[u8]) -> Option<u64> {
        let digits = match self {
            Wire::Topics => text.strip_prefix(br#"{"type":"invoke","id":"#)?,
            Wire::SocketIo => text.strip_prefix(b"42")?,
        };
        let end = digits.iter().position(|b| !b.is_ascii_digit())?;
        std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
    }

    /// The answer to the server's call `id`.
    pub fn answer(self, id: u64) -> String {
        match self {
            Wire::Topics => format!(r#"{{"type":"return","id":{id},"result":{PAYLOAD}}}"#),
            Wire::SocketIo => format!("43{id}[{PAYLOAD}]"),
        }
    }
}

/// Opens `count` connections, 50 at a time.
pub async fn open_many(addr: SocketAddr, wire: Wire, count: usize) -> Vec<Result<Conn, String>> {
    let mut conns = Vec::with_capacity(count);
    while conns.len() < count {
        let batch = (count - conns.len()).min(50);
        let opening = (0..batch).map(|_| Conn::open(addr, wire));
        conns.extend(futures_util::future::join_all(opening).await);
    }
    conns
}

/// One client's connection: its stream and what has been read of it.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pub wire: Wire,
}

impl Conn {
    /// Connects, and waits until the server is ready for calls.
    pub async fn open(addr: SocketAddr, wire: Wire) -> Result<Conn, String> {
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

    pub async fn send(&mut self, text: &str) -> Result<(), String> {
        let mut frame = masked_frame(text.as_bytes());
        frame[0] = 0x81;
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| e.to_string())
    }

    /// The next text message's payload, the protocols' pings answered on the way;
    /// `None` once the connection ends.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
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
