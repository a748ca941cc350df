//! Endurance against the echo sample itself (`examples/echo.rs`, built with `cargo build
//! --release --example echo`), not run by `cargo test`:
//!
//! - `--soak`: 10,000 sockets (`--sockets N`), each echoing a 32-byte message every
//!   second for 60 s (`--soak-seconds S`): errors, lost and corrupted messages, latency
//!   p50/p99, and the sample's RSS every 10 s.
//! - `--churn`: 1,000,000 connections (`--connections N`), 200 at a time: open, handshake,
//!   one echo, close handshake, closed by the server; errors, rate, and the sample's RSS
//!   and open file descriptors after the first 10,000 and at the end.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    net::{Ipv4Addr, SocketAddr},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

use crate::{arg, load};

/// The echo sample, started on a free port; killed when dropped.
struct Sample {
    child: Child,
    pid: String,
    addr: SocketAddr,
}

impl Sample {
    fn start() -> Sample {
        let mut path = std::env::current_exe().unwrap();
        path.pop();
        if path.ends_with("deps") {
            path.pop();
        }
        let path = path.join("examples").join("echo");
        let mut child = Command::new(&path)
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): build it first with `cargo build --release --example echo`",
                    path.display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .split("http://localhost:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        let pid = child.id().to_string();
        Sample {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn rss_mib(&self) -> f64 {
        load::rss_kib(&self.pid) as f64 / 1024.0
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |dir| dir.count())
    }
}

impl Drop for Sample {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one whole server frame: its first byte and payload.
async fn read_frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u8, Vec<u8>)> {
    loop {
        if let Some((header, len)) = load::frame_len(buf) {
            if buf.len() >= header + len {
                let frame = (buf[0], buf[header..header + len].to_vec());
                buf.drain(..header + len);
                return Ok(frame);
            }
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// The next data frame, answering the server's keep-alive pings on the way.
async fn read_echo(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u8, Vec<u8>)> {
    loop {
        let (first, payload) = read_frame(stream, buf).await?;
        match first & 0x0f {
            0x9 => {
                let mut pong = load::masked_frame(&payload);
                pong[0] = 0x8a;
                stream.write_all(&pong).await?;
            }
            0xa => {}
            _ => return Ok((first, payload)),
        }
    }
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    echoed: AtomicU64,
    errors: AtomicU64,
    lost: AtomicU64,
    corrupted: AtomicU64,
}

pub async fn soak(args: &[String]) {
    let sockets = arg(args, "--sockets", 10_000) as usize;
    let seconds = arg(args, "--soak-seconds", 60);
    let sample = Sample::start();
    println!("soak: {sockets} sockets, one 32-byte echo a second each, for {seconds} s");
    let mut streams = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        streams.push(load::connect(sample.addr).await);
    }
    let counts = Arc::new(Counts::default());
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let epoch = Instant::now();
    let end = epoch + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (id, mut stream) in streams.into_iter().enumerate() {
        let (counts, latencies) = (counts.clone(), latencies.clone());
        // Spread over the second, so that the load is even.
        let offset = Duration::from_micros((id as u64 * 1_000_000) / sockets as u64);
        tasks.push(tokio::spawn(async move {
            let mut ticks =
                tokio::time::interval_at((epoch + offset).into(), Duration::from_secs(1));
            let mut buf = Vec::new();
            let mut mine = Vec::new();
            for seq in 0u64.. {
                ticks.tick().await;
                if Instant::now() >= end {
                    break;
                }
                let payload = format!("{id:08x}:{seq:016x}:soak!!");
                let sent = Instant::now();
                counts.sent.fetch_add(1, Ordering::Relaxed);
                if stream
                    .write_all(&load::masked_text_frame(payload.as_bytes()))
                    .await
                    .is_err()
                {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                let echo = read_echo(&mut stream, &mut buf);
                match tokio::time::timeout(Duration::from_secs(5), echo).await {
                    Err(_) => {
                        counts.lost.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(Err(_)) => {
                        counts.errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(Ok((first, echoed))) => {
                        if first != 0x81 || echoed != payload.as_bytes() {
                            counts.corrupted.fetch_add(1, Ordering::Relaxed);
                        } else {
                            counts.echoed.fetch_add(1, Ordering::Relaxed);
                            mine.push(sent.elapsed().as_micros() as u32);
                        }
                    }
                }
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    let mut rss = Vec::new();
    for t in (10..=seconds).step_by(10) {
        tokio::time::sleep_until((epoch + Duration::from_secs(t)).into()).await;
        rss.push((t, sample.rss_mib()));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort_unstable();
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "sent {}, echoed {}, errors {}, lost {}, corrupted {}",
        get(&counts.sent),
        get(&counts.echoed),
        get(&counts.errors),
        get(&counts.lost),
        get(&counts.corrupted)
    );
    println!(
        "latency p50 {} µs, p99 {} µs",
        load::percentile(&latencies, 0.5),
        load::percentile(&latencies, 0.99)
    );
    let series: Vec<String> = rss
        .iter()
        .map(|(t, mib)| format!("{t} s: {mib:.1}"))
        .collect();
    println!("sample RSS (MiB): {}", series.join(", "));
}

/// One connection's life: open from `source`, handshake, one echo, close handshake, and
/// the server's end of TCP.
async fn one_life(addr: SocketAddr, source: Ipv4Addr) -> Result<(), &'static str> {
    let socket = TcpSocket::new_v4().map_err(|_| "socket")?;
    socket
        .bind(SocketAddr::from((source, 0)))
        .map_err(|_| "bind")?;
    let mut stream = socket.connect(addr).await.map_err(|_| "connect")?;
    stream.set_nodelay(true).map_err(|_| "nodelay")?;
    let mut buf = Vec::with_capacity(512);
    load::handshake(&mut stream, "", &mut buf)
        .await
        .map_err(|(step, _)| step)?;
    stream
        .write_all(&load::masked_text_frame(b"churn"))
        .await
        .map_err(|_| "write message")?;
    let (first, echoed) = read_frame(&mut stream, &mut buf)
        .await
        .map_err(|_| "read echo")?;
    if first != 0x81 || echoed != b"churn" {
        return Err("bad echo");
    }
    let mut close = load::masked_frame(&1000u16.to_be_bytes());
    close[0] = 0x88;
    stream.write_all(&close).await.map_err(|_| "write close")?;
    let (first, _) = read_frame(&mut stream, &mut buf)
        .await
        .map_err(|_| "read close")?;
    if first != 0x88 {
        return Err("no close frame");
    }
    // The server ends TCP first (RFC 6455 §7.1.1).
    let mut rest = [0u8; 64];
    match stream.read(&mut rest).await {
        Ok(0) => Ok(()),
        Ok(_) => Err("data after close"),
        Err(_) => Err("reset after close"),
    }
}

pub async fn churn(args: &[String]) {
    let total = arg(args, "--connections", 1_000_000) as usize;
    let concurrency = 200;
    let sample = Sample::start();
    let fds_before = sample.open_fds();
    println!("churn: {total} connections, {concurrency} at a time");
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Mutex::new(BTreeMap::<&'static str, u64>::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (next, done, errors) = (next.clone(), done.clone(), errors.clone());
        let addr = sample.addr;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= total {
                    return;
                }
                // Sources spread over 127.0.0.1-16: more ports than one address has.
                let source = Ipv4Addr::new(127, 0, 0, 1 + (i % 16) as u8);
                if let Err(reason) = one_life(addr, source).await {
                    *errors.lock().unwrap().entry(reason).or_insert(0) += 1;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut after_first = None;
    while done.load(Ordering::Relaxed) < total as u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if after_first.is_none() && done.load(Ordering::Relaxed) >= 10_000.min(total as u64) {
            after_first = Some(sample.rss_mib());
        }
    }
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The sample's sessions end as their close handshakes do: let the last ones finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let errors = errors.lock().unwrap().clone();
    println!(
        "{total} connections in {elapsed:.1} s ({:.0} a second); errors: {}",
        total as f64 / elapsed,
        if errors.is_empty() {
            "none".to_owned()
        } else {
            format!("{errors:?}")
        }
    );
    println!(
        "sample RSS: {:.1} MiB after the first 10,000, {:.1} MiB at the end; open file descriptors: {fds_before} before, {} after",
        after_first.unwrap_or(f64::NAN),
        sample.rss_mib(),
        sample.open_fds()
    );
}
