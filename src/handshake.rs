//! The opening handshake (RFC 6455 §4.2): checking a request and building the 101.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use sha1::{Digest, Sha1};

/// Appended to the client's key before hashing (RFC 6455 §1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a request on a WebSocket path was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    NotUpgrade,
    MethodNotGet,
    BadKey,
    BadVersion,
}

impl Rejection {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Rejection::BadVersion => StatusCode::UPGRADE_REQUIRED,
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
            Rejection::BadKey => {
                "Sec-WebSocket-Key must be present and be the base64 encoding of 16 bytes.\n"
            }
            Rejection::BadVersion => "Only WebSocket version 13 is supported.\n",
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
    pub(crate) accept: HeaderValue,
    pub(crate) protocol: Option<HeaderValue>,
}

/// Checks a request on a WebSocket path. `protocols` are the server's, most preferred first.
pub(crate) fn check<B>(req: &Request<B>, protocols: &[HeaderValue]) -> Result<Accepted, Rejection> {
    let headers = req.headers();
    if !has_token(headers, &header::UPGRADE, "websocket")
        || !has_token(headers, &header::CONNECTION, "upgrade")
    {
        return Err(Rejection::NotUpgrade);
    }
    if req.method() != Method::GET {
        return Err(Rejection::MethodNotGet);
    }
    let versions = headers.get_all(header::SEC_WEBSOCKET_VERSION);
    let mut versions = versions.iter();
    match (versions.next(), versions.next()) {
        (Some(version), None) if version.as_bytes().trim_ascii() == b"13" => {}
        _ => return Err(Rejection::BadVersion),
    }
    let keys = headers.get_all(header::SEC_WEBSOCKET_KEY);
    let mut keys = keys.iter();
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) if is_valid_key(key.as_bytes()) => key,
        _ => return Err(Rejection::BadKey),
    };
    Ok(Accepted {
        accept: accept_key(key.as_bytes()),
        protocol: choose_protocol(headers, protocols),
    })
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

/// The first of the server's protocols that the client offered.
fn choose_protocol(headers: &HeaderMap, ours: &[HeaderValue]) -> Option<HeaderValue> {
    if ours.is_empty() {
        return None;
    }
    let offered: Vec<&[u8]> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|item| !item.is_empty())
        .collect();
    ours.iter()
        .find(|protocol| offered.contains(&protocol.as_bytes()))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::get("/ws");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    const GOOD: [(&str, &str); 4] = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn accept_key_matches_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_valid_handshake_is_accepted_with_tokens_in_lists() {
        let accepted = check(&request(&GOOD), &[]).unwrap();
        assert_eq!(accepted.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accepted.protocol, None);
    }

    #[test]
    fn each_bad_handshake_gets_its_rejection() {
        assert_eq!(
            check(&request(&[]), &[]).unwrap_err(),
            Rejection::NotUpgrade
        );
        let mut bad_version = GOOD;
        bad_version[2].1 = "8";
        assert_eq!(
            check(&request(&bad_version), &[]).unwrap_err(),
            Rejection::BadVersion
        );
        let mut bad_key = GOOD;
        bad_key[3].1 = "c2hvcnQ=";
        assert_eq!(
            check(&request(&bad_key), &[]).unwrap_err(),
            Rejection::BadKey
        );
        let mut post = request(&GOOD);
        *post.method_mut() = Method::POST;
        assert_eq!(check(&post, &[]).unwrap_err(), Rejection::MethodNotGet);
    }

    #[test]
    fn the_servers_preference_picks_the_protocol() {
        let mut headers = GOOD.to_vec();
        headers.push(("sec-websocket-protocol", "chat, superchat"));
        let ours = [
            HeaderValue::from_static("superchat"),
            HeaderValue::from_static("chat"),
        ];
        let accepted = check(&request(&headers), &ours).unwrap();
        assert_eq!(accepted.protocol.unwrap(), "superchat");
        let other = [HeaderValue::from_static("mqtt")];
        assert_eq!(check(&request(&headers), &other).unwrap().protocol, None);
    }
}
