//! `cargo run --example chat`: rooms as topics of the topics protocol, over real sockets,
//! with the real binary; the page and the client it imports.

use serde_json::json;

use crate::{
    common::{raw_http, sample},
    topics_protocol::Peer,
};

/// A member of `room`, on the chat at `addr`.
async fn join(addr: std::net::SocketAddr, room: &str) -> Peer {
    let mut peer = Peer::connect_to(&format!("ws://{addr}/chat")).await;
    peer.subscribe(room, None).await;
    peer
}

/// Says `text` in `room` as `name`.
async fn say(peer: &mut Peer, room: &str, name: &str, text: &str) {
    peer.ask(
        "publish",
        json!({"topic": room, "data": {"name": name, "text": text}}),
    )
    .await;
}

/// The next chat message `peer` receives, skipping the replies to its own requests.
async fn heard(peer: &mut Peer) -> serde_json::Value {
    loop {
        let message = peer.next().await;
        if message["type"] == "publication" {
            return message["data"].clone();
        }
        assert_eq!(message["type"], "published", "{message}");
    }
}

/// The member count the page shows.
async fn members(addr: std::net::SocketAddr, room: &str) -> String {
    let request = format!("GET /members?room={room} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (status, _, body) = raw_http(addr, &request).await;
    assert_eq!(status, 200);
    body
}

#[tokio::test]
async fn members_of_a_room_get_every_message_and_other_rooms_none() {
    let (sample, addr) = sample::start("chat");
    let (status, _, page) = raw_http(addr, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, 200);
    for needle in [
        "id=\"room\"",
        "id=\"name\"",
        ">Join<",
        "id=\"members\"",
        ">Send<",
        "import { TopicsClient } from \"/client.js\"",
    ] {
        assert!(page.contains(needle), "the page lacks {needle}");
    }
    let (status, head, client) =
        raw_http(addr, "GET /client.js HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/javascript"),
        "{head}"
    );
    assert!(client.contains("export class TopicsClient"));

    let mut ada = join(addr, "tea room").await;
    let mut bob = join(addr, "tea room").await;
    let mut eve = join(addr, "lobby").await;
    assert_eq!(
        members(addr, "tea%20room").await,
        "{\"room\":\"tea room\",\"members\":2}"
    );

    say(&mut ada, "tea room", "ada", "hello ✓").await;
    for member in [&mut ada, &mut bob] {
        assert_eq!(
            heard(member).await,
            json!({"name": "ada", "text": "hello ✓"})
        );
    }
    say(&mut bob, "tea room", "bob", "hi").await;
    for member in [&mut ada, &mut bob] {
        assert_eq!(heard(member).await, json!({"name": "bob", "text": "hi"}));
    }
    // The lobby heard nothing: its next message is its own.
    say(&mut eve, "lobby", "eve", "anyone?").await;
    assert_eq!(
        heard(&mut eve).await,
        json!({"name": "eve", "text": "anyone?"})
    );

    // A room name that is not one is refused.
    let long = "x".repeat(65);
    for action in ["subscribe", "publish"] {
        let id = eve.ask(action, json!({"topic": long, "data": 1})).await;
        let mut error = eve.next().await;
        while error["type"] == "published" {
            error = eve.next().await;
        }
        assert_eq!(
            (error["id"].clone(), error["code"].clone()),
            (json!(id), json!("forbidden"))
        );
    }
    // Without the subprotocol, no socket.
    let request = "GET /chat HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
                   Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    assert_eq!(raw_http(addr, request).await.0, 400);
    drop(sample);
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn two_chat_processes_on_one_redis_share_their_rooms() {
    use crate::common::{
        redis_server::{subscribers, RedisServer},
        within,
    };
    let redis = RedisServer::start().await;
    let url = redis.url();
    let (first, first_addr) = sample::start_with("chat", &[("REDIS_URL", &url)]);
    let (second, second_addr) = sample::start_with("chat", &[("REDIS_URL", &url)]);
    assert!(first.line().contains("shared through Redis"));
    assert!(second.line().contains("shared through Redis"));
    let mut ada = join(first_addr, "shared").await;
    let mut bob = join(second_addr, "shared").await;
    // Both processes subscribed the room's channel once their member joined.
    let mut connection = redis.inspect().await;
    within(async {
        while subscribers(&mut connection, "chat:shared").await != 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    say(&mut ada, "shared", "ada", "over there?").await;
    for member in [&mut ada, &mut bob] {
        assert_eq!(
            heard(member).await,
            json!({"name": "ada", "text": "over there?"})
        );
    }
    say(&mut bob, "shared", "bob", "yes").await;
    for member in [&mut ada, &mut bob] {
        assert_eq!(heard(member).await, json!({"name": "bob", "text": "yes"}));
    }
}

#[cfg(feature = "redis")]
#[test]
fn a_bad_or_unreachable_redis_url_stops_the_sample_with_a_clear_message() {
    // A port where nothing listens, and a URL that is not one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("redis://127.0.0.1:{port}");
    for url in [unreachable.as_str(), "not a url"] {
        let output = std::process::Command::new(sample::example_binary("chat"))
            .env("PORT", "0")
            .env("REDIS_URL", url)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!("chat: REDIS_URL {url}: ")),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
