//! A real server on a loopback port, the way users serve the layer, with probes for tests.

#[cfg(feature = "protocol")]
pub mod proxy;
#[cfg(feature = "redis")]
pub mod redis_server;
pub mod sample;

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::{body::Bytes, Request, Response};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_tungstenite::{
    tungstenite::{
        self,
        protocol::frame::{
            coding::{Data, OpCode},
            Frame,
        },
    },
    MaybeTlsStream, WebSocketStream,
};
use tower::{service_fn, ServiceBuilder};
use tower_websockets::{session::SessionHandle, Handler, Handshake, WebSocket, WebSocketLayer};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What an outer layer puts in the request's extensions, for the handler to find.
#[derive(Debug, Clone, PartialEq)]
pub struct User(pub &'static str);

pub struct Server {
    pub addr: SocketAddr,
    /// How many requests reached the inner service.
    pub inner_calls: Arc<AtomicUsize>,
    /// The session handles of accepted upgrades, taken from the 101 responses.
    pub sessions: mpsc::UnboundedReceiver<SessionHandle>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    pub fn inner_calls(&self) -> usize {
        self.inner_calls.load(Ordering::SeqCst)
    }

    pub async fn connect(&self) -> Client {
        self.connect_to("/ws").await
    }

    pub async fn connect_to(&self, path: &str) -> Client {
        let (client, response) = tokio_tungstenite::connect_async(self.url(path))
            .await
            .expect("handshake");
        assert_eq!(response.status(), 101);
        client
    }

    pub async fn next_session(&mut self) -> SessionHandle {
        within(self.sessions.recv())
            .await
            .expect("a session handle")
    }
}

/// Serves `layer` around an inner service that answers `inner saw <path>`, behind an outer
/// layer that puts `User("alice")` and the peer address in the request's extensions and
/// collects session handles.
pub async fn serve<H: Handler>(layer: WebSocketLayer<H>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let inner_calls = Arc::new(AtomicUsize::new(0));
    let (tx, sessions) = mpsc::unbounded_channel();
    let calls = inner_calls.clone();
    let inner = service_fn(move |req: Request<hyper::body::Incoming>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let body = format!("inner saw {}", req.uri().path());
            // A 2xx answer to CONNECT would open a tunnel: answer those with 404.
            let status = if req.method() == hyper::Method::CONNECT {
                404
            } else {
                200
            };
            Ok::<_, Infallible>(
                Response::builder()
                    .status(status)
                    .header("x-inner", "yes")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap(),
            )
        }
    });
    let app = ServiceBuilder::new()
        .map_response(move |response: Response<_>| {
            if let Some(handle) = response.extensions().get::<SessionHandle>() {
                let _ = tx.send(handle.clone());
            }
            response
        })
        .layer(layer)
        .service(inner);
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let service = ServiceBuilder::new()
                .map_request(move |mut req: Request<_>| {
                    req.extensions_mut().insert(User("alice"));
                    req.extensions_mut().insert::<SocketAddr>(peer);
                    req
                })
                .service(app.clone());
            tokio::spawn(async move {
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder.http2().enable_connect_protocol();
                let _ = builder
                    .serve_connection_with_upgrades(
                        TokioIo::new(stream),
                        TowerToHyperService::new(service),
                    )
                    .await;
            });
        }
    });
    Server {
        addr,
        inner_calls,
        sessions,
    }
}

/// Held by the tests that move or measure tens of MiB, so that they do not run at the same
/// time (the test binary runs tests in parallel, and RSS is the process's).
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// This process's resident memory, in bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Serves an axum router on a loopback port, as `axum::serve` does.
pub async fn serve_router(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A layer whose handler runs `handler` with the socket and a channel to report to the
/// test, and the test's end of that channel.
pub fn reporting<T, F, Fut>(
    handler: F,
) -> (WebSocketLayer<impl Handler>, mpsc::UnboundedReceiver<T>)
where
    T: Send + 'static,
    F: Fn(WebSocket, mpsc::UnboundedSender<T>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (report, reports) = mpsc::unbounded_channel();
    let layer =
        WebSocketLayer::new(move |socket: WebSocket, _: Handshake| handler(socket, report.clone()));
    (layer, reports)
}

/// Sends a close frame with `code` and `reason`.
pub async fn close_with(client: &mut Client, code: u16, reason: &str) {
    let frame = tungstenite::protocol::CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    client
        .send(tungstenite::Message::Close(Some(frame)))
        .await
        .unwrap();
}

/// Fails the test instead of hanging when something never happens.
pub async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}

/// The next message that is not a ping or pong.
pub async fn next_data(client: &mut Client) -> tungstenite::Message {
    loop {
        let message = within(client.next())
            .await
            .expect("connection ended")
            .expect("read error");
        if !matches!(
            message,
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_)
        ) {
            return message;
        }
    }
}

/// Expects the next data message to be this text.
pub async fn expect_text(client: &mut Client, text: &str) {
    assert_eq!(next_data(client).await, tungstenite::Message::text(text));
}

/// Reads the server's close frame, lets the client answer it, and waits for the server to
/// end the connection. Returns the close code and reason.
pub async fn expect_close(client: &mut Client) -> (u16, String) {
    let (code, reason) = match next_data(client).await {
        tungstenite::Message::Close(Some(frame)) => (frame.code.into(), frame.reason.to_string()),
        other => panic!("expected a close frame with a code, got {other:?}"),
    };
    // Polling again sends tungstenite's answer; the server then closes the connection.
    if let Some(Ok(message)) = within(client.next()).await {
        panic!("data after the close frame: {message:?}");
    }
    (code, reason)
}

