//! Topics' history in a real `redis-server`, shared by two servers: one order of offsets
//! for both, a client that drops from server A recovering on server B with every missed
//! publication once, a gap past the history flagged, a Redis that lost its data answering
//! "not recovered", a burst of recoveries reading each topic once, recoveries of many
//! topics at once each given its own topic's stream, and a publish while Redis is down
//! refused.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{
    common::{redis_server::RedisServer, serve, Server},
    topics_protocol::Peer,
};
use tower_websockets::{protocol::TopicsProtocol, redis::RedisBackplane, topics::History, Topics};

/// A server of the protocol whose topics keep `kept` publications, in the Redis at `url`.
async fn server(url: &str, prefix: &str, kept: usize) -> (Topics, Server) {
    let backplane = RedisBackplane::builder(url)
        .prefix(prefix)
        .health_interval(Duration::from_millis(100))
        .connect()
        .await
        .expect("connected to Redis");
    let topics = Topics::builder()
        .history(History::new().max_publications(kept))
        .backplane(backplane)
        .build();
    // The tests publish in bursts, past the default rate for one client.
    let protocol = TopicsProtocol::new(topics.clone()).publish_rate(u32::MAX);
    let server = serve(protocol.layer().path("/topics")).await;
    (topics, server)
}

/// Waits until `condition` holds, checking every 20 ms; fails the test after 20 s.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes `from..=to` to `topic` through `peer`, each acknowledged with its offset.
async fn publish(
    peer: &mut Peer,
    topic: &str,
    numbers: std::ops::RangeInclusive<u64>,
) -> Vec<Value> {
    let mut replies = Vec::new();
    for i in numbers {
        peer.ask("publish", json!({"topic": topic, "data": i}))
            .await;
        let reply = peer.next().await;
        assert_eq!(reply["type"], "published", "{reply}");
        replies.push(reply);
    }
    replies
}

#[tokio::test]
async fn a_client_that_drops_from_one_server_recovers_on_the_other() {
    let redis = RedisServer::start().await;
    let (_a, server_a) = server(&redis.url(), "move:", 100).await;
    let (b, server_b) = server(&redis.url(), "move:", 100).await;
    let mut ada = Peer::connect(&server_a).await;
    let first = ada.subscribe("room", None).await;
    assert_eq!(first["offset"], 0);
    let mut watcher = Peer::connect(&server_b).await;
    let on_b = watcher.subscribe("room", None).await;
    assert_eq!(on_b["epoch"], first["epoch"], "one stream for both servers");

    // Published on B: both servers deliver the same offsets.
    let mut bob = Peer::connect(&server_b).await;
    let acks = publish(&mut bob, "room", 1..=5).await;
    assert_eq!(acks[4]["offset"], 5);
    assert_eq!(acks[4]["epoch"], first["epoch"]);
    let mut last = Value::Null;
    for i in 1..=5 {
        last = ada.next().await;
        assert_eq!(
            (last["offset"].clone(), last["data"].clone()),
            (json!(i), json!(i))
        );
        assert_eq!(watcher.publication().await, (i, json!(i)));
    }
    ada.close().await;

    // Fifty while ada is away; she comes back on B.
    publish(&mut bob, "room", 6..=55).await;
    let mut ada = Peer::connect(&server_b).await;
    let since = json!({"epoch": last["epoch"], "offset": last["offset"]});
    let reply = ada.subscribe("room", Some(&since)).await;
    assert_eq!(
        (reply["recovered"].clone(), reply["replayed"].clone()),
        (json!(true), json!(50)),
        "{reply}"
    );
    for i in 6..=55 {
        assert_eq!(ada.publication().await, (i, json!(i)));
    }
    // Then live, published on A.
    let mut cy = Peer::connect(&server_a).await;
    publish(&mut cy, "room", 56..=56).await;
    assert_eq!(ada.publication().await, (56, json!(56)));
    // B's copy was current (its watcher kept the channel): no read for ada.
    let history = b.stats().history.unwrap();
    assert_eq!((history.recovered, history.reads), (1, 1), "{history:?}");
}

#[tokio::test]
async fn a_gap_past_the_history_is_flagged_across_servers() {
    let redis = RedisServer::start().await;
    let (_a, server_a) = server(&redis.url(), "gap:", 10).await;
    let (_b, server_b) = server(&redis.url(), "gap:", 10).await;
    let mut ada = Peer::connect(&server_a).await;
    let first = ada.subscribe("room", None).await;
    ada.close().await;
    let mut bob = Peer::connect(&server_b).await;
    publish(&mut bob, "room", 1..=30).await;
    let mut ada = Peer::connect(&server_b).await;
    let since = json!({"epoch": first["epoch"], "offset": 0});
    let reply = ada.subscribe("room", Some(&since)).await;
    assert_eq!(
        (reply["recovered"].clone(), reply["replayed"].clone()),
        (json!(false), json!(10))
    );
    for i in 21..=30 {
        assert_eq!(ada.publication().await, (i, json!(i)));
    }
    // Redis keeps ten, no more.
    let mut connection = redis.inspect().await;
    let kept: u64 = redis::cmd("XLEN")
        .arg("gap:room:history")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(kept, 10);
}

