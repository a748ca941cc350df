//! Calls from server to client in the topics protocol (PROTOCOL.md, `invoke`, `return`,
//! `message`), over real sockets from a tungstenite client that answers them: from any
//! task through `Clients`, from inside a method to its own caller without a deadlock, the
//! client's errors and bytes, the timeout, a closed or unknown connection, and messages
//! without an answer.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite;

use crate::{
    common::{serve, within, Server},
    topics_protocol::Peer,
};
use tower_websockets::{
    identity::ConnectionId,
    protocol::{CallError, Caller, Clients, Methods, TopicsProtocol},
    Topics,
};

/// Asks its own caller to confirm, and answers what the caller said.
async fn delete(caller: Caller, clients: Clients) -> Result<Value, CallError> {
    let confirmed: bool = clients
        .call(
            caller.connection(),
            "confirm",
            "delete the room?",
            Duration::from_secs(60),
        )
        .await?;
    Ok(json!({ "deleted": confirmed }))
}

async fn server() -> (Server, Clients) {
    server_of(&Topics::new()).await
}

async fn server_of(topics: &Topics) -> (Server, Clients) {
    let topics = topics.clone();
    let clients = Clients::new(&topics);
    let protocol = TopicsProtocol::new(topics)
        .methods(Methods::new().method("delete", delete))
        .clients(clients.clone());
    (serve(protocol.layer().path("/topics")).await, clients)
}

