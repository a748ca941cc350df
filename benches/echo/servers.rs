//! The three echo servers compared: (a) our layer, (b) the bare engine, (c) axum.
//!
//! Each runs in its own process (pinned to one core by the bench), on a multi-thread
//! runtime as `#[tokio::main]` makes it, with TCP_NODELAY on every connection.

use std::{convert::Infallible, net::SocketAddr};

use http_body_util::{Empty, Full};
use hyper::{
    body::{Body, Bytes, Incoming},
    Request, Response,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::{service_fn, Service, ServiceBuilder};
use tower_websockets::{deflate::DeflateConfig, Echo, Handler, WebSocketLayer};

/// Serves `kind` on a free loopback port, prints the port, and serves until stdin closes.
pub fn serve(kind: &str) {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // How often the worker looks at the runtime's global queue (tokio's default: every 61
    // polls). With more ready tasks than a worker's local queue holds (256), those that
    // overflowed wait for it: 1 makes a saturated server serve its sockets evenly.
    if let Some(interval) = std::env::var("TW_BENCH_GLOBAL_QUEUE_INTERVAL")
        .ok()
        .and_then(|i| i.parse().ok())
    {
        builder.global_queue_interval(interval);
    }
    let runtime = builder.enable_all().build().unwrap();
    runtime.block_on(async {
        // A port of the bench's choosing (a server restarted where it was), or any.
        let port: u16 = std::env::var("TW_BENCH_PORT").map_or(0, |p| p.parse().unwrap());
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        // The bench closes our stdin to stop us.
        tokio::task::spawn_blocking(|| {
            let _ = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]);
            std::process::exit(0);
        });
        match kind {
            "layer" => layer(listener, WebSocketLayer::new(Echo).path("/ws")).await,
            // (a) with compression on, as examples/echo.rs runs it.
            "layer-deflate" => {
                let sockets = WebSocketLayer::new(Echo)
                    .path("/ws")
                    .deflate(DeflateConfig::new());
                layer(listener, sockets).await
            }
            // The same with context takeover both ways.
            "layer-deflate-takeover" => {
                let config = DeflateConfig::new()
                    .server_context_takeover(true)
                    .client_context_takeover(true);
                let sockets = WebSocketLayer::new(Echo).path("/ws").deflate(config);
                layer(listener, sockets).await
            }
            "topics" => crate::rooms::topics(listener).await,
            "protocol" => crate::peers::serve(listener).await,
            "topics-history" => crate::rooms::topics_history(listener).await,
            "broadcast" => crate::rooms::broadcast(listener).await,
            #[cfg(feature = "redis")]
            "topics-redis" => crate::rooms::topics_redis(listener).await,
            #[cfg(feature = "redis")]
            "topics-redis-history" => crate::rooms::topics_redis_history(listener).await,
            #[cfg(feature = "redis")]
            "topics-protocol-redis" => crate::recovery::serve(listener).await,
            "bare" => bare(listener).await,
            "axum" => axum(listener).await,
            other => panic!("unknown server kind {other}"),
        }
    });
}

/// (a) `WebSocketLayer` (with `Echo`, or the rooms' handler), served as examples/echo.rs
/// serves it.
pub async fn layer<H: Handler>(listener: TcpListener, sockets: WebSocketLayer<H>) {
    let app =
        ServiceBuilder::new()
            .layer(sockets)
            .service(service_fn(|_: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"page"))))
            }));
    serve_app(listener, app).await
}

/// Serves `app` on every connection `listener` takes.
pub async fn serve_app<S, B>(listener: TcpListener, app: S)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            // As examples/echo.rs: HTTP/1.1 and HTTP/2 with extended CONNECT.
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().enable_connect_protocol();
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// (b) hyper + fastwebsockets: the engine's upgrade helper and an echo loop, no layer.
async fn bare(listener: TcpListener) {
    async fn echo(ws: fastwebsockets::upgrade::UpgradeFut) {
        let Ok(ws) = ws.await else { return };
        let mut ws = fastwebsockets::FragmentCollector::new(ws);
        while let Ok(frame) = ws.read_frame().await {
            use fastwebsockets::OpCode;
            let data = matches!(frame.opcode, OpCode::Text | OpCode::Binary);
            if frame.opcode == OpCode::Close || (data && ws.write_frame(frame).await.is_err()) {
                return;
            }
        }
    }
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|mut req: Request<Incoming>| async move {
                let (response, ws) = fastwebsockets::upgrade::upgrade(&mut req)?;
                tokio::spawn(echo(ws));
                Ok::<Response<Empty<Bytes>>, fastwebsockets::WebSocketError>(response)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// (c) axum 0.8's `WebSocketUpgrade` with an echo loop.
async fn axum(listener: TcpListener) {
    use axum::{
        extract::ws::{Message, WebSocket, WebSocketUpgrade},
        routing::get,
        Router,
    };
    async fn echo(mut socket: WebSocket) {
        while let Some(Ok(message)) = socket.recv().await {
            let data = matches!(message, Message::Text(_) | Message::Binary(_));
            if matches!(message, Message::Close(_)) || (data && socket.send(message).await.is_err())
            {
                return;
            }
        }
    }
    let app = Router::new().route(
        "/ws",
        get(|upgrade: WebSocketUpgrade| async move {
            upgrade.max_message_size(64 << 20).on_upgrade(echo)
        }),
    );
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let _ = axum::serve(listener, app).await;
}

/// The address a server printed.
pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
