//! Messages in parts: [`Part`], what [`WebSocket::recv_part`](crate::WebSocket::recv_part)
//! returns, and the UTF-8 check that spans a text message's parts.

use bytes::Bytes;

/// Whether a message is text or binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A text message: its parts together are UTF-8 (a character may be cut between two).
    Text,
    /// A binary message.
    Binary,
}

/// One frame's worth of a message received in parts.
///
/// A client sends a large message in several frames (fragments); each is one part, handed
/// over as soon as it has arrived, so that a message of any size takes no more memory than
/// a frame. The parts of a text message are checked as UTF-8 together: a part may end in
/// the middle of a character, and the message is failed (1007) at the part where its bytes
/// can no longer be UTF-8.
///
/// # Example
///
/// Writing each binary message to its own file as it arrives, whatever its size:
///
/// ```no_run
/// use tokio::io::AsyncWriteExt;
/// use tower_websockets::{Handshake, socket::MessageKind, WebSocket};
///
/// async fn upload(mut socket: WebSocket, _: Handshake) -> std::io::Result<()> {
///     let mut count = 0;
///     let mut file = None;
///     while let Some(Ok(part)) = socket.recv_part().await {
///         if part.kind != MessageKind::Binary {
///             continue;
///         }
///         if file.is_none() {
///             count += 1;
///             file = Some(tokio::fs::File::create(format!("upload-{count}")).await?);
///         }
///         if let Some(out) = file.as_mut() {
///             out.write_all(&part.data).await?;
///         }
///         if part.last {
///             file = None;
///         }
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Part {
    /// The message's kind, the same for all its parts.
    pub kind: MessageKind,
    /// This frame's payload (inflated, if the message is compressed).
    pub data: Bytes,
    /// Whether this is the message's last part.
    pub last: bool,
}

/// The UTF-8 check across parts: the bytes of a character cut at the end of one part,
/// completed by the next.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Utf8Carry {
    bytes: [u8; 3],
    len: u8,
}

impl Utf8Carry {
    /// Checks the next part's bytes; `Err` once the text cannot be UTF-8.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<(), ()> {
        let mut rest = data;
        if self.len > 0 {
            let len = usize::from(self.len);
            let width = match self.bytes[0] {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            let take = (width - len).min(rest.len());
            let mut character = [0u8; 4];
            character[..len].copy_from_slice(&self.bytes[..len]);
            character[len..len + take].copy_from_slice(&rest[..take]);
            match std::str::from_utf8(&character[..len + take]) {
                Ok(_) => self.len = 0,
                // Still cut: this part was shorter than the rest of the character.
                Err(e) if e.error_len().is_none() => {
                    self.bytes[..len + take].copy_from_slice(&character[..len + take]);
                    self.len = (len + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(()),
            }
            rest = &rest[take..];
        }
        match std::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &rest[e.valid_up_to()..];
                self.bytes[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    /// Checks that the message did not end inside a character.
    pub(crate) fn finish(&self) -> Result<(), ()> {
        if self.len == 0 {
            Ok(())
        } else {
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Utf8Carry;

    fn check(parts: &[&[u8]]) -> Result<(), ()> {
        let mut carry = Utf8Carry::default();
        for part in parts {
            carry.push(part)?;
        }
        carry.finish()
    }

    #[test]
    fn characters_may_be_cut_anywhere_between_parts() {
        let text = "aé€😀z".as_bytes();
        for cut in 0..=text.len() {
            for second in cut..=text.len() {
                let parts = [&text[..cut], &text[cut..second], &text[second..]];
                assert_eq!(check(&parts), Ok(()), "{cut} {second}");
            }
        }
        // One byte a part.
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(check(&bytes), Ok(()));
    }

    #[test]
    fn invalid_text_fails_at_the_part_that_breaks_it() {
        let mut carry = Utf8Carry::default();
        assert_eq!(carry.push(b"ok \xe2\x82"), Ok(()));
        assert_eq!(
            carry.push(b"\x41"),
            Err(()),
            "a cut character not completed"
        );
        assert_eq!(check(&[b"ab", b"\xff"]), Err(()));
        assert_eq!(check(&[b"ab\xc3"]), Err(()), "ends inside a character");
    }
}
