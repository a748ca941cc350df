//! The echo sample (`examples/echo.rs`), run as its own process on a free port.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, ChildStdout, Command, Stdio},
};

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

/// The running echo sample; killed when dropped.
pub struct Sample {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
}

impl Drop for Sample {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the sample on a free port and returns it with its address.
pub fn start() -> (Sample, SocketAddr) {
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
