//! The opening handshake (RFC 6455 §4.2): checking a request and building the 101.

use std::{fmt, sync::Arc};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Version};
use sha1::{Digest, Sha1};

use crate::origin::Origin;

/// Appended to the client's key before hashing (RFC 6455 §1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Chooses a subprotocol from those the client offered, in the client's order.
pub(crate) type ProtocolSelector = Arc<dyn Fn(&[&str]) -> Option<String> + Send + Sync>;

/// What the handshake accepts: subprotocols and origins.
#[derive(Clone, Default)]
pub(crate) struct HandshakeConfig {
    /// The server's protocols, most preferred first.
    pub(crate) protocols: Vec<HeaderValue>,
    /// Replaces `protocols` when set.
    pub(crate) selector: Option<ProtocolSelector>,
    /// Refuse clients with which no protocol is agreed.
    pub(crate) require_protocol: bool,
    /// Empty: any origin.
    pub(crate) allowed_origins: Vec<Origin>,
    /// Whether a request without `Origin` (not from a browser) passes the origin check.
    pub(crate) refuse_missing_origin: bool,
}

impl fmt::Debug for HandshakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeConfig")
            .field("protocols", &self.protocols)
            .field("selector", &self.selector.as_ref().map(|_| ".."))
            .field("require_protocol", &self.require_protocol)
            .field("allowed_origins", &self.allowed_origins)
            .field("refuse_missing_origin", &self.refuse_missing_origin)
            .finish()
    }
}

/// Why a request on a WebSocket path was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    NotUpgrade,
    MethodNotGet,
    HttpVersion,
    MissingHost,
    BadKey,
    BadVersion,
    OriginForbidden,
    NoProtocol,
}

impl Rejection {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Rejection::BadVersion => StatusCode::UPGRADE_REQUIRED,
            Rejection::OriginForbidden => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn reason(self) -> &'static str {
        match self {
            Rejection::NotUpgrade => {
                "This path serves WebSocket connections only: the request needs \
                 `Connection: Upgrade` and `Upgrade: websocket`.\n"
            }
            Rejection::MethodNotGet => "A WebSocket handshake must use the GET method.\n",
            Rejection::HttpVersion => "A WebSocket handshake needs HTTP/1.1 or later.\n",
            Rejection::MissingHost => "A WebSocket handshake needs a Host header.\n",
            Rejection::BadKey => {
                "Sec-WebSocket-Key must be present once and be the base64 encoding of 16 bytes.\n"
            }
            Rejection::BadVersion => "Only WebSocket version 13 is supported.\n",
            Rejection::OriginForbidden => {
                "WebSocket connections from this origin are not allowed.\n"
            }
            Rejection::NoProtocol => {
                "None of the subprotocols in Sec-WebSocket-Protocol is supported here.\n"
            }
        }
    }

    /// How the stats count it.
    pub(crate) fn refusal(self) -> crate::stats::Refusal {
        use crate::stats::Refusal;
        match self {
            Rejection::NotUpgrade => Refusal::NotWebSocket,
            Rejection::MethodNotGet
            | Rejection::HttpVersion
            | Rejection::MissingHost
            | Rejection::BadKey => Refusal::BadHandshake,
            Rejection::BadVersion => Refusal::UnsupportedVersion,
            Rejection::OriginForbidden => Refusal::ForbiddenOrigin,
            Rejection::NoProtocol => Refusal::NoProtocol,
        }
    }

    /// Headers the rejection carries besides the reason.
    pub(crate) fn headers(self, headers: &mut HeaderMap) {
        if self == Rejection::BadVersion {
            headers.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
    }
}

/// What an accepted handshake answers with.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// `Sec-WebSocket-Accept` (HTTP/1.1 only; RFC 8441 has no key).
    pub(crate) accept: Option<HeaderValue>,
    pub(crate) protocol: Option<HeaderValue>,
}

/// Whether the request is an RFC 8441 extended CONNECT for a WebSocket (HTTP/2).
#[cfg(feature = "http2")]
pub(crate) fn is_extended_connect<B>(req: &Request<B>) -> bool {
    req.method() == Method::CONNECT
        && req
            .extensions()
            .get::<hyper::ext::Protocol>()
            .is_some_and(|protocol| protocol.as_str().eq_ignore_ascii_case("websocket"))
}

/// Checks an RFC 8441 extended CONNECT (§4, §5): version 13, then origin and subprotocol
/// as for HTTP/1.1. There is no key to answer and no `Upgrade`/`Connection` header.
#[cfg(feature = "http2")]
pub(crate) fn check_extended_connect<B>(
    req: &Request<B>,
    config: &HandshakeConfig,
) -> Result<Accepted, Rejection> {
    let headers = req.headers();
    match single(headers, &header::SEC_WEBSOCKET_VERSION) {
        Some(version) if version.as_bytes().trim_ascii() == b"13" => {}
        _ => return Err(Rejection::BadVersion),
    }
    finish(headers, config, None)
}

