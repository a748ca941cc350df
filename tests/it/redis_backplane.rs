//! Topics shared by two servers through a real `redis-server`: delivery both ways without
//! duplicates, a Redis restart mid-test, and no Redis subscription left behind.

use std::time::{Duration, Instant};

use futures_util::SinkExt;

use crate::{
    common::{
        next_data,
        redis_server::{subscribers, RedisServer},
        within, Client, Server,
    },
    topics::{join, serve_room, text, ROOM},
};
use tower_websockets::{redis::RedisBackplane, topics::BackplaneStats, Topics};

/// A hub on the Redis at `url`, with `prefix`.
async fn hub(url: &str, prefix: &str) -> Topics {
    let backplane = RedisBackplane::builder(url)
        .prefix(prefix)
        .health_interval(Duration::from_millis(100))
        .connect()
        .await
        .expect("connected to Redis");
    Topics::builder().backplane(backplane).build()
}

fn backplane(topics: &Topics) -> BackplaneStats {
    topics.stats().backplane.expect("a backplane")
}

/// Waits until `condition` holds, checking every 20 ms; fails the test after 20 s.
async fn until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The topics' channels Redis has subscribers for, matching `pattern` (not the servers'
/// own channels, whose names are not UTF-8).
async fn channels(connection: &mut redis::aio::MultiplexedConnection, pattern: &str) -> usize {
    let channels: Vec<Vec<u8>> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg(pattern)
        .query_async(connection)
        .await
        .unwrap();
    channels
        .iter()
        .filter(|name| std::str::from_utf8(name).is_ok())
        .count()
}

/// Two servers, A and B, on one Redis.
struct Pair {
    a: Topics,
    b: Topics,
    server_a: Server,
    server_b: Server,
}

async fn pair(redis: &RedisServer, prefix: &str) -> Pair {
    let a = hub(&redis.url(), prefix).await;
    let b = hub(&redis.url(), prefix).await;
    let server_a = serve_room(&a, |layer| layer).await;
    let server_b = serve_room(&b, |layer| layer).await;
    Pair {
        a,
        b,
        server_a,
        server_b,
    }
}

#[tokio::test]
async fn members_on_two_servers_get_each_others_messages_once() {
    let redis = RedisServer::start().await;
    let Pair {
        a,
        b,
        server_a,
        server_b,
    } = pair(&redis, "two:").await;
    let mut ada = join(&server_a).await;
    let mut bob = join(&server_b).await;
    let mut cy = join(&server_b).await;
    let channel = format!("two:{ROOM}");
    let mut connection = redis.inspect().await;
    until("both servers subscribed the room", async || {
        subscribers(&mut connection, &channel).await == 2
    })
    .await;

    ada.send(text("all:from a")).await.unwrap();
    ada.send(text("all:again from a")).await.unwrap();
    bob.send(text("all:from b")).await.unwrap();
    // Each member gets each message once: its own server's directly, the other's through
    // Redis. Order holds per publisher.
    for member in [&mut ada, &mut bob, &mut cy] {
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(next_data(member).await.into_text().unwrap().to_string());
        }
        let from_a: Vec<&String> = got.iter().filter(|m| m.contains("from a")).collect();
        assert_eq!(from_a, ["from a", "again from a"], "{got:?}");
        assert_eq!(got.iter().filter(|m| *m == "from b").count(), 1, "{got:?}");
    }
    // Nothing more: a server's own messages coming back from Redis are not delivered again.
    a.publish("room", tower_websockets::Message::text("last"));
    for member in [&mut ada, &mut bob, &mut cy] {
        assert_eq!(next_data(member).await, text("last"));
    }

    let (stats_a, stats_b) = (backplane(&a), backplane(&b));
    assert!(stats_a.connected && stats_b.connected);
    assert_eq!((stats_a.messages_out, stats_a.messages_in), (3, 1));
    assert_eq!((stats_b.messages_out, stats_b.messages_in), (1, 3));
    assert_eq!(stats_a.lost + stats_b.lost, 0);
}

