//! App state for handlers (`with_state`), shared with an axum router's own routes, and
//! the accept hook deciding with the router's extractors before the `101` and handing the
//! handler a typed value.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use axum::{
    extract::{FromRequestParts, Path, State},
    routing::post,
    Router,
};
use futures_util::SinkExt;
use http::StatusCode;
use tokio_tungstenite::tungstenite::Message as ClientMessage;
use tower_websockets::{Decision, Handshake, Message, Topics, WebSocket, WebSocketLayer};

use crate::common::{expect_text, raw_http, serve_router, upgrade_request, within};

/// The app's state, shared by the router's routes and the socket handlers.
#[derive(Clone)]
struct App {
    topics: Topics,
    /// Sockets opened so far.
    opened: Arc<AtomicUsize>,
}

/// Who the hook let in, and where: the handler's typed input.
struct Member {
    name: String,
    room: String,
}

/// The app, served by its router.
async fn start() -> (App, SocketAddr) {
    let app = App {
        topics: Topics::new(),
        opened: Arc::default(),
    };
    let addr = serve_router(router(app.clone())).await;
    (app, addr)
}

/// `POST /rooms/{room}`: publishes the body to the room; answers how many got it.
async fn publish(State(app): State<App>, Path(room): Path<String>, body: String) -> String {
    app.topics.publish(&room, Message::text(body)).to_string()
}

/// Decides before the `101`: the room from the router's path parameter (404 for one that
/// does not exist), the user from the token in the query (401 without a known one).
async fn admit(mut handshake: Handshake, app: App) -> Decision {
    let Ok(Path(room)) = Path::<String>::from_request_parts(handshake.parts_mut(), &()).await
    else {
        return Decision::refuse(StatusCode::BAD_REQUEST);
    };
    if room != "lobby" && room != "games" {
        return Decision::refuse((StatusCode::NOT_FOUND, format!("no room named {room}")));
    }
    let name = match handshake.uri().query() {
        Some("token=t-ada") => "Ada",
        Some("token=t-alan") => "Alan",
        _ => return Decision::refuse((StatusCode::UNAUTHORIZED, "missing or unknown token")),
    };
    let member = Member {
        name: name.to_owned(),
        room,
    };
    Decision::accept_with(handshake, move |socket, _| chat(socket, member, app))
}

async fn chat(mut socket: WebSocket, member: Member, app: App) {
    app.opened.fetch_add(1, Ordering::SeqCst);
    app.topics.subscribe(&socket, &member.room);
    let hello = format!("hello {}, welcome to {}", member.name, member.room);
    if socket.send(hello).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.recv_data().await {
        if let Some(text) = message.as_text() {
            let line = format!("{}: {text}", member.name);
            app.topics.publish(&member.room, Message::text(line));
        }
    }
}

/// The layer's own handler, for sockets the hook accepts without one of their own: it
/// gets the state as its third argument.
async fn count(mut socket: WebSocket, _: Handshake, app: App) {
    let opened = app.opened.fetch_add(1, Ordering::SeqCst) + 1;
    let _ = socket.send(format!("socket {opened}")).await;
    while let Some(Ok(_)) = socket.recv_data().await {}
}

fn router(app: App) -> Router {
    let rooms = WebSocketLayer::with_state(app.clone(), count).on_accept({
        let app = app.clone();
        move |handshake| admit(handshake, app.clone())
    });
    let counter = WebSocketLayer::with_state(app.clone(), count);
    Router::new()
        .route("/rooms/{room}", post(publish))
        .route_service("/rooms/{room}/ws", rooms.into_service())
        .route_service("/count", counter.into_service())
        .with_state(app)
}

async fn connect(addr: SocketAddr, path: &str) -> crate::common::Client {
    within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}{path}"
    )))
    .await
    .unwrap()
    .0
}

#[tokio::test]
async fn handlers_and_routes_share_the_routers_state() {
    let (app, addr) = start().await;

    let mut first = connect(addr, "/count").await;
    expect_text(&mut first, "socket 1").await;
    let mut ada = connect(addr, "/rooms/lobby/ws?token=t-ada").await;
    expect_text(&mut ada, "hello Ada, welcome to lobby").await;
    let mut second = connect(addr, "/count").await;
    expect_text(&mut second, "socket 3").await;
    assert_eq!(app.opened.load(Ordering::SeqCst), 3);

    // An ordinary route publishes to the hub the sockets' handlers subscribed with.
    let body = "the server says hi";
    let request = format!(
        "POST /rooms/lobby HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, _, delivered) = raw_http(addr, &request).await;
    assert_eq!((status, delivered.as_str()), (200, "1"));
    expect_text(&mut ada, body).await;

    let mut alan = connect(addr, "/rooms/lobby/ws?token=t-alan").await;
    expect_text(&mut alan, "hello Alan, welcome to lobby").await;
    ada.send(ClientMessage::text("hi all")).await.unwrap();
    expect_text(&mut alan, "Ada: hi all").await;
    expect_text(&mut ada, "Ada: hi all").await;
}

#[tokio::test]
async fn the_hook_refuses_with_a_status_and_reason_before_the_101() {
    let (app, addr) = start().await;
    for (path, status, reason) in [
        ("/rooms/lobby/ws", 401, "missing or unknown token\n"),
        (
            "/rooms/lobby/ws?token=forged",
            401,
            "missing or unknown token\n",
        ),
        ("/rooms/attic/ws?token=t-ada", 404, "no room named attic\n"),
    ] {
        let (got, head, body) = raw_http(addr, &upgrade_request(path, "")).await;
        assert_eq!((got, body.as_str()), (status, reason), "{path}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; charset=utf-8"),
            "{head}"
        );
    }
    // No handler ran for any of them.
    assert_eq!(app.opened.load(Ordering::SeqCst), 0);
    // A status alone is sent with its canonical reason.
    let refusal = tower_websockets::accept::Refusal::from(StatusCode::BAD_REQUEST);
    let response = refusal.into_response();
    assert_eq!(response.status(), 400);
    assert_eq!(&response.body()[..], b"Bad Request\n");
}

/// With the `axum` feature, `peer_addr` reads axum's `ConnectInfo`.
#[cfg(feature = "axum")]
#[tokio::test]
async fn peer_addr_works_behind_axums_connect_info() {
    let handler = |mut socket: WebSocket, handshake: Handshake| async move {
        let _ = socket.send(format!("{:?}", handshake.peer_addr())).await;
        while let Some(Ok(_)) = socket.recv_data().await {}
    };
    let router = Router::new().route_service("/ws", WebSocketLayer::new(handler).into_service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let mut client = connect(addr, "/ws").await;
    let local = match client.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(stream) => stream.local_addr().unwrap(),
        _ => unreachable!("a plain connection"),
    };
    assert_eq!(
        crate::common::next_data(&mut client).await,
        ClientMessage::text(format!("{:?}", Some(local)))
    );
}
