//! The two chat-room servers of the fan-out bench: every text message a member sends goes
//! to every member of the one room, the sender included.
//!
//! - `topics`: `WebSocketLayer` with a [`Topics`] hub, as examples/chat.rs does it.
//! - `topics-history`: the same, the room keeping history (the default bounds: 100
//!   publications, 256 KiB, two minutes), each publication given its position.
//! - `broadcast`: axum 0.8 with a `tokio::sync::broadcast` channel per room, written the
//!   way axum's chat example writes it: the socket split, one task forwarding the channel
//!   to the socket, one forwarding the socket to the channel, capacity 100.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::net::TcpListener;
use tower_websockets::{Handshake, Message, Topics, WebSocket, WebSocketLayer};

use crate::servers;

const ROOM: &str = "bench";

/// `WebSocketLayer` and a `Topics` hub.
pub async fn topics(listener: TcpListener) {
    serve_topics(listener, Topics::new()).await
}

/// The same, the room keeping history.
pub async fn topics_history(listener: TcpListener) {
    let history = tower_websockets::topics::History::new();
    serve_topics(listener, Topics::builder().history(history).build()).await
}

/// The same, sharing the room through the Redis at `TW_BENCH_REDIS_URL`.
#[cfg(feature = "redis")]
pub async fn topics_redis(listener: TcpListener) {
    serve_topics(listener, redis_hub("bench:").await.build()).await
}

/// The same, the room keeping its history in Redis.
#[cfg(feature = "redis")]
pub async fn topics_redis_history(listener: TcpListener) {
    let history = tower_websockets::topics::History::new();
    let hub = redis_hub("bench-history:").await.history(history);
    serve_topics(listener, hub.build()).await
}

/// A hub on the Redis at `TW_BENCH_REDIS_URL`.
#[cfg(feature = "redis")]
pub async fn redis_hub(prefix: &str) -> tower_websockets::topics::TopicsBuilder {
    let url = std::env::var("TW_BENCH_REDIS_URL").expect("TW_BENCH_REDIS_URL");
    let backplane = tower_websockets::redis::RedisBackplane::builder(url)
        .prefix(prefix)
        .connect()
        .await
        .expect("Redis for the bench");
    Topics::builder().backplane(backplane)
}

async fn serve_topics(listener: TcpListener, topics: Topics) {
    let handler = move |mut socket: WebSocket, _: Handshake| {
        let topics = topics.clone();
        async move {
            topics.subscribe(&socket, ROOM);
            while let Some(Ok(message)) = socket.recv().await {
                if let Message::Text(_) = message {
                    topics.publish(ROOM, message);
                }
            }
        }
    };
    servers::layer(listener, WebSocketLayer::new(handler).path("/ws")).await
}

/// axum's chat example: a broadcast channel per room.
pub async fn broadcast(listener: TcpListener) {
    use axum::{
        extract::{
            ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
            State,
        },
        routing::get,
        Router,
    };
    use futures_util::{SinkExt, StreamExt};
    use tokio::sync::broadcast;

    type Rooms = Arc<Mutex<HashMap<String, broadcast::Sender<Utf8Bytes>>>>;

    async fn member(socket: WebSocket, rooms: Rooms) {
        let tx = rooms
            .lock()
            .unwrap()
            .entry(ROOM.to_owned())
            .or_insert_with(|| broadcast::channel(100).0)
            .clone();
        let mut rx = tx.subscribe();
        let (mut sender, mut receiver) = socket.split();
        let mut send_task = tokio::spawn(async move {
            while let Ok(text) = rx.recv().await {
                if sender.send(Message::Text(text)).await.is_err() {
                    break;
                }
            }
        });
        let mut recv_task = tokio::spawn(async move {
            while let Some(Ok(Message::Text(text))) = receiver.next().await {
                let _ = tx.send(text);
            }
        });
        tokio::select! {
            _ = &mut send_task => recv_task.abort(),
            _ = &mut recv_task => send_task.abort(),
        }
    }

    let rooms = Rooms::default();
    let app = Router::new()
        .route(
            "/ws",
            get(
                |upgrade: WebSocketUpgrade, State(rooms): State<Rooms>| async move {
                    upgrade.on_upgrade(move |socket| member(socket, rooms))
                },
            ),
        )
        .with_state(rooms);
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let _ = axum::serve(listener, app).await;
}
