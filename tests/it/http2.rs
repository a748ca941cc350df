//! WebSockets over HTTP/2 (RFC 8441): extended CONNECT with `:protocol = websocket`, on the
//! same layer and handler. The client is hyper's HTTP/2 client (prior knowledge) with
//! tungstenite speaking WebSocket over the upgraded stream.

use std::{future::Future, task::Poll};

use crate::common::{serve, within, Server};
use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::{
    body::Bytes, client::conn::http2::SendRequest, ext::Protocol, upgrade::Upgraded, Method,
    Request, Response, StatusCode, Version,
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_tungstenite::{
    tungstenite::{
        protocol::{frame::coding::CloseCode as ClientCode, CloseFrame, Role},
        Message as ClientMessage,
    },
    WebSocketStream,
};
use tower_websockets::{
    session::ClosedBy, CloseCode, Handshake, Message, WebSocket, WebSocketLayer,
};

type H2Socket = WebSocketStream<TokioIo<Upgraded>>;

/// One HTTP/2 connection, once the server has enabled extended CONNECT.
async fn h2_connection(server: &Server) -> SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    // Wait for the server's SETTINGS to allow extended CONNECT. hyper processes them in a
    // task of its own that does not wake this one, so look again every few milliseconds
    // until they have, or the deadline passes.
    let mut connection = Box::pin(connection);
    within(async {
        while !connection.is_extended_connect_protocol_enabled() {
            std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = connection.as_mut().poll(cx) {
                    panic!("the connection ended early: {result:?}");
                }
                Poll::Ready(())
            })
            .await;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await;
    tokio::spawn(connection);
    sender
}

fn extended_connect(
    server: &Server,
    path: &str,
    protocol: Option<&'static str>,
) -> Request<Empty<Bytes>> {
    let mut builder = Request::builder()
        .method(Method::CONNECT)
        .version(Version::HTTP_2)
        .uri(format!("http://{}{}", server.addr, path))
        .header("sec-websocket-version", "13");
    if let Some(protocol) = protocol {
        builder = builder.extension(Protocol::from_static(protocol));
    }
    builder.body(Empty::new()).unwrap()
}

async fn send(
    sender: &mut SendRequest<Empty<Bytes>>,
    request: Request<Empty<Bytes>>,
) -> Response<hyper::body::Incoming> {
    within(sender.ready()).await.unwrap();
    within(sender.send_request(request)).await.unwrap()
}

/// Opens a WebSocket on `path` over the connection.
async fn open(sender: &mut SendRequest<Empty<Bytes>>, server: &Server, path: &str) -> H2Socket {
    let mut response = send(sender, extended_connect(server, path, Some("websocket"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("sec-websocket-accept").is_none());
    let upgraded = within(hyper::upgrade::on(&mut response)).await.unwrap();
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await
}

async fn round_trip(socket: &mut H2Socket, message: ClientMessage) {
    socket.send(message.clone()).await.unwrap();
    loop {
        match within(socket.next()).await.unwrap().unwrap() {
            ClientMessage::Ping(_) | ClientMessage::Pong(_) => continue,
            echoed => return assert_eq!(echoed, message),
        }
    }
}

#[tokio::test]
async fn echo_over_an_http2_stream_with_the_clients_close_code() {
    let mut server = serve(WebSocketLayer::default()).await;
    let mut sender = h2_connection(&server).await;
    let mut socket = open(&mut sender, &server, "/ws").await;
    let session = server.next_session().await;
    round_trip(&mut socket, ClientMessage::text("over HTTP/2 ✓")).await;
    round_trip(&mut socket, ClientMessage::binary(vec![7u8; 100_000])).await;
    socket
        .close(Some(CloseFrame {
            code: ClientCode::from(4001),
            reason: "done".into(),
        }))
        .await
        .unwrap();
    match within(socket.next()).await {
        Some(Ok(ClientMessage::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4001),
        other => panic!("expected the echoed close, got {other:?}"),
    }
    let summary = within(session.ended()).await;
    assert_eq!(
        (summary.closed_by, summary.close_code),
        (ClosedBy::Client, CloseCode(4001))
    );
    assert_eq!(summary.received.messages, 2);
    // The connection still serves other streams.
    let mut again = open(&mut sender, &server, "/ws").await;
    round_trip(
        &mut again,
        ClientMessage::text("same connection, new stream"),
    )
    .await;
}

#[tokio::test]
async fn a_hundred_sockets_share_one_connection() {
    let server = serve(WebSocketLayer::default()).await;
    let sender = h2_connection(&server).await;
    let mut tasks = Vec::new();
    for n in 0..100 {
        let mut sender = sender.clone();
        let mut socket = open(&mut sender, &server, "/ws").await;
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                round_trip(
                    &mut socket,
                    ClientMessage::text(format!("socket {n}, message {i}")),
                )
                .await;
            }
            socket.close(None).await.unwrap();
        }));
    }
    for task in tasks {
        within(task).await.unwrap();
    }
}

