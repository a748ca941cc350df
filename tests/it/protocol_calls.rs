//! Calls from client to server in the topics protocol (PROTOCOL.md, `call`), over real
//! sockets from a tungstenite client: typed methods with state, the caller's identity and
//! bytes; calls that run at once and answer out of order; the deadline, cancelling, a
//! connection dropped mid-call, a panicking method, bad params, an unknown method and the
//! bound on calls at once.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::Bytes;
use futures_util::SinkExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite;

use crate::{
    common::{serve, within, Server},
    topics_protocol::Peer,
};
use tower_websockets::{
    identity::UserId,
    protocol::{Binary, CallError, Caller, Methods, Params, State, TopicsProtocol},
    Decision, Handshake, Topics,
};

/// What the test methods share: a gate the slow ones wait at, a count of calls that
/// were dropped before they ended, and where `dropped` tells the test.
#[derive(Clone)]
struct App {
    gate: Arc<Notify>,
    dropped: Arc<AtomicUsize>,
    drops: mpsc::UnboundedSender<()>,
}

/// Counts its method's end without an answer (the call was stopped).
struct Dropped(App, bool);

impl Drop for Dropped {
    fn drop(&mut self) {
        if !self.1 {
            self.0.dropped.fetch_add(1, Ordering::SeqCst);
            let _ = self.0.drops.send(());
        }
    }
}

#[derive(Deserialize)]
struct Sum {
    a: i64,
    b: i64,
}

#[derive(Serialize)]
struct Total {
    total: i64,
}

async fn add(Params(sum): Params<Sum>) -> Result<Total, CallError> {
    let total = sum
        .a
        .checked_add(sum.b)
        .ok_or_else(|| CallError::new("overflow", "the sum is too large"))?;
    Ok(Total { total })
}

/// Waits at the gate, then answers `"opened"`.
async fn slow(State(app): State<App>) -> Result<&'static str, CallError> {
    let mut guard = Dropped(app.clone(), false);
    app.gate.notified().await;
    guard.1 = true;
    Ok("opened")
}

/// Never answers.
async fn hang(State(app): State<App>) -> Result<(), CallError> {
    let _guard = Dropped(app, false);
    std::future::pending::<()>().await;
    Ok(())
}

async fn whoami(caller: Caller) -> Result<Value, CallError> {
    Ok(json!({
        "connection": caller.connection().to_string(),
        "user": caller.user().map(UserId::as_str),
    }))
}

async fn reverse(Binary(bytes): Binary) -> Result<Binary, CallError> {
    let mut reversed = bytes.to_vec();
    reversed.reverse();
    Ok(Binary(Bytes::from(reversed)))
}

async fn boom() -> Result<(), CallError> {
    panic!("a method that panics");
}

async fn failing() -> Result<u32, CallError> {
    // An error of another kind, turned into `internal` by `?`.
    Ok("not a number".parse::<u32>()?)
}

/// A server of the protocol with the test methods; `configure` sets the rest.
async fn server(
    configure: impl FnOnce(TopicsProtocol) -> TopicsProtocol,
) -> (Server, App, mpsc::UnboundedReceiver<()>) {
    let (drops, dropped_rx) = mpsc::unbounded_channel();
    let app = App {
        gate: Arc::new(Notify::new()),
        dropped: Arc::new(AtomicUsize::new(0)),
        drops,
    };
    let methods = Methods::with_state(app.clone())
        .method("add", add)
        .method("slow", slow)
        .method("hang", hang)
        .method("whoami", whoami)
        .method("reverse", reverse)
        .method("boom", boom)
        .method("failing", failing)
        .method("echo", |Params(value): Params<Value>| async move {
            Ok::<_, CallError>(value)
        });
    let protocol = configure(TopicsProtocol::new(Topics::new()).methods(methods));
    (
        serve(protocol.layer().path("/topics")).await,
        app,
        dropped_rx,
    )
}

