//! Random input, the way a fuzzer would send it, with proptest's generators on a fixed
//! seed (repeatable; `FUZZ_CASES=N` runs more): arbitrary request heads through the
//! layer, and arbitrary client bytes after a `101`, with and without compression agreed.
//! Nothing may panic, every answer must be one the RFCs name, and every connection must
//! end.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, Version};
use http_body_util::Full;
use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, TestRunner},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{service_fn, ServiceExt};

use crate::common::{round_trip, serve, within, RawSocket};
#[cfg(feature = "deflate")]
use tower_websockets::deflate::DeflateConfig;
use tower_websockets::{error::SessionError, WebSocketLayer};

/// `layer` agreeing to compression with clients that offer it, where the crate has it.
fn with_compression(layer: WebSocketLayer) -> WebSocketLayer {
    #[cfg(feature = "deflate")]
    let layer = layer.deflate(DeflateConfig::new());
    layer
}

/// Cases per target: `FUZZ_CASES`, or `default`.
fn cases(default: usize) -> usize {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Draws `count` inputs from `strategy` on a fixed seed.
fn inputs<S: Strategy>(strategy: S, count: usize) -> impl Iterator<Item = S::Value> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    (0..count).map(move |_| strategy.new_tree(&mut runner).unwrap().current())
}

/// A header name: mostly the ones the handshake reads, sometimes any token.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
            "sec-websocket-protocol", "sec-websocket-extensions", "origin", "host",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z][a-z0-9-]{0,20}",
    ]
}

/// A header value: plausible ones and arbitrary bytes (those `HeaderValue` takes).
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "websocket", "Upgrade", "upgrade, keep-alive", "13", "8", "dGhlIHNhbXBsZSBub25jZQ==",
            "permessage-deflate; client_max_window_bits", "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=99, x-webkit-deflate-frame",
            "chat, superchat", "http://localhost", "null", "localhost",
        ])
        .prop_map(|v| v.as_bytes().to_vec()),
        2 => prop::collection::vec(any::<u8>(), 0..80),
        1 => prop::collection::vec(prop::sample::select(b"=;, \"\t".to_vec()), 0..40),
        // Past the 32 KiB limit, in one value.
        1 => Just(vec![b'a'; 40_000]),
    ]
}

#[tokio::test]
async fn arbitrary_request_heads_get_an_answer_the_rfcs_name() {
    let inner = service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
    });
    let layer = with_compression(
        WebSocketLayer::default()
            .protocols(["chat"])
            .allowed_origins(["http://localhost"]),
    );
    let service = tower::Layer::layer(&layer, inner);
    let strategy = (
        prop::sample::select(vec!["GET", "POST", "CONNECT", "OPTIONS", "BREW"]),
        prop::sample::select(vec!["/ws", "/ws/", "/", "/other", "/ws?x=1"]),
        prop::sample::select(vec![Version::HTTP_10, Version::HTTP_11, Version::HTTP_2]),
        // Often a valid handshake's headers first, for the random ones to spoil or not.
        any::<bool>(),
        prop::collection::vec((header_name(), header_value()), 0..8),
    );
    let count = cases(3_000);
    let mut statuses = std::collections::BTreeMap::new();
    let valid = [
        ("host", "localhost"),
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    for (method, path, version, base, mut headers) in inputs(strategy, count) {
        if base {
            let valid = valid
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()));
            headers.splice(0..0, valid);
        }
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .version(version);
        for (name, value) in &headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) else {
                continue;
            };
            request = request.header(name, value);
        }
        let request = request.body(Full::new(Bytes::new())).unwrap();
        let status = service
            .clone()
            .oneshot(request)
            .await
            .unwrap()
            .status()
            .as_u16();
        // 500: an accepted handshake on a request that hyper did not serve (no upgrade
        // to take over), as here in process.
        assert!(
            [200, 400, 403, 426, 431, 500].contains(&status),
            "{status} for {method} {path} {version:?} {headers:?}"
        );
        *statuses.entry(status).or_insert(0) += 1;
    }
    println!("{count} request heads: {statuses:?}");
}