#[tokio::test]
async fn a_server_close_and_its_summary_behave_as_over_http1() {
    let layer = WebSocketLayer::new(|mut socket: WebSocket, handshake: Handshake| async move {
        let greeting = format!("{} {:?}", handshake.method(), handshake.version());
        socket.send(Message::text(greeting)).await?;
        socket.close(CloseCode(4000), "server done").await?;
        while let Some(message) = socket.recv().await {
            message?;
        }
        Ok::<_, tower_websockets::Error>(())
    });
    let mut server = serve(layer).await;
    let mut sender = h2_connection(&server).await;
    let mut socket = open(&mut sender, &server, "/ws").await;
    let session = server.next_session().await;
    let first = within(socket.next()).await.unwrap().unwrap();
    assert_eq!(first, ClientMessage::text("CONNECT HTTP/2.0"));
    match within(socket.next()).await {
        Some(Ok(ClientMessage::Close(Some(frame)))) => {
            assert_eq!(
                (u16::from(frame.code), frame.reason.as_str()),
                (4000, "server done")
            );
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // tungstenite answers the close when polled again; then the stream ends.
    let _ = within(socket.next()).await;
    let summary = within(session.ended()).await;
    assert_eq!(
        (summary.closed_by, summary.close_code),
        (ClosedBy::Server, CloseCode(4000))
    );
    assert_eq!(summary.sent.messages, 1);
}

#[tokio::test]
async fn other_connects_go_to_the_inner_service() {
    let server = serve(WebSocketLayer::default()).await;
    let mut sender = h2_connection(&server).await;
    // An extended CONNECT on an unconfigured path.
    let response = send(
        &mut sender,
        extended_connect(&server, "/elsewhere", Some("websocket")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["x-inner"], "yes");
    // Another :protocol, and a plain CONNECT, on the socket path.
    let response = send(&mut sender, extended_connect(&server, "/ws", Some("mqtt"))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let mut plain = extended_connect(&server, "/ws", None);
    *plain.uri_mut() = server.addr.to_string().parse().unwrap();
    let response = send(&mut sender, plain).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(server.inner_calls(), 3);
}

#[tokio::test]
async fn bad_versions_and_origins_are_refused_over_http2_too() {
    let server = serve(WebSocketLayer::default().allowed_origins(["https://app.example"])).await;
    let mut sender = h2_connection(&server).await;
    let mut request = extended_connect(&server, "/ws", Some("websocket"));
    request
        .headers_mut()
        .insert("sec-websocket-version", "8".parse().unwrap());
    let response = send(&mut sender, request).await;
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()["sec-websocket-version"], "13");

    let mut request = extended_connect(&server, "/ws", Some("websocket"));
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(
        send(&mut sender, request).await.status(),
        StatusCode::FORBIDDEN
    );

    let mut request = extended_connect(&server, "/ws", Some("websocket"));
    request
        .headers_mut()
        .insert("origin", "https://app.example".parse().unwrap());
    assert_eq!(send(&mut sender, request).await.status(), StatusCode::OK);
    assert_eq!(server.inner_calls(), 0);
}

/// Compression is agreed over an HTTP/2 stream as over HTTP/1.1, and works on it.
#[cfg(feature = "deflate")]
#[tokio::test]
async fn compression_is_agreed_and_used_over_an_http2_stream() {
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let layer = WebSocketLayer::default().deflate(tower_websockets::deflate::DeflateConfig::new());
    let server = serve(layer).await;
    let mut sender = h2_connection(&server).await;
    let mut request = extended_connect(&server, "/ws", Some("websocket"));
    request.headers_mut().insert(
        "sec-websocket-extensions",
        "permessage-deflate; client_max_window_bits"
            .parse()
            .unwrap(),
    );
    let mut response = send(&mut sender, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["sec-websocket-extensions"],
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    let mut stream = TokioIo::new(within(hyper::upgrade::on(&mut response)).await.unwrap());

    // A compressed text message, sent as a raw masked frame with RSV1.
    let message = "over HTTP/2, compressed; ".repeat(40);
    let mut compressed = Vec::with_capacity(2048);
    Compress::new(Compression::default(), false)
        .compress_vec(message.as_bytes(), &mut compressed, FlushCompress::Sync)
        .unwrap();
    compressed.truncate(compressed.len() - 4);
    let frame = crate::common::RawSocket::frame(0xc1, &compressed, true);
    stream.write_all(&frame).await.unwrap();

    // The echo: RSV1 set, and it inflates to the message.
    let mut head = [0u8; 2];
    within(stream.read_exact(&mut head)).await.unwrap();
    assert_eq!(head[0], 0xc1, "a final, compressed text frame");
    let len = match head[1] {
        126 => {
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await.unwrap();
            usize::from(u16::from_be_bytes(len))
        }
        len => usize::from(len),
    };
    let mut payload = vec![0u8; len];
    within(stream.read_exact(&mut payload)).await.unwrap();
    payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut inflated = Vec::with_capacity(message.len() + 64);
    Decompress::new(false)
        .decompress_vec(&payload, &mut inflated, FlushDecompress::Sync)
        .unwrap();
    assert_eq!(inflated, message.as_bytes());
}