pub(crate) fn connection(peer: &Peer) -> ConnectionId {
    peer.welcome["connection"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The next message, which must be the server's `invoke` of `method`: its id and params.
pub(crate) async fn invoked(peer: &mut Peer, method: &str) -> (u64, Value) {
    let message = peer.next().await;
    assert_eq!(
        (&message["type"], &message["method"]),
        (&json!("invoke"), &json!(method)),
        "{message}"
    );
    (message["id"].as_u64().unwrap(), message["params"].clone())
}

/// From a task of its own, as any server code would: `clients` calls `sum` on `id`.
fn sum(
    clients: &Clients,
    id: ConnectionId,
    params: Value,
) -> tokio::task::JoinHandle<Result<i64, CallError>> {
    let clients = clients.clone();
    tokio::spawn(async move {
        clients
            .call::<i64>(id, "sum", params, Duration::from_secs(60))
            .await
    })
}

#[tokio::test]
async fn server_code_calls_a_client_and_gets_its_typed_answer_or_its_error() {
    let (server, clients) = server().await;
    let mut peer = Peer::connect(&server).await;
    let id = connection(&peer);
    assert!(clients.contains(id));

    let asking = sum(&clients, id, json!([2, 40]));
    let (call, params) = invoked(&mut peer, "sum").await;
    assert_eq!(params, json!([2, 40]));
    peer.send(json!({"type": "return", "id": call, "result": 42}))
        .await;
    assert_eq!(within(asking).await.unwrap(), Ok(42));

    // The client's own error, with its code; an answer of the wrong shape.
    let asking = sum(&clients, id, json!("x"));
    let (call, _) = invoked(&mut peer, "sum").await;
    peer.send(json!({"type": "return", "id": call, "error": {"code": "bad_params", "message": "numbers, please"}}))
        .await;
    let error = within(asking).await.unwrap().unwrap_err();
    assert_eq!(
        (error.code(), error.message()),
        ("bad_params", "numbers, please")
    );
    let asking = sum(&clients, id, json!([1]));
    let (call, _) = invoked(&mut peer, "sum").await;
    peer.send(json!({"type": "return", "id": call, "result": "not a number"}))
        .await;
    assert_eq!(
        within(asking).await.unwrap().unwrap_err().code(),
        "bad_result"
    );

    // An answer in bytes, to a call that wants JSON.
    let asking = sum(&clients, id, json!([1]));
    let (call, _) = invoked(&mut peer, "sum").await;
    let header = format!(r#"{{"type":"return","id":{call}}}"#);
    let mut message = (header.len() as u32).to_be_bytes().to_vec();
    message.extend_from_slice(header.as_bytes());
    message.extend_from_slice(&[1, 2]);
    peer.client
        .send(tungstenite::Message::binary(message))
        .await
        .unwrap();
    assert_eq!(
        within(asking).await.unwrap().unwrap_err().code(),
        "bad_result"
    );

    // The connection went on through all of it: a ping is answered.
    let ping = peer.ask("ping", json!({})).await;
    assert_eq!(peer.next().await, json!({"type": "pong", "id": ping}));
}

#[tokio::test]
async fn a_method_that_calls_its_own_caller_gets_the_answer_without_a_deadlock() {
    let (server, _) = server().await;
    let mut peer = Peer::connect(&server).await;
    let delete = peer.ask("call", json!({"method": "delete"})).await;
    let (call, params) = invoked(&mut peer, "confirm").await;
    assert_eq!(params, json!("delete the room?"));
    peer.send(json!({"type": "return", "id": call, "result": true}))
        .await;
    assert_eq!(
        peer.next().await,
        json!({"type": "result", "id": delete, "result": {"deleted": true}})
    );
}

#[tokio::test]
async fn a_call_past_its_timeout_fails_and_a_late_answer_is_dropped_in_silence() {
    let (server, clients) = server().await;
    let mut peer = Peer::connect(&server).await;
    let id = connection(&peer);
    let asking = tokio::spawn({
        let clients = clients.clone();
        async move {
            clients
                .call::<Value>(id, "slow", (), Duration::from_millis(200))
                .await
        }
    });
    let (call, params) = invoked(&mut peer, "slow").await;
    assert_eq!(params, Value::Null);
    assert_eq!(within(asking).await.unwrap().unwrap_err().code(), "timeout");
    // The late answer gets no reply: the next message is the ping's.
    peer.send(json!({"type": "return", "id": call, "result": 1}))
        .await;
    peer.send(json!({"type": "return", "id": 12345, "result": 1}))
        .await;
    let ping = peer.ask("ping", json!({})).await;
    assert_eq!(peer.next().await, json!({"type": "pong", "id": ping}));
}

#[tokio::test]
async fn a_call_to_a_connection_that_is_gone_fails_at_once() {
    let (server, clients) = server().await;
    let peer = Peer::connect(&server).await;
    let id = connection(&peer);
    // A call waiting when the connection closes fails then, not at its timeout.
    let asking = tokio::spawn({
        let clients = clients.clone();
        async move {
            clients
                .call::<Value>(id, "slow", (), Duration::from_secs(3600))
                .await
        }
    });
    let mut peer = peer;
    invoked(&mut peer, "slow").await;
    peer.close().await;
    assert_eq!(within(asking).await.unwrap().unwrap_err().code(), "gone");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while clients.contains(id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection is never let go"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let error = clients
        .call::<Value>(id, "slow", (), Duration::from_secs(3600))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "gone");
    assert_eq!(clients.send(id, "anyone?").unwrap_err().code(), "gone");
    // An id of another server, or one this server never gave.
    let elsewhere: ConnectionId = "0123456789abcdef-1".parse().unwrap();
    assert_eq!(clients.send(elsewhere, 1).unwrap_err().code(), "gone");
    assert!(clients.is_empty());
}

#[tokio::test]
async fn messages_reach_a_client_without_an_answer() {
    let (server, clients) = server().await;
    let mut peer = Peer::connect(&server).await;
    let other = Peer::connect(&server).await;
    assert_eq!(clients.len(), 2);
    clients
        .send(connection(&peer), json!({"notice": "hi"}))
        .unwrap();
    assert_eq!(
        peer.next().await,
        json!({"type": "message", "data": {"notice": "hi"}})
    );
    other.close().await;
}

#[tokio::test]
async fn without_a_backplane_another_servers_connection_is_gone_and_every_clients_is_one_list() {
    let topics = Topics::new();
    let clients = Clients::new(&topics);
    let (server, same) = server_of(&topics).await;
    let peer = Peer::connect(&server).await;
    let id = connection(&peer);
    assert!(clients.contains(id) && same.contains(id));
    assert_eq!((clients.len(), Clients::new(&topics.clone()).len()), (1, 1));
    let elsewhere: ConnectionId = "00000000000000ff-1".parse().unwrap();
    let error =
        within(clients.call::<Value>(elsewhere, "sum", json!([]), Duration::from_secs(3600)))
            .await
            .unwrap_err();
    assert_eq!(error.code(), "gone");
    assert_eq!(
        clients.send(elsewhere, json!(1)).unwrap_err().code(),
        "gone"
    );
}