/// Checks a request on a WebSocket path (RFC 6455 §4.2.1), then origin and subprotocol.
pub(crate) fn check<B>(req: &Request<B>, config: &HandshakeConfig) -> Result<Accepted, Rejection> {
    let headers = req.headers();
    if !has_token(headers, &header::UPGRADE, "websocket")
        || !has_token(headers, &header::CONNECTION, "upgrade")
    {
        return Err(Rejection::NotUpgrade);
    }
    if req.method() != Method::GET {
        return Err(Rejection::MethodNotGet);
    }
    if req.version() < Version::HTTP_11 {
        return Err(Rejection::HttpVersion);
    }
    if req.version() == Version::HTTP_11 && !headers.contains_key(header::HOST) {
        return Err(Rejection::MissingHost);
    }
    match single(headers, &header::SEC_WEBSOCKET_VERSION) {
        Some(version) if version.as_bytes().trim_ascii() == b"13" => {}
        _ => return Err(Rejection::BadVersion),
    }
    let key = match single(headers, &header::SEC_WEBSOCKET_KEY) {
        Some(key) if is_valid_key(key.as_bytes().trim_ascii()) => key.as_bytes().trim_ascii(),
        _ => return Err(Rejection::BadKey),
    };
    finish(headers, config, Some(accept_key(key)))
}

/// The checks both HTTP versions share: origin, then subprotocol.
fn finish(
    headers: &HeaderMap,
    config: &HandshakeConfig,
    accept: Option<HeaderValue>,
) -> Result<Accepted, Rejection> {
    if !origin_allowed(headers, config) {
        return Err(Rejection::OriginForbidden);
    }
    let protocol = choose_protocol(headers, config);
    if protocol.is_none() && config.require_protocol {
        return Err(Rejection::NoProtocol);
    }
    Ok(Accepted { accept, protocol })
}

/// The header's value if it appears exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// Whether any of the header's comma-separated values is `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: &header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes encode to 24 characters, the last two being padding.
    key.len() == 24
        && STANDARD
            .decode(key)
            .is_ok_and(|decoded| decoded.len() == 16)
}

fn origin_allowed(headers: &HeaderMap, config: &HandshakeConfig) -> bool {
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let origin = match (origins.next(), origins.next()) {
        (None, _) => return !config.refuse_missing_origin,
        (Some(origin), None) => origin,
        // Several Origin headers: nothing a browser sends.
        (Some(_), Some(_)) => return false,
    };
    if config.allowed_origins.is_empty() {
        return true;
    }
    let Some(origin) = origin.to_str().ok().and_then(Origin::parse) else {
        return false;
    };
    config.allowed_origins.contains(&origin)
}

/// `Sec-WebSocket-Accept` for a client key (RFC 6455 §4.2.2, step 5.4).
pub(crate) fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    let encoded = STANDARD.encode(sha1.finalize());
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

