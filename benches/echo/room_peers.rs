//! Fan-out to one room, side by side with what users would pick instead, in one run: (a)
//! the topics protocol (members subscribed to a topic, publications in its envelope), (f)
//! socketioxide 0.18 and (g) Socket.IO 4.8 (members joined to a room, `emit` to the room);
//! see peers.rs.
//!
//! ```text
//! cargo bench --bench echo -- --room-peers             # 100 and 1,000 members, 5 rounds of 3 s
//! cargo bench --bench echo -- --room-peers --members 100,1000 --servers protocol,socketioxide
//! ```
//!
//! A publisher outside the room says a small JSON object and the next each time the
//! server acknowledges one (`published`; the peers' ack), 16 unacknowledged at most;
//! every member counts what it receives. Reported: deliveries a second (messages the
//! members received) and server CPU time per delivery.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::{
    load::cpu_time,
    median, min_max,
    peers::{self, Conn, Wire, PAYLOAD},
    servers, Server,
};

/// The topic or room.
const ROOM: &str = "room";

/// Joins the room; returns once the server said it has.
async fn join(conn: &mut Conn) -> Result<(), String> {
    let (request, answer) = match conn.wire {
        Wire::Topics => (
            format!(r#"{{"type":"subscribe","id":1,"topic":"{ROOM}"}}"#),
            r#"{"type":"subscribed""#,
        ),
        Wire::SocketIo => ("421[\"join\"]".to_owned(), "431["),
    };
    conn.send(&request).await?;
    loop {
        let message = conn.next().await.ok_or("closed while joining")?;
        if message.starts_with(answer.as_bytes()) {
            return Ok(());
        }
    }
}

/// Counts what reaches a member until the connection ends.
async fn member(mut conn: Conn, count: Arc<AtomicU64>) {
    let head: &[u8] = match conn.wire {
        Wire::Topics => br#"{"type":"publication""#,
        Wire::SocketIo => br#"42["msg""#,
    };
    while let Some(message) = conn.next().await {
        if message.starts_with(head) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How many of the publisher's messages may wait for their acknowledgements.
const IN_FLIGHT: u64 = 16;

/// Says the payload to the room, keeping 16 messages unacknowledged, until `stop`.
async fn publisher(mut conn: Conn, stop: Arc<AtomicBool>) -> Result<(), String> {
    let wire = conn.wire;
    let say = |id: u64| match wire {
        Wire::Topics => {
            format!(r#"{{"type":"publish","id":{id},"topic":"{ROOM}","data":{PAYLOAD}}}"#)
        }
        Wire::SocketIo => format!(r#"42{id}["say",{PAYLOAD}]"#),
    };
    let acknowledged: &[u8] = match wire {
        Wire::Topics => br#"{"type":"published""#,
        Wire::SocketIo => b"43",
    };
    let mut next = 1u64;
    while next <= IN_FLIGHT {
        conn.send(&say(next)).await?;
        next += 1;
    }
    while !stop.load(Ordering::Relaxed) {
        let message = conn.next().await.ok_or("closed mid-publish")?;
        if message.starts_with(acknowledged) {
            conn.send(&say(next)).await?;
            next += 1;
        } else if message.starts_with(br#"{"type":"error""#) {
            return Err(String::from_utf8_lossy(&message).into_owned());
        }
    }
    Ok(())
}

/// One round: deliveries a second and server CPU µs per delivery.
async fn round(kind: &str, members: usize, window: Duration) -> (f64, f64) {
    let server = Server::start(kind);
    let addr = servers::addr(server.port);
    let wire = Wire::of(kind);
    let count = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(members);
    for conn in peers::open_many(addr, wire, members).await {
        let mut conn = conn.unwrap_or_else(|e| panic!("{kind}: {e}"));
        join(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        tasks.push(tokio::spawn(member(conn, count.clone())));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let conn = Conn::open(addr, wire)
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    let publishing = tokio::spawn(publisher(conn, stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (started, before) = (Instant::now(), count.load(Ordering::Relaxed));
    let server_start = cpu_time(&server.pid);
    tokio::time::sleep(window).await;
    let delivered = count.load(Ordering::Relaxed) - before;
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = (cpu_time(&server.pid) - server_start).as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    match tokio::time::timeout(Duration::from_secs(30), publishing).await {
        Ok(Ok(Ok(()))) => {}
        other => panic!("{kind}: the publisher failed: {other:?}"),
    }
    drop(server);
    for task in tasks {
        task.abort();
    }
    (
        delivered as f64 / elapsed,
        server_cpu * 1e6 / delivered.max(1) as f64,
    )
}

/// `--room-peers`: every server, `rounds` times in turn, at each room size.
pub async fn compare(rounds: usize, window: Duration, sizes: &[usize], only: Option<&[String]>) {
    let kinds = peers::available(only);
    println!(
        "\n### Fan-out beside socketioxide and Socket.IO: {rounds} rounds of {} s, servers in turn\n",
        window.as_secs()
    );
    for &members in sizes {
        let mut figures: Vec<Vec<(f64, f64)>> = kinds.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (i, (kind, _)) in kinds.iter().enumerate() {
                figures[i].push(round(kind, members, window).await);
            }
        }
        println!("#### {members} members\n");
        println!("| server | deliveries/s (min-max) | (a) / this | server CPU per delivery | this / (a) |");
        println!("|---|---|---|---|---|");
        let rates = |i: usize| figures[i].iter().map(|f| f.0).collect::<Vec<_>>();
        let rate = |i: usize| median(&rates(i));
        let cpu = |i: usize| median(&figures[i].iter().map(|f| f.1).collect::<Vec<_>>());
        for (i, (_, label)) in kinds.iter().enumerate() {
            let (low, high) = min_max(&rates(i));
            println!(
                "| {label} | {:.0} ({low:.0}-{high:.0}) | {:.2} | {:.3} µs | {:.2} |",
                rate(i),
                rate(0) / rate(i),
                cpu(i),
                cpu(i) / cpu(0),
            );
        }
        println!();
    }
}
