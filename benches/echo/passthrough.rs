//! What a plain HTTP request pays for passing through the layer: the same request to the
//! inner service alone and to the layer wrapped around it, in one process, alternated.

use std::{convert::Infallible, hint::black_box, time::Instant};

use http_body_util::Empty;
use hyper::{body::Bytes, Request, Response, Uri};
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_websockets::WebSocketLayer;

async fn ns_per_request<S>(service: &mut S, uri: &Uri, n: u32) -> f64
where
    S: Service<Request<()>>,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    for _ in 0..n {
        let mut req = Request::new(());
        *req.uri_mut() = uri.clone();
        let response = service.ready().await.unwrap().call(req).await.unwrap();
        black_box(response);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Median ns per request for the inner service alone and through the layer.
pub async fn measure(rounds: usize, n: u32) -> (f64, f64) {
    let inner = service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    let mut bare = inner;
    let mut layered = WebSocketLayer::default()
        .paths(["/ws", "/chat"])
        .layer(inner);
    let uri: Uri = "/api/items?page=2".parse().unwrap();
    let (mut plain, mut through) = (Vec::new(), Vec::new());
    // Warm up both.
    ns_per_request(&mut bare, &uri, n / 10).await;
    ns_per_request(&mut layered, &uri, n / 10).await;
    for _ in 0..rounds {
        plain.push(ns_per_request(&mut bare, &uri, n).await);
        through.push(ns_per_request(&mut layered, &uri, n).await);
    }
    (super::median(&plain), super::median(&through))
}
