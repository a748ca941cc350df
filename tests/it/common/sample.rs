//! The samples (`examples/echo.rs`, `examples/chat.rs`), each run as its own process on a
//! free port.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

/// How long building the example may take (a cold build of its dependencies included).
const BUILD_TIME: Duration = Duration::from_secs(600);

/// How long the sample may take to print a line the test waits for.
const LINE_TIME: Duration = Duration::from_secs(10);

/// The example binary, built now so that a filtered `cargo test` never runs a stale one.
pub fn example_binary(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--example", name]);
    // The features this test binary was built with, so that nothing is rebuilt.
    if cfg!(feature = "redis") {
        build.args(["--features", "redis"]);
    }
    if dir.ends_with("release") {
        build.arg("--release");
    }
    let mut build = build.spawn().expect("cargo runs");
    let status = wait_for(&mut build, BUILD_TIME).unwrap_or_else(|| {
        let _ = build.kill();
        panic!("building the {name} example took over {BUILD_TIME:?}")
    });
    assert!(status.success(), "building the {name} example failed");
    dir.join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The child's exit status, or `None` if it is still running after `limit`.
pub fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `command` (a client's own test suite, say) to its end within `limit`, and fails
/// the test if it takes longer or does not succeed; `what` names it in the failure.
#[cfg(feature = "protocol")]
pub fn run_to_success(command: &mut Command, what: &str, limit: Duration) {
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    let status = wait_for(&mut child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("{what} took over {limit:?}")
    });
    assert!(status.success(), "{what} failed (its report is above)");
}

/// A running sample; killed when dropped.
pub struct Sample {
    pub child: Child,
    /// The lines it prints, read by a thread of their own.
    lines: mpsc::Receiver<String>,
}

impl Sample {
    /// The next line the sample prints; fails the test if none comes in time.
    pub fn line(&self) -> String {
        self.lines
            .recv_timeout(LINE_TIME)
            .unwrap_or_else(|e| panic!("no line from the sample within {LINE_TIME:?}: {e}"))
    }
}

impl Drop for Sample {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the sample `name` on a free port and returns it with its address.
pub fn start(name: &str) -> (Sample, SocketAddr) {
    start_with(name, &[])
}

/// [`start`], with these environment variables set.
pub fn start_with(name: &str, env: &[(&str, &str)]) -> (Sample, SocketAddr) {
    let mut child = Command::new(example_binary(name))
        .env("PORT", "0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example was just built");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let sample = Sample { child, lines };
    let line = sample.line();
    let port = line
        .split("://localhost:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (sample, SocketAddr::from(([127, 0, 0, 1], port)))
}
