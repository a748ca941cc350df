//! Arbitrary bytes as a request on a fresh HTTP/1.1 connection to hyper with the layer in
//! front of a plain service. Every answer must be a status the RFCs name for it, a `101`
//! must carry its `Sec-WebSocket-Accept`, and an accepted session must end cleanly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_websockets_fuzz::{answer, check_session, exchange, layer, runtime};

fuzz_target!(|request: &[u8]| {
    let exchange = runtime().block_on(exchange(layer(), request, None));
    let answer = answer(&exchange.answer);
    for status in &answer.statuses {
        // 101, 400, 403, 426 and 431 from the layer; 200 and 404 from the service behind
        // it; 400, 414, 431, 501 and 505 from hyper's parser.
        assert!(
            matches!(
                status,
                101 | 200 | 400 | 403 | 404 | 414 | 426 | 431 | 501 | 505
            ),
            "status {status}"
        );
    }
    if let Some(head) = answer.upgrade_head {
        assert!(head.contains("\r\nsec-websocket-accept: "), "{head}");
        assert!(exchange.session.is_some());
    }
    check_session(&exchange);
});
