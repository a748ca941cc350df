//! `cargo run --example dashboard`: ticks published to every page subscribed, the page's
//! commands as calls with typed answers (and the server calling the page back), and a
//! graceful shutdown, over real sockets with the real binary.

use std::time::Duration;

use futures_util::{future::join_all, SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    common::{sample, within, Client},
    topics_protocol::Peer,
};

/// How many clients watch the ticks at once.
const CLIENTS: usize = 1_000;

/// A page's connection, subscribed to the ticks.
async fn watch(addr: std::net::SocketAddr) -> Peer {
    let mut peer = Peer::connect_to(&format!("ws://{addr}/ws")).await;
    peer.subscribe("ticks", None).await;
    peer
}

/// The next message that is not a tick.
async fn next_other(peer: &mut Peer) -> Value {
    loop {
        let message = peer.next().await;
        if message["type"] != "publication" {
            return message;
        }
    }
}

/// Calls `method` with `params` and returns the answer (a `result` or an `error`).
async fn call(peer: &mut Peer, method: &str, params: Value) -> Value {
    let id = peer
        .ask("call", json!({"method": method, "params": params}))
        .await;
    let answer = next_other(peer).await;
    assert_eq!(answer["id"], id, "{answer}");
    answer
}

/// The code of the server's close frame, past any ticks before it; then the client answers
/// the close and the server ends the connection.
async fn close_code(client: &mut Client) -> u16 {
    let code = loop {
        match within(client.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    // Reading on sends the client's answer, as a browser does at once.
    assert!(within(client.next()).await.is_none());
    code
}

/// Reads `count` ticks, failing on a gap between them.
async fn consecutive_ticks(peer: &mut Peer, count: u64) {
    let mut last: Option<u64> = None;
    for _ in 0..count {
        let (_, tick) = peer.publication().await;
        let n = tick["n"].as_u64().unwrap();
        if let Some(last) = last {
            assert_eq!(n, last + 1, "a tick was missed");
        }
        last = Some(n);
    }
}

#[tokio::test]
async fn a_thousand_pages_each_receive_every_tick() {
    let _heavy = crate::common::heavy().await;
    let (_sample, addr) = sample::start_with("dashboard", &[("TICK_MS", "100")]);
    let mut pages = join_all((0..CLIENTS).map(|_| watch(addr))).await;
    // Every page sees ticks in order with none missing, from the first it gets.
    let checks = join_all(pages.iter_mut().map(|page| consecutive_ticks(page, 5)));
    tokio::time::timeout(Duration::from_secs(120), checks)
        .await
        .expect("every page got five ticks in a row");
    // The ticks count the watchers: all of them, once all were connected.
    let mut probe = watch(addr).await;
    let mut viewers = 0;
    while viewers != CLIENTS + 1 {
        let (_, tick) = probe.publication().await;
        viewers = tick["viewers"].as_u64().unwrap() as usize;
        assert!(viewers <= CLIENTS + 1, "{tick}");
    }
}

#[tokio::test]
async fn calls_get_typed_answers_the_server_calls_back_and_bad_calls_an_error() {
    let (_sample, addr) = sample::start_with("dashboard", &[("TICK_MS", "50")]);
    let mut page = watch(addr).await;
    consecutive_ticks(&mut page, 2).await;

    assert_eq!(
        call(&mut page, "add", json!({"a": 2, "b": 3})).await["result"],
        5
    );
    assert_eq!(
        call(&mut page, "echo", json!({"text": "héllo"})).await["result"],
        "héllo"
    );
    assert_eq!(call(&mut page, "viewers", Value::Null).await["result"], 1);
    for (method, params, code) in [
        ("add", json!({"a": i64::MAX, "b": 1}), "overflow"),
        ("add", json!({"a": "two", "b": 3}), "bad_params"),
        ("delete_everything", Value::Null, "unknown_method"),
    ] {
        let answer = call(&mut page, method, params).await;
        assert_eq!(
            (&answer["type"], &answer["code"]),
            (&json!("error"), &json!(code)),
            "{answer}"
        );
    }
    // Only the server publishes the ticks.
    let id = page
        .ask("publish", json!({"topic": "ticks", "data": {"n": 0}}))
        .await;
    let refused = next_other(&mut page).await;
    assert_eq!(
        (&refused["id"], &refused["code"]),
        (&json!(id), &json!("forbidden"))
    );

    // `greet`: the server calls the page's `name`, then answers with it.
    let id = page.ask("call", json!({"method": "greet"})).await;
    let invoke = next_other(&mut page).await;
    assert_eq!(
        (&invoke["type"], &invoke["method"]),
        (&json!("invoke"), &json!("name")),
        "{invoke}"
    );
    page.send(json!({"type": "return", "id": invoke["id"], "result": "Ada"}))
        .await;
    let greeting = next_other(&mut page).await;
    assert_eq!(
        greeting,
        json!({"type": "result", "id": id, "result": "Hello, Ada!"})
    );

    // A message over the protocol's limit closes the socket with 1009.
    let huge = json!({"type": "call", "id": 99, "method": "echo", "params": {"text": "x".repeat(100_000)}});
    page.client
        .send(Message::text(huge.to_string()))
        .await
        .unwrap();
    // (The server fails the connection: it reads no more of it, so the client's answer
    // to the close may find it gone.)
    let code = loop {
        match within(page.client.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, 1009);
}

#[tokio::test]
async fn ctrl_c_closes_the_sockets_with_1001_and_the_server_exits() {
    let (mut sample, addr) = sample::start_with("dashboard", &[("TICK_MS", "50")]);
    let mut page = watch(addr).await;
    consecutive_ticks(&mut page, 1).await;
    let pid = sample.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(close_code(&mut page.client).await, 1001);
    assert_eq!(sample.line(), "shut down: 1 sockets closed, 0 dropped");
    let exit = sample::wait_for(&mut sample.child, Duration::from_secs(10))
        .expect("the server exits after its shutdown");
    assert!(exit.success(), "{exit:?}");
}
