//! What the samples share: the port to listen on, and printing status lines.

use std::io::{self, Write};

/// The port from the `PORT` environment variable, or `default`; `PORT=0` takes any free one.
pub fn port(default: u16) -> io::Result<u16> {
    match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "PORT must be a port number")),
        Err(_) => Ok(default),
    }
}

/// The whole number in the environment variable `name`, or `default` without one.
#[allow(dead_code)] // not every sample reads one
pub fn number<T: std::str::FromStr>(name: &str, default: T) -> io::Result<T> {
    match std::env::var(name) {
        Ok(value) => value.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name} must be a number"),
            )
        }),
        Err(_) => Ok(default),
    }
}

/// Prints a status line; a closed stdout (`| head -1`) must not stop the server.
#[allow(dead_code)] // not every sample prints
pub fn say(line: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// How long a client may take to send a request's head; a slower one is cut off.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP server's connection builder, with limits a public server wants: HTTP/1.1 and
/// HTTP/2 (cleartext, prior knowledge) on one port, extended CONNECT for WebSockets over
/// HTTP/2 (RFC 8441), a request head of at most 64 KiB (hyper answers `431` past it; the
/// layer's own limit, 32 KiB by default, applies first on its paths), and
/// [`HEADER_READ_TIMEOUT`] for the head, so that a client sending a byte a second cannot
/// hold a connection open.
#[allow(dead_code)] // the axum sample serves through `axum::serve`
pub fn http_builder() -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .max_header_list_size(64 * 1024);
    builder
}

/// A listener for `axum::serve` on `127.0.0.1` and the port from `PORT` (or `default`),
/// with `TCP_NODELAY` on every connection: small WebSocket frames must not wait for Nagle's
/// algorithm (see the README). Returns it with the port it took.
#[allow(dead_code)] // for the samples that serve through axum
pub async fn axum_listener(
    default: u16,
) -> io::Result<(
    axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)>,
    u16,
)> {
    use axum::serve::ListenerExt;
    fn nodelay(tcp: &mut tokio::net::TcpStream) {
        let _ = tcp.set_nodelay(true);
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port(default)?)).await?;
    let port = listener.local_addr()?.port();
    Ok((listener.tap_io(nodelay as fn(&mut _)), port))
}

/// The next connection, with `TCP_NODELAY` set: small WebSocket frames must not wait for
/// Nagle's algorithm. A failed accept (out of file descriptors, say) is reported and tried
/// again after a pause, not in a busy loop.
#[allow(dead_code)] // for the samples that serve connections themselves
pub async fn accept(
    listener: &tokio::net::TcpListener,
) -> (tokio::net::TcpStream, std::net::SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
