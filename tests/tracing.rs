//! Each session is a `tracing` span (path, peer, subprotocol) with its close as an event.

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use common::{raw_http, round_trip, serve, upgrade_request, within};
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest,
    protocol::{frame::coding::CloseCode, CloseFrame},
    Message,
};
use tower_websockets::WebSocketLayer;

/// Everything the subscriber prints, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_session_span_and_its_close_event_carry_the_right_values() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut server = serve(WebSocketLayer::default().protocols(["chat"])).await;
    let mut request = server.url("/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "chat".parse().unwrap());
    let (mut client, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let session = server.next_session().await;
    round_trip(&mut client, Message::text("traced")).await;
    client
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "done".into(),
        }))
        .await
        .unwrap();
    within(session.ended()).await;
    let refused = upgrade_request("/ws", "").replace("Version: 13", "Version: 8");
    assert_eq!(raw_http(server.addr, &refused).await.0, 426);

    let text = captured.text();
    let closed = text
        .lines()
        .find(|line| line.contains("websocket closed"))
        .unwrap_or_else(|| panic!("no close event in:\n{text}"));
    for expected in [
        "websocket{path=/ws peer=Some(127.0.0.1:",
        "protocol=chat}",
        "code=1000",
        "reason=done",
        "closed_by=Client",
        "received_messages=1",
        "received_bytes=6",
        "sent_messages=1",
        "sent_bytes=6",
    ] {
        assert!(closed.contains(expected), "{expected:?} not in {closed:?}");
    }
    assert!(!closed.contains("error="), "{closed}");
    let refusal = text
        .lines()
        .find(|line| line.contains("websocket handshake refused"))
        .unwrap_or_else(|| panic!("no refusal event in:\n{text}"));
    assert!(refusal.contains("status=426"), "{refusal}");
    assert_eq!(text.matches("websocket closed").count(), 1, "{text}");
}
