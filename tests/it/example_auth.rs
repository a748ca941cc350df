//! `cargo run --example auth`: the accept hook checks a token from the query or a cookie
//! before the `101`, over real sockets with the real binary.

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

use crate::common::{expect_text, raw_http, sample, upgrade_request, within};

#[tokio::test]
async fn a_token_in_the_query_or_a_cookie_opens_a_socket_and_anything_else_gets_401() {
    let (_sample, addr) = sample::start("auth");

    for (path, extra, reason) in [
        (
            "/ws",
            "",
            "no token: add ?token=... to the URL, or send a token cookie\n",
        ),
        ("/ws?token=forged", "", "unknown token\n"),
        ("/ws", "Cookie: token=forged\r\n", "unknown token\n"),
    ] {
        let (status, head, body) = raw_http(addr, &upgrade_request(path, extra)).await;
        assert_eq!((status, body.as_str()), (401, reason), "{path} {extra:?}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain"),
            "{head}"
        );
    }

    // The token in the query.
    let url = format!("ws://{addr}/ws?token=ada-secret");
    let (mut ada, response) = within(tokio_tungstenite::connect_async(url)).await.unwrap();
    assert_eq!(response.status(), 101);
    expect_text(&mut ada, "hello, Ada").await;
    ada.send(Message::text("hi")).await.unwrap();
    expect_text(&mut ada, "Ada: hi").await;

    // The token in a cookie, beside others.
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.headers_mut().insert(
        "cookie",
        "theme=dark; token=alan-secret; lang=en".parse().unwrap(),
    );
    let (mut alan, _) = within(tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    expect_text(&mut alan, "hello, Alan").await;
    alan.send(Message::text("hello")).await.unwrap();
    expect_text(&mut alan, "Alan: hello").await;
}
