//! A live dashboard on the topics protocol (PROTOCOL.md) with the JavaScript client in
//! `client/` (served at `/client.js`): an axum app with state, a background task that
//! publishes a tick to every open page each second, the page's commands as calls with
//! typed answers, and the server calling the page back.
//!
//! ```text
//! cargo run --example dashboard     # then open http://localhost:5004
//! ```
//!
//! `PORT` picks another port (`PORT=0` any free one) and `TICK_MS` another tick interval.
//! Ctrl-C shuts down gracefully: the layer closes every socket with 1001 (pages see "going
//! away") while `axum::serve` stops taking connections and finishes its requests.
//!
//! On the protocol at `/ws` (subprotocol `tower-websockets.topics.v1`):
//! - the topic `ticks`: `{"n":7,"uptime_ms":7003,"viewers":2}` every tick (pages may
//!   subscribe to it, and publish nothing);
//! - the methods pages call: `add` (`{"a":2,"b":3}` → `5`, or the error `overflow`),
//!   `echo` (`{"text":"hi"}` → `"hi"`), `viewers` (→ how many pages watch), and `greet`,
//!   for which the server calls the page's own method `name` and answers
//!   `"Hello, NAME!"` with what the page said.

mod support;

use std::time::{Duration, Instant};

use axum::{http::header, response::Html, routing::get, Router};
use serde::{Deserialize, Serialize};
use tower_websockets::{
    protocol::{Access, CallError, Caller, Clients, Methods, Params, State, TopicsProtocol},
    Message, Topics,
};

/// The topic every page subscribes to.
const TICKS: &str = "ticks";

/// The JavaScript client, served at `/client.js`.
const CLIENT: &str = include_str!("../client/src/index.js");

/// The app's state: the routes, the ticker and every method share it.
#[derive(Clone)]
struct App {
    topics: Topics,
    started: Instant,
}

/// What every page gets on each tick.
#[derive(Debug, Serialize)]
struct Tick {
    n: u64,
    uptime_ms: u128,
    viewers: usize,
}

/// The params of `add`.
#[derive(Debug, Deserialize)]
struct Add {
    a: i64,
    b: i64,
}

/// The params of `echo`.
#[derive(Debug, Deserialize)]
struct Echo {
    text: String,
}

impl App {
    /// Publishes a tick every `interval` for as long as the app runs.
    async fn tick(self, interval: Duration) {
        let mut timer = tokio::time::interval(interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 1u64.. {
            timer.tick().await;
            let tick = Tick {
                n,
                uptime_ms: self.started.elapsed().as_millis(),
                viewers: self.topics.subscribers(TICKS),
            };
            let json = serde_json::to_string(&tick).expect("a tick serializes");
            self.topics.publish(TICKS, Message::text(json));
        }
    }
}

/// Asks the calling page for its viewer's name (the page's method `name`), and greets it.
async fn greet(caller: Caller, clients: Clients) -> Result<String, CallError> {
    let name: String = clients
        .call(caller.connection(), "name", (), Duration::from_secs(30))
        .await?;
    Ok(format!("Hello, {name}!"))
}

/// The methods pages call.
fn methods(app: App) -> Methods<App> {
    Methods::with_state(app)
        .method("add", |Params(Add { a, b }): Params<Add>| async move {
            a.checked_add(b)
                .ok_or_else(|| CallError::new("overflow", "the sum does not fit in 64 bits"))
        })
        .method("echo", |Params(Echo { text }): Params<Echo>| async move {
            Ok::<_, CallError>(text)
        })
        .method("viewers", |State(app): State<App>| async move {
            Ok::<_, CallError>(app.topics.subscribers(TICKS))
        })
        .method("greet", greet)
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

    let clients = Clients::new(&app.topics);
    let sockets = TopicsProtocol::new(app.topics.clone())
        .methods(methods(app.clone()))
        .clients(clients)
        // Pages watch the ticks; only the server publishes them.
        .authorize(|_| |access| matches!(access, Access::Subscribe(TICKS)))
        .layer()
        .path("/ws");
    let shutdown = sockets.shutdown_handle();
    let router = Router::new()
        .route("/", get(|| async { Html(include_str!("dashboard.html")) }))
        .route(
            "/client.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    CLIENT,
                )
            }),
        )
        .with_state(app)
        .layer(sockets);

    let (listener, port) = support::axum_listener(5004).await?;
    support::say(&format!(
        "dashboard on http://localhost:{port} (the topics protocol at ws://localhost:{port}/ws)"
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
    axum::serve(listener, router.into_make_service())
        .with_graceful_shutdown(stop)
        .await
}
