//! The default `Echo` handler, over real sockets, with tungstenite as the client.

use crate::common::{next_data, round_trip, send_fragment, serve, within};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{
    protocol::{
        frame::coding::{CloseCode, Data},
        CloseFrame,
    },
    Bytes, Message,
};
use tower_websockets::WebSocketLayer;

#[tokio::test]
async fn echoes_text_and_binary_in_order() {
    let server = serve(WebSocketLayer::default()).await;
    let mut client = server.connect().await;
    round_trip(&mut client, Message::text("hello")).await;
    round_trip(&mut client, Message::text("héllo wörld ✓ 🦀")).await;
    round_trip(&mut client, Message::text("")).await;
    round_trip(&mut client, Message::binary(vec![0u8, 1, 2, 255])).await;
    round_trip(&mut client, Message::binary(Vec::new())).await;
    for i in 0..100 {
        client.send(Message::text(format!("n{i}"))).await.unwrap();
    }
    for i in 0..100 {
        assert_eq!(next_data(&mut client).await, Message::text(format!("n{i}")));
    }
}

#[tokio::test]
async fn echoes_a_one_mebibyte_message() {
    let server = serve(WebSocketLayer::default()).await;
    let mut client = server.connect().await;
    let payload: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 + i / 251) as u8).collect();
    round_trip(&mut client, Message::binary(payload)).await;
    let text: String = "0123456789abcdef".repeat(1 << 16);
    round_trip(&mut client, Message::text(text)).await;
}

// On the paused clock, so that the client's wait before reading ends only once every task
// waits: the server is then stuck in the middle of its echo.
#[tokio::test(start_paused = true)]
async fn echoes_a_message_larger_than_the_connection_buffers_to_a_slow_reader() {
    // 16 MiB cannot fit in the kernel's buffers: the echo's write has to wait for the
    // client, and must go on once the client reads (the send is not done when the
    // message is queued). The client also waits before reading.
    let _heavy = crate::common::heavy().await;
    let server = serve(WebSocketLayer::default()).await;
    let mut client = server.connect().await;
    let payload: Vec<u8> = (0..16u32 << 20).map(|i| (i ^ (i >> 11)) as u8).collect();
    client.send(Message::binary(payload.clone())).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(next_data(&mut client).await, Message::binary(payload));
    // And the socket still echoes afterwards.
    round_trip(&mut client, Message::text("after")).await;
}

#[tokio::test]
async fn echoes_a_fragmented_message_whole_with_a_ping_in_between() {
    let server = serve(WebSocketLayer::default()).await;
    let mut client = server.connect().await;
    let parts: [&[u8]; 3] = [
        "héllo, ".as_bytes(),
        &"wörld".as_bytes()[..2],
        &"wörld".as_bytes()[2..],
    ];
    send_fragment(&mut client, parts[0], Some(Data::Text), false).await;
    send_fragment(&mut client, parts[1], None, false).await;
    client
        .send(Message::Ping(Bytes::from_static(b"mid")))
        .await
        .unwrap();
    send_fragment(&mut client, parts[2], None, true).await;
    // The pong comes first (the ping was complete first), then the whole message.
    let pong = within(client.next()).await.unwrap().unwrap();
    assert_eq!(pong, Message::Pong(Bytes::from_static(b"mid")));
    assert_eq!(next_data(&mut client).await, Message::text("héllo, wörld"));

    // Binary fragments, too.
    let first = [Some(Data::Binary), None, None];
    for (i, chunk) in [&b"ab"[..], b"cd", b"ef"].into_iter().enumerate() {
        send_fragment(&mut client, chunk, first[i], i == 2).await;
    }
    assert_eq!(
        next_data(&mut client).await,
        Message::binary(b"abcdef".to_vec())
    );
}

#[tokio::test]
async fn closes_with_the_clients_own_code_and_reason() {
    let mut server = serve(WebSocketLayer::default()).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    round_trip(&mut client, Message::text("before close")).await;
    client
        .close(Some(CloseFrame {
            code: CloseCode::from(4001),
            reason: "done here".into(),
        }))
        .await
        .unwrap();
    let answer = next_data(&mut client).await;
    match answer {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4001);
            assert_eq!(frame.reason.as_str(), "done here");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // The server closes the TCP connection after the handshake.
    assert!(within(client.next()).await.is_none());
    let summary = within(session.ended()).await;
    assert_eq!(summary.close_code.0, 4001);
}

#[tokio::test]
async fn answers_pings_with_their_payload() {
    let server = serve(WebSocketLayer::default()).await;
    let mut client = server.connect().await;
    client
        .send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    let pong = within(client.next()).await.unwrap().unwrap();
    assert_eq!(pong, Message::Pong(Bytes::from_static(b"are you there")));
    round_trip(&mut client, Message::text("still echoing")).await;
}

#[tokio::test]
async fn many_clients_at_once_get_their_own_messages() {
    let server = serve(WebSocketLayer::default()).await;
    let mut tasks = Vec::new();
    for c in 0..20 {
        let mut client = server.connect().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                round_trip(
                    &mut client,
                    Message::text(format!("client {c} message {i}")),
                )
                .await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}
