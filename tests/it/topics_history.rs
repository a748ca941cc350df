//! Topics with history, from a handler of its own (no protocol): `subscribe_from` replays
//! what a socket missed before the live publications, per-topic rules, the bound on how
//! many topics keep history, and expiry by age on tokio's clock.

use std::time::Duration;

use crate::common::{next_data, serve, Client, Server};
use tokio_tungstenite::tungstenite;
use tower_websockets::{
    topics::{History, Position},
    Handshake, Message, Topics, WebSocket, WebSocketLayer,
};

/// Serves sockets whose client first says `fresh TOPIC` or `since TOPIC EPOCH OFFSET`;
/// each is subscribed from there and then told `recovered R replayed N at EPOCH:OFFSET`
/// (or `at none`), after the replay.
async fn serve_history(topics: &Topics) -> Server {
    let topics = topics.clone();
    serve(
        WebSocketLayer::new(move |mut socket: WebSocket, _: Handshake| {
            let topics = topics.clone();
            async move {
                let Some(Ok(Message::Text(request))) = socket.recv().await else {
                    return;
                };
                let words: Vec<&str> = request.split(' ').collect();
                let since = match words[..] {
                    ["since", _, epoch, offset] => {
                        Some(Position::new(epoch, offset.parse().unwrap()))
                    }
                    _ => None,
                };
                let recovery = topics
                    .subscribe_from(&socket, words[1], since.as_ref())
                    .await
                    .unwrap();
                let at = recovery.position.map_or("none".to_owned(), |p| {
                    format!("{}:{}", p.epoch(), p.offset())
                });
                let status = format!(
                    "recovered {} replayed {} at {at}",
                    recovery.recovered, recovery.replayed
                );
                if socket.send(Message::text(status)).await.is_err() {
                    return;
                }
                while let Some(Ok(_)) = socket.recv().await {}
            }
        })
        .path("/ws"),
    )
    .await
}

async fn ask(server: &Server, request: &str) -> Client {
    let mut client = server.connect().await;
    futures_util::SinkExt::send(&mut client, tungstenite::Message::text(request))
        .await
        .unwrap();
    client
}

async fn texts(client: &mut Client, n: usize) -> Vec<String> {
    let mut texts = Vec::new();
    for _ in 0..n {
        texts.push(next_data(client).await.into_text().unwrap().to_string());
    }
    texts
}

fn publish(topics: &Topics, topic: &str, numbers: std::ops::RangeInclusive<u32>) {
    for i in numbers {
        topics.publish(topic, Message::text(i.to_string()));
    }
}

#[tokio::test]
async fn a_raw_socket_is_given_what_it_missed_before_the_live_publications() {
    let topics = Topics::builder()
        .history_for(|topic| match topic {
            "none" => None,
            _ => Some(History::new().max_publications(3)),
        })
        .build();
    let server = serve_history(&topics).await;
    publish(&topics, "kept", 1..=5);
    let epoch = topics.position("kept").unwrap().epoch().to_owned();

    // Missed 4 and 5: both kept.
    let mut client = ask(&server, &format!("since kept {epoch} 3")).await;
    let got = texts(&mut client, 3).await;
    assert_eq!(
        got,
        ["4", "5", &format!("recovered true replayed 2 at {epoch}:5")]
    );
    publish(&topics, "kept", 6..=6);
    assert_eq!(texts(&mut client, 1).await, ["6"]);

    // Missed 2 to 6, three kept.
    let mut client = ask(&server, &format!("since kept {epoch} 1")).await;
    let got = texts(&mut client, 4).await;
    assert_eq!(
        got,
        [
            "4",
            "5",
            "6",
            &format!("recovered false replayed 3 at {epoch}:6")
        ]
    );

    // Fresh: no replay, the position to keep.
    let mut client = ask(&server, "fresh kept").await;
    let got = texts(&mut client, 1).await;
    assert_eq!(got, [format!("recovered false replayed 0 at {epoch}:6")]);

    // The topic the rule gives no history.
    publish(&topics, "none", 1..=2);
    assert_eq!(topics.position("none"), None);
    let mut client = ask(&server, &format!("since none {epoch} 1")).await;
    assert_eq!(
        texts(&mut client, 1).await,
        ["recovered false replayed 0 at none"]
    );
    let history = topics.stats().history.unwrap();
    assert_eq!((history.topics, history.publications), (1, 3));
    assert_eq!((history.recoveries, history.recovered), (3, 1));
}

#[tokio::test]
async fn past_the_most_histories_the_least_used_lose_theirs_and_say_so() {
    let topics = Topics::builder()
        .history(History::new())
        .max_histories(2)
        .build();
    let server = serve_history(&topics).await;
    publish(&topics, "a", 1..=2);
    let a = topics.position("a").unwrap();
    publish(&topics, "b", 1..=2);
    // A third topic: "a", used longest ago, loses its stream.
    publish(&topics, "c", 1..=2);
    assert_eq!(topics.stats().history.unwrap().topics, 2);
    let mut client = ask(&server, &format!("since a {} 1", a.epoch())).await;
    let got = texts(&mut client, 1).await;
    let new = topics.position("a").unwrap();
    assert_ne!(new.epoch(), a.epoch(), "a new life for the stream");
    assert_eq!(
        got,
        [format!("recovered false replayed 0 at {}:0", new.epoch())]
    );
    // Making room for "a" again took "b"'s; "c" still has its own.
    assert_eq!(topics.position("c").unwrap().offset(), 2);
    assert_eq!(topics.stats().history.unwrap().topics, 2);
}

#[tokio::test(start_paused = true)]
async fn publications_expire_on_tokios_clock() {
    let topics = Topics::builder()
        .history(History::new().max_age(Duration::from_secs(60)))
        .build();
    publish(&topics, "t", 1..=3);
    tokio::time::advance(Duration::from_secs(30)).await;
    publish(&topics, "t", 4..=4);
    let held = |topics: &Topics| topics.stats().history.unwrap().publications;
    assert_eq!(held(&topics), 4);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(held(&topics), 1);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(held(&topics), 0);
    // The position outlives what it kept.
    assert_eq!(topics.position("t").unwrap().offset(), 4);
}
