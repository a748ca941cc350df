//! Topics over real sockets: fan-out, publish to all but the sender, order when sends and
//! publishes mix, cleanup when members leave, and slow members dropped or closed.

use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite;

use crate::common::{
    bits::{CLOSE, FIN},
    heavy, next_data, rss_bytes, serve, within, Client, RawSocket, Server,
};
use tower_websockets::{
    error::SessionError, topics::WhenFull, CloseCode, Handshake, Message, Topics, WebSocket,
    WebSocketLayer,
};

pub(crate) const ROOM: &str = "room";

/// A member of `ROOM`: says "joined" once subscribed, then acts on what its client sends.
/// `all:X` publishes X to the room, `others:X` to all but this member, `mix:N` sends and
/// publishes N messages alternately, `many:N` subscribes to topics `t0` to `tN-1`,
/// `topics` answers with this member's topics.
pub(crate) async fn member(topics: Topics, mut socket: WebSocket) {
    topics.subscribe(&socket, ROOM);
    topics.subscribe(&socket, "second");
    if socket.send(Message::text("joined")).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        if let Some(rest) = text.strip_prefix("all:") {
            topics.publish(ROOM, Message::text(rest.to_owned()));
        } else if let Some(rest) = text.strip_prefix("others:") {
            topics.publish_except(ROOM, Message::text(rest.to_owned()), &socket);
        } else if let Some(n) = text.strip_prefix("mix:") {
            for i in 0..n.parse::<usize>().unwrap() {
                // Sizes that take each path of the queue: copied next to the header,
                // queued apart, and past the 64 KiB a send waits at.
                let body = format!("{i}:{}", "x".repeat([10, 2_000, 70_000][i % 3]));
                if i % 2 == 0 {
                    if socket.send(Message::text(body)).await.is_err() {
                        return;
                    }
                } else {
                    topics.publish(ROOM, Message::text(body));
                }
            }
        } else if let Some(n) = text.strip_prefix("many:") {
            let n: usize = n.parse().unwrap();
            for i in 0..n {
                topics.subscribe(&socket, &format!("t{i}"));
            }
            if socket
                .send(Message::text(format!("subscribed:{n}")))
                .await
                .is_err()
            {
                return;
            }
        } else if let Some(topic) = text.strip_prefix("leave:") {
            let left = topics.unsubscribe(&socket, topic);
            if socket
                .send(Message::text(format!("left:{left}")))
                .await
                .is_err()
            {
                return;
            }
        } else if &*text == "topics" {
            let mine = topics.topics_of(&socket).join(",");
            if socket.send(Message::text(mine)).await.is_err() {
                return;
            }
        }
    }
}

pub(crate) async fn serve_room(
    topics: &Topics,
    layer: impl FnOnce(WebSocketLayer<RoomHandler>) -> WebSocketLayer<RoomHandler>,
) -> Server {
    serve(layer(
        WebSocketLayer::new(RoomHandler(topics.clone())).path("/ws"),
    ))
    .await
}

/// [`member`] as a handler.
#[derive(Clone)]
pub(crate) struct RoomHandler(pub(crate) Topics);

impl tower_websockets::Handler for RoomHandler {
    type Output = ();

    fn call(
        &self,
        socket: WebSocket,
        _: Handshake,
    ) -> impl std::future::Future<Output = ()> + Send {
        member(self.0.clone(), socket)
    }
}

pub(crate) async fn join(server: &Server) -> Client {
    let mut client = server.connect().await;
    assert_eq!(next_data(&mut client).await, text("joined"));
    client
}

pub(crate) fn text(s: &str) -> tungstenite::Message {
    tungstenite::Message::text(s)
}

