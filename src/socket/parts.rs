//! Reading a message in parts: each data frame handed over as it arrives (see
//! [`Part`]), through the same front half as whole messages.

use bytes::{Bytes, BytesMut};

use super::{
    engine::RawFrame,
    reader::{control, Front, Partial, Reader},
};
use crate::{
    part::{MessageKind, Part},
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
        let (compressed, sent_as_text) = self.marks();
        let front = self.front(&frame, compressed, sent_as_text)?;
        let RawFrame { fin, payload, .. } = frame;
        let mut partial = match front {
            Front::Control(opcode) => return control(opcode, payload).map(Piece::Control),
            Front::First { text, compressed } => Partial::start(text, compressed, true, 0),
            Front::Next(partial) => partial,
        };
        let data = self.part_data(&mut partial, payload, fin)?;
        let kind = match partial.text {
            true => MessageKind::Text,
            false => MessageKind::Binary,
        };
        if !fin {
            self.partial = Some(partial);
        }
        Ok(Piece::Part(Part {
            kind,
            data,
            last: fin,
        }))
    }

    /// A frame's payload as a part: inflated on its own if compressed (no part larger than
    /// `max_message_size`), its UTF-8 checked with what came before.
    fn part_data(
        &mut self,
        partial: &mut Partial,
        payload: BytesMut,
        fin: bool,
    ) -> Result<Bytes, Error> {
        let data = match partial.compressed {
            true => {
                let mut inflated = Vec::new();
                self.inflate(&payload, fin, &mut inflated)?;
                Bytes::from(inflated)
            }
            false => payload.freeze(),
        };
        if partial.text {
            partial.utf8.push(&data)?;
            if fin {
                partial.utf8.finish()?;
            }
        }
        self.bytes += data.len() as u64;
        if fin {
            self.messages += 1;
        }
        Ok(data)
    }
}
