//! Arbitrary client bytes after an accepted handshake: through the engine's reader, the
//! reassembly of fragments, UTF-8 checks, close handling and, when the first input byte is
//! odd, permessage-deflate. The session must end without a panic or a handler failure,
//! with close codes that may be sent, and nothing after its close frame.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_websockets_fuzz::{answer, check_session, exchange, layer, runtime};

const HANDSHAKE: &str = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

fuzz_target!(|input: &[u8]| {
    let Some((&flags, bytes)) = input.split_first() else {
        return;
    };
    let mut request = HANDSHAKE.to_owned();
    if flags & 1 == 1 {
        request.push_str("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    }
    request.push_str("\r\n");
    let exchange = runtime().block_on(exchange(layer(), request.as_bytes(), Some(bytes)));
    assert_eq!(answer(&exchange.answer).statuses, [101]);
    assert!(exchange.session.is_some());
    check_session(&exchange);
});
