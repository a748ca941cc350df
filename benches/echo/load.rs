//! The load generator: raw WebSocket clients that cost as little as a client can.
//!
//! Frames are masked once up front and written as they are; every echo is read whole and
//! compared with what was sent (one `memcmp`), so a wrong echo fails the bench.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use http_body_util::Empty;
use hyper::{body::Bytes, upgrade::Upgraded};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};

/// Opens `count` WebSockets on `/ws` over one HTTP/2 connection (RFC 8441).
pub async fn connect_h2(addr: SocketAddr, count: usize) -> Vec<TokioIo<Upgraded>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    // Extended CONNECT waits for the server's SETTINGS, which hyper's own task reads.
    let mut connection = Box::pin(connection);
    while !connection.is_extended_connect_protocol_enabled() {
        std::future::poll_fn(|cx| {
            let _ = std::future::Future::poll(connection.as_mut(), cx);
            std::task::Poll::Ready(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::spawn(connection);
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let request = hyper::Request::builder()
            .method(hyper::Method::CONNECT)
            .version(hyper::Version::HTTP_2)
            .uri(format!("http://{addr}/ws"))
            .header("sec-websocket-version", "13")
            .extension(hyper::ext::Protocol::from_static("websocket"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        sender.ready().await.unwrap();
        let mut response = sender
            .send_request(request)
            .await
            .expect("extended CONNECT");
        assert_eq!(response.status(), 200);
        sockets.push(TokioIo::new(
            hyper::upgrade::on(&mut response).await.unwrap(),
        ));
    }
    sockets
}

/// Opens a connection and completes the WebSocket handshake on `/ws`.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    connect_offering(addr, "").await
}

/// [`connect`] with extra header lines, such as an extension offer.
pub async fn connect_offering(addr: SocketAddr, extra: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let mut rest = Vec::new();
    if let Err((step, detail)) = handshake(&mut stream, extra, &mut rest).await {
        panic!("{step}: {detail}");
    }
    // The server sends nothing after the head until we send a frame.
    assert!(rest.is_empty(), "bytes after the response head");
    stream
}

/// The opening handshake for `/ws` on `stream`, with `extra` header lines: sends the
/// request and reads the response head, which must be a 101. Bytes read past the head are
/// left in `buf`. On failure: the step that failed, and what was seen.
pub async fn handshake(
    stream: &mut TcpStream,
    extra: &str,
    buf: &mut Vec<u8>,
) -> Result<(), (&'static str, String)> {
    handshake_at(stream, "/ws", extra, buf).await
}

/// [`handshake`] for the resource `path`.
pub async fn handshake_at(
    stream: &mut TcpStream,
    path: &str,
    extra: &str,
    buf: &mut Vec<u8>,
) -> Result<(), (&'static str, String)> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    );
    let failed = |step| move |e: std::io::Error| (step, e.to_string());
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(failed("write request"))?;
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() >= 4096 {
            return Err(("read head", "no complete response head in 4 KiB".to_owned()));
        }
        buf.reserve(512);
        if stream.read_buf(buf).await.map_err(failed("read head"))? == 0 {
            return Err(("closed before the head", String::new()));
        }
    };
    if !buf.starts_with(b"HTTP/1.1 101") {
        return Err((
            "not 101",
            String::from_utf8_lossy(&buf[..head_end]).into_owned(),
        ));
    }
    buf.drain(..head_end);
    Ok(())
}

/// A client's binary frame carrying `payload`, masked.
pub fn masked_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x82];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 65536 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = [0x5a, 0xc3, 0x17, 0x81];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// A client's text frame carrying `payload`, masked.
pub fn masked_text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = masked_frame(payload);
    frame[0] = 0x81;
    frame
}

/// Either transport's stream, boxed so that one client loop serves both.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// The length of the server frame at the start of `buf` (header and payload), once its
/// header is complete.
pub fn frame_len(buf: &[u8]) -> Option<(usize, usize)> {
    let (header, len) = match *buf.get(1)? {
        126 => (
            4,
            u16::from_be_bytes(buf.get(2..4)?.try_into().unwrap()) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap()) as usize,
        ),
        n => (2, n as usize),
    };
    Some((header, len))
}

/// Sends `depth` frames in one write, reads their echoes and checks each, in order; and
/// again, until `stop`. Reads go into one buffer, so a small echo costs at most one read.
async fn ping_pong<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    batch: Arc<Vec<u8>>,
    depth: usize,
    expected: Arc<Vec<u8>>,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> S {
    let mut buf = vec![0u8; depth * (expected.len() + 14)];
    while !stop.load(Ordering::Relaxed) {
        stream.write_all(&batch).await.expect("send");
        let (mut start, mut filled, mut echoed) = (0, 0, 0);
        while echoed < depth {
            // Check every whole echo in the buffer.
            while let Some((header, len)) = frame_len(&buf[start..filled]) {
                if filled - start < header + len {
                    break;
                }
                assert_eq!(buf[start], 0x82, "one final binary frame");
                assert_eq!(len, expected.len(), "echo length");
                assert!(
                    buf[start + header..start + header + len] == **expected,
                    "echo payload differs"
                );
                start += header + len;
                echoed += 1;
            }
            if echoed == depth {
                break;
            }
            buf.copy_within(start..filled, 0);
            filled -= start;
            start = 0;
            let n = stream.read(&mut buf[filled..]).await.expect("echo");
            assert!(n > 0, "the server closed the connection");
            filled += n;
        }
        assert_eq!(start, filled, "nothing but the echoes");
        count.fetch_add(depth as u64, Ordering::Relaxed);
    }
    stream
}

