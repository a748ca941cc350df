//! `cargo run --example echo`: the sample's page and socket, served by the real binary.

use std::{process::Command, time::Duration};

use crate::common::{raw_http, round_trip, sample, within};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn the_sample_serves_the_page_and_echoes_on_ws() {
    let (mut sample, addr) = sample::start("echo");
    let (status, head, page) = raw_http(addr, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, 200);
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/html"));
    for needle in [
        "id=\"status\"",
        ">Ready<",
        "id=\"url\"",
        "\"/ws\"",
        ">Connect<",
        "<label for=\"message\"",
        ">Send<",
        ">Close Socket<",
        "Communication Log",
    ] {
        assert!(page.contains(needle), "the page lacks {needle}");
    }
    let (status, _, _) = raw_http(addr, "GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, 400);

    let (mut client, _) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/ws")))
        .await
        .unwrap();
    round_trip(&mut client, Message::text("hello, sample ✓")).await;
    drop(client);

    // HTTP/2 (prior knowledge) on the same port: the page, and a socket by extended CONNECT.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut h2, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let page = hyper::Request::get(format!("http://{addr}/"))
        .version(hyper::Version::HTTP_2)
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .unwrap();
    let response = within(h2.send_request(page)).await.unwrap();
    assert_eq!(
        (response.status(), response.version()),
        (hyper::StatusCode::OK, hyper::Version::HTTP_2)
    );
    let connect = hyper::Request::builder()
        .method(hyper::Method::CONNECT)
        .version(hyper::Version::HTTP_2)
        .uri(format!("http://{addr}/ws"))
        .header("sec-websocket-version", "13")
        .extension(hyper::ext::Protocol::from_static("websocket"))
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .unwrap();
    // The GET above waited for the server's SETTINGS, so extended CONNECT is allowed now.
    let mut response = within(h2.send_request(connect)).await.unwrap();
    assert_eq!(response.status(), 200);
    let upgraded = within(hyper::upgrade::on(&mut response)).await.unwrap();
    let mut socket = tokio_tungstenite::WebSocketStream::from_raw_socket(
        hyper_util::rt::TokioIo::new(upgraded),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    futures_util::SinkExt::send(&mut socket, Message::text("over HTTP/2"))
        .await
        .unwrap();
    let echoed = within(futures_util::StreamExt::next(&mut socket))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::text("over HTTP/2"));

    // An open socket when Ctrl-C comes: it is told 1001 (Going Away) and closes cleanly.
    let (mut open, _) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/ws")))
        .await
        .unwrap();
    drop(socket);

    // Ctrl-C (SIGINT) stops it cleanly.
    #[cfg(unix)]
    {
        let pid = sample.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        // The open socket is told the server is going away; tungstenite answers the close.
        match within(futures_util::StreamExt::next(&mut open)).await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
            other => panic!("expected close 1001, got {other:?}"),
        }
        while let Some(Ok(_)) = within(futures_util::StreamExt::next(&mut open)).await {}
        // Polled without blocking: this runtime still serves the HTTP/2 client, whose
        // socket the sample closes as it stops.
        let status = within(async {
            loop {
                if let Some(status) = sample.child.try_wait().unwrap() {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(status.success(), "{status:?}");
        assert_eq!(sample.line().trim(), "shutting down");
        let line = sample.line();
        // The HTTP/2 socket may or may not have ended yet; none may be left to drop.
        assert!(line.trim().ends_with("closed, 0 dropped"), "{line}");
    }
}

/// A request head over the sample's limits gets 431, from the layer on its path and from
/// hyper elsewhere; a client that sends its head a byte a second is cut off.
#[tokio::test]
async fn the_sample_limits_request_heads_in_size_and_time() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (_sample, addr) = sample::start("echo");
    let big = format!("X-Big: {}\r\n", "x".repeat(40_000));
    let upgrade = crate::common::upgrade_request("/ws", &big);
    assert_eq!(raw_http(addr, &upgrade).await.0, 431);
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Huge: {}\r\n\r\n",
        "x".repeat(100_000)
    );
    assert_eq!(raw_http(addr, &huge).await.0, 431);

    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    let (mut read, mut write) = slow.split();
    let trickle = async {
        for byte in b"GET /ws HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if write.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    // The sample closes the connection (perhaps with a 408 first); a hang guard only.
    let cut = async {
        let mut rest = Vec::new();
        let _ = read.read_to_end(&mut rest).await;
    };
    tokio::select! {
        _ = trickle => {}
        _ = cut => {}
        _ = tokio::time::sleep(Duration::from_secs(120)) => panic!("never cut off"),
    }
    // Cut off by the head timeout (10 s), not at once.
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