/// The agreed subprotocol: the selector's choice, or the first of the server's protocols
/// that the client offered. Never one the client did not offer.
fn choose_protocol(headers: &HeaderMap, config: &HandshakeConfig) -> Option<HeaderValue> {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect();
    if offered.is_empty() {
        return None;
    }
    match &config.selector {
        Some(select) => {
            let chosen = select(&offered)?;
            offered
                .contains(&chosen.as_str())
                .then(|| HeaderValue::from_str(&chosen).ok())
                .flatten()
        }
        None => config
            .protocols
            .iter()
            .find(|protocol| offered.iter().any(|o| o.as_bytes() == protocol.as_bytes()))
            .cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::get("/ws");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn open() -> HandshakeConfig {
        HandshakeConfig::default()
    }

    fn protocols(list: &[&'static str]) -> HandshakeConfig {
        HandshakeConfig {
            protocols: list.iter().map(|p| HeaderValue::from_static(p)).collect(),
            ..HandshakeConfig::default()
        }
    }

    const GOOD: [(&str, &str); 5] = [
        ("host", "localhost"),
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    fn good_with(name: &str, value: Option<&'static str>) -> Request<()> {
        let mut headers: Vec<(&str, &str)> =
            GOOD.iter().copied().filter(|(n, _)| *n != name).collect();
        if let Some(value) = value {
            headers.push((name, value));
        }
        request(&headers)
    }

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_valid_handshake_is_accepted_with_tokens_in_lists() {
        let accepted = check(&request(&GOOD), &open()).unwrap();
        assert_eq!(accepted.accept.unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accepted.protocol, None);
    }

    #[test]
    fn each_bad_handshake_gets_its_rejection() {
        let cases = [
            (good_with("upgrade", None), Rejection::NotUpgrade),
            (good_with("upgrade", Some("h2c")), Rejection::NotUpgrade),
            (good_with("connection", None), Rejection::NotUpgrade),
            (
                good_with("connection", Some("keep-alive")),
                Rejection::NotUpgrade,
            ),
            (good_with("host", None), Rejection::MissingHost),
            (
                good_with("sec-websocket-version", None),
                Rejection::BadVersion,
            ),
            (
                good_with("sec-websocket-version", Some("8")),
                Rejection::BadVersion,
            ),
            (good_with("sec-websocket-key", None), Rejection::BadKey),
            (
                good_with("sec-websocket-key", Some("c2hvcnQ=")),
                Rejection::BadKey,
            ),
            (
                good_with("sec-websocket-key", Some("not base64 at all!!!!!!!")),
                Rejection::BadKey,
            ),
            (
                good_with("sec-websocket-key", Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
                Rejection::BadKey,
            ),
        ];
        for (req, expected) in cases {
            assert_eq!(
                check(&req, &open()).unwrap_err(),
                expected,
                "{:?}",
                req.headers()
            );
        }
        let mut post = request(&GOOD);
        *post.method_mut() = Method::POST;
        assert_eq!(check(&post, &open()).unwrap_err(), Rejection::MethodNotGet);
        let mut old = request(&GOOD);
        *old.version_mut() = Version::HTTP_10;
        assert_eq!(check(&old, &open()).unwrap_err(), Rejection::HttpVersion);
        let mut two_keys = request(&GOOD);
        two_keys.headers_mut().append(
            "sec-websocket-key",
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert_eq!(check(&two_keys, &open()).unwrap_err(), Rejection::BadKey);
    }

    #[test]
    fn the_servers_preference_picks_the_protocol() {
        let offered = good_with("sec-websocket-protocol", Some("chat, superchat"));
        let accepted = check(&offered, &protocols(&["superchat", "chat"])).unwrap();
        assert_eq!(accepted.protocol.unwrap(), "superchat");
        assert_eq!(
            check(&offered, &protocols(&["mqtt"])).unwrap().protocol,
            None
        );
        let mut required = protocols(&["mqtt"]);
        required.require_protocol = true;
        assert_eq!(
            check(&offered, &required).unwrap_err(),
            Rejection::NoProtocol
        );
        assert_eq!(
            check(&request(&GOOD), &required).unwrap_err(),
            Rejection::NoProtocol
        );
    }

    #[test]
    fn a_selector_chooses_but_only_among_the_offered() {
        let offered = good_with("sec-websocket-protocol", Some("a, b, c"));
        let mut config = open();
        config.selector = Some(Arc::new(|offered: &[&str]| {
            offered.last().map(|p| p.to_string())
        }));
        assert_eq!(check(&offered, &config).unwrap().protocol.unwrap(), "c");
        config.selector = Some(Arc::new(|_: &[&str]| Some("z".to_owned())));
        assert_eq!(check(&offered, &config).unwrap().protocol, None);
    }

    #[test]
    fn origins_are_checked_when_configured() {
        let config = HandshakeConfig {
            allowed_origins: vec![Origin::parse("https://app.example").unwrap()],
            ..open()
        };
        let from = |origin| good_with("origin", Some(origin));
        assert!(check(&from("https://APP.example:443"), &config).is_ok());
        assert_eq!(
            check(&from("https://evil.example"), &config).unwrap_err(),
            Rejection::OriginForbidden
        );
        assert_eq!(
            check(&from("null"), &config).unwrap_err(),
            Rejection::OriginForbidden
        );
        assert!(
            check(&request(&GOOD), &config).is_ok(),
            "no Origin: allowed by default"
        );
        let strict = HandshakeConfig {
            refuse_missing_origin: true,
            ..config
        };
        assert_eq!(
            check(&request(&GOOD), &strict).unwrap_err(),
            Rejection::OriginForbidden
        );
        assert!(
            check(&from("https://evil.example"), &open()).is_ok(),
            "empty list: any origin"
        );
    }

    /// A header name the handshake reads, or another.
    fn header_name() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "host",
            "connection",
            "upgrade",
            "sec-websocket-version",
            "sec-websocket-key",
            "sec-websocket-protocol",
            "origin",
            "x-other",
        ])
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic(
            headers in prop::collection::vec((header_name(), prop::collection::vec(any::<u8>(), 0..40)), 0..12),
            version in prop::sample::select(vec![Version::HTTP_09, Version::HTTP_10, Version::HTTP_11, Version::HTTP_2]),
        ) {
            let mut req = Request::get("/ws").body(()).unwrap();
            *req.version_mut() = version;
            for (name, value) in headers {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    req.headers_mut().append(name, value);
                }
            }
            let config = HandshakeConfig {
                protocols: vec![HeaderValue::from_static("chat")],
                allowed_origins: vec![Origin::parse("http://localhost:5000").unwrap()],
                ..open()
            };
            let _ = check(&req, &config);
        }

        #[test]
        fn every_valid_handshake_is_accepted(
            key in prop::array::uniform16(any::<u8>()),
            upgrade_case in "[wW][eE][bB][sS][oO][cC][kK][eE][tT]",
            connection in prop::sample::select(vec!["Upgrade", "upgrade", "keep-alive, Upgrade", "UPGRADE ,close"]),
            padding in "[ \t]{0,2}",
        ) {
            let key = STANDARD.encode(key);
            let req = request(&[
                ("host", "example.com"),
                ("connection", connection),
                ("upgrade", &format!("{padding}{upgrade_case}{padding}")),
                ("sec-websocket-version", "13"),
                ("sec-websocket-key", &key),
            ]);
            let accepted = check(&req, &open()).unwrap();
            prop_assert_eq!(accepted.accept, Some(accept_key(key.as_bytes())));
        }
    }
}
