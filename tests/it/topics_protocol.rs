//! The topics protocol (PROTOCOL.md) over real sockets, from a tungstenite client:
//! subscribing, publishing, the replies and errors, and recovery after a reconnect with
//! neither a gap nor a duplicate at the seam between history and live delivery.

use std::sync::Arc;

use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use crate::common::{next_data, raw_http, serve, upgrade_request, within, Client, Server};
use tower_websockets::{
    protocol::{self, Access, TopicsProtocol},
    topics::{History, Position},
    Message, Topics,
};

/// A client of the protocol.
pub(crate) struct Peer {
    pub(crate) client: Client,
    next_id: u64,
    /// The server's first message.
    pub(crate) welcome: Value,
}

impl Peer {
    pub(crate) async fn connect(server: &Server) -> Peer {
        Peer::connect_to(&server.url("/topics")).await
    }

    pub(crate) async fn connect_to(url: &str) -> Peer {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol::NAME.parse().unwrap());
        let (client, response) = within(tokio_tungstenite::connect_async(request))
            .await
            .expect("handshake");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            protocol::NAME,
            "the subprotocol is agreed"
        );
        let mut peer = Peer {
            client,
            next_id: 1,
            welcome: Value::Null,
        };
        peer.welcome = peer.next().await;
        assert_eq!(peer.welcome["type"], "welcome", "{}", peer.welcome);
        assert_eq!(peer.welcome["version"], 1);
        peer
    }

    pub(crate) async fn send(&mut self, request: Value) {
        self.client
            .send(tungstenite::Message::text(request.to_string()))
            .await
            .unwrap();
    }

    /// Sends a request of type `kind` with the next id and `fields`; returns the id.
    pub(crate) async fn ask(&mut self, kind: &str, mut fields: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        fields["type"] = json!(kind);
        fields["id"] = json!(id);
        self.send(fields).await;
        id
    }

    /// The next message, as JSON (a binary one's header, with its payload as `bytes`).
    pub(crate) async fn next(&mut self) -> Value {
        match next_data(&mut self.client).await {
            tungstenite::Message::Text(text) => serde_json::from_str(&text).unwrap(),
            tungstenite::Message::Binary(frame) => {
                let n = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
                let mut header: Value = serde_json::from_slice(&frame[4..4 + n]).unwrap();
                header["bytes"] = json!(frame[4 + n..].to_vec());
                header
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Subscribes and returns the `subscribed` reply.
    pub(crate) async fn subscribe(&mut self, topic: &str, since: Option<&Value>) -> Value {
        let mut fields = json!({ "topic": topic });
        if let Some(since) = since {
            fields["since"] = since.clone();
        }
        let id = self.ask("subscribe", fields).await;
        let reply = self.next().await;
        assert_eq!(reply["type"], "subscribed", "{reply}");
        assert_eq!(reply["id"], id);
        assert_eq!(reply["topic"], topic);
        reply
    }

    /// The next message, which must be a publication: its offset and data.
    pub(crate) async fn publication(&mut self) -> (u64, Value) {
        let message = self.next().await;
        assert_eq!(message["type"], "publication", "{message}");
        (
            message["offset"].as_u64().unwrap_or(0),
            message["data"].clone(),
        )
    }

    pub(crate) async fn close(mut self) {
        let _ = self.client.close(None).await;
    }
}

fn history_layer(topics: &Topics) -> tower_websockets::WebSocketLayer<TopicsProtocol> {
    TopicsProtocol::new(topics.clone()).layer().path("/topics")
}

/// A binary message: `header`'s length, `header`, then `payload`.
fn binary(header: &str, payload: &[u8]) -> tungstenite::Message {
    let mut frame = (header.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(header.as_bytes());
    frame.extend_from_slice(payload);
    tungstenite::Message::binary(frame)
}

/// Where a subscribe or publication left the client: `{epoch, offset}`.
fn since(message: &Value) -> Value {
    json!({ "epoch": message["epoch"], "offset": message["offset"] })
}

#[tokio::test]
async fn the_subprotocol_is_required() {
    let server = serve(history_layer(&Topics::new())).await;
    let (status, _, body) = raw_http(server.addr, &upgrade_request("/topics", "")).await;
    assert_eq!(status, 400, "{body}");
    let offered = format!("Sec-WebSocket-Protocol: other, {}\r\n", protocol::NAME);
    let (status, head, _) = raw_http(server.addr, &upgrade_request("/topics", &offered)).await;
    assert_eq!(status, 101);
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("sec-websocket-protocol: {}", protocol::NAME)),
        "{head}"
    );
}

#[tokio::test]
async fn subscribe_publish_and_the_replies() {
    let topics = Topics::builder().history(History::new()).build();
    let server = serve(history_layer(&topics)).await;
    let mut reader = Peer::connect(&server).await;
    let mut writer = Peer::connect(&server).await;
    let subscribed = reader.subscribe("room", None).await;
    assert_eq!(subscribed["offset"], 0);
    assert!(subscribed["epoch"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(subscribed.get("recovered").is_none(), "{subscribed}");

    // JSON data passes through as it was written.
    let id = writer
        .ask(
            "publish",
            json!({"topic": "room", "data": {"user": "ann", "text": "hi", "n": [1, 2.5]}}),
        )
        .await;
    let published = writer.next().await;
    assert_eq!(
        published,
        json!({"type": "published", "id": id, "topic": "room",
            "epoch": subscribed["epoch"], "offset": 1})
    );
    let publication = reader.next().await;
    assert_eq!(
        publication,
        json!({"type": "publication", "topic": "room", "epoch": subscribed["epoch"],
            "offset": 1, "data": {"user": "ann", "text": "hi", "n": [1, 2.5]}})
    );

    // What the app publishes: JSON text as JSON, other text as a string, binary as bytes.
    topics.publish("room", Message::text("[true]"));
    topics.publish("room", Message::text("plain words"));
    topics.publish("room", Message::binary(vec![0u8, 159, 255]));
    assert_eq!(reader.publication().await, (2, json!([true])));
    assert_eq!(reader.publication().await, (3, json!("plain words")));
    let bytes = reader.next().await;
    assert_eq!(bytes["offset"], 4);
    assert_eq!(bytes["bytes"], json!([0, 159, 255]));
    assert!(bytes.get("data").is_none());

    // A binary publish from a client.
    let header = json!({"type": "publish", "id": 77, "topic": "room"}).to_string();
    writer.client.send(binary(&header, &[1, 2])).await.unwrap();
    assert_eq!(writer.next().await["offset"], 5);
    assert_eq!(reader.next().await["bytes"], json!([1, 2]));

    // Unsubscribed: nothing more arrives; the next reply is the reader's own.
    let id = reader.ask("unsubscribe", json!({"topic": "room"})).await;
    assert_eq!(
        reader.next().await,
        json!({"type": "unsubscribed", "id": id, "topic": "room"})
    );
    topics.publish("room", Message::text("1"));
    let id = reader.ask("unsubscribe", json!({"topic": "room"})).await;
    let error = reader.next().await;
    assert_eq!(error["id"], id);
    assert_eq!(error["code"], "not_subscribed");

    // A topic without history: no positions.
    let plain = Topics::new();
    let server = serve(history_layer(&plain)).await;
    let mut peer = Peer::connect(&server).await;
    let subscribed = peer.subscribe("t", None).await;
    assert!(subscribed.get("epoch").is_none() && subscribed.get("offset").is_none());
    peer.ask("publish", json!({"topic": "t", "data": 5})).await;
    let (first, second) = (peer.next().await, peer.next().await);
    let (publication, published) = if first["type"] == "publication" {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(
        publication,
        json!({"type": "publication", "topic": "t", "data": 5})
    );
    assert_eq!(published["type"], "published");
    assert!(published.get("offset").is_none());
}

#[tokio::test]
async fn bad_requests_get_errors_and_the_session_goes_on() {
    let topics = Topics::new();
    let protocol = TopicsProtocol::new(topics.clone())
        .max_subscriptions(2)
        .authorize(|_| {
            |access| {
                !matches!(
                    access,
                    Access::Publish("locked") | Access::Subscribe("secret")
                )
            }
        });
    let server = serve(protocol.layer().path("/topics")).await;
    let mut peer = Peer::connect(&server).await;
    let long = "x".repeat(1025);
    let cases: Vec<(tungstenite::Message, Value, &str)> = vec![
        (
            tungstenite::Message::text("not json"),
            Value::Null,
            "bad_request",
        ),
        (
            tungstenite::Message::text("[1]"),
            Value::Null,
            "bad_request",
        ),
        (
            tungstenite::Message::text(r#"{"type":"dance","id":4}"#),
            json!(4),
            "unknown_type",
        ),
        (
            tungstenite::Message::text(r#"{"type":"subscribe","topic":"a"}"#),
            Value::Null,
            "bad_request",
        ),
        (
            tungstenite::Message::text(r#"{"type":"subscribe","id":5}"#),
            json!(5),
            "bad_request",
        ),
        (
            tungstenite::Message::text(r#"{"type":"subscribe","id":-1,"topic":"a"}"#),
            Value::Null,
            "bad_request",
        ),
        (
            tungstenite::Message::text(r#"{"type":"subscribe","id":6,"topic":""}"#),
            json!(6),
            "invalid_topic",
        ),
        (
            tungstenite::Message::text(json!({"type":"subscribe","id":7,"topic":long}).to_string()),
            json!(7),
            "invalid_topic",
        ),
        (
            tungstenite::Message::text(
                r#"{"type":"subscribe","id":8,"topic":"a","since":{"epoch":1}}"#,
            ),
            json!(8),
            "bad_request",
        ),
        // A readable id is answered whatever else is wrong with the request.
        (
            tungstenite::Message::text(r#"{"type":"subscribe","id":14,"topic":42}"#),
            json!(14),
            "bad_request",
        ),
        (
            tungstenite::Message::text(
                r#"{"type":"subscribe","id":15,"topic":"a","since":{"epoch":"e"}}"#,
            ),
            json!(15),
            "bad_request",
        ),
        (
            tungstenite::Message::text(r#"{"type":"subscribe","id":16,"topic":"a","since":7}"#),
            json!(16),
            "bad_request",
        ),
        (
            tungstenite::Message::text(r#"{"id":17,"topic":"a"}"#),
            json!(17),
            "bad_request",
        ),
        (
            tungstenite::Message::text(r#"{"type":3,"id":18,"topic":"a"}"#),
            json!(18),
            "bad_request",
        ),
        (
            tungstenite::Message::text(r#"{"type":"publish","id":"19","topic":"a","data":1}"#),
            Value::Null,
            "bad_request",
        ),
        (
            binary(r#"{"type":"publish","id":20,"topic":[]}"#, b"x"),
            json!(20),
            "bad_request",
        ),
        (
            tungstenite::Message::text(r#"{"type":"publish","id":9,"topic":"a"}"#),
            json!(9),
            "bad_request",
        ),
        (
            tungstenite::Message::text(r#"{"type":"publish","id":10,"topic":"locked","data":1}"#),
            json!(10),
            "forbidden",
        ),
        (
            tungstenite::Message::text(r#"{"type":"subscribe","id":11,"topic":"secret"}"#),
            json!(11),
            "forbidden",
        ),
        (
            tungstenite::Message::binary(vec![0, 0]),
            Value::Null,
            "bad_request",
        ),
        (
            tungstenite::Message::binary(vec![0, 0, 0, 9, b'{', b'}']),
            Value::Null,
            "bad_request",
        ),
        (
            binary(r#"{"type":"subscribe","id":12,"topic":"abcd"}"#, b"x"),
            json!(12),
            "bad_request",
        ),
        (
            binary(r#"{"type":"publish","id":13,"topic":"a","data":1}"#, b"x"),
            json!(13),
            "bad_request",
        ),
    ];
    for (message, id, code) in cases {
        let shown = format!("{message:?}");
        peer.client.send(message).await.unwrap();
        let error = peer.next().await;
        assert_eq!(error["type"], "error", "{shown}: {error}");
        assert_eq!(error["id"], id, "{shown}: {error}");
        assert_eq!(error["code"], code, "{shown}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    peer.subscribe("a", None).await;
    let id = peer.ask("subscribe", json!({"topic": "a"})).await;
    assert_eq!(
        peer.next().await,
        json!({"type": "error", "id": id, "code": "already_subscribed", "message": "already subscribed to this topic"})
    );
    // `null` is a JSON value like any other: a publication, with unknown fields ignored.
    let id = peer
        .ask(
            "publish",
            json!({"topic": "a", "data": null, "later": {"x": 1}}),
        )
        .await;
    let (first, second) = (peer.next().await, peer.next().await);
    let (publication, published) = if first["type"] == "publication" {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(published["type"], "published", "{published}");
    assert_eq!(published["id"], id);
    assert_eq!(publication["type"], "publication", "{publication}");
    assert!(
        publication.get("data").is_some_and(Value::is_null),
        "{publication}"
    );
    peer.subscribe("b", None).await;
    let id = peer.ask("subscribe", json!({"topic": "c"})).await;
    let error = peer.next().await;
    assert_eq!(
        (error["id"].clone(), error["code"].clone()),
        (json!(id), json!("too_many_subscriptions"))
    );
    // Leaving one makes room again.
    peer.ask("unsubscribe", json!({"topic": "a"})).await;
    assert_eq!(peer.next().await["type"], "unsubscribed");
    peer.subscribe("c", None).await;
    assert_eq!(topics.stats().subscriptions, 2);
}

/// Publishes `1..=n` to `topic`, each payload its own number.
fn publish_numbers(topics: &Topics, topic: &str, numbers: std::ops::RangeInclusive<u64>) {
    for i in numbers {
        topics.publish(topic, Message::text(i.to_string()));
    }
}

#[tokio::test]
async fn a_client_that_comes_back_gets_what_it_missed_once_and_in_order() {
    let topics = Topics::builder()
        .history(History::new().max_publications(100))
        .build();
    let server = serve(history_layer(&topics)).await;
    let mut peer = Peer::connect(&server).await;
    let first = peer.subscribe("room", None).await;
    publish_numbers(&topics, "room", 1..=5);
    let mut last = Value::Null;
    for i in 1..=5 {
        last = peer.next().await;
        assert_eq!(
            (last["offset"].clone(), last["data"].clone()),
            (json!(i), json!(i))
        );
        assert_eq!(last["epoch"], first["epoch"]);
    }
    peer.close().await;

    publish_numbers(&topics, "room", 6..=55);
    let mut peer = Peer::connect(&server).await;
    let reply = peer.subscribe("room", Some(&since(&last))).await;
    assert_eq!(reply["recovered"], true, "{reply}");
    assert_eq!(reply["replayed"], 50);
    assert_eq!(reply["offset"], 55);
    assert_eq!(reply["epoch"], first["epoch"]);
    for i in 6..=55 {
        assert_eq!(peer.publication().await, (i, json!(i)));
    }
    // Then live, from the next offset on.
    publish_numbers(&topics, "room", 56..=56);
    assert_eq!(peer.publication().await, (56, json!(56)));

    // Coming back at the last offset: recovered, with nothing to replay.
    let mut again = Peer::connect(&server).await;
    let reply = again
        .subscribe(
            "room",
            Some(&json!({"epoch": first["epoch"], "offset": 56})),
        )
        .await;
    assert_eq!(
        (reply["recovered"].clone(), reply["replayed"].clone()),
        (json!(true), json!(0))
    );

    let history = topics.stats().history.unwrap();
    assert_eq!(
        (history.recoveries, history.recovered, history.not_recovered),
        (2, 2, 0)
    );
    assert_eq!((history.topics, history.publications), (1, 56));
    assert!(history.bytes >= 56);
}

#[tokio::test]
async fn a_gap_larger_than_the_history_or_another_epoch_is_not_recovered() {
    let topics = Topics::builder()
        .history(History::new().max_publications(10))
        .build();
    let server = serve(history_layer(&topics)).await;
    let mut peer = Peer::connect(&server).await;
    let first = peer.subscribe("room", None).await;
    publish_numbers(&topics, "room", 1..=5);
    for i in 1..=5 {
        assert_eq!(peer.publication().await.0, i);
    }
    peer.close().await;
    publish_numbers(&topics, "room", 6..=35);

    // Thirty missed, ten kept: the ten come, flagged as not everything.
    let mut peer = Peer::connect(&server).await;
    let back = json!({"epoch": first["epoch"], "offset": 5});
    let reply = peer.subscribe("room", Some(&back)).await;
    assert_eq!(reply["recovered"], false, "{reply}");
    assert_eq!(reply["replayed"], 10);
    for i in 26..=35 {
        assert_eq!(peer.publication().await, (i, json!(i)));
    }

    // An epoch this stream never had: nothing replayed, the current position given.
    let mut stranger = Peer::connect(&server).await;
    let reply = stranger
        .subscribe("room", Some(&json!({"epoch": "0000", "offset": 3})))
        .await;
    assert_eq!(
        (
            reply["recovered"].clone(),
            reply["replayed"].clone(),
            reply["offset"].clone()
        ),
        (json!(false), json!(0), json!(35))
    );
    // A position past the last publication is not believed either.
    let mut ahead = Peer::connect(&server).await;
    let reply = ahead
        .subscribe(
            "room",
            Some(&json!({"epoch": first["epoch"], "offset": 36})),
        )
        .await;
    assert_eq!(reply["recovered"], false);

    // A topic that keeps no history cannot recover anything.
    let plain = Topics::new();
    let server = serve(history_layer(&plain)).await;
    let mut peer = Peer::connect(&server).await;
    let reply = peer.subscribe("t", Some(&back)).await;
    assert_eq!(
        (reply["recovered"].clone(), reply["replayed"].clone()),
        (json!(false), json!(0))
    );
    let history = topics.stats().history.unwrap();
    assert_eq!((history.recoveries, history.not_recovered), (3, 3));
}

/// Clients drop and come back over and over while a task publishes as fast as it can:
/// each client's offsets, across all its connections, run one by one without a gap or a
/// repeat, so the seam between history and live delivery holds under contention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_under_a_stream_of_publications_neither_skips_nor_repeats() {
    const PUBLICATIONS: u64 = 20_000;
    const CLIENTS: usize = 6;
    let topics = Topics::builder()
        .history(
            History::new()
                .max_publications(PUBLICATIONS as usize)
                .max_bytes(1 << 30),
        )
        .build();
    let server = Arc::new(serve(history_layer(&topics)).await);
    // Every client is subscribed before the first publication.
    let mut first = Vec::new();
    for _ in 0..CLIENTS {
        let mut peer = Peer::connect(&server).await;
        let reply = peer.subscribe("feed", None).await;
        first.push((peer, since(&reply)));
    }
    let publisher = tokio::spawn({
        let topics = topics.clone();
        async move {
            for i in 1..=PUBLICATIONS {
                topics.publish("feed", Message::text(i.to_string()));
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }
    });
    let mut clients = Vec::new();
    for (number, (peer, position)) in first.into_iter().enumerate() {
        let server = server.clone();
        clients.push(tokio::spawn(async move {
            let mut peer = peer;
            let mut position = position;
            let mut seen = 0u64;
            let mut connections = 1;
            loop {
                // Read a stretch, then drop the connection without a close.
                let stretch = 200 + 97 * number as u64;
                for _ in 0..stretch {
                    let (offset, data) = peer.publication().await;
                    assert_eq!(offset, seen + 1, "client {number}: a gap or a repeat");
                    assert_eq!(data, json!(offset));
                    seen = offset;
                    position = json!({"epoch": position["epoch"], "offset": seen});
                    if seen == PUBLICATIONS {
                        return connections;
                    }
                }
                drop(peer);
                peer = Peer::connect(&server).await;
                connections += 1;
                let reply = peer.subscribe("feed", Some(&position)).await;
                assert_eq!(reply["recovered"], true, "client {number}: {reply}");
            }
        }));
    }
    // Each step above has its own deadline; the whole (20,000 publications to six clients
    // that keep reconnecting, in a debug build on a loaded machine) has a generous one.
    let whole = std::time::Duration::from_secs(300);
    tokio::time::timeout(whole, publisher)
        .await
        .expect("the publisher done")
        .unwrap();
    let mut reconnects = 0;
    for client in clients {
        let connections = tokio::time::timeout(whole, client)
            .await
            .expect("a client got every publication")
            .unwrap();
        reconnects += connections - 1;
    }
    assert!(
        reconnects >= CLIENTS * 10,
        "only {reconnects} reconnections"
    );
    let history = topics.stats().history.unwrap();
    assert_eq!(history.recoveries as usize, reconnects);
    assert_eq!(history.recovered as usize, reconnects);
}

#[tokio::test]
async fn the_position_lets_an_app_hand_out_state_and_resume_from_it() {
    let topics = Topics::builder().history(History::new()).build();
    assert_eq!(Topics::new().position("t"), None);
    let start = topics.position("t").unwrap();
    assert_eq!(start.offset(), 0);
    publish_numbers(&topics, "t", 1..=3);
    // State handed out at offset 3 (over HTTP, say); two more published before the
    // client's socket subscribes from there.
    let at = topics.position("t").unwrap();
    assert_eq!(at, Position::new(start.epoch(), 3));
    publish_numbers(&topics, "t", 4..=5);
    let server = serve(history_layer(&topics)).await;
    let mut peer = Peer::connect(&server).await;
    let reply = peer
        .subscribe(
            "t",
            Some(&json!({"epoch": at.epoch(), "offset": at.offset()})),
        )
        .await;
    assert_eq!(reply["recovered"], true);
    assert_eq!(peer.publication().await, (4, json!(4)));
    assert_eq!(peer.publication().await, (5, json!(5)));
}

/// A publication larger than a member's queue limit is delivered to every member that
/// keeps up, not accepted with an offset and then dropped for all of them.
#[tokio::test]
async fn a_publication_larger_than_the_queue_limit_reaches_every_member() {
    let topics = Topics::builder()
        .history(History::new())
        .queue_limit(1024 * 1024)
        .build();
    let protocol = TopicsProtocol::new(topics.clone()).max_publication_size(4 << 20);
    let server = serve(protocol.layer().path("/topics")).await;
    let mut members = Vec::new();
    for _ in 0..3 {
        let mut member = Peer::connect(&server).await;
        member.subscribe("big", None).await;
        members.push(member);
    }
    let mut publisher = Peer::connect(&server).await;
    let text = "x".repeat(2 * 1024 * 1024);
    let id = publisher
        .ask("publish", json!({"topic": "big", "data": {"text": text}}))
        .await;
    let published = publisher.next().await;
    assert_eq!(published["type"], "published", "{}", published["type"]);
    assert_eq!(
        (published["id"].clone(), published["offset"].clone()),
        (json!(id), json!(1))
    );
    for member in &mut members {
        let (offset, data) = member.publication().await;
        assert_eq!(offset, 1);
        assert_eq!(data["text"].as_str().map(str::len), Some(text.len()));
    }
    // And through the hub's API: a 2 MiB binary message reaches the three members.
    let reached = topics.publish("big", Message::binary(vec![7u8; 2 * 1024 * 1024]));
    assert_eq!(reached, 3);
    for member in &mut members {
        let message = member.next().await;
        assert_eq!(message["offset"], 2);
        assert_eq!(
            message["bytes"].as_array().map(Vec::len),
            Some(2 * 1024 * 1024)
        );
    }
    assert_eq!(topics.stats().dropped, 0);
}
