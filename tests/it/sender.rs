//! Sending from other tasks (`Sender`), `send` with anything that becomes a message, and
//! receiving data only (`recv_data`).

use std::collections::HashMap;

use crate::common::{close_with, expect_close, expect_text, next_data, reporting, serve, within};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as ClientMessage;
use tower_websockets::{
    socket::Sender, CloseCode, Error, Handshake, Message, WebSocket, WebSocketLayer,
};

/// The text of the next data message.
async fn next_text(client: &mut crate::common::Client) -> String {
    match next_data(client).await {
        ClientMessage::Text(text) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn three_tasks_send_at_once_and_each_keeps_its_order() {
    const EACH: usize = 2_000;
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _: Handshake| async move {
        let tasks: Vec<_> = (0..3)
            .map(|task| {
                let sender = socket.sender();
                tokio::spawn(async move {
                    for n in 0..EACH {
                        // Some messages large enough that the queue fills and sends wait.
                        let padding = if n % 100 == 0 { 20_000 } else { 0 };
                        let text = format!("{task} {n} {}", "x".repeat(padding));
                        sender.send(text).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        socket.send("done").await.unwrap();
        while let Some(Ok(_)) = socket.recv().await {}
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    let mut next = HashMap::new();
    loop {
        let text = next_text(&mut client).await;
        if text == "done" {
            break;
        }
        let mut words = text.split(' ');
        let task: usize = words.next().unwrap().parse().unwrap();
        let n: usize = words.next().unwrap().parse().unwrap();
        let expected = next.entry(task).or_insert(0);
        assert_eq!(n, *expected, "task {task} out of order");
        *expected += 1;
    }
    assert_eq!(next.len(), 3);
    assert!(next.values().all(|&count| count == EACH), "{next:?}");
}

#[tokio::test]
async fn a_senders_messages_go_between_the_handlers_own_in_the_order_queued() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _: Handshake| async move {
        let sender = socket.sender();
        socket.send("handler 1").await.unwrap();
        sender.send("sender 1").await.unwrap();
        sender.try_send("sender 2").unwrap();
        socket.send("handler 2").await.unwrap();
        let from_task = sender.clone();
        tokio::spawn(async move { from_task.send("task 1").await.unwrap() })
            .await
            .unwrap();
        socket.send(Message::text("handler 3")).await.unwrap();
        while let Some(Ok(_)) = socket.recv().await {}
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    for expected in [
        "handler 1",
        "sender 1",
        "sender 2",
        "handler 2",
        "task 1",
        "handler 3",
    ] {
        expect_text(&mut client, expected).await;
    }
}

#[tokio::test]
async fn try_send_refuses_when_the_peer_stops_reading_and_works_again_once_it_reads() {
    let (drained, drained_rx) = oneshot::channel::<()>();
    let drained_rx = std::sync::Arc::new(std::sync::Mutex::new(Some(drained_rx)));
    let (layer, mut reports) = reporting(move |mut socket: WebSocket, report| {
        let drained = drained_rx.lock().unwrap().take();
        async move {
            let sender = socket.sender();
            let chunk = "y".repeat(16 * 1024);
            let mut queued = 0usize;
            // The client reads nothing: the connection's buffers fill, then the queue.
            let refusal = loop {
                match sender.try_send(chunk.as_str()) {
                    Ok(()) => queued += 1,
                    Err(error) => break error,
                }
                // Let the session write what was queued.
                tokio::task::yield_now().await;
            };
            report.send(format!("{queued} {refusal:?}")).unwrap();
            // Once the client has read everything, a waiting send gets room, and then
            // try_send works again.
            drained.unwrap().await.unwrap();
            sender.send("after").await.unwrap();
            sender.try_send("again").unwrap();
            report.send("sent".to_owned()).unwrap();
            while let Some(Ok(_)) = socket.recv().await {}
        }
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    let first = within(reports.recv()).await.unwrap();
    let (queued, refusal) = first.split_once(' ').unwrap();
    assert_eq!(refusal, "QueueFull");
    let queued: usize = queued.parse().unwrap();
    for _ in 0..queued {
        assert_eq!(next_text(&mut client).await.len(), 16 * 1024);
    }
    drained.send(()).unwrap();
    expect_text(&mut client, "after").await;
    expect_text(&mut client, "again").await;
    assert_eq!(within(reports.recv()).await.unwrap(), "sent");
    // The socket stayed open throughout.
    client
        .send(ClientMessage::text("still here"))
        .await
        .unwrap();
    client.close(None).await.unwrap();
}

#[tokio::test]
async fn sends_fail_with_closed_once_the_socket_closes_and_after_the_session_ends() {
    let (keep, mut kept) = mpsc::unbounded_channel::<Sender>();
    let (layer, mut reports) = reporting(move |mut socket: WebSocket, report| {
        let keep = keep.clone();
        async move {
            let sender = socket.sender();
            report.send(format!("open {}", sender.is_closed())).unwrap();
            // The client closes; the socket answers.
            while let Some(Ok(_)) = socket.recv().await {}
            report
                .send(format!(
                    "closed {} {:?} {:?}",
                    sender.is_closed(),
                    sender.send("late").await,
                    sender.try_send("late"),
                ))
                .unwrap();
            // A sender that outlives the session.
            keep.send(sender).unwrap();
        }
    });
    let mut server = serve(layer).await;
    let mut client = server.connect().await;
    let session = server.next_session().await;
    assert_eq!(within(reports.recv()).await.unwrap(), "open false");
    close_with(&mut client, 1000, "bye").await;
    assert_eq!(
        within(reports.recv()).await.unwrap(),
        "closed true Err(Closed) Err(Closed)"
    );
    let summary = within(session.ended()).await;
    assert!(summary.error.is_none(), "{summary:?}");
    let sender = within(kept.recv()).await.unwrap();
    assert!(sender.is_closed());
    assert!(matches!(sender.send("later").await, Err(Error::Closed)));
    assert!(matches!(sender.try_send("later"), Err(Error::Closed)));
    // The client saw its close answered, and nothing after it.
    while let Some(message) = within(client.next()).await {
        match message {
            Ok(ClientMessage::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1000),
            Ok(other) => panic!("after the close: {other:?}"),
            Err(_) => break,
        }
    }
}

#[tokio::test]
async fn recv_data_answers_pings_consumes_pongs_and_ends_at_the_close() {
    let (layer, mut reports) = reporting(|mut socket: WebSocket, report| async move {
        while let Some(message) = socket.recv_data().await {
            let message = message.unwrap();
            report.send(format!("{message:?}")).unwrap();
            socket.send(message).await.unwrap();
        }
        let frame = socket.close_frame().unwrap();
        report
            .send(format!("end {} {}", frame.code, frame.reason))
            .unwrap();
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    client
        .send(ClientMessage::Ping(b"p1".to_vec().into()))
        .await
        .unwrap();
    client
        .send(ClientMessage::Pong(b"unasked".to_vec().into()))
        .await
        .unwrap();
    client.send(ClientMessage::text("one")).await.unwrap();
    client.send(ClientMessage::binary(vec![2u8])).await.unwrap();
    // The ping's answer, then the two data messages echoed.
    match within(client.next()).await.unwrap().unwrap() {
        ClientMessage::Pong(payload) => assert_eq!(&payload[..], b"p1"),
        other => panic!("expected the pong, got {other:?}"),
    }
    assert_eq!(next_data(&mut client).await, ClientMessage::text("one"));
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::binary(vec![2u8])
    );
    close_with(&mut client, 4000, "done").await;
    assert_eq!(expect_close(&mut client).await, (4000, "done".to_owned()));
    let mut seen = Vec::new();
    while let Some(line) = within(reports.recv()).await {
        let end = line.starts_with("end");
        seen.push(line);
        if end {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            r#"Text("one")"#.to_owned(),
            "Binary(b\"\\x02\")".to_owned(),
            "end 4000 done".to_owned(),
        ]
    );
}

#[tokio::test]
async fn send_takes_str_string_bytes_and_borrowed_text() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, _: Handshake| async move {
        let owned = String::from("borrowed");
        let borrowed: &str = owned.as_str();
        socket.send("a str").await.unwrap();
        socket.send(String::from("a String")).await.unwrap();
        socket.send(Message::text(borrowed)).await.unwrap();
        socket
            .send(bytes::Bytes::from_static(b"bytes"))
            .await
            .unwrap();
        socket.send(vec![1u8, 2]).await.unwrap();
        socket.close(CloseCode::NORMAL, "").await.unwrap();
        while let Some(Ok(_)) = socket.recv().await {}
    });
    let server = serve(layer).await;
    let mut client = server.connect().await;
    expect_text(&mut client, "a str").await;
    expect_text(&mut client, "a String").await;
    expect_text(&mut client, "borrowed").await;
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::binary(b"bytes".to_vec())
    );
    assert_eq!(
        next_data(&mut client).await,
        ClientMessage::binary(vec![1u8, 2])
    );
    assert_eq!(expect_close(&mut client).await.0, 1000);
}