#[tokio::test]
async fn a_publish_reaches_every_member_and_publish_except_skips_the_sender() {
    let topics = Topics::new();
    let server = serve_room(&topics, |layer| layer).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(join(&server).await);
    }
    assert_eq!(topics.subscribers(ROOM), 3);

    clients[0].send(text("others:not to you")).await.unwrap();
    clients[0].send(text("all:to everyone")).await.unwrap();
    // The sender's next message is the second one: the first skipped it.
    assert_eq!(next_data(&mut clients[0]).await, text("to everyone"));
    for client in &mut clients[1..] {
        assert_eq!(next_data(client).await, text("not to you"));
        assert_eq!(next_data(client).await, text("to everyone"));
    }

    // A publish from outside any handler.
    assert_eq!(topics.publish(ROOM, Message::binary(vec![1, 2, 3])), 3);
    for client in &mut clients {
        assert_eq!(
            next_data(client).await,
            tungstenite::Message::binary(vec![1, 2, 3])
        );
    }
    // Control messages are not published; unknown topics reach nobody.
    assert_eq!(topics.publish(ROOM, Message::Ping(Default::default())), 0);
    assert_eq!(topics.publish("nobody here", Message::text("?")), 0);

    let stats = topics.stats();
    assert_eq!(stats.published, 4);
    assert_eq!(stats.delivered, 2 + 3 + 3);
    assert_eq!((stats.topics, stats.subscriptions), (2, 6));

    clients[1].send(text("topics")).await.unwrap();
    assert_eq!(next_data(&mut clients[1]).await, text("room,second"));
}

#[tokio::test]
async fn sends_and_publishes_arrive_in_the_order_they_were_made() {
    let topics = Topics::new();
    let server = serve_room(&topics, |layer| layer).await;
    let mut client = join(&server).await;
    client.send(text("mix:60")).await.unwrap();
    for i in 0..60 {
        let message = next_data(&mut client).await;
        let body = message.to_text().unwrap();
        let (index, rest) = body.split_once(':').unwrap();
        assert_eq!(index, i.to_string(), "message {i} out of order");
        assert_eq!(rest.len(), [10, 2_000, 70_000][i % 3]);
    }
}

#[tokio::test]
async fn subscriptions_end_with_their_sockets() {
    let topics = Topics::new();
    let mut server = serve_room(&topics, |layer| layer).await;
    let mut clients = Vec::new();
    let mut sessions = Vec::new();
    for _ in 0..1_000 {
        clients.push(join(&server).await);
        sessions.push(server.next_session().await);
    }
    assert_eq!(topics.subscribers(ROOM), 1_000);
    assert_eq!(topics.stats().subscriptions, 2_000);
    for mut client in clients {
        client.close(None).await.unwrap();
    }
    for session in sessions {
        within(session.ended()).await;
    }
    // A socket leaves its topics before its session is reported ended.
    assert_eq!(topics.subscribers(ROOM), 0);
    let stats = topics.stats();
    assert_eq!((stats.topics, stats.subscriptions), (0, 0));
    assert_eq!(topics.publish(ROOM, Message::text("anyone?")), 0);
}

#[tokio::test]
async fn unsubscribing_stops_delivery() {
    let topics = Topics::new();
    let server = serve_room(&topics, |layer| layer).await;
    let mut client = join(&server).await;
    client.send(text("leave:second")).await.unwrap();
    assert_eq!(next_data(&mut client).await, text("left:true"));
    client.send(text("leave:second")).await.unwrap();
    assert_eq!(next_data(&mut client).await, text("left:false"));
    assert_eq!(topics.subscribers("second"), 0);
    assert_eq!(topics.publish("second", Message::text("lost")), 0);
    assert_eq!(topics.publish(ROOM, Message::text("kept")), 1);
    assert_eq!(next_data(&mut client).await, text("kept"));
    client.send(text("topics")).await.unwrap();
    assert_eq!(next_data(&mut client).await, text("room"));
}

/// A member that reads nothing after joining.
async fn join_and_stop_reading(server: &Server) -> RawSocket {
    let mut socket = RawSocket::connect(server.addr).await;
    let joined = within(socket.recv()).await.expect("joined");
    assert_eq!(joined.payload, b"joined");
    socket
}

