//! Calls from server code to a client that another server holds, through a real
//! `redis-server`: the call reaches the client and its answer (a result, bytes refused as
//! the wrong type, the client's error) comes back; messages without an answer; a closed
//! connection, and a server nobody runs; and what the backplane carries per call.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    common::{
        redis_server::{server_channel_subscribed, RedisServer},
        serve, within, Server,
    },
    protocol_invoke::{connection, invoked},
    topics_protocol::Peer,
};
use tower_websockets::{
    identity::ConnectionId,
    protocol::{CallError, Clients, TopicsProtocol},
    redis::RedisBackplane,
    Topics,
};

const PREFIX: &str = "calls:";

/// A server of the protocol on the Redis, with its hub and its `Clients`.
struct Node {
    server: Server,
    topics: Topics,
    clients: Clients,
}

async fn node(redis: &RedisServer) -> Node {
    let backplane = RedisBackplane::builder(redis.url())
        .prefix(PREFIX)
        .health_interval(Duration::from_millis(100))
        .connect()
        .await
        .expect("connected to Redis");
    let topics = Topics::builder().backplane(backplane).build();
    let clients = Clients::new(&topics);
    let protocol = TopicsProtocol::new(topics.clone()).clients(clients.clone());
    let server = serve(protocol.layer().path("/topics")).await;
    // Messages to the server come on its channel: wait until Redis has it subscribed.
    server_channel_subscribed(redis, PREFIX, &topics.server_id().to_string()).await;
    Node {
        server,
        topics,
        clients,
    }
}

/// `clients` calls `method` on `id` from a task of its own, as server code would.
fn call<R: serde::de::DeserializeOwned + Send + 'static>(
    clients: &Clients,
    id: ConnectionId,
    method: &'static str,
    params: Value,
    timeout: Duration,
) -> tokio::task::JoinHandle<Result<R, CallError>> {
    let clients = clients.clone();
    tokio::spawn(async move { clients.call::<R>(id, method, params, timeout).await })
}

#[tokio::test]
async fn a_call_reaches_a_client_on_another_server_and_its_answer_comes_back() {
    let redis = RedisServer::start().await;
    let a = node(&redis).await;
    let b = node(&redis).await;
    let mut bea = Peer::connect(&b.server).await;
    let id = connection(&bea);
    assert_eq!(id.server(), b.topics.server_id());
    assert!(!a.clients.contains(id), "A does not hold it");
    let long = Duration::from_secs(60);

    // Two calls at once, answered in the other order, each gets its own answer.
    let first = call::<i64>(&a.clients, id, "sum", json!([1, 2]), long);
    let (first_id, params) = invoked(&mut bea, "sum").await;
    assert_eq!(params, json!([1, 2]));
    let second = call::<i64>(&a.clients, id, "sum", json!([10, 20]), long);
    let (second_id, params) = invoked(&mut bea, "sum").await;
    assert_eq!(params, json!([10, 20]));
    bea.send(json!({"type": "return", "id": second_id, "result": 30}))
        .await;
    bea.send(json!({"type": "return", "id": first_id, "result": 3}))
        .await;
    assert_eq!(within(second).await.unwrap(), Ok(30));
    assert_eq!(within(first).await.unwrap(), Ok(3));

    // The client's error, with its code.
    let refused = call::<Value>(&a.clients, id, "confirm", json!("sure?"), long);
    let (invoke, _) = invoked(&mut bea, "confirm").await;
    bea.send(json!({
        "type": "return", "id": invoke,
        "error": {"code": "declined", "message": "no"}
    }))
    .await;
    let error = within(refused).await.unwrap().unwrap_err();
    assert_eq!((error.code(), error.message()), ("declined", "no"));

    // An answer of the wrong type.
    let wrong = call::<i64>(&a.clients, id, "sum", json!([]), long);
    let (invoke, _) = invoked(&mut bea, "sum").await;
    bea.send(json!({"type": "return", "id": invoke, "result": "three"}))
        .await;
    assert_eq!(
        within(wrong).await.unwrap().unwrap_err().code(),
        "bad_result"
    );

    // A message without an answer.
    a.clients.send(id, json!({"text": "from A"})).unwrap();
    let message = bea.next().await;
    assert_eq!(
        message,
        json!({"type": "message", "data": {"text": "from A"}})
    );

    // B counted what came for its client, A what went.
    let (a_stats, b_stats) = (
        a.topics.stats().backplane.unwrap(),
        b.topics.stats().backplane.unwrap(),
    );
    assert!(b_stats.messages_in >= 5, "{b_stats:?}");
    assert!(a_stats.messages_in >= 4, "the answers: {a_stats:?}");
    bea.close().await;
}

#[tokio::test]
async fn a_call_to_a_closed_connection_or_a_stopped_server_fails() {
    let redis = RedisServer::start().await;
    let a = node(&redis).await;
    let b = node(&redis).await;
    let bea = Peer::connect(&b.server).await;
    let id = connection(&bea);
    bea.close().await;
    within(async {
        while b.clients.contains(id) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // B answers at once that it does not hold the connection: the long timeout does not
    // run out.
    let gone = call::<Value>(&a.clients, id, "sum", json!([]), Duration::from_secs(3600));
    assert_eq!(within(gone).await.unwrap().unwrap_err().code(), "gone");

    // A server nobody runs: Redis says no server took the call, which fails at once
    // (the long timeout does not run out). A server that dies mid-call is the topics
    // example's test: that call fails at its timeout.
    let nobody: ConnectionId = "00000000000000ff-1".parse().unwrap();
    let long = Duration::from_secs(3600);
    let error = within(a.clients.call::<Value>(nobody, "sum", json!([]), long))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "unavailable", "{error}");
    assert!(a
        .clients
        .send(nobody, json!("passed on, not delivered"))
        .is_ok());
}