#[tokio::test]
async fn delivery_comes_back_after_a_redis_restart_and_the_loss_is_counted() {
    let mut redis = RedisServer::start().await;
    let Pair {
        a,
        b,
        server_a,
        server_b,
    } = pair(&redis, "restart:").await;
    let mut ada = join(&server_a).await;
    let mut bob = join(&server_b).await;
    let channel = format!("restart:{ROOM}");
    let mut connection = redis.inspect().await;
    until("both servers subscribed the room", async || {
        subscribers(&mut connection, &channel).await == 2
    })
    .await;
    ada.send(text("all:before")).await.unwrap();
    assert_eq!(next_data(&mut bob).await, text("before"));

    redis.kill();
    until("A sees Redis gone", async || !backplane(&a).connected).await;
    // Local delivery goes on; what was meant for B is lost, and counted.
    ada.send(text("all:while down")).await.unwrap();
    assert_eq!(next_data(&mut ada).await, text("before"));
    assert_eq!(next_data(&mut ada).await, text("while down"));
    assert!(backplane(&a).lost >= 1, "{:?}", backplane(&a));
    assert!(backplane(&a).last_error.is_some());

    let restarted = Instant::now();
    redis.restart().await;
    // The connection before the restart went with the old process.
    let mut connection = redis.inspect().await;
    until("both servers subscribed again", async || {
        backplane(&a).connected
            && backplane(&b).connected
            && subscribers(&mut connection, &channel).await == 2
    })
    .await;
    ada.send(text("all:after")).await.unwrap();
    // B missed "while down" and gets what came after.
    assert_eq!(next_data(&mut bob).await, text("after"));
    println!(
        "delivery back {:?} after Redis restarted",
        restarted.elapsed()
    );
    assert!(backplane(&a).reconnects >= 1 && backplane(&b).reconnects >= 1);
}

/// Has `member` join topics `t0` to `t999`, and waits until Redis has a subscriber for
/// their channels under `prefix`, and for the member's room and "second" besides.
async fn join_a_thousand(
    member: &mut Client,
    connection: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) {
    member.send(text("many:1000")).await.unwrap();
    assert_eq!(next_data(member).await, text("subscribed:1000"));
    let pattern = format!("{prefix}*");
    until("1,002 channels subscribed", async || {
        channels(connection, &pattern).await == 1_002
    })
    .await;
}

#[tokio::test]
async fn a_thousand_topics_left_leave_no_redis_subscription_behind() {
    let redis = RedisServer::start().await;
    let topics = hub(&redis.url(), "many:").await;
    let mut server = serve_room(&topics, |layer| layer).await;
    let mut member = join(&server).await;
    let session = server.next_session().await;
    let mut connection = redis.inspect().await;
    join_a_thousand(&mut member, &mut connection, "many:").await;

    member.close(None).await.unwrap();
    within(session.ended()).await;
    until("no channel left", async || {
        channels(&mut connection, "many:*").await == 0
    })
    .await;
    assert_eq!(topics.stats().topics, 0);
}

/// How many times Redis ran `command` since it started (`INFO commandstats`).
async fn calls(connection: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(connection)
        .await
        .unwrap();
    let key = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&key))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn a_thousand_topics_are_subscribed_again_in_one_pipeline_after_a_restart() {
    let mut redis = RedisServer::start().await;
    let topics = hub(&redis.url(), "again:").await;
    let server = serve_room(&topics, |layer| layer).await;
    let mut member = join(&server).await;
    let mut connection = redis.inspect().await;
    join_a_thousand(&mut member, &mut connection, "again:").await;

    redis.kill();
    until("the hub sees Redis gone", async || {
        !backplane(&topics).connected
    })
    .await;
    redis.restart().await;
    let mut connection = redis.inspect().await;
    // The health check that finds Redis back counts the reconnection and queues the
    // resync; a topic joined after that is subscribed after the resync is done.
    until("the hub reconnected", async || {
        backplane(&topics).reconnects >= 1
    })
    .await;
    member.send(text("many:1001")).await.unwrap();
    assert_eq!(next_data(&mut member).await, text("subscribed:1001"));
    until("1,003 channels subscribed", async || {
        channels(&mut connection, "again:*").await == 1_003
    })
    .await;
    // The resync (the topics and the server's own channel) and the new topic: one
    // SUBSCRIBE a channel (Redis answers a command once for each channel it names, so each
    // names one), sent in one pipeline; at most once more each for a resync asked again
    // after a failed one.
    let subscribes = calls(&mut connection, "subscribe").await;
    println!("{subscribes} SUBSCRIBE commands after the restart");
    assert!(
        (1_004..=2_008).contains(&subscribes),
        "{subscribes} SUBSCRIBE commands"
    );
    // And delivery through Redis works on every topic again: a second hub publishes to
    // the last of them.
    let other = hub(&redis.url(), "again:").await;
    other.publish("t999", tower_websockets::Message::text("back"));
    assert_eq!(next_data(&mut member).await, text("back"));
}

#[tokio::test]
async fn a_bad_or_unreachable_redis_is_an_error_at_start() {
    let error = RedisBackplane::connect("not a redis url")
        .await
        .unwrap_err();
    assert!(!error.to_string().is_empty());
    // A port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = RedisBackplane::connect(format!("redis://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(!error.to_string().is_empty(), "{error}");
}
