//! `cargo run --example axum`: the README's quick start (a room socket mounted by the
//! router, its handler holding the app's state) and the layer in front of the router, over
//! real sockets with the real binary.

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{next_data, raw_http, sample, within, Client};

async fn connect(addr: std::net::SocketAddr, path: &str) -> Client {
    let url = format!("ws://{addr}{path}");
    let (client, response) = within(tokio_tungstenite::connect_async(url)).await.unwrap();
    assert_eq!(response.status(), 101);
    client
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let (status, _, body) = raw_http(addr, &request).await;
    (status, body)
}

#[tokio::test]
async fn a_room_survives_unsolicited_pongs_and_pings_and_shares_the_apps_state() {
    let (_sample, addr) = sample::start("axum");
    assert_eq!(get(addr, "/").await.0, 200);
    let mut ada = connect(addr, "/rooms/lobby/ws").await;
    let mut bob = connect(addr, "/rooms/lobby/ws").await;
    // The ordinary route reads the same hub: wait until both are in the room.
    within(async {
        while get(addr, "/rooms/lobby").await != (200, "2".to_owned()) {
            tokio::task::yield_now().await;
        }
    })
    .await;

    ada.send(Message::text("hi")).await.unwrap();
    for member in [&mut ada, &mut bob] {
        assert_eq!(next_data(member).await, Message::text("[lobby] hi"));
    }
    // RFC 6455 §5.5.3: a pong may be sent unsolicited, at any time. Browsers also answer
    // the layer's keep-alive pings with pongs. The handler must go on.
    ada.send(Message::Pong("unsolicited".into())).await.unwrap();
    ada.send(Message::text("still here")).await.unwrap();
    for member in [&mut ada, &mut bob] {
        assert_eq!(next_data(member).await, Message::text("[lobby] still here"));
    }
    // A ping is answered by the socket itself, and the handler goes on too.
    bob.send(Message::Ping("are you there".into()))
        .await
        .unwrap();
    bob.send(Message::text("and binary is passed over"))
        .await
        .unwrap();
    bob.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    bob.send(Message::text("after")).await.unwrap();
    match within(futures_util::StreamExt::next(&mut bob)).await {
        Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected the pong first, got {other:?}"),
    }
    for member in [&mut ada, &mut bob] {
        assert_eq!(
            next_data(member).await,
            Message::text("[lobby] and binary is passed over")
        );
        assert_eq!(next_data(member).await, Message::text("[lobby] after"));
    }
    assert_eq!(get(addr, "/rooms/lobby").await, (200, "2".to_owned()));
}

#[tokio::test]
async fn the_layer_in_front_of_the_router_sees_what_the_middleware_and_connect_info_put() {
    let (_sample, addr) = sample::start("axum");
    let mut client = connect(addr, "/chat?name=ada").await;
    let welcome = next_data(&mut client).await;
    let welcome = welcome.to_text().unwrap();
    assert!(welcome.starts_with("welcome, ada (127.0.0.1:"), "{welcome}");
    client.send(Message::Pong(Vec::new().into())).await.unwrap();
    client.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_data(&mut client).await, Message::text("ada: hello"));
}
