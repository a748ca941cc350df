//! A real `redis-server` (Debian's `redis-server` package), started on a free port for one
//! test and stopped when dropped; `.ci/run` installs it.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::within;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    /// Starts one on a free port, without persistence, and waits until it answers.
    pub async fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer { child: None, port };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (as a crash would) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (after `kill`) and waits until it answers.
    pub async fn restart(&mut self) {
        let path = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&path)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {path} ({e}): install redis-server"));
        self.child = Some(child);
        let port = self.port;
        within(async move {
            while tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    /// A plain connection for checking what the server sees (`PUBSUB`, say).
    pub async fn inspect(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

/// How many connections Redis has subscribed to `channel` (`PUBSUB NUMSUB`), asked on
/// `connection` (from [`RedisServer::inspect`]), which a waiting loop keeps.
pub async fn subscribers(
    connection: &mut redis::aio::MultiplexedConnection,
    channel: impl AsRef<[u8]>,
) -> usize {
    let counts: Vec<(Vec<u8>, usize)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel.as_ref())
        .query_async(connection)
        .await
        .unwrap();
    counts.first().map_or(0, |(_, n)| *n)
}

/// Waits until Redis has a subscriber for the channel of the server `server` (its id's 16
/// hexadecimal digits) among the backplanes with `prefix`, checking every 10 ms.
#[cfg(feature = "protocol")]
pub async fn server_channel_subscribed(redis: &RedisServer, prefix: &str, server: &str) {
    let mut channel = prefix.as_bytes().to_vec();
    channel.push(0xff);
    channel.extend_from_slice(format!("server:{server}").as_bytes());
    let mut connection = redis.inspect().await;
    super::within(async {
        while subscribers(&mut connection, &channel).await != 1 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
