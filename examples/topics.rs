//! A server of the topics protocol (PROTOCOL.md) for clients in any language: sockets at
//! `ws://localhost:5006/topics` (subprotocol `tower-websockets.topics.v1`), where clients
//! subscribe, publish and, after a reconnect, recover what they missed.
//!
//! ```text
//! cargo run --example topics          # PORT=0 for any free port
//! HISTORY=10 cargo run --example topics   # keep 10 publications per topic, not 100
//! REDIS_URL=redis://127.0.0.1:6379 PORT=5007 cargo run --example topics --features redis
//! ```
//!
//! Every topic keeps its last `HISTORY` publications (default 100) for two minutes, but
//! topics named `live:...`, which keep none; at most `MAX_HISTORIES` topics (default
//! 10,000) keep history at once. Topics named `server:...` are the server's: clients may
//! subscribe to them, not publish. With `REDIS_URL` set (and the `redis` feature), the
//! topics, their history and calls to clients are shared with every process of this
//! example on that Redis. Each client is held to the protocol's limits for a
//! public endpoint, with `PUBLISH_RATE` publications a second (default 50).
//! `GET /stats` answers what the hub has done, as JSON.
//!
//! Clients may call methods to try calls with: `echo` (answers its params; `echo.bytes`
//! for bytes), `sleep` (waits `params` milliseconds, at most a minute, then answers them),
//! `fail` (answers an error whose code is `params`), `whoami` (the caller's connection
//! and user; a client names its user with `?user=NAME` in the URL), and two that reach
//! back to a client: `ask` (`{"method": M, "params": P}`: the server calls the caller's
//! method `M`, or with `"connection": ID` that client's, on any server, and answers what
//! the client answered; `"timeout"` in milliseconds, default 10,000, at most 60,000) and
//! `notify` (the server sends `params` back as a `message`, or with `{"connection": ID,
//! "data": D}` sends `D` to that client). A call may run for `CALL_TIMEOUT_MS`
//! milliseconds (default 30,000). With the browser and Node.js client in `client/`:
//!
//! ```js
//! import { TopicsClient } from "tower-websockets-client";
//! const client = new TopicsClient("ws://localhost:5006/topics");
//! client.subscribe("news", (data) => console.log(data));
//! client.connect();
//! await client.publish("news", { text: "hello" });
//! ```

mod support;

use std::time::Duration;