#[tokio::test]
async fn a_redis_that_lost_its_data_answers_not_recovered_never_a_silent_gap() {
    let mut redis = RedisServer::start().await;
    let (a, server_a) = server(&redis.url(), "lost:", 100).await;
    let (b, server_b) = server(&redis.url(), "lost:", 100).await;
    let mut stayed = Peer::connect(&server_a).await;
    let first = stayed.subscribe("room", None).await;
    let mut bob = Peer::connect(&server_b).await;
    publish(&mut bob, "room", 1..=3).await;
    for i in 1..=3 {
        assert_eq!(stayed.publication().await, (i, json!(i)));
    }

    redis.kill();
    until("both servers see Redis gone", || {
        !a.stats().backplane.unwrap().connected && !b.stats().backplane.unwrap().connected
    })
    .await;
    // A publish while Redis is down is refused, not lost in silence.
    bob.ask("publish", json!({"topic": "room", "data": "lost"}))
        .await;
    let refused = bob.next().await;
    assert_eq!(
        (refused["type"].clone(), refused["code"].clone()),
        (json!("error"), json!("unavailable"))
    );

    redis.restart().await;
    until("both servers see Redis back", || {
        a.stats().backplane.unwrap().connected && b.stats().backplane.unwrap().connected
    })
    .await;
    // The channel is subscribed again once the health check finds Redis: publish until
    // the client that stayed hears one.
    let deadline = Instant::now() + Duration::from_secs(20);
    let heard = loop {
        let reply = publish(&mut bob, "room", 1..=1).await.remove(0);
        assert_ne!(
            reply["epoch"], first["epoch"],
            "a new epoch after the data was lost"
        );
        let next = tokio::time::timeout(Duration::from_millis(500), stayed.next()).await;
        if let Ok(message) = next {
            break message;
        }
        assert!(
            Instant::now() < deadline,
            "the client that stayed never heard again"
        );
    };
    // It sees the epoch change: it knows it may have missed publications.
    assert_eq!(heard["type"], "publication");
    assert_ne!(heard["epoch"], first["epoch"]);

    // One who was away comes back with the old position: not recovered.
    let mut back = Peer::connect(&server_b).await;
    let since = json!({"epoch": first["epoch"], "offset": 3});
    let reply = back.subscribe("room", Some(&since)).await;
    assert_eq!(
        (reply["recovered"].clone(), reply["replayed"].clone()),
        (json!(false), json!(0))
    );
    assert_eq!(reply["epoch"], heard["epoch"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_recoveries_reads_each_topic_once() {
    let redis = RedisServer::start().await;
    let (_a, server_a) = server(&redis.url(), "burst:", 100).await;
    let (b, server_b) = server(&redis.url(), "burst:", 100).await;
    let mut first = Peer::connect(&server_a).await;
    let subscribed = first.subscribe("room", None).await;
    let mut bob = Peer::connect(&server_a).await;
    publish(&mut bob, "room", 1..=20).await;
    // Forty clients come back to B at once, each from offset 10.
    let since = json!({"epoch": subscribed["epoch"], "offset": 10});
    let mut clients = Vec::new();
    for _ in 0..40 {
        let url = server_b.url("/topics");
        let since = since.clone();
        clients.push(tokio::spawn(async move {
            let mut peer = Peer::connect_to(&url).await;
            let reply = peer.subscribe("room", Some(&since)).await;
            assert_eq!(reply["recovered"], true, "{reply}");
            for i in 11..=20 {
                assert_eq!(peer.publication().await, (i, json!(i)));
            }
            peer
        }));
    }
    let mut peers = Vec::new();
    for client in clients {
        peers.push(client.await.unwrap());
    }
    let history = b.stats().history.unwrap();
    assert_eq!(history.recovered, 40);
    assert_eq!(history.reads, 1, "{history:?}");
    assert_eq!(history.reads_coalesced, 39);
}

/// Recoveries of many topics at once on a server that subscribes to none of them yet: the
/// SUBSCRIBEs their channels need go to Redis while the topics' histories are read, and
/// each client is given its own topic's stream (Redis answers a SUBSCRIBE once for each
/// channel it names; a reply taken for another command's would hand one topic's history
/// to another's clients).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recoveries_of_many_topics_at_once_each_read_their_own_topic() {
    const TOPICS: usize = 64;
    let redis = RedisServer::start().await;
    let (_a, server_a) = server(&redis.url(), "many:", 100).await;
    let (b, server_b) = server(&redis.url(), "many:", 100).await;
    // Three publications on each topic, published on A; each topic's first position kept.
    let mut publisher = Peer::connect(&server_a).await;
    let mut firsts = Vec::new();
    for topic in 0..TOPICS {
        let name = format!("t{topic}");
        let mut acks = Vec::new();
        for n in 1..=3 {
            publisher
                .ask(
                    "publish",
                    json!({"topic": name, "data": {"topic": topic, "n": n}}),
                )
                .await;
            let ack = publisher.next().await;
            assert_eq!(ack["type"], "published", "{ack}");
            acks.push(ack);
        }
        firsts.push(json!({"epoch": acks[0]["epoch"], "offset": acks[0]["offset"]}));
    }
    // One client a topic comes back to B at once, from its topic's first publication.
    let mut clients = Vec::new();
    for (topic, since) in firsts.into_iter().enumerate() {
        let url = server_b.url("/topics");
        clients.push(tokio::spawn(async move {
            let mut peer = Peer::connect_to(&url).await;
            let name = format!("t{topic}");
            let reply = peer.subscribe(&name, Some(&since)).await;
            assert_eq!(reply["epoch"], since["epoch"], "{name}: {reply}");
            assert_eq!(
                (&reply["recovered"], &reply["replayed"]),
                (&json!(true), &json!(2)),
                "{name}: {reply}"
            );
            for n in 2..=3 {
                let (offset, data) = peer.publication().await;
                assert_eq!(
                    (offset, data),
                    (n, json!({"topic": topic, "n": n})),
                    "{name}"
                );
            }
            peer
        }));
    }
    for client in clients {
        client.await.expect("every client recovers its own topic");
    }
    let history = b.stats().history.unwrap();
    assert_eq!(
        (history.recovered, history.not_recovered),
        (TOPICS as u64, 0)
    );
}
