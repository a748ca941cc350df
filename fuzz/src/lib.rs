//! What the fuzz targets share: a server of hyper and `WebSocketLayer` over an in-memory
//! connection, on a current-thread runtime whose clock is paused (timers fire as soon as
//! nothing else can run, so a close timeout costs no wall time).
//!
//! A target hands the server a client's bytes and checks what came back. A panic anywhere
//! (ours, hyper's, the engine's) is a crash for libFuzzer, and so is every failed check.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tower::{service_fn, Layer, ServiceBuilder};
use tower_websockets::{
    deflate::DeflateConfig,
    error::SessionError,
    session::{SessionHandle, SessionSummary},
    WebSocketLayer,
};

/// The largest message the fuzzed server takes (and so the most it buffers).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The runtime every input runs on: built once per process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a runtime")
    })
}

/// The layer under test: compression agreed when offered, a subprotocol and an origin
/// list to negotiate, and limits small enough for the fuzzer to reach.
pub fn layer() -> WebSocketLayer {
    WebSocketLayer::default()
        .deflate(DeflateConfig::new())
        .protocols(["chat"])
        .allowed_origins(["http://localhost"])
        .max_message_size(MAX_MESSAGE)
        .close_timeout(Duration::from_secs(5))
}

/// What one connection to the server gave.
pub struct Exchange {
    /// Everything the server wrote, until it closed the connection.
    pub answer: Vec<u8>,
    /// How the WebSocket session ended, when the request was accepted.
    pub session: Option<SessionSummary>,
}

/// Serves one connection that sends `request` and then `after` (once the server has
/// answered the request head), reading everything the server writes until it closes.
pub async fn exchange(layer: WebSocketLayer, request: &[u8], after: Option<&[u8]>) -> Exchange {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let handle = serve(layer, server);
    let (mut read, mut write) = tokio::io::split(client);
    let talk = async {
        // The server may close before it has taken everything: a failed write is fine.
        let _ = write.write_all(request).await;
        let mut answer = Vec::new();
        if let Some(after) = after {
            // Wait until the server has answered, as a client waits for its 101.
            while !answer.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8];
                match read.read(&mut byte).await {
                    Ok(1) => answer.push(byte[0]),
                    _ => break,
                }
            }
            let _ = write.write_all(after).await;
        }
        let _ = write.shutdown().await;
        let _ = read.read_to_end(&mut answer).await;
        answer
    };
    let answer = talk.await;
    let handle = handle.lock().unwrap().take();
    let session = match handle {
        Some(handle) => Some(handle.ended().await),
        None => None,
    };
    Exchange { answer, session }
}

/// Starts hyper's HTTP/1.1 server with `layer` in front of a plain service on `io`; the
/// slot it returns gets the session's handle when a handshake is accepted.
fn serve(layer: WebSocketLayer, io: DuplexStream) -> Arc<Mutex<Option<SessionHandle>>> {
    let slot = Arc::new(Mutex::new(None));
    let inner = service_fn(|request: Request<Incoming>| async move {
        // A 2xx answer to CONNECT would open a tunnel.
        let status = if request.method() == http::Method::CONNECT {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        let mut response = Response::new(Full::new(Bytes::from_static(b"inner")));
        *response.status_mut() = status;
        Ok::<_, Infallible>(response)
    });
    let keep = slot.clone();
    let service = ServiceBuilder::new()
        .map_response(move |response: Response<_>| {
            if let Some(handle) = response.extensions().get::<SessionHandle>() {
                *keep.lock().unwrap() = Some(handle.clone());
            }
            response
        })
        .service(layer.layer(inner));
    tokio::spawn(async move {
        let _ = hyper::server::conn::http1::Builder::new()
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
            .with_upgrades()
            .await;
    });
    slot
}

/// What the server answered on one connection: the status codes of its HTTP responses
/// in order (a client may send several requests at once), and when one of them is `101`,
/// its head and the bytes after it, which are WebSocket frames.
pub struct Answer<'a> {
    /// The status codes.
    pub statuses: Vec<u16>,
    /// The `101`'s head, lowercased.
    pub upgrade_head: Option<String>,
    /// What followed the `101`'s head.
    pub frames: &'a [u8],
}

/// Splits `answer` into its HTTP responses and, after a `101`, the WebSocket frames. The
/// bodies the test server writes never hold a status line of their own.
pub fn answer(answer: &[u8]) -> Answer<'_> {
    const LINE: &[u8] = b"HTTP/1.1 ";
    let mut statuses = Vec::new();
    let mut at = 0;
    while let Some(found) = find(&answer[at..], LINE) {
        let start = at + found + LINE.len();
        let Some(status) = answer
            .get(start..start + 3)
            .and_then(|code| std::str::from_utf8(code).ok())
            .and_then(|code| code.parse().ok())
        else {
            break;
        };
        statuses.push(status);
        if status == 101 {
            let Some(end) = find(&answer[start..], b"\r\n\r\n") else {
                break;
            };
            let head = &answer[start..start + end];
            return Answer {
                statuses,
                upgrade_head: Some(String::from_utf8_lossy(head).to_ascii_lowercase()),
                frames: &answer[start + end + 4..],
            };
        }
        at = start;
    }
    Answer {
        statuses,
        upgrade_head: None,
        frames: &[],
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The WebSocket frames in `bytes`: (first byte, payload), as far as they are whole. The
/// server never masks (RFC 6455 §5.1), so a mask bit is a failure.
pub fn server_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        assert!(bytes[1] & 0x80 == 0, "the server masked a frame");
        let (header, len) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (4, u16::from_be_bytes([bytes[2], bytes[3]]) as u64),
            127 if bytes.len() >= 10 => (10, u64::from_be_bytes(bytes[2..10].try_into().unwrap())),
            126 | 127 => break,
            n => (2, n as u64),
        };
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|len| len.checked_add(header))
        else {
            break;
        };
        let Some(payload) = bytes.get(header..end) else {
            break;
        };
        frames.push((bytes[0], payload.to_vec()));
        bytes = &bytes[end..];
    }
    frames
}

/// Checks what every session must end with, whatever the client sent: no panic and no
/// failure of a handler (`Echo` here), and a close code that may be sent on the wire.
pub fn check_session(exchange: &Exchange) {
    if let Some(summary) = &exchange.session {
        assert!(
            !matches!(
                summary.error,
                Some(SessionError::HandlerPanicked(_) | SessionError::Handler(_))
            ),
            "session failed: {summary:?}"
        );
    }
    let frames = server_frames(answer(&exchange.answer).frames);
    for (i, (first, payload)) in frames.iter().enumerate() {
        if first & 0x0f == 0x8 {
            assert!(payload.len() != 1, "a close frame with a 1-byte body");
            if payload.len() >= 2 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                // RFC 6455 §7.4: the codes an endpoint may send.
                let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
                assert!(sendable, "close code {code} on the wire");
                assert!(
                    std::str::from_utf8(&payload[2..]).is_ok(),
                    "close reason is not UTF-8"
                );
            }
            // Nothing follows a close frame (RFC 6455 §5.5.1).
            assert!(i + 1 == frames.len(), "a frame after the close frame");
        }
    }
}
