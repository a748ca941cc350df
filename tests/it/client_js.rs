//! The JavaScript client in `client/` (an npm package without dependencies): its own tests,
//! run with Node's test runner against the `topics` example built now. Ignored by a plain
//! `cargo test` (it needs Node.js 20 or later); CI runs it with the browser tests.

use std::{path::Path, process::Command, time::Duration};

use crate::common::sample::{example_binary, run_to_success};

/// How long the client's tests may take: they start servers and wait out short backoffs.
const NODE_TIME: Duration = Duration::from_secs(300);

#[test]
#[ignore = "needs Node.js 20 or later"]
fn the_javascript_clients_tests_pass_against_the_server() {
    let server = example_binary("topics");
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("client");
    run_to_success(
        Command::new("node")
            .args(["--experimental-websocket", "--test", "test/"])
            .current_dir(&client)
            .env("TOPICS_SERVER", &server),
        "the JavaScript client's tests (Node.js 20 or later)",
        NODE_TIME,
    );
}
