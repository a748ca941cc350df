//! A `redis-server` of the bench's own, on a free loopback port, for the servers that
//! share topics through Redis.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A running `redis-server` without persistence; stopped when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one and waits until it takes connections; `None` where the machine has no
    /// `redis-server`.
    pub async fn start() -> Option<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let server = RedisServer { child, port };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server took no connection in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(server)
    }

    /// Its address, as the servers this bench starts read it from `TW_BENCH_REDIS_URL`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