/// Sends one raw frame: `first` opens a message of that kind, otherwise it continues one.
pub async fn send_fragment(client: &mut Client, payload: &[u8], first: Option<Data>, fin: bool) {
    let opcode = OpCode::Data(first.unwrap_or(Data::Continue));
    let frame = Frame::message(Bytes::copy_from_slice(payload), opcode, fin);
    client
        .send(tungstenite::Message::Frame(frame))
        .await
        .unwrap();
}

/// Sends `message` and expects it back unchanged.
pub async fn round_trip(client: &mut Client, message: tungstenite::Message) {
    client.send(message.clone()).await.unwrap();
    assert_eq!(next_data(client).await, message);
}

/// A raw HTTP/1.1 exchange: sends `request` (head and body as given), returns the status,
/// the head and the body as text (the body up to its Content-Length).
pub async fn raw_http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = within(stream.read(&mut chunk)).await.unwrap();
        assert!(n > 0, "connection closed before a response head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = within(stream.read(&mut chunk)).await.unwrap();
        assert!(n > 0, "connection closed inside the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
    (status, head, body)
}

/// A well-formed upgrade request for `path`, with extra header lines.
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// The bits of a frame's first byte (RFC 6455 §5.2, RFC 7692 §6), for raw clients.
pub mod bits {
    pub const FIN: u8 = 0x80;
    /// Set on a compressed message's first frame.
    #[cfg(feature = "deflate")]
    pub const RSV1: u8 = 0x40;
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
}

/// A WebSocket client that writes frames byte by byte as told, to break the rules on
/// purpose; it reads the server's frames back whole.
pub struct RawSocket {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A frame as the server sent it.
#[derive(Debug, PartialEq)]
pub struct RawFrame {
    pub fin: bool,
    /// RSV1: the message is compressed (permessage-deflate).
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawFrame {
    /// The close code and reason of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

impl RawSocket {
    /// Connects to `/ws` and completes the handshake.
    pub async fn connect(addr: SocketAddr) -> RawSocket {
        RawSocket::connect_with(addr, "").await.0
    }

    /// Connects to `/ws` with extra header lines (each ending in `\r\n`), completes the
    /// handshake, and returns the response head too.
    pub async fn connect_with(addr: SocketAddr, extra: &str) -> (RawSocket, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(upgrade_request("/ws", extra).as_bytes())
            .await
            .unwrap();
        let mut socket = RawSocket {
            stream,
            buf: Vec::new(),
        };
        let head_end = loop {
            if let Some(end) = socket.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            assert!(
                socket.fill().await > 0,
                "the server closed before a response"
            );
        };
        let head = String::from_utf8_lossy(&socket.buf[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        socket.buf.drain(..head_end);
        (socket, head)
    }

    async fn fill(&mut self) -> usize {
        // Into the heap buffer: a 64 KiB array would sit in every future that reads.
        self.buf.reserve(64 * 1024);
        within(self.stream.read_buf(&mut self.buf))
            .await
            .unwrap_or(0)
    }

    /// Writes bytes as they are.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Writes one frame; `mask` as clients must, or not.
    pub async fn send(&mut self, first_byte: u8, payload: &[u8], mask: bool) {
        let frame = RawSocket::frame(first_byte, payload, mask);
        self.write(&frame).await;
    }

    /// The bytes of one client frame.
    pub fn frame(first_byte: u8, payload: &[u8], mask: bool) -> Vec<u8> {
        let mut frame = vec![first_byte];
        let mask_bit = if mask { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => frame.push(mask_bit | n as u8),
            n if n < 65536 => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if mask {
            let key = [0x37, 0xfa, 0x21, 0x3d];
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            frame.extend_from_slice(payload);
        }
        frame
    }

    /// The connection's two halves, for reading and writing from two tasks, with what was
    /// already read.
    pub fn into_split(
        self,
    ) -> (
        tokio::net::tcp::OwnedReadHalf,
        tokio::net::tcp::OwnedWriteHalf,
        Vec<u8>,
    ) {
        let (read, write) = self.stream.into_split();
        (read, write, self.buf)
    }

    /// Reads the next frame from the server, or `None` once the server closed TCP.
    pub async fn recv(&mut self) -> Option<RawFrame> {
        loop {
            if self.buf.len() >= 2 {
                let (len, start) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are never masked");
                if len != usize::MAX && self.buf.len() >= start + len {
                    let frame = RawFrame {
                        fin: self.buf[0] & 0x80 != 0,
                        rsv1: self.buf[0] & 0x40 != 0,
                        opcode: self.buf[0] & 0x0f,
                        payload: self.buf[start..start + len].to_vec(),
                    };
                    self.buf.drain(..start + len);
                    return Some(frame);
                }
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    /// Reads until the server's close frame, checks that the server then closes the TCP
    /// connection, and returns the close code.
    pub async fn expect_close(&mut self) -> u16 {
        let code = loop {
            let frame = self.recv().await.expect("a close frame before the end");
            if frame.opcode == 8 {
                break frame.close_code().expect("a close code");
            }
        };
        assert!(self.recv().await.is_none(), "nothing after the close frame");
        code
    }
}