/// Publishes `size`-byte messages from this task until `done` says so, each one only once
/// `reader` has received the one before: the reading member never lags, so any drop is
/// the slow members'. Returns how many were published.
async fn publish_until(
    topics: &Topics,
    reader: &mut Client,
    size: usize,
    mut done: impl FnMut(&Topics, usize) -> bool,
) -> usize {
    let mut published = 0;
    while !done(topics, published) {
        let mut body = vec![b'a' + (published % 26) as u8; size];
        body[..8].copy_from_slice(&(published as u64).to_be_bytes());
        topics.publish(ROOM, Message::binary(body));
        published += 1;
        let got = next_data(reader).await.into_data();
        assert_eq!(got.len(), size);
        assert_eq!(got[..8], (published as u64 - 1).to_be_bytes());
        assert!(published < 100_000, "the slow members were never full");
    }
    published
}

#[tokio::test]
async fn slow_members_miss_messages_and_the_others_get_every_one() {
    const LIMIT: usize = 1 << 20;
    let _heavy = heavy().await;
    let topics = Topics::builder().queue_limit(LIMIT).build();
    let server = serve_room(&topics, |layer| layer).await;
    let mut reader = join(&server).await;
    let mut slow = Vec::new();
    for _ in 0..10 {
        slow.push(join_and_stop_reading(&server).await);
    }
    let before = rss_bytes();
    // 192 MiB published, in fresh buffers: kept for the slow members, they would show.
    let published = publish_until(&topics, &mut reader, 32 * 1024, |_, n| n == 6_144).await;
    let growth = rss_bytes().saturating_sub(before);

    let stats = topics.stats();
    assert_eq!(stats.published, published as u64);
    // Every slow member missed most messages: a few MiB fit in the kernel's buffers.
    assert!(stats.dropped > 10 * 5_000, "{stats:?}");
    assert_eq!(stats.delivered + stats.dropped, 11 * published as u64);
    assert_eq!(stats.closed_for_slowness, 0);
    // The frames queued for the slow members are shared, and at most 1 MiB each: alone,
    // this test grows by about 1 MiB. The slack is for the tests running beside it.
    assert!(
        growth < 10 * LIMIT as u64 + (54 << 20),
        "RSS grew by {} MiB",
        growth >> 20
    );

    // A slow member that reads again gets what was queued for it, in order, and the
    // messages published once it has room.
    let mut member = slow.pop().unwrap();
    let mut last = None;
    let mut in_order = |frame: &crate::common::RawFrame| {
        let index = u64::from_be_bytes(frame.payload[..8].try_into().unwrap());
        assert!(last.is_none_or(|last| index > last), "out of order");
        last = Some(index);
    };
    // As large as the others: the nine still full have no room for it.
    let mut after = vec![0; 32 * 1024];
    after[..8].copy_from_slice(&u64::MAX.to_be_bytes());
    loop {
        let reached = topics.publish(ROOM, Message::binary(after.clone()));
        assert_eq!(next_data(&mut reader).await.into_data(), after);
        if reached == 2 {
            break;
        }
        // Still full (the other nine are): read a frame to make room.
        assert_eq!(reached, 1);
        in_order(&within(member.recv()).await.expect("a queued frame"));
    }
    loop {
        let frame = within(member.recv()).await.expect("a frame");
        if frame.payload == after {
            break;
        }
        in_order(&frame);
    }
}

/// A room with a reading member and one that stopped reading, under the close policy,
/// after publishing until the slow one was closed.
struct Evicted {
    topics: Topics,
    reader: Client,
    slow: RawSocket,
    slow_session: tower_websockets::session::SessionHandle,
    _server: Server,
}

async fn evict_a_slow_member(close_timeout: Duration) -> Evicted {
    let topics = Topics::builder()
        .queue_limit(256 * 1024)
        .when_full(WhenFull::Close)
        .build();
    let mut server = serve_room(&topics, |layer| {
        layer.close_timeout(close_timeout).keep_alive_interval(None)
    })
    .await;
    let mut reader = join(&server).await;
    server.next_session().await;
    let slow = join_and_stop_reading(&server).await;
    let slow_session = server.next_session().await;
    publish_until(&topics, &mut reader, 16 * 1024, |topics, _| {
        topics.stats().closed_for_slowness == 1
    })
    .await;
    Evicted {
        topics,
        reader,
        slow,
        slow_session,
        _server: server,
    }
}

