//! The checks a request must pass to become a socket (RFC 6455 §4.2.1, RFC 8441 §4–5),
//! and the `Sec-WebSocket-Accept` answer.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use http::{header, HeaderMap, HeaderValue, Method, Request, Version};
use sha1::{Digest, Sha1};

use super::config::{Accepted, HandshakeConfig};
use crate::rejection::Rejection;

/// Appended to the client's key before hashing (RFC 6455 §1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

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
    check_size(headers, config)?;
    match single(headers, &header::SEC_WEBSOCKET_VERSION) {
        Some(version) if version.as_bytes().trim_ascii() == b"13" => {}
        _ => return Err(Rejection::BadVersion),
    }
    finish(headers, config, None)
}

/// Checks a request on a WebSocket path (RFC 6455 §4.2.1), then origin and subprotocol.
pub(crate) fn check<B>(req: &Request<B>, config: &HandshakeConfig) -> Result<Accepted, Rejection> {
    let headers = req.headers();
    check_size(headers, config)?;
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

/// Refuses header fields over `max_header_size`, counted as on the wire in HTTP/1.1: each
/// name and value, and 4 bytes a line for `: ` and CRLF.
fn check_size(headers: &HeaderMap, config: &HandshakeConfig) -> Result<(), Rejection> {
    let mut size = 0usize;
    for (name, value) in headers {
        size += name.as_str().len() + value.len() + 4;
        if size > config.max_header_size {
            return Err(Rejection::HeadersTooLarge);
        }
    }
    Ok(())
}

/// The checks both HTTP versions share: origin, then subprotocol.
fn finish(
    headers: &HeaderMap,
    config: &HandshakeConfig,
    accept: Option<HeaderValue>,
) -> Result<Accepted, Rejection> {
    if !config.origins.allow(headers) {
        return Err(Rejection::OriginForbidden);
    }
    let protocol = config.protocols.choose(headers);
    if protocol.is_none() && config.protocols.required {
        return Err(Rejection::NoProtocol);
    }
    Ok(Accepted {
        accept,
        protocol,
        #[cfg(feature = "deflate")]
        deflate: config
            .deflate
            .as_ref()
            .and_then(|deflate| crate::deflate::negotiate(headers, deflate)),
    })
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

/// `Sec-WebSocket-Accept` for a client key (RFC 6455 §4.2.2, step 5.4).
pub(crate) fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    let encoded = STANDARD.encode(sha1.finalize());
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::handshake::origin::Origin;
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
        let mut config = HandshakeConfig::default();
        config.protocols.preferred = list.iter().map(|p| HeaderValue::from_static(p)).collect();
        config
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
        required.protocols.required = true;
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
        config.protocols.selector = Some(Arc::new(|offered: &[&str]| {
            offered.last().map(|p| p.to_string())
        }));
        assert_eq!(check(&offered, &config).unwrap().protocol.unwrap(), "c");
        config.protocols.selector = Some(Arc::new(|_: &[&str]| Some("z".to_owned())));
        assert_eq!(check(&offered, &config).unwrap().protocol, None);
    }

    #[test]
    fn origins_are_checked_when_configured() {
        let mut config = open();
        config.origins.allowed = vec![Origin::parse("https://app.example").unwrap()];
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
        let mut strict = config.clone();
        strict.origins.refuse_missing = true;
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
            let mut config = protocols(&["chat"]);
            config.origins.allowed = vec![Origin::parse("http://localhost:5000").unwrap()];
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
