//! A live dashboard: an axum app with state, a background task that publishes a JSON tick
//! to every open page each second, and JSON commands from the page with typed replies.
//!
//! ```text
//! cargo run --example dashboard     # then open http://localhost:5004
//! ```
//!
//! `PORT` picks another port (`PORT=0` any free one) and `TICK_MS` another tick interval.
//! Ctrl-C shuts down gracefully: the layer closes every socket with 1001 (pages see "going
//! away") while `axum::serve` stops taking connections and finishes its requests.
//!
//! The protocol, one JSON object a message:
//! - server to page: `{"type":"tick","n":7,"uptime_ms":7003,"viewers":2}` on every tick;
//! - page to server, a command: `{"cmd":"add","a":2,"b":3}`, `{"cmd":"echo","text":"hi"}`
//!   or `{"cmd":"viewers"}`;
//! - server to page, its reply: `{"type":"sum","value":5}`, `{"type":"echo","text":"hi"}`,
//!   `{"type":"viewers","count":2}`, or `{"type":"error","message":"..."}` for a command
//!   that is not one.

mod support;

use std::time::{Duration, Instant};

use axum::{response::Html, routing::get, Router};
use serde::{Deserialize, Serialize};
use tower_websockets::{Handshake, Message, Topics, WebSocket, WebSocketLayer};

/// The topic every page subscribes to.
const TICKS: &str = "ticks";

/// The app's state: the routes, the ticker and every socket's handler share it.
#[derive(Clone)]
struct App {
    topics: Topics,
    started: Instant,
}

/// What the server sends: a tick to every page, or the reply to one page's command.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToPage {
    Tick {
        n: u64,
        uptime_ms: u128,
        viewers: usize,
    },
    Sum {
        value: i64,
    },
    Echo {
        text: String,
    },
    Viewers {
        count: usize,
    },
    Error {
        message: String,
    },
}

/// What a page asks.
#[derive(Debug, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
enum Command {
    Add { a: i64, b: i64 },
    Echo { text: String },
    Viewers,
}

impl ToPage {
    fn message(&self) -> Message {
        Message::text(serde_json::to_string(self).expect("replies serialize"))
    }
}

impl App {
    /// The reply to one message from a page.
    fn answer(&self, text: &str) -> ToPage {
        match serde_json::from_str::<Command>(text) {
            Ok(Command::Add { a, b }) => match a.checked_add(b) {
                Some(value) => ToPage::Sum { value },
                None => ToPage::Error {
                    message: "the sum does not fit in 64 bits".into(),
                },
            },
            Ok(Command::Echo { text }) => ToPage::Echo { text },
            Ok(Command::Viewers) => ToPage::Viewers {
                count: self.topics.subscribers(TICKS),
            },
            Err(e) => ToPage::Error {
                message: format!("not a command: {e}"),
            },
        }
    }

    /// Publishes a tick every `interval` for as long as the app runs.
    async fn tick(self, interval: Duration) {
        let mut timer = tokio::time::interval(interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 1u64.. {
            timer.tick().await;
            let tick = ToPage::Tick {
                n,
                uptime_ms: self.started.elapsed().as_millis(),
                viewers: self.topics.subscribers(TICKS),
            };
            self.topics.publish(TICKS, tick.message());
        }
    }
}

/// One page's socket: subscribed to the ticks, answering its commands.
async fn page(
    mut socket: WebSocket,
    _: Handshake,
    app: App,
) -> Result<(), tower_websockets::Error> {
    app.topics.subscribe(&socket, TICKS);
    while let Some(message) = socket.recv_data().await {
        let reply = match message?.as_text() {
            Some(text) => app.answer(text),
            None => ToPage::Error {
                message: "commands are text".into(),
            },
        };
        socket.send(reply.message()).await?;
    }
    Ok(())
}

/// The tick interval: `TICK_MS`, or a second.
fn interval() -> std::io::Result<Duration> {
    match std::env::var("TICK_MS") {
        Ok(ms) => match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "TICK_MS must be a whole number of milliseconds above 0",
            )),
        },
        Err(_) => Ok(Duration::from_secs(1)),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = App {
        topics: Topics::new(),
        started: Instant::now(),
    };
    tokio::spawn(app.clone().tick(interval()?));

    // A command is a few bytes: nothing larger is read.
    let sockets = WebSocketLayer::with_state(app.clone(), page).max_message_size(4096);
    let shutdown = sockets.shutdown_handle();
    let router = Router::new()
        .route("/", get(|| async { Html(include_str!("dashboard.html")) }))
        .route_service("/ws", sockets.into_service())
        .with_state(app);

    let (listener, port) = support::axum_listener(5004).await?;
    support::say(&format!(
        "dashboard on http://localhost:{port} (socket at ws://localhost:{port}/ws)"
    ));
    // Ctrl-C: the layer closes the sockets (1001) while axum stops serving.
    let stop = async move {
        let _ = tokio::signal::ctrl_c().await;
        let report = shutdown.shutdown(Duration::from_secs(5)).await;
        support::say(&format!(
            "shut down: {} sockets closed, {} dropped",
            report.closed, report.dropped
        ));
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
}
