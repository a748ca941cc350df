//! What the samples share: the port to listen on, and printing status lines.

use std::io::{self, Write};

/// The port from the `PORT` environment variable, or `default`; `PORT=0` takes any free one.
pub fn port(default: u16) -> io::Result<u16> {
    match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "PORT must be a port number")),
        Err(_) => Ok(default),
    }
}

/// Prints a status line; a closed stdout (`| head -1`) must not stop the server.
#[allow(dead_code)] // not every sample prints
pub fn say(line: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}
