//! A client of the topics protocol written in Python from PROTOCOL.md alone
//! (`tests/protocol/spec_client.py`), against the `topics` example built now: every
//! message, error code and recovery row of the spec. Ignored by a plain `cargo test` (it
//! needs Python 3 with `websockets` from PyPI); CI installs it and runs it with the browser
//! tests.

use std::{path::Path, process::Command, time::Duration};

use crate::common::sample::{example_binary, run_to_success};

/// How long the client may take: it starts three servers and opens a few hundred sockets.
const PYTHON_TIME: Duration = Duration::from_secs(300);

#[test]
#[ignore = "needs Python 3 and `pip install websockets`"]
fn a_client_written_from_the_spec_finds_nothing_to_report() {
    let server = example_binary("topics");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/protocol/spec_client.py");
    run_to_success(
        Command::new("python3")
            .arg(&script)
            .env("TOPICS_SERVER", &server),
        "the Python client written from PROTOCOL.md",
        PYTHON_TIME,
    );
}
