//! Agreeing on permessage-deflate (RFC 7692 §5, §7.1): the client's offers, in its order
//! of preference, and the first one the server can accept.

use http::{header, HeaderMap, HeaderValue};

use super::config::{DeflateConfig, DeflateParams};

/// The first offer in `Sec-WebSocket-Extensions` that the server accepts, with the header
/// value that answers it. A header that cannot be read declines compression; it never
/// fails the handshake.
pub(crate) fn negotiate(
    headers: &HeaderMap,
    config: &DeflateConfig,
) -> Option<(DeflateParams, HeaderValue)> {
    // Several header lines are one comma-separated list (RFC 9110 §5.3).
    for line in headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS) {
        let Ok(line) = line.to_str() else { continue };
        for offer in split_outside_quotes(line, ',') {
            let mut parts = split_outside_quotes(offer, ';').into_iter();
            let name = parts.next().unwrap_or_default().trim();
            if !name.eq_ignore_ascii_case("permessage-deflate") {
                continue;
            }
            if let Some((params, offer)) = accept(parts, config) {
                let answer = HeaderValue::from_str(&response(&params, &offer))
                    .expect("the answer is made of tokens and digits");
                return Some((params, answer));
            }
        }
    }
    None
}

/// What the client asked for in one offer.
#[derive(Default)]
struct ClientOffer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// The parameters agreed for one offer, with the offer, or `None` to decline it: an unknown
/// parameter, one given twice, a value where none belongs or none where one does, a window
/// outside 8-15.
fn accept<'a>(
    params: impl Iterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(DeflateParams, ClientOffer)> {
    let mut offer = ClientOffer::default();
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim())?)),
            None => (param.trim(), None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !offer.server_no_context_takeover => {
                offer.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !offer.client_no_context_takeover => {
                offer.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(bits)) if offer.server_max_window_bits.is_none() => {
                offer.server_max_window_bits = Some(window_bits(&bits)?);
            }
            ("client_max_window_bits", value) if offer.client_max_window_bits.is_none() => {
                let bits = match value {
                    Some(bits) => Some(window_bits(&bits)?),
                    None => None,
                };
                offer.client_max_window_bits = Some(bits);
            }
            _ => return None,
        }
    }
    let server_bits = match offer.server_max_window_bits {
        Some(asked) => asked.min(config.server_max_window_bits),
        None => config.server_max_window_bits,
    };
    // The server may name a client window only if the client offered to limit it.
    let client_bits = match offer.client_max_window_bits {
        Some(Some(offered)) => offered.min(config.client_max_window_bits),
        Some(None) => config.client_max_window_bits,
        None => 15,
    };
    let params = DeflateParams {
        server_no_context_takeover: offer.server_no_context_takeover
            || !config.server_context_takeover,
        // The server may ask for this even when the client did not offer it (§7.1.1.1).
        client_no_context_takeover: offer.client_no_context_takeover
            || !config.client_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    };
    Some((params, offer))
}

/// The `Sec-WebSocket-Extensions` answer to `offer`: exactly the agreed parameters.
fn response(params: &DeflateParams, offer: &ClientOffer) -> String {
    let mut answer = String::from("permessage-deflate");
    if params.server_no_context_takeover {
        answer.push_str("; server_no_context_takeover");
    }
    if params.client_no_context_takeover {
        answer.push_str("; client_no_context_takeover");
    }
    // "A server accepts an extension negotiation offer with this parameter by including
    // the "server_max_window_bits" extension parameter in the extension negotiation
    // response" (§7.1.2.1): named when offered, even at 15; otherwise only to limit it.
    if offer.server_max_window_bits.is_some() || params.server_max_window_bits < 15 {
        answer.push_str(&format!(
            "; server_max_window_bits={}",
            params.server_max_window_bits
        ));
    }
    if params.client_max_window_bits < 15 {
        answer.push_str(&format!(
            "; client_max_window_bits={}",
            params.client_max_window_bits
        ));
    }
    answer
}

/// A window size: a decimal 8 to 15, without leading zeros (RFC 7692 §7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    match value {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => value.parse().ok(),
        _ => None,
    }
}

