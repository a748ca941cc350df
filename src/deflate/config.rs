//! [`DeflateConfig`], what a layer offers, and [`DeflateParams`], what a socket agreed.

/// Compression settings for [`WebSocketLayer::deflate`](crate::WebSocketLayer::deflate):
/// the permessage-deflate extension (RFC 7692), agreed with every client that offers it
/// (every browser does).
///
/// # Security
///
/// Compression leaks how alike the parts of a message are through its compressed size.
/// When one message holds both a secret (a token, a session cookie, personal data) and
/// text an attacker chooses (a chat message, a search term, a reflected value), an
/// attacker who sees the sizes on the wire can guess the secret a character at a time:
/// the CRIME and BREACH attacks on TLS compression and HTTP compression. With server
/// context takeover, an earlier message's content counts as part of the next one. So:
/// send secrets uncompressed ([`WebSocket::send_uncompressed`](crate::WebSocket::send_uncompressed)),
/// or never mix them with attacker-controlled text; and keep server context takeover off
/// (the default) unless every message the socket sends is safe to compress together.
///
/// # Example
///
/// ```
/// use tower_websockets::{deflate::DeflateConfig, Echo, WebSocketLayer};
///
/// let layer = WebSocketLayer::new(Echo).deflate(
///     DeflateConfig::new()
///         .level(6)
///         .min_size(256)
///         .server_max_window_bits(12),
/// );
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a configuration does nothing until a layer uses it"]
pub struct DeflateConfig {
    pub(crate) level: u32,
    pub(crate) min_size: usize,
    pub(crate) server_max_window_bits: u8,
    pub(crate) client_max_window_bits: u8,
    pub(crate) server_context_takeover: bool,
    pub(crate) client_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig::new()
    }
}

impl DeflateConfig {
    /// The defaults, as each method states them.
    pub fn new() -> Self {
        DeflateConfig {
            level: 6,
            min_size: 256,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_context_takeover: false,
            client_context_takeover: false,
        }
    }

    /// The compression level, from 0 (none) through 1 (fastest) to 9 (smallest); values
    /// over 9 count as 9. Default: 6.
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// Messages shorter than this many bytes are sent uncompressed: compressing a few
    /// bytes costs more CPU than it saves bytes. Default: 256.
    pub fn min_size(mut self, bytes: usize) -> Self {
        self.min_size = bytes;
        self
    }

    /// The largest window (as a power of two, 8 to 15; others are clamped) the server
    /// compresses with: smaller saves memory with server context takeover, at some cost
    /// in compression. A client may ask for a smaller one. Default: 15 (32 KiB).
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = bits.clamp(8, 15);
        self
    }

    /// The largest window (8 to 15; others are clamped) the server asks clients to
    /// compress with, when they offer to limit theirs. Default: 15.
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = bits.clamp(8, 15);
        self
    }

    /// Whether the server's compressor keeps its window from one message to the next
    /// (better compression of similar messages; about 370 KiB per open socket at window
    /// bits 15 and level 6, 245 KiB at 9 bits; and see the security note). Off, the server
    /// compresses each
    /// message on its own, with a compressor borrowed from the layer's pool for the
    /// message's duration. A client can turn it off. Default: `false`.
    pub fn server_context_takeover(mut self, enabled: bool) -> Self {
        self.server_context_takeover = enabled;
        self
    }

    /// Whether clients may keep their compressor's window from one message to the next.
    /// On, each socket keeps a decompressor and its window between messages (about 46
    /// KiB per open socket); off, the server asks clients to compress each message on its
    /// own (`client_no_context_takeover`), and a decompressor is borrowed from the layer's
    /// pool for each message. Default: `false`.
    pub fn client_context_takeover(mut self, enabled: bool) -> Self {
        self.client_context_takeover = enabled;
        self
    }
}

/// The permessage-deflate parameters agreed with a client, from
/// [`Handshake::deflate`](crate::Handshake::deflate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateParams {
    /// The server compresses each message on its own.
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own.
    pub client_no_context_takeover: bool,
    /// The window the server compresses with, as a power of two (8 to 15).
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with (8 to 15).
    pub client_max_window_bits: u8,
}
