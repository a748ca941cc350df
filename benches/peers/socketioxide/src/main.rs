//! The benches' socketioxide server (benches/echo/peers.rs), written the way its
//! documentation writes a server: on the default namespace, `echo` acknowledges with
//! what it was sent, `drive` calls the client's `echo` with `emit_with_ack`, one call
//! after the other, until the client goes, `join` joins the room `room`, and `say` emits
//! what it was sent to the room as `msg`; `join` and `say` are acknowledged once done.
//! Prints its port; ends when stdin closes.

use hyper_util::rt::TokioIo;
use serde_json::Value;
use socketioxide::{
    extract::{AckSender, Data, SocketRef},
    SocketIo,
};
use tokio::{io::AsyncReadExt, net::TcpListener};

#[tokio::main]
async fn main() {
    let (service, io) = SocketIo::new_svc();
    io.ns("/", async |socket: SocketRef| {
        socket.on("echo", async |ack: AckSender, Data(data): Data<Value>| {
            let _ = ack.send(&data);
        });
        socket.on(
            "drive",
            async |socket: SocketRef, Data(data): Data<Value>| {
                while let Ok(answer) = socket.emit_with_ack::<_, Value>("echo", &data) {
                    if answer.await.is_err() {
                        break;
                    }
                }
            },
        );
        socket.on("join", async |socket: SocketRef, ack: AckSender| {
            socket.join("room");
            let _ = ack.send(&());
        });
        socket.on(
            "say",
            async |socket: SocketRef, ack: AckSender, Data(data): Data<Value>| {
                let _ = socket.within("room").emit("msg", &data).await;
                let _ = ack.send(&());
            },
        );
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    tokio::spawn(async {
        let _ = tokio::io::stdin().read(&mut [0u8; 1]).await;
        std::process::exit(0);
    });
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}
