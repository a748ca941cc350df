//! What one hostile client of the topics protocol can do to the others: nothing beyond
//! the limits it is held to. Its publish limits, topics it cannot make history for by
//! reading, and streams of history that new names do not push out while clients use them.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite;

use crate::{common::serve, topics_protocol::Peer};
use tower_websockets::{protocol::TopicsProtocol, topics::History, Message, Topics};

fn history() -> Topics {
    Topics::builder().history(History::new()).build()
}

/// Sends `publish` requests to each of `topics` in one burst, then reads every reply:
/// how many were `published`, and the codes of the errors.
async fn publish_to_each(
    peer: &mut Peer,
    topics: impl Iterator<Item = String>,
) -> (usize, Vec<String>) {
    let mut sent = 0;
    for topic in topics {
        let request = json!({"type": "publish", "id": sent, "topic": topic, "data": sent});
        peer.client
            .feed(tungstenite::Message::text(request.to_string()))
            .await
            .unwrap();
        sent += 1;
    }
    peer.client.flush().await.unwrap();
    let (mut published, mut errors) = (0, Vec::new());
    for _ in 0..sent {
        let reply = peer.next().await;
        match reply["type"].as_str() {
            Some("published") => published += 1,
            Some("error") => errors.push(reply["code"].as_str().unwrap().to_owned()),
            _ => panic!("not a reply: {reply}"),
        }
    }
    (published, errors)
}

