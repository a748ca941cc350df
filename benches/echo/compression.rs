//! (a) with permessage-deflate: 100 connections echoing 16 KiB of JSON-like text, plain,
//! compressed without context takeover, and compressed with it, side by side.
//!
//! The client compresses each message as the server will (flate2 on zlib-rs, level 6,
//! 15-bit window): without takeover every message on its own, with takeover one
//! compressor per connection. The server's compressed echo must then be the same bytes as
//! the client's, which the client checks, so every echo is checked without inflating it.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use flate2::{Compress, Compression, FlushCompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{load, median, servers, Options, Server};

/// How the messages travel.
#[derive(Clone, Copy)]
enum Mode {
    Plain,
    Deflate,
    DeflateTakeover,
}

impl Mode {
    fn server(self) -> &'static str {
        match self {
            Mode::Plain => "layer",
            Mode::Deflate => "layer-deflate",
            Mode::DeflateTakeover => "layer-deflate-takeover",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Deflate => "permessage-deflate, no context takeover",
            Mode::DeflateTakeover => "permessage-deflate, context takeover",
        }
    }
}

/// Eight JSON-like messages of `size` bytes, sent in turn.
fn messages(size: usize) -> Vec<Vec<u8>> {
    (0..8)
        .map(|m| {
            let mut text = String::from("[");
            let mut n = 0;
            while text.len() < size {
                text.push_str(&format!(
                    "{{\"id\":{},\"room\":\"lobby-{m}\",\"user\":\"user{}\",\"score\":{},\"text\":\"message {n} in round {m}\"}},",
                    m * 1000 + n,
                    n % 37,
                    (n * 7919) % 1000
                ));
                n += 1;
            }
            text.truncate(size);
            text.into_bytes()
        })
        .collect()
}

/// Compresses as the server does, without the sync flush's tail.
fn deflate(compressor: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let start = compressor.total_in();
    loop {
        let done = (compressor.total_in() - start) as usize;
        compressor
            .compress_vec(&data[done..], &mut out, FlushCompress::Sync)
            .unwrap();
        if (compressor.total_in() - start) as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    out.truncate(out.len() - 4);
    out
}

/// One client: sends the messages in turn, one in flight, and checks each echo.
async fn client(
    addr: SocketAddr,
    mode: Mode,
    messages: Arc<Vec<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    wire: Arc<AtomicU64>,
) {
    let offer = match mode {
        Mode::Plain => "",
        _ => "Sec-WebSocket-Extensions: permessage-deflate\r\n",
    };
    let mut stream = load::connect_offering(addr, offer).await;
    let mut compressor = Compress::new_with_window_bits(Compression::new(6), false, 15);
    let mut buf = vec![0u8; 64 * 1024];
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let message = &messages[i % messages.len()];
        i += 1;
        let (first, payload) = match mode {
            Mode::Plain => (0x82, message.clone()),
            Mode::Deflate => {
                let compressed = deflate(&mut compressor, message);
                compressor.reset();
                (0xc2, compressed)
            }
            Mode::DeflateTakeover => (0xc2, deflate(&mut compressor, message)),
        };
        let mut frame = load::masked_frame(&payload);
        frame[0] = first;
        stream.write_all(&frame).await.expect("send");
        let header = if payload.len() < 126 { 2 } else { 4 };
        let total = header + payload.len();
        let mut filled = 0;
        while filled < total {
            let n = stream.read(&mut buf[filled..]).await.expect("echo");
            assert!(n > 0, "the server closed the connection");
            filled += n;
        }
        assert_eq!(filled, total, "one echo, nothing else");
        assert_eq!(buf[0], first, "the echo's kind and compression");
        assert!(buf[header..total] == payload[..], "echo differs");
        count.fetch_add(1, Ordering::Relaxed);
        wire.fetch_add(total as u64, Ordering::Relaxed);
    }
}

/// One measurement: messages per second, bytes on the wire per echo, server CPU per echo.
async fn measure(mode: Mode, window: Duration) -> (f64, f64, f64) {
    let server = Server::start(mode.server());
    let addr = servers::addr(server.port);
    let messages = Arc::new(messages(16 * 1024));
    let stop = Arc::new(AtomicBool::new(false));
    let (count, wire) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut clients = Vec::new();
    for _ in 0..100 {
        let (messages, stop) = (messages.clone(), stop.clone());
        let (count, wire) = (count.clone(), wire.clone());
        clients.push(tokio::spawn(client(
            addr, mode, messages, stop, count, wire,
        )));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (started, messages0, bytes0) = (
        Instant::now(),
        count.load(Ordering::Relaxed),
        wire.load(Ordering::Relaxed),
    );
    let cpu0 = load::cpu_time(&server.pid);
    tokio::time::sleep(window).await;
    let echoed = (count.load(Ordering::Relaxed) - messages0) as f64;
    let bytes = (wire.load(Ordering::Relaxed) - bytes0) as f64;
    let cpu = (load::cpu_time(&server.pid) - cpu0).as_secs_f64();
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let _ = client.await;
    }
    (echoed / elapsed, bytes / echoed, cpu / echoed * 1e6)
}

/// The table: each mode in turn, `rounds` times, medians.
pub async fn compare(options: &Options) {
    println!(
        "\n(a) layer: 100 connections echoing 16 KiB of JSON-like text (medians of {})",
        options.rounds
    );
    println!("\n| messages | msg/s | bytes on the wire per echo | server CPU µs per message |");
    println!("|---|---|---|---|");
    let modes = [Mode::Plain, Mode::Deflate, Mode::DeflateTakeover];
    let mut results: [Vec<(f64, f64, f64)>; 3] = Default::default();
    for _ in 0..options.rounds {
        for (m, &mode) in modes.iter().enumerate() {
            results[m].push(measure(mode, options.window).await);
        }
    }
    for (m, mode) in modes.iter().enumerate() {
        let column =
            |f: fn(&(f64, f64, f64)) -> f64| median(&results[m].iter().map(f).collect::<Vec<_>>());
        println!(
            "| {} | {:.0} | {:.0} | {:.2} |",
            mode.label(),
            column(|r| r.0),
            column(|r| r.1),
            column(|r| r.2)
        );
    }
}