/// One piece of what a client sends after the handshake.
#[derive(Debug, Clone)]
enum Piece {
    /// Bytes as they come.
    Raw(Vec<u8>),
    /// A frame with any first byte; `length` 0 as is, 1 and 2 in the longer encodings,
    /// 3 declaring more than follows.
    Frame {
        first: u8,
        masked: bool,
        length: u8,
        key: [u8; 4],
        payload: Vec<u8>,
    },
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Piece::Raw),
        6 => (
            prop_oneof![3 => prop::sample::select(vec![0x81u8, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8a, 0xc1, 0xc2, 0x41, 0x40]), 1 => any::<u8>()],
            prop::bool::weighted(0.9),
            prop::sample::select(vec![0u8, 0, 0, 1, 2, 3]),
            any::<[u8; 4]>(),
            prop::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(first, masked, length, key, payload)| Piece::Frame { first, masked, length, key, payload }),
    ]
}

fn encode(pieces: &[Piece]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Raw(raw) => bytes.extend_from_slice(raw),
            Piece::Frame {
                first,
                masked,
                length,
                key,
                payload,
            } => {
                bytes.push(*first);
                let mask = if *masked { 0x80 } else { 0 };
                let len = payload.len();
                match length {
                    0 if len < 126 => bytes.push(mask | len as u8),
                    0 | 1 => {
                        bytes.push(mask | 126);
                        bytes.extend_from_slice(&(len as u16).to_be_bytes());
                    }
                    2 => {
                        bytes.push(mask | 127);
                        bytes.extend_from_slice(&(len as u64).to_be_bytes());
                    }
                    _ => {
                        bytes.push(mask | 127);
                        bytes.extend_from_slice(&(len as u64 + 1_000_000).to_be_bytes());
                    }
                }
                if *masked {
                    bytes.extend_from_slice(key);
                }
                bytes.extend(payload.iter().enumerate().map(|(i, b)| {
                    if *masked {
                        b ^ key[i % 4]
                    } else {
                        *b
                    }
                }));
            }
        }
    }
    bytes
}

#[tokio::test]
async fn arbitrary_client_bytes_end_in_a_close_the_rfc_names() {
    let layer = with_compression(WebSocketLayer::default())
        .max_message_size(64 * 1024)
        .close_timeout(std::time::Duration::from_secs(5));
    let stats = layer.stats();
    let mut server = serve(layer).await;
    let count = cases(400);
    let mut codes = std::collections::BTreeMap::new();
    let strategy = (any::<bool>(), prop::collection::vec(piece(), 1..8));
    for (compressed, pieces) in inputs(strategy, count) {
        let offer = if compressed {
            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
        } else {
            ""
        };
        let (socket, _) = RawSocket::connect_with(server.addr, offer).await;
        let (mut read, mut write, _) = socket.into_split();
        // The server may close before taking it all: a failed write is an answer too.
        let _ = write.write_all(&encode(&pieces)).await;
        let _ = write.shutdown().await;
        let mut answer = Vec::new();
        // Ends once the server closes the connection.
        let _ = within(read.read_to_end(&mut answer)).await;
        let code = close_code(&answer);
        if let Some(code) = code {
            // Ours (1002, 1007, 1009, ...) or the client's own, which Echo sends back:
            // always one that may be sent (RFC 6455 §7.4).
            let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert!(sendable, "close {code} for {pieces:?}");
        }
        // Nothing in our code panicked or failed on the way.
        let summary = within(server.next_session().await.ended()).await;
        assert!(
            !matches!(
                summary.error,
                Some(SessionError::HandlerPanicked(_) | SessionError::Handler(_))
            ),
            "{summary:?} for {pieces:?}"
        );
        *codes.entry(code).or_insert(0) += 1;
    }
    println!("{count} connections, close codes sent: {codes:?}");
    // Every session ended, and the server still serves.
    within(async {
        while stats.open() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let mut client = server.connect().await;
    round_trip(
        &mut client,
        tokio_tungstenite::tungstenite::Message::text("still here"),
    )
    .await;
}

/// The code of the first close frame in what the server sent, if any.
fn close_code(mut bytes: &[u8]) -> Option<u16> {
    while bytes.len() >= 2 {
        let (header, len) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (4, u16::from_be_bytes([bytes[2], bytes[3]]) as usize),
            127 if bytes.len() >= 10 => (
                10,
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
            ),
            126 | 127 => return None,
            n => (2, n as usize),
        };
        let payload = bytes.get(header..header + len)?;
        if bytes[0] & 0x0f == 0x8 {
            return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
        }
        bytes = &bytes[header + len..];
    }
    None
}
