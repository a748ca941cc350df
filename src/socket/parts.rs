//! Reading a message in parts: each data frame handed over as it arrives (see
//! [`Part`](crate::socket::Part)), with the same rules as whole messages.

use bytes::{Bytes, BytesMut};
use fastwebsockets::OpCode;

use super::{
    engine::RawFrame,
    reader::{control, Partial, Reader},
};
use crate::error::ProtocolError;
use crate::{
    part::{MessageKind, Part, Utf8Carry},
    Error, Message,
};

/// What one frame gives when messages are taken in parts.
pub(crate) enum Piece {
    Part(Part),
    /// A ping, pong or close, for the socket to answer.
    Control(Message),
}

impl Reader {
    /// Turns a frame into a part of a message, or a control message.
    pub(crate) fn assemble_part(&mut self, frame: RawFrame) -> Result<Piece, Error> {
        #[cfg(feature = "deflate")]
        let (compressed, sent_as_text) = match self.compressed {
            true => self.next_mark(),
            false => (false, false),
        };
        #[cfg(not(feature = "deflate"))]
        let (compressed, sent_as_text) = (false, false);
        self.admit(&frame, compressed)?;
        let mut partial = match frame.opcode {
            OpCode::Text | OpCode::Binary => Box::new(Partial {
                text: if compressed {
                    sent_as_text
                } else {
                    frame.opcode == OpCode::Text
                },
                compressed,
                data: Vec::new(),
                checked: 0,
                parts: Some(Utf8Carry::default()),
            }),
            OpCode::Continuation => match self.partial.take() {
                Some(partial) => partial,
                None => return Err(Error::Protocol(ProtocolError::UnexpectedContinuation)),
            },
            opcode => return control(opcode, frame.payload).map(Piece::Control),
        };
        let data = self.part_data(&mut partial, frame.payload, frame.fin)?;
        let kind = match partial.text {
            true => MessageKind::Text,
            false => MessageKind::Binary,
        };
        if !frame.fin {
            self.partial = Some(partial);
        }
        Ok(Piece::Part(Part {
            kind,
            data,
            last: frame.fin,
        }))
    }

    /// A frame's payload as a part: inflated if compressed (no part larger than
    /// `max_message_size`), its UTF-8 checked with what came before.
    fn part_data(
        &mut self,
        partial: &mut Partial,
        payload: BytesMut,
        fin: bool,
    ) -> Result<Bytes, Error> {
        #[cfg(feature = "deflate")]
        let data = match partial.compressed {
            true => self.inflate_part(&payload, fin)?,
            false => payload.freeze(),
        };
        // Without the feature no message is compressed.
        #[cfg(not(feature = "deflate"))]
        let data = payload.freeze();
        if partial.text {
            let carry = partial.parts.get_or_insert_with(Utf8Carry::default);
            if carry.push(&data).is_err() || (fin && carry.finish().is_err()) {
                return Err(Error::Protocol(ProtocolError::InvalidUtf8));
            }
        }
        self.bytes += data.len() as u64;
        if fin {
            self.messages += 1;
        }
        Ok(data)
    }

    /// A compressed part, inflated on its own, no larger than `max_message_size`.
    #[cfg(feature = "deflate")]
    fn inflate_part(&mut self, payload: &[u8], fin: bool) -> Result<Bytes, Error> {
        let mut inflated = Vec::new();
        if let Some(mut inflater) = self.tap.inflater() {
            inflater.inflate(payload, fin, &mut inflated, self.max_message_size)?;
        }
        Ok(Bytes::from(inflated))
    }
}
