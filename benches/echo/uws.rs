//! uWebSockets, the C++ server that holds the record for WebSocket throughput, two ways:
//! (e) native, its C++ core on uSockets built with `-O3` (native/server.cpp), the mark the
//! layer is measured against; and (d) as uWebSockets.js runs it under Node.js. Both are
//! optional: measured when they are there.
//!
//! ```text
//! bash benches/echo/native/build.sh UWEBSOCKETS_DIR USOCKETS_DIR target/uws-native/server
//! cargo bench --bench echo -- --servers layer,uws-native --no-http2 --no-compression
//! ```
//!
//! The build takes checkouts of github.com/uNetworking/uWebSockets and
//! github.com/uNetworking/uSockets (never committed here); another binary can be named with
//! `TW_BENCH_UWS_NATIVE=/path/to/server`. It serves the echo (`server echo`) and the
//! fan-out room (`server room`, a topic that every socket subscribes to).
//!
//! ```text
//! npm install --prefix target/uws @trufflesuite/uws-js-unofficial@20.30.0-unofficial.0
//! cargo bench --bench echo -- --servers layer,bare,uws --no-http2 --no-compression --no-fanout
//! ```
//!
//! uWebSockets.js is published on GitHub, not on npm; the package above is a build of its
//! v20.30.0 that is. Another install can be named with `TW_BENCH_UWS=/path/to/package`.
//!
//! What (d) measures: the frames are parsed, unmasked and written by uWebSockets' C++ core
//! on uSockets, polled through libuv's epoll loop; each message also makes one call into
//! JavaScript (the echo is `ws.send` in a callback), which a C++ server would not. Its
//! kernel side is uWebSockets' own; its user time is an upper bound of the C++ server's.

use std::{
    ffi::OsString,
    path::PathBuf,
    process::{Command, Stdio},
    sync::OnceLock,
};

/// The environment variable naming the uWebSockets.js package to load.
const ENV: &str = "TW_BENCH_UWS";

/// The environment variable naming the native server binary.
const NATIVE_ENV: &str = "TW_BENCH_UWS_NATIVE";

/// Where the native server is looked for when the variable is not set.
const NATIVE_DEFAULT: &str = "target/uws-native/server";

/// Where `npm install --prefix target/uws` puts the package.
const DEFAULT: &str = "target/uws/node_modules/@trufflesuite/uws-js-unofficial";

/// The echo server: `/ws` with compression off, no idle timeout, and a message limit as
/// large as the layer's in the bench; prints its port, and exits when stdin closes.
const ECHO: &str = r#"
const uWS = require(process.argv[1]);
uWS.App().ws('/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 << 20,
  maxBackpressure: 64 << 20,
  idleTimeout: 0,
  message: (ws, message, isBinary) => { ws.send(message, isBinary); },
}).listen('127.0.0.1', 0, (token) => {
  if (!token) { console.error('listen failed'); process.exit(1); }
  console.log(uWS.us_socket_local_port(token));
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
"#;

/// The package to load, when it is installed and Node.js runs. Looked up once: the bench
/// starts (d) once a round.
pub fn module() -> Option<PathBuf> {
    static MODULE: OnceLock<Option<PathBuf>> = OnceLock::new();
    MODULE
        .get_or_init(|| {
            let path = std::env::var_os(ENV).map_or_else(|| PathBuf::from(DEFAULT), PathBuf::from);
            let path = std::fs::canonicalize(path).ok()?;
            let node = Command::new("node")
                .arg("--version")
                .stdout(Stdio::null())
                .status();
            (path.join("package.json").exists() && node.is_ok_and(|s| s.success())).then_some(path)
        })
        .clone()
}

/// The native server, when it has been built.
pub fn native() -> Option<PathBuf> {
    static NATIVE: OnceLock<Option<PathBuf>> = OnceLock::new();
    NATIVE
        .get_or_init(|| {
            let path = std::env::var_os(NATIVE_ENV)
                .map_or_else(|| PathBuf::from(NATIVE_DEFAULT), PathBuf::from);
            std::fs::canonicalize(path).ok().filter(|p| p.is_file())
        })
        .clone()
}

/// The command line of the native server in `mode` (`echo` or `room`).
pub fn native_command_line(mode: &str) -> Vec<OsString> {
    let binary = native().unwrap_or_else(|| {
        panic!(
            "(e) wants the native uWebSockets server: see benches/echo/uws.rs, or set {NATIVE_ENV}"
        )
    });
    vec![binary.into(), mode.into()]
}

/// The command line of the uWebSockets.js echo server, for the bench to start (pinned).
pub fn command_line() -> Vec<OsString> {
    let module = module().unwrap_or_else(|| {
        panic!("(d) wants uWebSockets.js and Node.js: see benches/echo/uws.rs, or set {ENV}")
    });
    vec!["node".into(), "-e".into(), ECHO.into(), module.into()]
}