/// Sends a call of `method` with `params` and returns its id.
async fn call(peer: &mut Peer, method: &str, params: Value) -> u64 {
    peer.ask("call", json!({"method": method, "params": params}))
        .await
}

#[tokio::test]
async fn a_typed_method_answers_with_its_result_and_its_own_errors() {
    let (server, _, _) = server(|protocol| protocol).await;
    let mut peer = Peer::connect(&server).await;
    let id = call(&mut peer, "add", json!({"a": 2, "b": 40})).await;
    assert_eq!(
        peer.next().await,
        json!({"type": "result", "id": id, "result": {"total": 42}})
    );
    // The method's own error, with its code.
    let id = call(&mut peer, "add", json!({"a": i64::MAX, "b": 1})).await;
    let reply = peer.next().await;
    assert_eq!(
        (&reply["type"], &reply["id"], &reply["code"]),
        (&json!("error"), &json!(id), &json!("overflow")),
        "{reply}"
    );
    // Any JSON comes back as it went, `null` and no params at all included.
    for params in [
        json!(null),
        json!([1, "two", {"three": 3.5}]),
        json!("text"),
    ] {
        let id = call(&mut peer, "echo", params.clone()).await;
        assert_eq!(
            peer.next().await,
            json!({"type": "result", "id": id, "result": params})
        );
    }
    let id = peer.ask("call", json!({"method": "echo"})).await;
    assert_eq!(
        peer.next().await,
        json!({"type": "result", "id": id, "result": null})
    );
}

#[tokio::test]
async fn bad_params_an_unknown_method_and_a_call_without_a_method_are_refused_by_code() {
    let (server, _, _) = server(|protocol| protocol).await;
    let mut peer = Peer::connect(&server).await;
    let cases = [
        (
            json!({"method": "add", "params": {"a": "two", "b": 1}}),
            "bad_params",
        ),
        (json!({"method": "add"}), "bad_params"),
        (
            json!({"method": "nothing.here", "params": 1}),
            "unknown_method",
        ),
        (json!({"params": 1}), "bad_request"),
        (json!({"method": 7}), "bad_request"),
        (json!({"method": ""}), "bad_request"),
        (json!({"method": "x".repeat(257)}), "bad_request"),
    ];
    for (fields, code) in cases {
        let id = peer.ask("call", fields.clone()).await;
        let reply = peer.next().await;
        assert_eq!(
            (&reply["type"], &reply["id"], &reply["code"]),
            (&json!("error"), &json!(id), &json!(code)),
            "{fields}: {reply}"
        );
    }
    // The connection goes on.
    let id = call(&mut peer, "add", json!({"a": 1, "b": 1})).await;
    assert_eq!(peer.next().await["id"], id);
}

#[tokio::test]
async fn a_slow_call_holds_up_neither_a_fast_call_nor_other_requests() {
    let (server, app, _) = server(|protocol| protocol).await;
    let mut peer = Peer::connect(&server).await;
    let slow = call(&mut peer, "slow", json!(null)).await;
    let fast = call(&mut peer, "add", json!({"a": 1, "b": 2})).await;
    let ping = peer.ask("ping", json!({})).await;
    // The fast call and the ping are answered while the slow one waits at its gate.
    let mut seen = [peer.next().await, peer.next().await];
    seen.sort_by_key(|reply| reply["id"].as_u64());
    assert_eq!(
        seen[0],
        json!({"type": "result", "id": fast, "result": {"total": 3}})
    );
    assert_eq!(seen[1], json!({"type": "pong", "id": ping}));
    app.gate.notify_one();
    assert_eq!(
        peer.next().await,
        json!({"type": "result", "id": slow, "result": "opened"})
    );
}