#[tokio::test]
async fn a_slow_member_is_closed_with_1008_when_the_policy_says_so() {
    let Evicted {
        topics,
        mut reader,
        mut slow,
        slow_session,
        ..
    } = evict_a_slow_member(Duration::from_secs(600)).await;
    // Closed: it is no longer sent anything, and leaves the room once its session ends.
    assert_eq!(topics.publish(ROOM, Message::text("later")), 1);
    assert_eq!(next_data(&mut reader).await, text("later"));

    // Reading again, it finds the close frame after what was queued, and answers it.
    let code = loop {
        let frame = within(slow.recv()).await.expect("a close frame");
        if frame.opcode == CLOSE {
            break frame.close_code();
        }
    };
    assert_eq!(code, Some(1008));
    slow.send(FIN | CLOSE, &1008u16.to_be_bytes(), true).await;
    assert!(within(slow.recv()).await.is_none(), "the server ends TCP");
    let summary = within(slow_session.ended()).await;
    assert_eq!(summary.close_code, CloseCode::POLICY_VIOLATION);
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert_eq!(topics.subscribers(ROOM), 1);
}

// On the paused clock, the close timeout passes once nothing can move: the member reads
// nothing, so the close handshake never ends.
#[tokio::test(start_paused = true)]
async fn a_closed_member_that_never_reads_is_dropped_after_the_close_timeout() {
    let evicted = evict_a_slow_member(Duration::from_secs(5)).await;
    let summary = within(evicted.slow_session.ended()).await;
    assert!(
        matches!(summary.error, Some(SessionError::QueueFull)),
        "{summary:?}"
    );
    assert_eq!(summary.close_code, CloseCode::POLICY_VIOLATION);
    assert_eq!(evicted.topics.subscribers(ROOM), 1);
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn a_publish_is_compressed_once_for_the_sockets_that_can_share_it() {
    use flate2::{Decompress, FlushDecompress};
    use tower_websockets::deflate::DeflateConfig;

    let topics = Topics::new();
    let server = serve_room(&topics, |layer| {
        layer.deflate(
            DeflateConfig::new()
                .min_size(0)
                .server_context_takeover(true),
        )
    })
    .await;
    let mut sockets = Vec::new();
    for offer in [
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
        "permessage-deflate",
        "",
    ] {
        let extra = if offer.is_empty() {
            String::new()
        } else {
            format!("Sec-WebSocket-Extensions: {offer}\r\n")
        };
        let (mut socket, _) = RawSocket::connect_with(server.addr, &extra).await;
        within(socket.recv()).await.expect("joined");
        sockets.push(socket);
    }
    let message = "{\"user\":\"alice\",\"text\":\"hello\"},".repeat(64);
    assert_eq!(topics.publish(ROOM, Message::text(message.clone())), 5);
    let mut frames = Vec::new();
    for socket in &mut sockets {
        frames.push(within(socket.recv()).await.expect("the message"));
    }
    let inflate = |payload: &[u8]| {
        let mut decompress = Decompress::new_with_window_bits(false, 15);
        let mut out = Vec::with_capacity(message.len() + 64);
        let input = [payload, &[0, 0, 0xff, 0xff]].concat();
        decompress
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        String::from_utf8(out).unwrap()
    };
    // Two compressions in all: one for the two sockets with the same parameters, one for
    // the smaller window. (Equal payloads alone would not show it: deflate is
    // deterministic, so two compressions of one message are equal too.)
    assert_eq!(topics.stats().compressed, 2);
    // Same parameters: one compressed frame for both.
    assert!(frames[0].rsv1 && frames[1].rsv1);
    assert_eq!(frames[0].payload, frames[1].payload);
    assert_eq!(inflate(&frames[0].payload), message);
    // A smaller window: compressed apart, for its window.
    assert!(frames[2].rsv1);
    assert_eq!(inflate(&frames[2].payload), message);
    // With server context takeover, and without compression: as it is.
    for (i, frame) in frames.iter().enumerate().skip(3) {
        assert!(!frame.rsv1, "socket {i}");
        assert_eq!(frame.payload, message.as_bytes());
    }
}