/// The value at quantile `q` (0 to 1) of `sorted`, nearest rank below; 0 when it is empty.
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

/// CPU time (user + system) of a process so far.
pub fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    // Linux reports in USER_HZ, 100 on every mainstream configuration.
    Duration::from_millis(ticks * 10)
}

pub struct Throughput {
    pub per_second: f64,
    /// Messages echoed in all, warm-up included.
    pub total: u64,
    pub server_cpu: f64,
    pub load_cpu: f64,
}

/// How the sockets reach the server.
#[derive(Clone, Copy, PartialEq)]
pub enum Transport {
    /// One TCP connection per socket.
    Http1,
    /// All sockets as streams of one HTTP/2 connection.
    Http2,
}

/// One load: connections, message size, messages in flight on each, transport.
#[derive(Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub size: usize,
    pub depth: usize,
    pub transport: Transport,
}

/// Runs `load` against `addr`, measures messages per second over `window` after `warmup`.
pub async fn throughput(
    addr: SocketAddr,
    server_pid: &str,
    load: Load,
    warmup: Duration,
    window: Duration,
) -> Throughput {
    let Load {
        connections,
        size,
        depth,
        transport,
    } = load;
    let payload: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
    let frame = Arc::new(masked_frame(&payload).repeat(depth));
    let expected = Arc::new(payload);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::with_capacity(connections);
    let start = |stream| {
        let (frame, expected) = (frame.clone(), expected.clone());
        let (stop, count) = (stop.clone(), count.clone());
        async move {
            drop(ping_pong(stream, frame, depth, expected, stop, count).await);
        }
    };
    match transport {
        Transport::Http1 => {
            for _ in 0..connections {
                let stream = connect(addr).await;
                clients.push(tokio::spawn(start(Box::new(stream) as Box<dyn Stream>)));
            }
        }
        Transport::Http2 => {
            for stream in connect_h2(addr, connections).await {
                clients.push(tokio::spawn(start(Box::new(stream) as Box<dyn Stream>)));
            }
        }
    }
    tokio::time::sleep(warmup).await;
    let (start, start_count) = (Instant::now(), count.load(Ordering::Relaxed));
    let (server_start, load_start) = (cpu_time(server_pid), cpu_time("self"));
    tokio::time::sleep(window).await;
    let elapsed = start.elapsed();
    let done = count.load(Ordering::Relaxed) - start_count;
    let (server_cpu, load_cpu) = (
        cpu_time(server_pid) - server_start,
        cpu_time("self") - load_start,
    );
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client failed");
    }
    Throughput {
        per_second: done as f64 / elapsed.as_secs_f64(),
        total: count.load(Ordering::Relaxed),
        server_cpu: server_cpu.as_secs_f64() / elapsed.as_secs_f64(),
        load_cpu: load_cpu.as_secs_f64() / elapsed.as_secs_f64(),
    }
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// How the sockets of [`idle_bytes_per_socket`] have been used before they go idle.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Their clients never sent anything.
    NeverUsed,
    /// Each client sent one message of 20 B and read its echo.
    AfterOneEcho,
}

/// RSS growth per open idle socket, in bytes, with `count` sockets.
///
/// Sockets are opened one after the other: many handshakes at once leave the server's
/// heap fragmented by their transient buffers, which measures the allocator, not the
/// sockets.
pub async fn idle_bytes_per_socket(
    addr: SocketAddr,
    server_pid: &str,
    count: usize,
    extra: &str,
    idle: Idle,
) -> f64 {
    let open = || async {
        let mut socket = connect_offering(addr, extra).await;
        if idle == Idle::AfterOneEcho {
            let message = [b'i'; 20];
            socket.write_all(&masked_frame(&message)).await.unwrap();
            // Compressed, where compression was agreed (RSV1): then only its length is known.
            let mut head = [0u8; 2];
            socket.read_exact(&mut head).await.expect("the echo");
            let mut echo = vec![0u8; usize::from(head[1] & 0x7f)];
            socket.read_exact(&mut echo).await.expect("the echo");
            if head[0] & 0x40 == 0 {
                assert_eq!(echo, message, "the echo of an idle socket's message");
            }
        }
        socket
    };
    // One socket first, so that one-time allocations (runtime, buffers) are not counted.
    let first = open().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_kib(server_pid);
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        sockets.push(open().await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(server_pid);
    drop((first, sockets));
    (after.saturating_sub(before) * 1024) as f64 / count as f64
}
