//! [`Partial`]: a message under way, between its first frame and its last.

use super::checks::Utf8Validator;
use crate::part::MessageKind;

/// A message under way: being reassembled from fragments (or inflated) for `recv`, or
/// taken in parts.
pub(super) struct Partial {
    pub(super) text: bool,
    /// Whether its frames are compressed.
    #[cfg(feature = "deflate")]
    pub(super) compressed: bool,
    /// Taken in parts: then `data` stays empty, each part going to the handler.
    pub(super) in_parts: bool,
    pub(super) data: Vec<u8>,
    /// The UTF-8 check of text, as its bytes arrive.
    pub(super) utf8: Utf8Validator,
}

impl Partial {
    /// What kind of message it is, for its parts.
    pub(super) fn kind(&self) -> MessageKind {
        match self.text {
            true => MessageKind::Text,
            false => MessageKind::Binary,
        }
    }

    /// A message under way, from its first frame; `capacity` for its reassembly.
    pub(super) fn start(
        text: bool,
        compressed: bool,
        in_parts: bool,
        capacity: usize,
    ) -> Box<Self> {
        #[cfg(not(feature = "deflate"))]
        let _ = compressed;
        Box::new(Partial {
            text,
            #[cfg(feature = "deflate")]
            compressed,
            in_parts,
            data: Vec::with_capacity(capacity),
            utf8: Utf8Validator::default(),
        })
    }
}
