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
