//! `cargo run --example topics`: the topics protocol's reference server, over real sockets
//! with the real binary: the subprotocol, subscribe and publish with positions, recovery
//! within its history (`HISTORY`), and its `/stats`.

use serde_json::{json, Value};

use crate::{
    common::{raw_http, sample, upgrade_request},
    topics_protocol::Peer,
};

#[tokio::test]
async fn the_server_speaks_the_protocol_and_keeps_history_as_configured() {
    let (_sample, addr) = sample::start_with("topics", &[("HISTORY", "3")]);
    let url = format!("ws://{addr}/topics");
    // No subprotocol, no socket.
    let (status, _, _) = raw_http(addr, &upgrade_request("/topics", "")).await;
    assert_eq!(status, 400);

    let mut reader = Peer::connect_to(&url).await;
    let subscribed = reader.subscribe("news", None).await;
    let mut writer = Peer::connect_to(&url).await;
    for i in 1..=5 {
        writer
            .ask("publish", json!({"topic": "news", "data": i}))
            .await;
        assert_eq!(writer.next().await["offset"], i);
        assert_eq!(reader.publication().await, (i, json!(i)));
    }
    // Back from offset 1: four missed, three kept.
    let mut late = Peer::connect_to(&url).await;
    let since = json!({"epoch": subscribed["epoch"], "offset": 1});
    let reply = late.subscribe("news", Some(&since)).await;
    assert_eq!(
        (reply["recovered"].clone(), reply["replayed"].clone()),
        (json!(false), json!(3))
    );
    for i in 3..=5 {
        assert_eq!(late.publication().await, (i, json!(i)));
    }

    let (status, _, body) = raw_http(
        addr,
        "GET /stats HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["published"], 5);
    assert_eq!(stats["publications_kept"], 3);
    assert_eq!(
        (stats["recoveries"].clone(), stats["not_recovered"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(stats["subscriptions"], 2);
}

/// Two processes of the sample on one Redis: a client of one calls (through the sample's
/// `ask` and `notify`) a client of the other, and when that other process is killed
/// mid-call, the call fails at its timeout.
#[cfg(feature = "redis")]
#[tokio::test]
async fn a_client_calls_a_client_of_another_process_which_is_killed_mid_call() {
    use std::time::{Duration, Instant};

    use crate::common::redis_server::{server_channel_subscribed, RedisServer};

    let redis = RedisServer::start().await;
    let url = redis.url();
    let (ours, our_addr) = sample::start_with("topics", &[("REDIS_URL", &url)]);
    let (mut theirs, their_addr) = sample::start_with("topics", &[("REDIS_URL", &url)]);
    for sample in [&ours, &theirs] {
        assert!(sample.line().contains("shared through Redis"));
    }
    let mut ann = Peer::connect_to(&format!("ws://{our_addr}/topics")).await;
    let mut bea = Peer::connect_to(&format!("ws://{their_addr}/topics")).await;
    let bea_id = bea.welcome["connection"].as_str().unwrap().to_owned();
    // Calls to bea go to its server's channel: wait until Redis has it subscribed.
    let (server, _) = bea_id.split_once('-').unwrap();
    server_channel_subscribed(&redis, "topics:", server).await;

    // Through ann's server and Redis to bea, and bea's answer back.
    let params = json!({"connection": bea_id, "method": "confirm", "params": "sure?"});
    let call = ann
        .ask("call", json!({"method": "ask", "params": params}))
        .await;
    let invoke = bea.next().await;
    assert_eq!(
        (&invoke["type"], &invoke["method"], &invoke["params"]),
        (&json!("invoke"), &json!("confirm"), &json!("sure?")),
        "{invoke}"
    );
    bea.send(json!({"type": "return", "id": invoke["id"], "result": true}))
        .await;
    assert_eq!(
        ann.next().await,
        json!({"type": "result", "id": call, "result": true})
    );

    // A message to bea, without an answer.
    let params = json!({"connection": bea_id, "data": {"text": "hello from ann's server"}});
    let call = ann
        .ask("call", json!({"method": "notify", "params": params}))
        .await;
    assert_eq!(ann.next().await["id"], call);
    assert_eq!(
        bea.next().await,
        json!({"type": "message", "data": {"text": "hello from ann's server"}})
    );

    // bea's server dies while bea holds a call unanswered: the call fails at its timeout.
    let timeout = 1_000;
    let params = json!({"connection": bea_id, "method": "confirm", "timeout": timeout});
    let started = Instant::now();
    let call = ann
        .ask("call", json!({"method": "ask", "params": params}))
        .await;
    assert_eq!(bea.next().await["method"], "confirm");
    theirs.child.kill().unwrap();
    theirs.child.wait().unwrap();
    let reply = ann.next().await;
    assert_eq!(reply["id"], call, "{reply}");
    assert_eq!(
        (&reply["type"], &reply["code"]),
        (&json!("error"), &json!("timeout")),
        "{reply}"
    );
    assert!(started.elapsed() >= Duration::from_millis(timeout));
    drop(ours);
}
