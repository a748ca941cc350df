//! `wss://` with rustls: HTTP/1.1 and HTTP/2 chosen by ALPN on one port, and WebSockets
//! over both (over HTTP/2 by extended CONNECT, RFC 8441). The page shows which HTTP
//! version its connection and its socket came over.
//!
//! ```text
//! cargo run --example tls     # then open https://localhost:5005
//! ```
//!
//! `PORT` picks another port (`PORT=0` any free one). The certificate is made at start,
//! self-signed for `localhost` and `127.0.0.1`, so a browser warns about it. The example
//! prints its SHA-256 fingerprint, to compare with what the browser shows, and the hash of
//! its public key, with which Chromium trusts it for one run without a warning:
//!
//! ```text
//! chromium --ignore-certificate-errors-spki-list=<the printed hash> https://localhost:5005
//! ```
//!
//! A command-line client: `npx wscat --no-check -c wss://localhost:5005/ws` (HTTP/1.1).

mod support;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use http::Version;
use http_body_util::Full;
use hyper::{body::Bytes, header, Request, Response, StatusCode};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use ring::digest::{digest, SHA256};
use tokio::net::TcpListener;
use tokio_rustls::{
    rustls::{
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
        ServerConfig,
    },
    TlsAcceptor,
};
use tower::{service_fn, ServiceBuilder};
use tower_websockets::{Handshake, WebSocket, WebSocketLayer};

const PAGE: &str = include_str!("tls.html");

/// The page, and `404` for anything else that is not the socket.
async fn page<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let response = match req.uri().path() {
        "/" => Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Full::new(Bytes::from_static(PAGE.as_bytes()))),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"Not found\n"))),
    };
    Ok(response.expect("static response parts are valid"))
}

/// Tells the page which HTTP version its socket came over, then echoes.
async fn socket(
    mut socket: WebSocket,
    handshake: Handshake,
) -> Result<(), tower_websockets::Error> {
    let version = match handshake.version() {
        Version::HTTP_2 => "HTTP/2".to_owned(),
        Version::HTTP_11 => "HTTP/1.1".to_owned(),
        other => format!("{other:?}"),
    };
    socket.send(format!("socket over {version}")).await?;
    while let Some(message) = socket.recv_data().await {
        socket.send(message?).await?;
    }
    Ok(())
}

/// A self-signed certificate for this run, and the TLS settings that serve it: HTTP/2
/// preferred, HTTP/1.1 for clients without it.
fn tls() -> std::io::Result<(TlsAcceptor, CertificateDer<'static>, Vec<u8>)> {
    let invalid = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let made = rcgen::generate_simple_self_signed(["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(|e| invalid(&e))?;
    let certificate = made.cert.der().clone();
    let public_key = rcgen::PublicKeyData::subject_public_key_info(&made.signing_key);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .map_err(|e| invalid(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), certificate, public_key))
}

fn hex_fingerprint(der: &[u8]) -> String {
    let hash = digest(&SHA256, der);
    let bytes: Vec<String> = hash.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    bytes.join(":")
}

fn base64_hash(der: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(digest(&SHA256, der))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (acceptor, certificate, public_key) = tls()?;
    let port = support::port(5005)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    support::say(&format!(
        "tls example on https://localhost:{port} (socket at wss://localhost:{port}/ws)"
    ));
    support::say(&format!(
        "certificate SHA-256 fingerprint: {}",
        hex_fingerprint(&certificate)
    ));
    support::say(&format!(
        "public key hash, for chromium --ignore-certificate-errors-spki-list={}",
        base64_hash(&public_key)
    ));

    let sockets = WebSocketLayer::new(socket).path("/ws");
    let app = ServiceBuilder::new()
        .layer(sockets)
        .service(service_fn(page));
    // HTTP/1.1 and HTTP/2, extended CONNECT on, limits on request heads: see support.
    let builder = Arc::new(support::http_builder());
    loop {
        let (stream, peer) = support::accept(&listener).await;
        let (acceptor, builder, app) = (acceptor.clone(), builder.clone(), app.clone());
        tokio::spawn(async move {
            // A client that opens a connection and never finishes the TLS handshake is cut off.
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return eprintln!("TLS with {peer}: {e}"),
                Err(_) => return eprintln!("TLS with {peer}: no handshake within 10 s"),
            };
            let service = TowerToHyperService::new(
                ServiceBuilder::new()
                    .map_request(move |mut req: Request<_>| {
                        req.extensions_mut().insert::<SocketAddr>(peer);
                        req
                    })
                    .service(app),
            );
            // hyper tells HTTP/2 from HTTP/1.1 by the connection's first bytes; ALPN made
            // the client choose already.
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                eprintln!("connection from {peer}: {e}");
            }
        });
    }
}
