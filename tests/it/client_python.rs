//! A client of the topics protocol written in Python from PROTOCOL.md alone
//! (`tests/protocol/spec_client.py`), against the `topics` example built now: every
//! message, error code and recovery row of the spec. Ignored by a plain `cargo test` (it
//! needs Python 3 with `websockets` from PyPI); CI installs it and runs it with the browser
//! tests.

use std::{path::Path, process::Command, time::Duration};

use crate::common::sample::{example_binary, wait_for};

/// How long the client may take: it starts three servers and opens a few hundred sockets.
const PYTHON_TIME: Duration = Duration::from_secs(300);

#[test]
#[ignore = "needs Python 3 and `pip install websockets`"]
fn a_client_written_from_the_spec_finds_nothing_to_report() {
    let server = example_binary("topics");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/protocol/spec_client.py");
    let mut python = Command::new("python3")
        .arg(&script)
        .env("TOPICS_SERVER", &server)
        .spawn()
        .expect("python3 runs");
    let status = wait_for(&mut python, PYTHON_TIME).unwrap_or_else(|| {
        let _ = python.kill();
        panic!("the Python client took over {PYTHON_TIME:?}")
    });
    assert!(
        status.success(),
        "the Python client found something to report (above)"
    );
}
