//! RFC 6455 frame rules: every violation gets a close frame with the RFC's code, then the
//! TCP connection ends, and the server goes on serving others.

use crate::common::{round_trip, serve, RawSocket};
use tower_websockets::{
    error::SessionError, session::ClosedBy, Error, ProtocolError, WebSocketLayer,
};

const FIN_TEXT: u8 = 0x81;
const TEXT: u8 = 0x01;
const CONTINUATION: u8 = 0x00;
const FIN_CONTINUATION: u8 = 0x80;
const FIN_BINARY: u8 = 0x82;
const FIN_CLOSE: u8 = 0x88;
const FIN_PING: u8 = 0x89;

/// Sends what `violate` writes on a fresh socket and returns the close code it gets; also
/// checks that the server still echoes for a new client afterwards.
async fn close_code_for<F, Fut>(violate: F) -> u16
where
    F: FnOnce(RawSocket) -> Fut,
    Fut: std::future::Future<Output = RawSocket>,
{
    let server = serve(WebSocketLayer::default()).await;
    let socket = RawSocket::connect(server.addr).await;
    let mut socket = violate(socket).await;
    let code = socket.expect_close().await;
    let mut next = server.connect().await;
    round_trip(&mut next, "still serving".into()).await;
    code
}

#[tokio::test]
async fn a_raw_client_that_follows_the_rules_is_echoed() {
    let server = serve(WebSocketLayer::default()).await;
    let mut socket = RawSocket::connect(server.addr).await;
    socket.send(FIN_TEXT, b"masked and fine", true).await;
    let echo = socket.recv().await.unwrap();
    assert_eq!(
        (echo.fin, echo.opcode, echo.payload.as_slice()),
        (true, 1, &b"masked and fine"[..])
    );
    socket.send(FIN_CLOSE, &1000u16.to_be_bytes(), true).await;
    assert_eq!(socket.expect_close().await, 1000);
}

#[tokio::test]
async fn an_unmasked_client_frame_gets_1002() {
    let code = close_code_for(|mut s| async move {
        s.send(FIN_TEXT, b"not masked", false).await;
        s
    })
    .await;
    assert_eq!(code, 1002);
}

#[tokio::test]
async fn invalid_utf8_in_a_text_message_gets_1007() {
    let code = close_code_for(|mut s| async move {
        s.send(FIN_TEXT, b"caf\xc3\x28", true).await;
        s
    })
    .await;
    assert_eq!(code, 1007);
}

#[tokio::test]
async fn invalid_utf8_fails_at_its_fragment_not_at_the_end_of_the_message() {
    let server = serve(WebSocketLayer::default()).await;
    let mut socket = RawSocket::connect(server.addr).await;
    socket.send(TEXT, b"valid so far ", true).await;
    socket.send(CONTINUATION, b"\xff broken", true).await;
    // No final fragment: the close must come anyway.
    assert_eq!(socket.expect_close().await, 1007);
}

#[tokio::test]
async fn a_character_split_between_fragments_is_fine() {
    let server = serve(WebSocketLayer::default()).await;
    let mut socket = RawSocket::connect(server.addr).await;
    let text = "κόσμε".as_bytes();
    socket.send(TEXT, &text[..3], true).await;
    socket.send(FIN_CONTINUATION, &text[3..], true).await;
    assert_eq!(socket.recv().await.unwrap().payload, text);
}

#[tokio::test]
async fn forbidden_close_codes_get_1002() {
    for forbidden in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let code = close_code_for(|mut s| async move {
            s.send(FIN_CLOSE, &forbidden.to_be_bytes(), true).await;
            s
        })
        .await;
        assert_eq!(code, 1002, "close code {forbidden}");
    }
}

#[tokio::test]
async fn malformed_close_frames_get_the_rfc_codes() {
    let one_byte = close_code_for(|mut s| async move {
        s.send(FIN_CLOSE, &[3], true).await;
        s
    })
    .await;
    assert_eq!(one_byte, 1002);
    let bad_reason = close_code_for(|mut s| async move {
        s.send(FIN_CLOSE, b"\x03\xe8\xff\xfe", true).await;
        s
    })
    .await;
    assert_eq!(bad_reason, 1007);
}

#[tokio::test]
async fn framing_violations_get_1002() {
    let violations: [(&str, u8, Vec<u8>); 6] = [
        ("reserved bit", 0xc1, b"rsv1".to_vec()),
        ("unknown opcode", 0x83, b"op3".to_vec()),
        ("fragmented ping", 0x09, b"ping".to_vec()),
        ("ping over 125 bytes", FIN_PING, vec![0u8; 126]),
        (
            "continuation without a start",
            FIN_CONTINUATION,
            b"orphan".to_vec(),
        ),
        (
            "close over 125 bytes",
            FIN_CLOSE,
            [&1000u16.to_be_bytes()[..], &[b'a'; 124]].concat(),
        ),
    ];
    for (what, first_byte, payload) in violations {
        let code = close_code_for(|mut s| async move {
            s.send(first_byte, &payload, true).await;
            s
        })
        .await;
        assert_eq!(code, 1002, "{what}");
    }
    let interleaved = close_code_for(|mut s| async move {
        s.send(TEXT, b"first", true).await;
        s.send(FIN_BINARY, b"a new message inside the first", true)
            .await;
        s
    })
    .await;
    assert_eq!(interleaved, 1002);
}

/// Each violation is reported to the session as its typed cause, and the close code on the
/// wire is the cause's own.
#[tokio::test]
async fn the_session_reports_each_violation_as_its_cause() {
    // Frames to send (first byte, payload, masked), and the cause they must be reported as.
    type Case = (&'static [(u8, &'static [u8], bool)], ProtocolError);
    let cases: [Case; 9] = [
        (
            &[(FIN_TEXT, b"unmasked", false)],
            ProtocolError::UnmaskedFrame,
        ),
        (&[(0xc1, b"rsv1", true)], ProtocolError::ReservedBits),
        (&[(0x83, b"op3", true)], ProtocolError::UnknownOpcode),
        (
            &[(0x09, b"ping", true)],
            ProtocolError::FragmentedControlFrame,
        ),
        (
            &[(FIN_CONTINUATION, b"orphan", true)],
            ProtocolError::UnexpectedContinuation,
        ),
        (
            &[(TEXT, b"first", true), (FIN_BINARY, b"second", true)],
            ProtocolError::MessageInsideMessage,
        ),
        (
            &[(FIN_CLOSE, &[3], true)],
            ProtocolError::CloseFrameTooShort,
        ),
        (
            &[(FIN_CLOSE, b"\x03\xe8\xff\xfe", true)],
            ProtocolError::InvalidCloseReason,
        ),
        (
            &[(FIN_TEXT, b"caf\xc3\x28", true)],
            ProtocolError::InvalidUtf8,
        ),
    ];
    let mut server = serve(WebSocketLayer::default()).await;
    for (frames, cause) in cases {
        let mut socket = RawSocket::connect(server.addr).await;
        let session = server.next_session().await;
        for (first_byte, payload, mask) in frames {
            socket.send(*first_byte, payload, *mask).await;
        }
        assert_eq!(
            socket.expect_close().await,
            cause.close_code().0,
            "{cause:?}"
        );
        let summary = crate::common::within(session.ended()).await;
        assert_eq!(
            (summary.closed_by, summary.close_code),
            (ClosedBy::Server, cause.close_code()),
            "{cause:?}"
        );
        match summary.error {
            Some(SessionError::Socket(Error::Protocol(reported))) => assert_eq!(reported, cause),
            other => panic!("expected {cause:?}, got {other:?}"),
        }
    }
}