#[tokio::test]
async fn a_client_is_held_to_its_publish_limits_and_told_which() {
    let topics = history();
    let protocol = TopicsProtocol::new(topics.clone())
        .max_publish_topics(3)
        .max_publication_size(100);
    let server = serve(protocol.layer().path("/topics")).await;
    let mut peer = Peer::connect(&server).await;

    // Too large: refused, and no offset taken.
    let id = peer
        .ask("publish", json!({"topic": "a", "data": "x".repeat(99)}))
        .await;
    let error = peer.next().await;
    assert_eq!(
        (error["id"].clone(), error["code"].clone()),
        (json!(id), json!("too_large"))
    );
    let id = peer
        .ask("publish", json!({"topic": "a", "data": "x".repeat(98)}))
        .await;
    let published = peer.next().await;
    assert_eq!(
        (published["id"].clone(), published["offset"].clone()),
        (json!(id), json!(1))
    );

    // Three topics, then no more; those three stay open to it.
    let (published, errors) = publish_to_each(
        &mut peer,
        ["b", "c", "d", "a"].map(String::from).into_iter(),
    )
    .await;
    assert_eq!((published, errors), (3, vec!["too_many_topics".to_owned()]));
    assert_eq!(topics.stats().history.unwrap().topics, 3);

    // A binary publish counts its bytes.
    let header = json!({"type": "publish", "id": 50, "topic": "a"}).to_string();
    let mut frame = (header.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(header.as_bytes());
    frame.extend_from_slice(&[0; 101]);
    peer.client
        .send(tungstenite::Message::binary(frame))
        .await
        .unwrap();
    assert_eq!(peer.next().await["code"], "too_large");

    // A message past the layer's limit (the publication limit and 16 KiB) closes with 1009.
    let huge = json!({"type": "publish", "id": 51, "topic": "a", "data": "x".repeat(17 * 1024)});
    peer.client
        .send(tungstenite::Message::text(huge.to_string()))
        .await
        .unwrap();
    let closed = crate::common::within(async {
        loop {
            match futures_util::StreamExt::next(&mut peer.client).await {
                Some(Ok(tungstenite::Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(closed.map(|f| u16::from(f.code)), Some(1009));

    // A rate of none: every publish is refused, with the limit named.
    let server = serve(
        TopicsProtocol::new(history())
            .publish_rate(0)
            .layer()
            .path("/topics"),
    )
    .await;
    let mut peer = Peer::connect(&server).await;
    let (published, errors) = publish_to_each(&mut peer, (0..3).map(|_| "a".to_owned())).await;
    assert_eq!((published, errors), (0, vec!["rate_limited".to_owned(); 3]));
}

/// Where a subscribe reply or publication leaves a client.
fn position(message: &Value) -> Value {
    json!({"epoch": message["epoch"], "offset": message["offset"]})
}

#[tokio::test]
async fn reading_topics_makes_no_history_and_their_start_holds_once_published() {
    let topics = history();
    let server = serve(TopicsProtocol::new(topics.clone()).layer().path("/topics")).await;
    let held = || topics.stats().history.unwrap().topics;

    // Positions and subscribes of a thousand names make no stream.
    for i in 0..1000 {
        let position = topics.position(&format!("read:{i}")).unwrap();
        assert_eq!(position.offset(), 0);
    }
    let mut reader = Peer::connect(&server).await;
    let start = reader.subscribe("room", None).await;
    assert_eq!(start["offset"], 0);
    assert_eq!(held(), 0);
    assert_eq!(
        topics
            .position("room")
            .map(|p| p.epoch().to_owned())
            .as_deref(),
        start["epoch"].as_str()
    );

    // The first publish makes the stream, at the epoch the subscriber was given.
    topics.publish("room", Message::text("1"));
    let publication = reader.next().await;
    assert_eq!(
        position(&publication),
        json!({"epoch": start["epoch"], "offset": 1})
    );
    assert_eq!(held(), 1);

    // A client that subscribed before the first publication and comes back after it
    // recovers it.
    let mut late = Peer::connect(&server).await;
    let early = late.subscribe("later", None).await;
    late.close().await;
    topics.publish("later", Message::text("missed"));
    let mut back = Peer::connect(&server).await;
    let reply = back.subscribe("later", Some(&position(&early))).await;
    assert_eq!(
        (reply["recovered"].clone(), reply["replayed"].clone()),
        (json!(true), json!(1))
    );
    assert_eq!(back.publication().await, (1, json!("missed")));
}

/// The attack: one connection publishes once to each of 12,000 new names, past the hub's
/// 10,000 streams. Held to its 64 topics by default; and with that limit lifted, the new
/// names push out one another's streams, not those that clients listen to.
#[tokio::test]
async fn twelve_thousand_new_names_from_one_client_evict_nobody_elses_history() {
    for lifted in [false, true] {
        let topics = history();
        let mut protocol = TopicsProtocol::new(topics.clone());
        if lifted {
            protocol = protocol
                .max_publish_topics(usize::MAX)
                .publish_rate(u32::MAX);
        }
        let server = serve(protocol.layer().path("/topics")).await;

        // One client listens to its room, another stepped away from its own.
        let mut present = Peer::connect(&server).await;
        let mut away = Peer::connect(&server).await;
        present.subscribe("present", None).await;
        away.subscribe("away", None).await;
        topics.publish("present", Message::text("p1"));
        topics.publish("away", Message::text("a1"));
        assert_eq!(present.publication().await.0, 1);
        let last = away.next().await;
        away.close().await;

        let mut attacker = Peer::connect(&server).await;
        let names = (0..12_000).map(|i| format!("spam:{i}"));
        let (published, errors) = publish_to_each(&mut attacker, names).await;
        if lifted {
            assert_eq!((published, errors.len()), (12_000, 0));
        } else {
            // Held by the rate (50 at once) and then by its 64 topics.
            assert!(published <= 64, "{published} published");
            let other = errors
                .iter()
                .find(|code| !matches!(code.as_str(), "too_many_topics" | "rate_limited"));
            assert_eq!(other, None);
        }

        // Both rooms still recover.
        topics.publish("away", Message::text("a2"));
        topics.publish("present", Message::text("p2"));
        assert_eq!(present.publication().await, (2, json!("p2")));
        let mut back = Peer::connect(&server).await;
        let reply = back.subscribe("away", Some(&position(&last))).await;
        assert_eq!(reply["recovered"], true, "lifted {lifted}: {reply}");
        assert_eq!(back.publication().await, (2, json!("a2")));
    }
}

/// Opens `count` topics-protocol sockets to `addr`, each request carrying `padding` bytes of
/// extra header fields; returns them once each has its `101` and the server's welcome.
async fn open_idle(
    addr: std::net::SocketAddr,
    count: usize,
    padding: usize,
) -> Vec<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = format!(
        "GET /topics HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {}\r\n",
        tower_websockets::protocol::NAME
    );
    for i in 0..padding / 1000 {
        head.push_str(&format!("X-Padding-{i}: {}\r\n", "p".repeat(980)));
    }
    head.push_str("\r\n");
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket.write_all(head.as_bytes()).await.unwrap();
        // The 101's head, then the welcome: a frame whose payload names it.
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains("\"welcome\"") {
            let n = crate::common::within(socket.read(&mut buf)).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        assert!(seen.starts_with(b"HTTP/1.1 101"));
        sockets.push(socket);
    }
    sockets
}

/// The resident memory of process `pid`, in bytes.
fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Each socket's request carries 24 KiB of header fields: an idle protocol session keeps
/// none of them, nor the read buffer hyper parsed them in, in the `topics` example (axum's
/// router and `axum::serve`, as the README sets them up). Measured in the example's own
/// process, away from what the tests beside this one allocate.
#[tokio::test]
async fn sockets_with_24_kib_of_headers_cost_what_sockets_with_small_ones_do() {
    const SOCKETS: usize = 2_000;
    let mut per_socket = Vec::new();
    for padding in [0, 24_000] {
        // A server each: memory the first one freed would hide what the second takes.
        let (sample, addr) = crate::common::sample::start("topics");
        let pid = sample.child.id();
        let before = rss_of(pid);
        let sockets = open_idle(addr, SOCKETS, padding).await;
        let grown = rss_of(pid).saturating_sub(before);
        per_socket.push(grown / SOCKETS as u64);
        drop(sockets);
    }
    let (small, large) = (per_socket[0], per_socket[1]);
    // Kept, the headers alone would be 24 KiB a socket (and the read buffer, 8 KiB more).
    assert!(
        large < small + 4096,
        "{large} B per socket with 24 KiB of headers, {small} B with small ones"
    );
}

/// A publication of 16 MiB (less 4 KiB, so that the clients' 16 MiB frame limit takes it
/// whole), compressed for its members before the hub takes its locks (the
/// envelope's body ahead, only the position's part under them), reaches two compressed
/// protocol members whole while a thousand other clients subscribe, unsubscribe and leave.
#[cfg(feature = "deflate")]
#[tokio::test]
async fn a_large_compressed_publication_arrives_whole_while_a_thousand_clients_come_and_go() {
    use flate2::{Decompress, FlushDecompress};
    use tower_websockets::deflate::DeflateConfig;

    use crate::common::RawSocket;

    let _heavy = crate::common::heavy().await;
    let topics = Topics::new();
    let layer = TopicsProtocol::new(topics.clone())
        .layer()
        .deflate(DeflateConfig::new());
    let server = serve(layer).await;

    /// The next data frame's payload, inflated if compressed (no context takeover).
    async fn next_json(socket: &mut RawSocket) -> (bool, Value) {
        loop {
            let frame = crate::common::within(socket.recv()).await.expect("a frame");
            if frame.opcode == 0x9 || frame.opcode == 0xA {
                continue;
            }
            let payload = if frame.rsv1 {
                let mut input = frame.payload.clone();
                input.extend_from_slice(&[0, 0, 0xff, 0xff]);
                let mut out = Vec::with_capacity(64 << 20);
                Decompress::new(false)
                    .decompress_vec(&input, &mut out, FlushDecompress::Sync)
                    .unwrap();
                out
            } else {
                frame.payload
            };
            return (frame.rsv1, serde_json::from_slice(&payload).unwrap());
        }
    }

    let offer = format!(
        "Sec-WebSocket-Protocol: {}\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
        tower_websockets::protocol::NAME
    );
    let mut members = Vec::new();
    for _ in 0..2 {
        let (mut member, head) = RawSocket::connect_with(server.addr, &offer).await;
        assert!(head.contains("server_no_context_takeover"), "{head}");
        assert_eq!(next_json(&mut member).await.1["type"], "welcome");
        let subscribe = json!({"type": "subscribe", "id": 1, "topic": "big"}).to_string();
        member.send(0x81, subscribe.as_bytes(), true).await;
        assert_eq!(next_json(&mut member).await.1["type"], "subscribed");
        members.push(member);
    }

    // Deadlines for the whole: a thousand clients' comings and goings and a 16 MiB publish,
    // on a loaded machine in a debug build.
    let whole = std::time::Duration::from_secs(300);
    // A thousand clients come and go, fifty at a time, on the topic and beside it.
    let url = server.url("/ws");
    let churn = tokio::spawn(async move {
        for round in 0..20 {
            let mut clients = tokio::task::JoinSet::new();
            for i in 0..50 {
                let url = url.clone();
                clients.spawn(async move {
                    let mut peer = Peer::connect_to(&url).await;
                    let topic = if i % 2 == 0 {
                        "big".to_owned()
                    } else {
                        format!("other:{round}:{i}")
                    };
                    peer.subscribe(&topic, None).await;
                    let id = peer.ask("unsubscribe", json!({"topic": topic})).await;
                    // The 16 MiB publication may come first (it is not parsed: 25 such
                    // clients at once on this one thread, in a debug build, take longer
                    // than one step's deadline), and the wait is the whole test's.
                    loop {
                        let message = tokio::time::timeout(whole, peer.client.next())
                            .await
                            .expect("the unsubscribe's reply")
                            .expect("the socket open")
                            .unwrap();
                        let tungstenite::Message::Text(text) = message else {
                            continue;
                        };
                        if text.len() > 4096 {
                            continue;
                        }
                        let reply: Value = serde_json::from_str(&text).unwrap();
                        if reply["id"] == id {
                            assert_eq!(reply["type"], "unsubscribed");
                            break;
                        }
                    }
                    peer.close().await;
                });
            }
            while let Some(done) = clients.join_next().await {
                done.unwrap();
            }
        }
    });

    let text: String = std::iter::repeat_n(
        r#"{"user":"ann","text":"hello, world"},"#,
        (16 * 1024 * 1024 - 4096) / 37,
    )
    .collect();
    let data = format!("[{}]", text.trim_end_matches(','));
    let publish = tokio::task::spawn_blocking({
        let topics = topics.clone();
        let data = data.clone();
        move || topics.publish("big", Message::text(data))
    });
    let reached = tokio::time::timeout(whole, publish)
        .await
        .expect("the publish ended")
        .unwrap();
    assert!(reached >= 2, "reached {reached}");
    tokio::time::timeout(whole, churn)
        .await
        .expect("the clients came and went")
        .unwrap();
    let expected: Value = serde_json::from_str(&data).unwrap();
    for member in &mut members {
        let (compressed, publication) = next_json(member).await;
        assert!(compressed, "the publication came compressed");
        assert_eq!(publication["type"], "publication");
        assert_eq!(publication["topic"], "big");
        assert!(
            publication["data"] == expected,
            "the publication arrived whole"
        );
    }
    assert!(topics.stats().compressed >= 1);
}

/// `authorize_async` waits for its answer (here a "database" task answers through a
/// channel) while the client's later requests wait their turn, and other clients do not.
#[tokio::test]
async fn an_authorization_that_takes_a_wait_answers_in_order() {
    use tokio::sync::{mpsc, oneshot};

    // The "database": asked which topics may be published to, it answers once the test
    // says so.
    let (ask, mut asked) = mpsc::unbounded_channel::<(String, oneshot::Sender<bool>)>();
    let protocol = TopicsProtocol::new(Topics::new()).authorize_async(move |_| {
        let ask = ask.clone();
        move |access| {
            let ask = ask.clone();
            let topic = match access {
                tower_websockets::protocol::Access::Publish(topic) => Some(topic.to_owned()),
                _ => None,
            };
            async move {
                let Some(topic) = topic else { return true };
                let (answer, answered) = oneshot::channel();
                let _ = ask.send((topic, answer));
                answered.await.unwrap_or(false)
            }
        }
    });
    let server = serve(protocol.layer().path("/topics")).await;
    let mut slow = Peer::connect(&server).await;
    let publish = slow
        .ask("publish", json!({"topic": "secret", "data": 1}))
        .await;
    let ping = slow.ask("ping", json!({})).await;
    let (topic, answer) = crate::common::within(asked.recv()).await.unwrap();
    assert_eq!(topic, "secret");

    // Meanwhile another client is served.
    let mut other = Peer::connect(&server).await;
    assert_eq!(other.subscribe("news", None).await["type"], "subscribed");

    // The answer comes: the publish is refused, then the ping is answered, in order.
    answer.send(false).unwrap();
    let refused = slow.next().await;
    assert_eq!(
        (refused["id"].clone(), refused["code"].clone()),
        (json!(publish), json!("forbidden"))
    );
    assert_eq!(slow.next().await, json!({"type": "pong", "id": ping}));

    let allowed = slow
        .ask("publish", json!({"topic": "open", "data": 2}))
        .await;
    let (_, answer) = crate::common::within(asked.recv()).await.unwrap();
    answer.send(true).unwrap();
    let published = slow.next().await;
    assert_eq!(
        (published["id"].clone(), published["type"].clone()),
        (json!(allowed), json!("published"))
    );
}

/// An `authorize_async` answer that never comes (a database that hangs) refuses the
/// request with `unavailable` once `authorize_timeout` has passed, and the client's next
/// request is served.
#[tokio::test]
async fn an_authorization_that_never_answers_is_refused_after_its_timeout() {
    let protocol = TopicsProtocol::new(Topics::new())
        .authorize_async(|_| {
            |access| {
                let hangs = matches!(access, tower_websockets::protocol::Access::Publish(_));
                async move {
                    if hangs {
                        std::future::pending::<()>().await;
                    }
                    true
                }
            }
        })
        .authorize_timeout(std::time::Duration::from_millis(200));
    let server = serve(protocol.layer().path("/topics")).await;
    let mut client = Peer::connect(&server).await;
    let publish = client
        .ask("publish", json!({"topic": "news", "data": 1}))
        .await;
    let ping = client.ask("ping", json!({})).await;
    let refused = client.next().await;
    assert_eq!(
        (refused["id"].clone(), refused["code"].clone()),
        (json!(publish), json!("unavailable"))
    );
    assert_eq!(client.next().await, json!({"type": "pong", "id": ping}));
    // Subscribing is answered at once, as before.
    assert_eq!(client.subscribe("news", None).await["type"], "subscribed");
}

/// `authorize` reads the handshake once, when the client connects (here the token in its
/// URL), and the client's permissions decide each request after that: the session keeps
/// them, not the handshake.
#[tokio::test]
async fn authorize_reads_a_clients_handshake_once_and_keeps_its_permissions() {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };

    let handshakes = Arc::new(AtomicUsize::new(0));
    let decisions = Arc::new(AtomicUsize::new(0));
    let (read, decided) = (handshakes.clone(), decisions.clone());
    let protocol = TopicsProtocol::new(Topics::new()).authorize(move |handshake| {
        read.fetch_add(1, Ordering::SeqCst);
        let writer = handshake.uri().query() == Some("token=writer");
        let decided = decided.clone();
        move |access| {
            decided.fetch_add(1, Ordering::SeqCst);
            match access {
                tower_websockets::protocol::Access::Publish(_) => writer,
                _ => true,
            }
        }
    });
    let server = serve(protocol.layer().path("/topics")).await;
    let mut writer = Peer::connect_to(&server.url("/topics?token=writer")).await;
    let mut reader = Peer::connect(&server).await;
    for round in 0..3 {
        let id = writer
            .ask("publish", json!({"topic": "news", "data": round}))
            .await;
        assert_eq!(writer.next().await["id"], json!(id));
        let refused = reader
            .ask("publish", json!({"topic": "news", "data": round}))
            .await;
        let reply = reader.next().await;
        assert_eq!(
            (reply["id"].clone(), reply["code"].clone()),
            (json!(refused), json!("forbidden"))
        );
    }
    assert_eq!(handshakes.load(Ordering::SeqCst), 2, "once a client");
    assert_eq!(decisions.load(Ordering::SeqCst), 6, "once a request");
}
