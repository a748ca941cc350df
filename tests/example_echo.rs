//! `cargo run --example echo`: the sample's page and socket, served by the real binary.

mod common;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, ChildStdout, Command, Stdio},
    time::Duration,
};

use common::{raw_http, round_trip, within};
use tokio_tungstenite::tungstenite::Message;

/// The example binary, built now so that a filtered `cargo test` never runs a stale one.
fn example_binary() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--example", "echo"]);
    if dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(
        build.status().unwrap().success(),
        "building the echo example failed"
    );
    dir.join("examples")
        .join(format!("echo{}", std::env::consts::EXE_SUFFIX))
}

struct Sample {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Sample {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the sample on a free port and returns it with its address.
fn start() -> (Sample, SocketAddr) {
    let mut child = Command::new(example_binary())
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the echo example is built by `cargo test`");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port = line
        .split("http://localhost:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (
        Sample { child, stdout },
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
}

#[tokio::test]
async fn the_sample_serves_the_page_and_echoes_on_ws() {
    let (mut sample, addr) = start();
    let (status, head, page) = raw_http(addr, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, 200);
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/html"));
    for needle in [
        "id=\"status\"",
        ">Ready<",
        "id=\"url\"",
        "\"/ws\"",
        ">Connect<",
        "<label for=\"message\"",
        ">Send<",
        ">Close Socket<",
        "Communication Log",
    ] {
        assert!(page.contains(needle), "the page lacks {needle}");
    }
    let (status, _, _) = raw_http(addr, "GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status, 400);

    let (mut client, _) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/ws")))
        .await
        .unwrap();
    round_trip(&mut client, Message::text("hello, sample ✓")).await;
    drop(client);

    // Ctrl-C (SIGINT) stops it cleanly.
    #[cfg(unix)]
    {
        let pid = sample.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = sample.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the sample did not stop"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{status:?}");
        let mut line = String::new();
        sample.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "shutting down");
    }
}
