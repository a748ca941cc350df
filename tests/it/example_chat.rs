//! `cargo run --example chat`: rooms over real sockets, with the real binary.

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{next_data, raw_http, sample, within, Client};

async fn join(addr: std::net::SocketAddr, room: &str) -> Client {
    let url = format!("ws://{addr}/chat?room={room}");
    let (client, response) = within(tokio_tungstenite::connect_async(url)).await.unwrap();
    assert_eq!(response.status(), 101);
    client
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
    ] {
        assert!(page.contains(needle), "the page lacks {needle}");
    }

    let mut ada = join(addr, "tea%20room").await;
    let mut bob = join(addr, "tea+room").await;
    let mut eve = join(addr, "lobby").await;
    // Each member is subscribed by the time its handler reads: wait until both count.
    within(async {
        while members(addr, "tea%20room").await != "{\"room\":\"tea room\",\"members\":2}" {
            tokio::task::yield_now().await;
        }
    })
    .await;

    ada.send(Message::text("ada: hello ✓")).await.unwrap();
    for member in [&mut ada, &mut bob] {
        assert_eq!(next_data(member).await, Message::text("ada: hello ✓"));
    }
    bob.send(Message::text("bob: hi")).await.unwrap();
    for member in [&mut ada, &mut bob] {
        assert_eq!(next_data(member).await, Message::text("bob: hi"));
    }
    // The lobby heard nothing: its next message is its own.
    eve.send(Message::text("eve: anyone?")).await.unwrap();
    assert_eq!(next_data(&mut eve).await, Message::text("eve: anyone?"));

    // A missing or overlong room is refused before the upgrade, with a reason.
    let long = "x".repeat(65);
    for query in ["", "?room=", &format!("?room={long}"), "?room=%FF"] {
        let request = format!(
            "GET /chat{query} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        let (status, _, body) = raw_http(addr, &request).await;
        assert_eq!(status, 400, "{query}");
        assert!(body.contains("?room=NAME"), "{body}");
    }
    drop(sample);
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn two_chat_processes_on_one_redis_share_their_rooms() {
    use crate::common::redis_server::{subscribers, RedisServer};
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
    ada.send(Message::text("ada: over there?")).await.unwrap();
    for member in [&mut ada, &mut bob] {
        assert_eq!(next_data(member).await, Message::text("ada: over there?"));
    }
    bob.send(Message::text("bob: yes")).await.unwrap();
    for member in [&mut ada, &mut bob] {
        assert_eq!(next_data(member).await, Message::text("bob: yes"));
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
