//! The echo sample: a web page at <http://localhost:5000> that opens a WebSocket to `/ws`,
//! where [`WebSocketLayer`] with the [`Echo`] handler sends every message back.
//!
//! ```text
//! cargo run --example echo            # PORT=8080 for another port, PORT=0 for any free one
//! ```
//!
//! The layer wraps a plain service that serves the page. HTTP/1.1 and HTTP/2 (cleartext,
//! prior knowledge) share the port, and HTTP/2 clients can open WebSockets with an extended
//! CONNECT (RFC 8441). Ctrl-C stops the server: HTTP requests in flight finish, open
//! sockets are closed with 1001 (Going Away), and what is still open after 5 s is dropped.

mod support;

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use http_body_util::Full;
use hyper::{body::Bytes, header, Request, Response, StatusCode};
use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown, service::TowerToHyperService};
use tokio::net::TcpListener;
use tower::{service_fn, ServiceBuilder};
use tower_websockets::{deflate::DeflateConfig, Echo, WebSocketLayer};

const PAGE: &str = include_str!("echo.html");

/// The inner service: the page at `/`, 404 elsewhere.
async fn page<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match req.uri().path() {
        "/" | "/index.html" => Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Full::new(Bytes::from_static(PAGE.as_bytes()))),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(b"Not found\n"))),
    };
    Ok(response.expect("static response parts are valid"))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = support::port(5000)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    support::say(&format!(
        "echo sample on http://localhost:{port} (socket at ws://localhost:{port}/ws)"
    ));

    // Compression with every client that offers it (browsers do); the page shows it.
    let sockets = WebSocketLayer::new(Echo)
        .path("/ws")
        .deflate(DeflateConfig::new());
    // Ctrl-C closes the open sockets with 1001 (Going Away) through this handle.
    let shutdown = sockets.shutdown_handle();
    let app = ServiceBuilder::new()
        .layer(sockets)
        .service(service_fn(page));

    // HTTP/1.1 and HTTP/2 on one port, WebSockets over both, and limits on request heads
    // (size, and time to send them): see examples/support.
    let builder = support::http_builder();

    let graceful = GracefulShutdown::new();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            (stream, peer) = support::accept(&listener) => {
                let app = app.clone();
                // The handler can read the peer address from its context.
                let service = TowerToHyperService::new(ServiceBuilder::new()
                    .map_request(move |mut req: Request<_>| {
                        req.extensions_mut().insert::<SocketAddr>(peer);
                        req
                    })
                    .service(app));
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        eprintln!("connection from {peer}: {e}");
                    }
                });
            }
            _ = &mut ctrl_c => {
                support::say("shutting down");
                break;
            }
        }
    }
    drop(listener);
    // HTTP requests in flight finish; sockets get 1001 and 5 seconds to close.
    let deadline = Duration::from_secs(5);
    let (report, http) = tokio::join!(
        shutdown.shutdown(deadline),
        tokio::time::timeout(deadline, graceful.shutdown()),
    );
    support::say(&format!(
        "sockets: {} closed, {} dropped{}",
        report.closed,
        report.dropped,
        if http.is_err() {
            "; gave up waiting for HTTP connections"
        } else {
            ""
        }
    ));
    Ok(())
}
