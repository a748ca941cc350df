//! Handlers as closures and structs, the context they get, and the socket API.

use std::net::SocketAddr;

use crate::common::{next_data, round_trip, serve, User};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message as ClientMessage};
use tower_websockets::{Handler, Handshake, Message, Utf8Bytes, WebSocket, WebSocketLayer};

#[tokio::test]
async fn a_closure_handler_gets_the_socket() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _handshake: Handshake| async move {
        while let Some(Ok(message)) = socket.recv().await {
            let Message::Text(text) = message else {
                continue;
            };
            let reversed: String = text.chars().rev().collect();
            if socket.send(Message::text(reversed)).await.is_err() {
                break;
            }
        }
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    client.send(ClientMessage::text("stressed")).await.unwrap();
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("desserts")
    );
}

/// Counts the messages of each session and says how many it got.
#[derive(Clone)]
struct Counter {
    prefix: &'static str,
}

impl Handler for Counter {
    type Output = Result<(), tower_websockets::Error>;

    async fn call(&self, mut socket: WebSocket, _handshake: Handshake) -> Self::Output {
        let mut count = 0;
        while let Some(message) = socket.recv().await {
            if message?.is_data() {
                count += 1;
                socket
                    .send(Message::text(format!("{} {count}", self.prefix)))
                    .await?;
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_struct_handler_keeps_its_state_per_layer() {
    let server = serve(WebSocketLayer::new(Counter { prefix: "seen" })).await;
    let mut client = server.connect().await;
    for n in 1..=3 {
        client.send(ClientMessage::binary(vec![n])).await.unwrap();
        assert_eq!(
            next_data(&mut client).await,
            ClientMessage::text(format!("seen {n}"))
        );
    }
}

#[tokio::test]
async fn the_context_carries_the_request_and_what_outer_layers_added() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, handshake: Handshake| async move {
        let user = handshake.extensions().get::<User>().cloned();
        let report = format!(
            "{} {} agent={} user={:?} peer_is_loopback={}",
            handshake.method(),
            handshake.uri(),
            handshake
                .headers()
                .get("x-agent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-"),
            user.map(|u| u.0),
            handshake
                .peer_addr()
                .is_some_and(|a: SocketAddr| a.ip().is_loopback()),
        );
        let _ = socket.send(Message::text(report)).await;
    });
    let server = serve(layer).await;
    let mut request = server.url("/ws?room=7").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-agent", "test-suite".parse().unwrap());
    let (mut client, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text(
            "GET /ws?room=7 agent=test-suite user=Some(\"alice\") peer_is_loopback=true"
        )
    );
}

#[tokio::test]
async fn the_servers_preferred_subprotocol_is_agreed_and_reported() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, handshake: Handshake| async move {
        let agreed = format!("{:?} {:?}", handshake.protocol(), socket.protocol());
        let _ = socket.send(Message::text(agreed)).await;
    })
    .protocols(["v2.chat", "v1.chat"]);
    let server = serve(layer).await;

    let mut request = server.url("/ws").into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "v1.chat, v2.chat".parse().unwrap(),
    );
    let (mut client, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "v2.chat");
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("Some(\"v2.chat\") Some(\"v2.chat\")")
    );

    // Offering none: no protocol header, none in the context.
    let (mut client, response) = tokio_tungstenite::connect_async(server.url("/ws"))
        .await
        .unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::text("None None")
    );
}

#[tokio::test]
async fn split_halves_work_from_two_tasks() {
    let layer = WebSocketLayer::new(|socket: WebSocket, _handshake: Handshake| async move {
        let (mut rx, mut tx) = socket.split();
        let (forward, mut forwarded) = tokio::sync::mpsc::channel::<Utf8Bytes>(8);
        let writer = tokio::spawn(async move {
            while let Some(text) = forwarded.recv().await {
                if tx.send(Message::text(text.to_uppercase())).await.is_err() {
                    break;
                }
            }
        });
        while let Some(Ok(message)) = rx.recv().await {
            if let Message::Text(text) = message {
                if forward.send(text).await.is_err() {
                    break;
                }
            }
        }
        drop(forward);
        let _ = writer.await;
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    for word in ["one", "two", "three"] {
        client.send(ClientMessage::text(word)).await.unwrap();
    }
    for word in ["ONE", "TWO", "THREE"] {
        assert_eq!(next_data(&mut client).await, ClientMessage::text(word));
    }
}

#[tokio::test]
async fn the_socket_is_a_stream_and_a_sink() {
    let layer = WebSocketLayer::new(|socket: WebSocket, _handshake: Handshake| async move {
        let (mut sink, mut stream) = StreamExt::split(socket);
        while let Some(Ok(message)) = stream.next().await {
            if message.is_data() && sink.send(message).await.is_err() {
                break;
            }
        }
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    round_trip(&mut client, ClientMessage::text("through Stream and Sink")).await;
    round_trip(&mut client, ClientMessage::binary(vec![9u8; 70_000])).await;
}

#[tokio::test]
async fn recv_can_be_cancelled_in_select_without_losing_data() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _handshake: Handshake| async move {
        let mut ticks = tokio::time::interval(std::time::Duration::from_micros(50));
        let mut received = Vec::new();
        while received.len() < 200 {
            tokio::select! {
                message = socket.recv() => match message {
                    Some(Ok(Message::Binary(data))) => received.push(data),
                    _ => return,
                },
                _ = ticks.tick() => {}
            }
        }
        // Every message arrived whole and in order despite the cancelled reads.
        let ok = received
            .iter()
            .enumerate()
            .all(|(i, d)| d.len() == 40_000 && d[0] == i as u8);
        let _ = socket
            .send(Message::text(if ok { "intact" } else { "corrupted" }))
            .await;
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    for i in 0..200u8 {
        client
            .send(ClientMessage::binary(vec![i; 40_000]))
            .await
            .unwrap();
    }
    assert_eq!(next_data(&mut client).await, ClientMessage::text("intact"));
}