use axum::{extract::State, routing::get, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tower_websockets::{
    identity::{ConnectionId, UserId},
    protocol::{Access, Binary, CallError, Caller, Clients, Methods, Params, TopicsProtocol},
    topics::{History, TopicsBuilder},
    Topics,
};

/// What `GET /stats` answers.
#[derive(Serialize)]
struct Stats {
    published: u64,
    delivered: u64,
    dropped: u64,
    subscriptions: usize,
    publications_kept: u64,
    recoveries: u64,
    recovered: u64,
    not_recovered: u64,
}

async fn stats(State(topics): State<Topics>) -> Json<Stats> {
    let stats = topics.stats();
    let history = stats.history.unwrap_or_default();
    Json(Stats {
        published: stats.published,
        delivered: stats.delivered,
        dropped: stats.dropped,
        subscriptions: stats.subscriptions,
        publications_kept: history.publications,
        recoveries: history.recoveries,
        recovered: history.recovered,
        not_recovered: history.not_recovered,
    })
}

/// What `ask` asks a client to do.
#[derive(Deserialize)]
struct Ask {
    method: String,
    #[serde(default)]
    params: Value,
    /// Whose method: the caller's by default.
    connection: Option<ConnectionId>,
    /// In milliseconds.
    timeout: Option<u64>,
}

/// Calls the method `ask.method` of the caller or of `ask.connection`, and answers what
/// that client answered.
async fn ask(
    caller: Caller,
    clients: Clients,
    Params(ask): Params<Ask>,
) -> Result<Value, CallError> {
    let timeout = Duration::from_millis(ask.timeout.unwrap_or(10_000).min(60_000));
    let connection = ask.connection.unwrap_or(caller.connection());
    clients
        .call(connection, &ask.method, ask.params, timeout)
        .await
}

/// What `notify` sends, and to whom: the caller, unless it names a connection.
#[derive(Deserialize)]
#[serde(untagged)]
enum Notify {
    To {
        connection: ConnectionId,
        data: Value,
    },
    Back(Value),
}

/// The methods clients may call.
fn methods() -> Methods {
    Methods::new()
        .method("echo", |Params(params): Params<Value>| async move {
            Ok::<_, CallError>(params)
        })
        .method("echo.bytes", |Binary(bytes): Binary| async move {
            Ok::<_, CallError>(Binary(bytes))
        })
        .method("sleep", |Params(millis): Params<u64>| async move {
            tokio::time::sleep(Duration::from_millis(millis.min(60_000))).await;
            Ok::<_, CallError>(millis)
        })
        .method("fail", |Params(code): Params<String>| async move {
            Err::<(), _>(CallError::new(code, "failed as asked"))
        })
        .method("ask", ask)
        .method(
            "notify",
            |caller: Caller, clients: Clients, Params(notify): Params<Notify>| async move {
                match notify {
                    Notify::To { connection, data } => clients.send(connection, data),
                    Notify::Back(data) => clients.send(caller.connection(), data),
                }
            },
        )
        .method("whoami", |caller: Caller| async move {
            Ok::<_, CallError>(json!({
                "connection": caller.connection().to_string(),
                "user": caller.user().map(UserId::as_str),
            }))
        })
}

/// With `REDIS_URL` set: topics, history and calls shared with every process of this
/// example on that Redis.
#[cfg(feature = "redis")]
async fn shared(topics: TopicsBuilder, url: &str) -> std::io::Result<TopicsBuilder> {
    let backplane = tower_websockets::redis::RedisBackplane::builder(url)
        .prefix("topics:")
        .connect()
        .await
        .map_err(|e| std::io::Error::other(format!("REDIS_URL {url}: {e}")))?;
    Ok(topics.backplane(backplane))
}

#[cfg(not(feature = "redis"))]
async fn shared(_: TopicsBuilder, _: &str) -> std::io::Result<TopicsBuilder> {
    Err(std::io::Error::other(
        "REDIS_URL is set, but this build has no Redis support: \
         cargo run --example topics --features redis",
    ))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let kept = support::number("HISTORY", 100)?;
    let rate = support::number("PUBLISH_RATE", TopicsProtocol::PUBLISH_RATE)?;
    let histories = support::number("MAX_HISTORIES", 10_000)?;
    let call_timeout = support::number("CALL_TIMEOUT_MS", 30_000)?;
    let history = History::new().max_publications(kept);
    let mut topics = Topics::builder()
        .history_for(move |topic| (!topic.starts_with("live:")).then_some(history))
        .max_histories(histories);
    let redis = std::env::var("REDIS_URL").ok();
    if let Some(url) = &redis {
        topics = shared(topics, url).await?;
    }
    let topics = topics.build();
    let (listener, port) = support::axum_listener(5006).await?;
    // The protocol's limits for a public endpoint, the rate of publishing as PUBLISH_RATE
    // says (the client's tests publish in bursts).
    let clients = Clients::new(&topics);
    let sockets = TopicsProtocol::new(topics.clone())
        .publish_rate(rate)
        .authorize(|_| {
            |access| match access {
                Access::Publish(topic) => !topic.starts_with("server:"),
                _ => true,
            }
        })
        // Made up for the example: a real server names users from their credentials.
        .identify(|handshake| UserId::new(handshake.uri().query()?.strip_prefix("user=")?))
        .methods(methods())
        .clients(clients)
        .call_timeout(Duration::from_millis(call_timeout))
        .layer()
        .path("/topics");
    let app = Router::new()
        .route(
            "/",
            get(|| async { "the topics protocol: ws://HOST/topics, see PROTOCOL.md\n" }),
        )
        .route("/stats", get(stats))
        .with_state(topics)
        .layer(sockets);
    support::say(&format!(
        "topics protocol on ws://localhost:{port}/topics (keeping {kept} publications per topic)"
    ));
    if let Some(url) = redis {
        support::say(&format!("topics shared through Redis at {url}"));
    }
    axum::serve(listener, app).await
}