/// A parameter value: a token, or a quoted string (RFC 9110 §5.6.4) with its escapes
/// undone. `None` for an unterminated quote.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.to_owned());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// Splits at `separator` where it is not inside a quoted string.
fn split_outside_quotes(s: &str, separator: char) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An extension as its name and its parameters sorted: RFC 7692 fixes no order, and a
    /// parameter given twice still shows twice.
    type Extension = (String, Vec<String>);

    fn extension(value: &str) -> Extension {
        let mut parts = split_outside_quotes(value, ';').into_iter();
        let name = parts.next().unwrap_or_default().trim().to_owned();
        let mut params: Vec<String> = parts.map(|part| part.trim().to_owned()).collect();
        params.sort();
        (name, params)
    }

    fn offer(lines: &[&str], config: &DeflateConfig) -> Option<(DeflateParams, Extension)> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(header::SEC_WEBSOCKET_EXTENSIONS, line.parse().unwrap());
        }
        negotiate(&headers, config).map(|(p, h)| (p, extension(h.to_str().unwrap())))
    }

    fn answer(lines: &[&str]) -> Option<Extension> {
        offer(lines, &DeflateConfig::new()).map(|(_, h)| h)
    }

    fn expect(value: &str) -> Option<Extension> {
        Some(extension(value))
    }

    #[test]
    fn chromiums_offer_gets_the_defaults() {
        let (params, header) = offer(
            &["permessage-deflate; client_max_window_bits"],
            &DeflateConfig::new(),
        )
        .unwrap();
        assert_eq!(
            Some(header),
            expect("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        assert_eq!(
            (params.server_max_window_bits, params.client_max_window_bits),
            (15, 15)
        );
    }

    #[test]
    fn the_first_acceptable_offer_wins() {
        // Unknown, duplicate and out-of-range parameters decline their offer only.
        for declined in [
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits=1x",
            "permessage-deflate; server_no_context_takeover=1",
        ] {
            assert_eq!(answer(&[declined]), None, "{declined}");
            let then = format!("{declined}, permessage-deflate; server_max_window_bits=10");
            assert_eq!(
                answer(&[&then]),
                expect("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10"),
                "{then}"
            );
        }
    }

    #[test]
    fn offers_span_header_lines_and_take_quoted_values() {
        let lines = [
            "x-webkit-deflate-frame",
            "permessage-deflate; client_max_window_bits=\"10\"",
        ];
        assert_eq!(
            answer(&lines),
            expect("permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=10")
        );
        assert_eq!(answer(&["x-other; a=\"1,2\""]), None);
        assert_eq!(answer(&["PerMessage-Deflate ; Server_Max_Window_Bits = 8"]),
            expect("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8"));
    }

    #[test]
    fn the_server_answers_with_exactly_what_is_agreed() {
        let config = DeflateConfig::new()
            .server_context_takeover(true)
            .client_context_takeover(true)
            .server_max_window_bits(12)
            .client_max_window_bits(11);
        let cases = [
            ("permessage-deflate", "permessage-deflate; server_max_window_bits=12"),
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=11",
            ),
            (
                "permessage-deflate; client_max_window_bits=9; server_max_window_bits=14",
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12",
            ),
            (
                "permessage-deflate; server_max_window_bits=8",
                "permessage-deflate; server_max_window_bits=8",
            ),
        ];
        for (offered, expected) in cases {
            assert_eq!(
                offer(&[offered], &config).map(|(_, h)| h),
                expect(expected),
                "{offered}"
            );
        }
    }

    #[test]
    fn an_offered_server_window_is_named_in_the_answer_even_at_15() {
        // RFC 7692 §7.1.2.1: the server accepts the parameter by including it, with the
        // same or a smaller value.
        for (config, offered, expected) in [
            (15, "permessage-deflate; server_max_window_bits=15", 15),
            (15, "permessage-deflate; server_max_window_bits=9", 9),
            (10, "permessage-deflate; server_max_window_bits=15", 10),
        ] {
            let config = DeflateConfig::new().server_max_window_bits(config);
            let (params, header) = offer(&[offered], &config).unwrap();
            assert_eq!(params.server_max_window_bits, expected, "{offered}");
            assert_eq!(
                Some(header),
                expect(&format!("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits={expected}")),
                "{offered}"
            );
        }
        // Not offered: named only to limit the window below 15.
        assert_eq!(
            answer(&["permessage-deflate"]),
            expect("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
    }

    #[test]
    fn no_offer_or_a_malformed_header_declines_compression() {
        assert_eq!(answer(&[]), None);
        assert_eq!(answer(&["", ",,;"]), None);
        assert_eq!(answer(&["permessage-deflate; =3"]), None);
        // An unterminated quote takes the rest of the line with it.
        let unterminated = "permessage-deflate; client_max_window_bits=\"9, permessage-deflate";
        assert_eq!(answer(&[unterminated]), None);
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic(lines in prop::collection::vec("[ -~]{0,60}", 0..4)) {
            let mut headers = HeaderMap::new();
            for line in &lines {
                if let Ok(value) = HeaderValue::from_str(line) {
                    headers.append(header::SEC_WEBSOCKET_EXTENSIONS, value);
                }
            }
            if let Some((params, _)) = negotiate(&headers, &DeflateConfig::new()) {
                prop_assert!((8..=15).contains(&params.server_max_window_bits));
                prop_assert!((8..=15).contains(&params.client_max_window_bits));
            }
        }
    }
}