#[tokio::test]
async fn a_call_past_its_deadline_is_stopped_and_answered_timeout() {
    let (server, app, mut drops) =
        server(|protocol| protocol.call_timeout(Duration::from_millis(200))).await;
    let mut peer = Peer::connect(&server).await;
    let id = call(&mut peer, "hang", json!(null)).await;
    let reply = peer.next().await;
    assert_eq!(
        (&reply["id"], &reply["code"]),
        (&json!(id), &json!("timeout")),
        "{reply}"
    );
    within(drops.recv()).await;
    assert_eq!(
        app.dropped.load(Ordering::SeqCst),
        1,
        "the method was stopped"
    );
}

#[tokio::test]
async fn a_cancelled_call_is_stopped_and_answered_once() {
    let (server, app, mut drops) = server(|protocol| protocol).await;
    let mut peer = Peer::connect(&server).await;
    let id = call(&mut peer, "hang", json!(null)).await;
    peer.send(json!({"type": "cancel", "id": id})).await;
    let reply = peer.next().await;
    assert_eq!(
        (&reply["type"], &reply["id"], &reply["code"]),
        (&json!("error"), &json!(id), &json!("cancelled")),
        "{reply}"
    );
    within(drops.recv()).await;
    assert_eq!(app.dropped.load(Ordering::SeqCst), 1);
    // A cancel of a call that is not running gets no answer: the next reply is the ping's.
    peer.send(json!({"type": "cancel", "id": id})).await;
    peer.send(json!({"type": "cancel", "id": 999})).await;
    let ping = peer.ask("ping", json!({})).await;
    assert_eq!(peer.next().await, json!({"type": "pong", "id": ping}));
    // The id may be used again.
    peer.send(json!({"type": "call", "id": id, "method": "add", "params": {"a": 1, "b": 1}}))
        .await;
    assert_eq!(
        peer.next().await,
        json!({"type": "result", "id": id, "result": {"total": 2}})
    );
}

