//! The accept hook: a decision per request before the `101`.

use futures_util::SinkExt;
use http::{Response, StatusCode};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message as ClientMessage};
use tower_websockets::{Decision, Handshake, Message, WebSocket, WebSocketLayer};

use crate::common::{
    expect_close, next_data, raw_http, round_trip, serve, upgrade_request, within,
};

/// Who the hook let in, for the handler.
#[derive(Clone, Debug, PartialEq)]
struct Member(String);

fn layer() -> WebSocketLayer<impl tower_websockets::Handler> {
    let handler = |mut socket: WebSocket, handshake: Handshake| async move {
        let member = handshake.extensions().get::<Member>().cloned();
        let _ = socket.send(Message::text(format!("{member:?}"))).await;
        while let Some(Ok(message)) = socket.recv().await {
            if message.is_data() && socket.send(message).await.is_err() {
                break;
            }
        }
    };
    WebSocketLayer::new(handler)
        .max_message_size(1000)
        .on_accept(|mut handshake: Handshake| async move {
            let token = handshake
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match token.as_deref() {
                Some("Bearer admin") => {
                    handshake.extensions_mut().insert(Member("admin".into()));
                    Decision::accept(handshake).max_message_size(1 << 20)
                }
                Some("Bearer user") => {
                    handshake.extensions_mut().insert(Member("user".into()));
                    Decision::accept(handshake)
                }
                Some("Bearer panic") => panic!("a hook that fails"),
                _ => Decision::refuse(
                    Response::builder()
                        .status(StatusCode::UNAUTHORIZED)
                        .header("www-authenticate", "Bearer")
                        .body("log in first")
                        .unwrap(),
                ),
            }
        })
}

async fn connect_as(server: &crate::common::Server, token: &str) -> crate::common::Client {
    let mut request = server.url("/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    within(tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn a_hook_refuses_with_its_own_response_and_the_stats_count_it() {
    let layer = layer();
    let stats = layer.stats();
    let server = serve(layer).await;
    let (status, head, body) = raw_http(server.addr, &upgrade_request("/ws", "")).await;
    assert_eq!((status, body.as_str()), (401, "log in first"));
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    assert_eq!(stats.rejections().by_hook, 1);
    assert_eq!((stats.accepted(), stats.open()), (0, 0));
    // The layer's own checks still come first: no hook for a bad version.
    let old = upgrade_request("/ws", "").replace("Version: 13", "Version: 8");
    assert_eq!(raw_http(server.addr, &old).await.0, 426);
    assert_eq!(stats.rejections().by_hook, 1);
}

#[tokio::test]
async fn a_hook_picks_a_per_socket_limit_and_hands_a_value_to_the_handler() {
    let server = serve(layer()).await;
    // The layer's limit is 1,000 bytes; the admin's socket takes 1 MiB.
    let mut admin = connect_as(&server, "admin").await;
    assert_eq!(
        next_data(&mut admin).await,
        ClientMessage::text("Some(Member(\"admin\"))")
    );
    round_trip(&mut admin, ClientMessage::binary(vec![1u8; 100_000])).await;

    let mut user = connect_as(&server, "user").await;
    assert_eq!(
        next_data(&mut user).await,
        ClientMessage::text("Some(Member(\"user\"))")
    );
    user.send(ClientMessage::binary(vec![1u8; 2000]))
        .await
        .unwrap();
    assert_eq!(expect_close(&mut user).await.0, 1009);
}

#[tokio::test]
async fn a_hook_that_panics_gets_a_500_and_the_server_goes_on() {
    let server = serve(layer()).await;
    let request = upgrade_request("/ws", "Authorization: Bearer panic\r\n");
    assert_eq!(raw_http(server.addr, &request).await.0, 500);
    let mut user = connect_as(&server, "user").await;
    assert_eq!(
        next_data(&mut user).await,
        ClientMessage::text("Some(Member(\"user\"))")
    );
}

/// A layer whose hook gives every socket a handler of its own, chosen by the path: one
/// that fails, one that panics, one that echoes within a per-socket limit.
fn own_handlers() -> WebSocketLayer<impl tower_websockets::Handler> {
    // The hook gives every socket a handler of its own: the layer's never runs.
    WebSocketLayer::new(tower_websockets::Echo)
        .paths(["/fails", "/panics", "/echo"])
        .on_accept(|handshake: Handshake| async move {
            match handshake.uri().path() {
                "/fails" => Decision::accept_with(handshake, |_, _| async {
                    Err::<(), _>("the database is down")
                }),
                "/panics" => Decision::accept_with(handshake, |_, _| async {
                    if true {
                        panic!("a handler of the hook's that panics");
                    }
                }),
                _ => Decision::accept_with(handshake, |mut socket, _| async move {
                    while let Some(Ok(message)) = socket.recv_data().await {
                        if socket.send(message).await.is_err() {
                            break;
                        }
                    }
                })
                .max_message_size(10),
            }
        })
}

#[tokio::test]
async fn a_hooks_own_handler_is_supervised_as_the_layers_is() {
    let mut server = serve(own_handlers()).await;
    for path in ["/fails", "/panics"] {
        let mut client = server.connect_to(path).await;
        let session = server.next_session().await;
        assert_eq!(expect_close(&mut client).await.0, 1011, "{path}");
        let summary = within(session.ended()).await;
        assert!(summary.error.is_some(), "{path}: {summary:?}");
    }
    // The server goes on, and the hook's limit holds for its own handler too.
    let mut client = server.connect_to("/echo").await;
    round_trip(&mut client, ClientMessage::text("0123456789")).await;
    client
        .send(ClientMessage::text("01234567890"))
        .await
        .unwrap();
    assert_eq!(expect_close(&mut client).await.0, 1009);
}
