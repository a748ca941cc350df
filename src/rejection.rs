//! Why a request on a WebSocket path was not accepted, and the response that says so.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

/// Why a request on a WebSocket path was not accepted. Each has its status, a reason a
/// person can act on, and a counter in [`Rejections`](crate::stats::Rejections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Not an upgrade at all.
    NotUpgrade,
    MethodNotGet,
    HttpVersion,
    MissingHost,
    BadKey,
    /// Another WebSocket version than 13.
    BadVersion,
    OriginForbidden,
    /// No agreed subprotocol while one is required.
    NoProtocol,
    /// `max_sockets` are open.
    OverLimit,
    /// A graceful shutdown has begun.
    ShuttingDown,
    /// The request's header fields are over `max_header_size`.
    HeadersTooLarge,
    /// The accept hook answered with a response of its own.
    ByHook,
}

impl Rejection {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Rejection::BadVersion => StatusCode::UPGRADE_REQUIRED,
            Rejection::OriginForbidden => StatusCode::FORBIDDEN,
            Rejection::OverLimit | Rejection::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::ByHook => StatusCode::FORBIDDEN,
            // RFC 6585 §5.
            Rejection::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
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
            Rejection::OverLimit => "Too many WebSocket connections are open; try again shortly.\n",
            Rejection::ShuttingDown => "The server is shutting down.\n",
            Rejection::ByHook => "The server refused this WebSocket.\n",
            Rejection::HeadersTooLarge => {
                "The request's header fields are larger than this server accepts.\n"
            }
        }
    }

    /// The answer: the status, the reason as plain text, and the headers the RFCs ask for.
    pub(crate) fn response(self) -> Response<Bytes> {
        let mut response = plain_text(self.status(), self.reason());
        let headers = response.headers_mut();
        match self {
            // RFC 6455 §4.4: the versions the server speaks.
            Rejection::BadVersion => {
                headers.insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
            }
            // RFC 9110 §10.2.3: when to try again, in seconds.
            Rejection::OverLimit => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Rejection::ShuttingDown => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}

/// A response with `status` and `text` as a plain-text body.
pub(crate) fn plain_text(status: StatusCode, text: impl Into<Bytes>) -> Response<Bytes> {
    let mut response = Response::new(text.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rejection_has_its_status_and_headers() {
        let answer = |rejection: Rejection| rejection.response();
        let version = answer(Rejection::BadVersion);
        assert_eq!(version.status(), 426);
        assert_eq!(version.headers()["sec-websocket-version"], "13");
        assert_eq!(answer(Rejection::OriginForbidden).status(), 403);
        assert_eq!(answer(Rejection::HeadersTooLarge).status(), 431);
        assert_eq!(answer(Rejection::OverLimit).headers()["retry-after"], "1");
        assert_eq!(
            answer(Rejection::ShuttingDown).headers()["retry-after"],
            "5"
        );
        let not_upgrade = answer(Rejection::NotUpgrade);
        assert_eq!(not_upgrade.status(), 400);
        assert_eq!(
            not_upgrade.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
    }
}
