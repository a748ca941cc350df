//! Each session is a `tracing` span (path, peer, subprotocol) with its close as an event.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, OnceLock},
};

use crate::common::{raw_http, round_trip, serve, upgrade_request, within};
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest,
    protocol::{frame::coding::CloseCode, CloseFrame},
    Message,
};
use tower_websockets::WebSocketLayer;
use tracing::{
    field::{Field, Visit},
    span::{Attributes, Id},
    Event, Subscriber,
};
use tracing_subscriber::{
    layer::{self, SubscriberExt},
    registry::LookupSpan,
    Layer,
};

/// The fields of a span or an event, as text.
#[derive(Debug, Clone, Default)]
struct Fields(BTreeMap<&'static str, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

/// An event with its fields and those of the span it happened in.
#[derive(Debug, Clone)]
struct Recorded {
    event: Fields,
    span: Option<(&'static str, Fields)>,
}

impl Recorded {
    fn field(&self, name: &str) -> Option<&str> {
        self.event.0.get(name).map(String::as_str)
    }

    fn span_field(&self, name: &str) -> Option<&str> {
        self.span.as_ref()?.1 .0.get(name).map(String::as_str)
    }
}

/// A subscriber layer that keeps every event, with its span's fields.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Recorded>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: layer::Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_event(&self, event: &Event<'_>, ctx: layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let span = ctx.event_span(event).map(|span| {
            let fields = span
                .extensions()
                .get::<Fields>()
                .cloned()
                .unwrap_or_default();
            (span.name(), fields)
        });
        self.0.lock().unwrap().push(Recorded {
            event: fields,
            span,
        });
    }
}

impl Recorder {
    /// The recorder behind the process's global subscriber. Global, not per thread: with
    /// a thread's default subscriber, the callsite interest that other tests' threads cache
    /// at the same time can leave a span unrecorded here.
    fn global() -> &'static Recorder {
        static RECORDER: OnceLock<Recorder> = OnceLock::new();
        RECORDER.get_or_init(|| {
            let recorder = Recorder::default();
            let subscriber = tracing_subscriber::registry().with(recorder.clone());
            tracing::subscriber::set_global_default(subscriber).unwrap();
            recorder
        })
    }

    /// The events whose message is `message`, among those that `keep` picks.
    fn events(&self, message: &str, keep: impl Fn(&Recorded) -> bool) -> Vec<Recorded> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .filter(|e| e.field("message") == Some(message) && keep(e))
            .cloned()
            .collect()
    }
}

/// This test's socket path, which no other test uses.
const PATH: &str = "/traced";

#[tokio::test]
async fn a_session_span_and_its_close_event_carry_the_right_values() {
    // Every test's events are recorded: this one's are those on its own path.
    let recorder = Recorder::global();
    let ours = |event: &Recorded| {
        event.span_field("path") == Some(PATH) || event.field("path") == Some(PATH)
    };
    let layer = WebSocketLayer::default().path(PATH).protocols(["chat"]);
    let mut server = serve(layer).await;
    let mut request = server.url(PATH).into_client_request().unwrap();
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
    let refused = upgrade_request(PATH, "").replace("Version: 13", "Version: 8");
    assert_eq!(raw_http(server.addr, &refused).await.0, 426);

    let closes = recorder.events("websocket closed", ours);
    assert_eq!(closes.len(), 1, "{closes:?}");
    let closed = &closes[0];
    let (span, _) = closed
        .span
        .as_ref()
        .expect("the close event is in the session's span");
    assert_eq!(*span, "websocket");
    assert_eq!(closed.span_field("path"), Some(PATH));
    assert!(
        closed
            .span_field("peer")
            .is_some_and(|peer| peer.starts_with("Some(127.0.0.1:")),
        "{closed:?}"
    );
    assert_eq!(closed.span_field("protocol"), Some("chat"));
    for (name, value) in [
        ("code", "1000"),
        ("reason", "done"),
        ("closed_by", "Client"),
        ("received_messages", "1"),
        ("received_bytes", "6"),
        ("sent_messages", "1"),
        ("sent_bytes", "6"),
    ] {
        assert_eq!(closed.field(name), Some(value), "{name} in {closed:?}");
    }
    assert_eq!(closed.field("error"), None, "{closed:?}");
    let rejections = recorder.events("websocket handshake rejected", ours);
    assert_eq!(rejections.len(), 1, "{rejections:?}");
    assert_eq!(rejections[0].field("status"), Some("426"));
    assert_eq!(rejections[0].field("path"), Some(PATH));
}