#[tokio::test]
async fn calls_in_flight_stop_when_the_connection_drops() {
    let (server, app, mut drops) = server(|protocol| protocol).await;
    let mut peer = Peer::connect(&server).await;
    call(&mut peer, "hang", json!(null)).await;
    call(&mut peer, "slow", json!(null)).await;
    // Both are running once a later request is answered.
    let ping = peer.ask("ping", json!({})).await;
    assert_eq!(peer.next().await["id"], ping);
    drop(peer);
    within(drops.recv()).await;
    within(drops.recv()).await;
    assert_eq!(app.dropped.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_method_that_panics_or_fails_answers_internal_and_the_connection_goes_on() {
    let (server, _, _) = server(|protocol| protocol).await;
    let mut peer = Peer::connect(&server).await;
    for method in ["boom", "failing"] {
        let id = call(&mut peer, method, json!(null)).await;
        let reply = peer.next().await;
        assert_eq!(
            (&reply["id"], &reply["code"]),
            (&json!(id), &json!("internal")),
            "{reply}"
        );
        assert!(
            !reply["message"].as_str().unwrap().contains("number"),
            "says nothing of the error: {reply}"
        );
    }
    let id = call(&mut peer, "add", json!({"a": 1, "b": 1})).await;
    assert_eq!(peer.next().await["id"], id);
}

#[tokio::test]
async fn calls_past_the_bound_are_refused_and_a_running_id_is_not_taken_twice() {
    let (server, app, _) = server(|protocol| protocol.max_concurrent_calls(2)).await;
    let mut peer = Peer::connect(&server).await;
    let first = call(&mut peer, "slow", json!(null)).await;
    let second = call(&mut peer, "slow", json!(null)).await;
    let third = call(&mut peer, "add", json!({"a": 1, "b": 1})).await;
    let reply = peer.next().await;
    assert_eq!(
        (&reply["id"], &reply["code"]),
        (&json!(third), &json!("too_many_calls")),
        "{reply}"
    );
    peer.send(json!({"type": "call", "id": first, "method": "add", "params": {"a": 1, "b": 1}}))
        .await;
    let reply = peer.next().await;
    assert_eq!(
        (&reply["id"], &reply["code"]),
        (&json!(first), &json!("bad_request")),
        "{reply}"
    );
    // Both slow calls end; the bound has room again.
    app.gate.notify_one();
    app.gate.notify_one();
    let mut ends = vec![
        peer.next().await["id"].as_u64(),
        peer.next().await["id"].as_u64(),
    ];
    ends.sort();
    assert_eq!(ends, vec![Some(first), Some(second)]);
    let id = call(&mut peer, "add", json!({"a": 1, "b": 1})).await;
    assert_eq!(peer.next().await["id"], id);
}

#[tokio::test]
async fn bytes_go_both_ways_in_binary_messages() {
    let (server, _, _) = server(|protocol| protocol).await;
    let mut peer = Peer::connect(&server).await;
    let header = br#"{"type":"call","id":5,"method":"reverse"}"#;
    let mut message = (header.len() as u32).to_be_bytes().to_vec();
    message.extend_from_slice(header);
    message.extend_from_slice(&[1, 2, 3, 0xff]);
    peer.client
        .send(tungstenite::Message::binary(message))
        .await
        .unwrap();
    assert_eq!(
        peer.next().await,
        json!({"type": "result", "id": 5, "bytes": [0xff, 3, 2, 1]})
    );
    // Bytes to a method that takes JSON, and JSON to one that takes bytes.
    let header = br#"{"type":"call","id":6,"method":"add"}"#;
    let mut message = (header.len() as u32).to_be_bytes().to_vec();
    message.extend_from_slice(header);
    message.push(1);
    peer.client
        .send(tungstenite::Message::binary(message))
        .await
        .unwrap();
    assert_eq!(peer.next().await["code"], "bad_params");
    let id = call(&mut peer, "reverse", json!([1, 2])).await;
    let reply = peer.next().await;
    assert_eq!(
        (&reply["id"], &reply["code"]),
        (&json!(id), &json!("bad_params")),
        "{reply}"
    );
}

#[tokio::test]
async fn the_caller_is_named_by_the_accept_hook_or_identify_and_told_in_the_welcome() {
    // The accept hook's user wins over `identify`'s.
    let (server, _, _) = server(|protocol| {
        protocol.identify(|handshake| UserId::new(handshake.uri().query()?.strip_prefix("user=")?))
    })
    .await;
    let mut named = Peer::connect_to(&format!("{}?user=ada", server.url("/topics"))).await;
    let mut anonymous = Peer::connect(&server).await;
    let connection = named.welcome["connection"].as_str().unwrap().to_owned();
    assert_eq!(named.welcome["user"], "ada");
    assert!(
        anonymous.welcome.get("user").is_none(),
        "{}",
        anonymous.welcome
    );
    assert_ne!(anonymous.welcome["connection"], named.welcome["connection"]);
    let id = call(&mut named, "whoami", json!(null)).await;
    assert_eq!(
        named.next().await,
        json!({"type": "result", "id": id, "result": {"connection": connection, "user": "ada"}})
    );
    let id = call(&mut anonymous, "whoami", json!(null)).await;
    let reply = anonymous.next().await;
    assert_eq!(
        (&reply["id"], &reply["result"]["user"]),
        (&json!(id), &Value::Null),
        "{reply}"
    );

    // An accept hook that names the user: its name wins over `identify`'s.
    let methods = Methods::new().method("whoami", whoami);
    let layer = TopicsProtocol::new(Topics::new())
        .methods(methods)
        .identify(|_| UserId::new("from-identify"))
        .layer()
        .path("/topics")
        .on_accept(|mut handshake: Handshake| async move {
            handshake
                .extensions_mut()
                .insert(UserId::new("from-hook").unwrap());
            Decision::accept(handshake)
        });
    let hooked = serve(layer).await;
    let mut peer = Peer::connect(&hooked).await;
    assert_eq!(peer.welcome["user"], "from-hook");
    let id = call(&mut peer, "whoami", json!(null)).await;
    assert_eq!(peer.next().await["result"]["user"], "from-hook", "id {id}");
}
