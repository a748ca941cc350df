//! `cargo run --example dashboard`: ticks published to every open socket, JSON commands
//! with typed replies, and a graceful shutdown, over real sockets with the real binary.

use std::time::Duration;

use futures_util::{future::join_all, SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{next_data, sample, within, Client};

/// How many clients watch the ticks at once.
const CLIENTS: usize = 1_000;

async fn connect(addr: std::net::SocketAddr) -> Client {
    let url = format!("ws://{addr}/ws");
    within(tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .0
}

/// The next message, as JSON.
async fn next_json(client: &mut Client) -> Value {
    match next_data(client).await {
        Message::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected JSON text, got {other:?}"),
    }
}

/// The reply to `command`: the next message that is not a tick.
async fn ask(client: &mut Client, command: Message) -> Value {
    client.send(command).await.unwrap();
    loop {
        let message = next_json(client).await;
        if message["type"] != "tick" {
            return message;
        }
    }
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
async fn consecutive_ticks(client: &mut Client, count: u64) {
    let mut last: Option<u64> = None;
    for _ in 0..count {
        let tick = next_json(client).await;
        assert_eq!(tick["type"], "tick", "{tick}");
        let n = tick["n"].as_u64().unwrap();
        if let Some(last) = last {
            assert_eq!(n, last + 1, "a tick was missed");
        }
        last = Some(n);
    }
}

#[tokio::test]
async fn a_thousand_clients_each_receive_every_tick() {
    let _heavy = crate::common::heavy().await;
    let (_sample, addr) = sample::start_with("dashboard", &[("TICK_MS", "100")]);
    let mut clients = join_all((0..CLIENTS).map(|_| connect(addr))).await;
    // Every client sees ticks in order with none missing, from the first it gets.
    let checks = join_all(
        clients
            .iter_mut()
            .map(|client| consecutive_ticks(client, 5)),
    );
    tokio::time::timeout(Duration::from_secs(120), checks)
        .await
        .expect("every client got five ticks in a row");
    // The ticks count the watchers: all of them, once all were connected.
    let mut probe = connect(addr).await;
    let mut viewers = 0;
    while viewers != CLIENTS + 1 {
        let tick = next_json(&mut probe).await;
        viewers = tick["viewers"].as_u64().unwrap() as usize;
        assert!(viewers <= CLIENTS + 1, "{tick}");
    }
}

#[tokio::test]
async fn commands_get_typed_replies_and_bad_ones_an_error() {
    let (_sample, addr) = sample::start_with("dashboard", &[("TICK_MS", "50")]);
    let mut client = connect(addr).await;
    consecutive_ticks(&mut client, 2).await;

    let command = |value: Value| Message::text(value.to_string());
    assert_eq!(
        ask(&mut client, command(json!({"cmd": "add", "a": 2, "b": 3}))).await,
        json!({"type": "sum", "value": 5})
    );
    assert_eq!(
        ask(
            &mut client,
            command(json!({"cmd": "echo", "text": "héllo"}))
        )
        .await,
        json!({"type": "echo", "text": "héllo"})
    );
    assert_eq!(
        ask(&mut client, command(json!({"cmd": "viewers"}))).await,
        json!({"type": "viewers", "count": 1})
    );
    let overflow = json!({"cmd": "add", "a": i64::MAX, "b": 1});
    let reply = ask(&mut client, command(overflow)).await;
    assert_eq!(reply["type"], "error", "{reply}");
    for bad in [
        Message::text("not json"),
        command(json!({"cmd": "delete_everything"})),
        command(json!({"cmd": "add", "a": "two", "b": 3})),
        Message::binary(vec![1, 2, 3]),
    ] {
        let reply = ask(&mut client, bad.clone()).await;
        assert_eq!(reply["type"], "error", "{bad:?} got {reply}");
    }
    // A command over the 4 KiB limit closes the socket with 1009.
    let huge = command(json!({"cmd": "echo", "text": "x".repeat(5000)}));
    client.send(huge).await.unwrap();
    assert_eq!(close_code(&mut client).await, 1009);
}

#[tokio::test]
async fn ctrl_c_closes_the_sockets_with_1001_and_the_server_exits() {
    let (mut sample, addr) = sample::start_with("dashboard", &[("TICK_MS", "50")]);
    let mut client = connect(addr).await;
    consecutive_ticks(&mut client, 1).await;
    let pid = sample.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(close_code(&mut client).await, 1001);
    assert_eq!(sample.line(), "shut down: 1 sockets closed, 0 dropped");
    let exit = sample::wait_for(&mut sample.child, Duration::from_secs(10))
        .expect("the server exits after its shutdown");
    assert!(exit.success(), "{exit:?}");
}
