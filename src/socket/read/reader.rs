//! The read side: frames from the engine, reassembled into whole messages, or handed
//! over a frame at a time as parts (see [`Part`]). Both go through one front half
//! ([`Reader::front`]) and differ only after it.

use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use fastwebsockets::OpCode;

#[cfg(feature = "deflate")]
use super::inflation::{Inflation, Resume};
use super::{
    checks::{data_message, parse_close},
    engine::{self, FrameSource, RawFrame},
    partial::Partial,
};
use crate::error::{ProtocolError, SessionError};
#[cfg(feature = "deflate")]
use crate::socket::connection::MarkingIo;
use crate::{
    part::Part,
    socket::{
        connection::{Io, ReadIo, ReadProgress},
        write::MAX_CONTROL_PAYLOAD,
    },
    CloseFrame, Error, Message,
};

/// What one frame gives a receive of whole messages (`T` is [`Message`]) or of parts
/// ([`Part`]).
pub(super) enum Step<T> {
    /// Nothing yet: a fragment of a message under way.
    More,
    /// What the receive returns.
    Item(T),
    /// A ping, pong or close, which the socket answers; `recv` returns it too.
    Control(Message),
    /// A compressed frame, for the read side to inflate with the reader's lock let go
    /// (see [`Inflation`]).
    #[cfg(feature = "deflate")]
    Inflate(Box<Inflation>),
}

/// What a frame is, once it has passed the checks every frame passes (`Reader::front`).
enum Front {
    /// A text or binary frame, the first of a message: whether it is text.
    First { text: bool },
    /// A continuation frame, and the message it continues.
    Next(Box<Partial>),
    /// A ping, pong or close (see [`control`]).
    Control(OpCode),
}

/// 1009 for a message over `max_message_size`.
#[cold]
fn too_big() -> Error {
    Error::Protocol(ProtocolError::MessageTooBig)
}

/// A control frame as a message: ping, pong or close (RFC 6455 §5.5).
#[inline(always)]
fn control(opcode: OpCode, payload: BytesMut) -> Result<Message, Error> {
    if payload.len() > MAX_CONTROL_PAYLOAD {
        return Err(Error::Protocol(ProtocolError::ControlFrameTooLarge));
    }
    match opcode {
        OpCode::Ping => Ok(Message::Ping(payload.freeze())),
        OpCode::Pong => Ok(Message::Pong(payload.freeze())),
        _ => parse_close(&payload).map(Message::Close),
    }
}

/// How the read side ended.
struct ReadEnd {
    /// The peer's close frame (`Some(None)`: a close without a code).
    close: Option<Option<CloseFrame>>,
    /// What ended it, when it was not a close frame.
    error: Option<SessionError>,
}

pub(crate) struct Reader {
    /// `None` once reading has ended: the engine and its half of the connection are gone.
    frames_in: Option<Box<dyn FrameSource>>,
    /// Boxed: needed only while a fragmented message is being reassembled.
    partial: Option<Box<Partial>>,
    pub(super) max_message_size: usize,
    reassembly_capacity: usize,
    /// Every frame received, control frames included: a sign of life for keep-alive.
    pub(crate) frames: u64,
    /// This side queued control frames that are not all written yet.
    pub(crate) owes_flush: bool,
    /// How reading ended; `None` while it goes on. Boxed: needed once per socket, at the end.
    end: Option<Box<ReadEnd>>,
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    /// Bytes handed to the engine by the connection (and, with compression, each frame's
    /// marks), and bytes of the frames it returned.
    pub(super) progress: ReadProgress<Io>,
    pub(super) consumed: u64,
    /// Whether compression was agreed (then the inflater is the connection's).
    #[cfg(feature = "deflate")]
    compressed: bool,
}

impl Reader {
    pub(crate) fn new(
        io: ReadIo<Io>,
        max_message_size: usize,
        max_frame_size: usize,
        reassembly_capacity: usize,
    ) -> Self {
        let progress = io.progress();
        #[cfg(feature = "deflate")]
        let compressed = progress.compressed();
        #[cfg(feature = "deflate")]
        let frames_in = match compressed {
            true => engine::frames(MarkingIo(io), max_frame_size),
            false => engine::frames(io, max_frame_size),
        };
        #[cfg(not(feature = "deflate"))]
        let frames_in = engine::frames(io, max_frame_size);
        Reader {
            progress,
            #[cfg(feature = "deflate")]
            compressed,
            frames_in: Some(frames_in),
            partial: None,
            max_message_size,
            // A message never needs more than the limit: a larger setting (`usize::MAX`,
            // say) must not become an allocation that cannot be made.
            reassembly_capacity: reassembly_capacity.min(max_message_size),
            frames: 0,
            owes_flush: false,
            end: None,
            messages: 0,
            bytes: 0,
            consumed: 0,
        }
    }

    /// Whether more input than the frames returned so far has been read: the next frame
    /// (or part of it) is already buffered.
    pub(crate) fn input_waiting(&self) -> bool {
        self.progress.delivered() > self.consumed
    }

    /// Gives the engine back, with its read buffer, when it holds no input that has not
    /// come back in a frame: the socket then waits on its connection with no buffer of
    /// its own until its client sends again.
    pub(crate) fn park_engine(&mut self) {
        if self.input_waiting() {
            return;
        }
        if let Some(frames) = self.frames_in.as_mut() {
            frames.park();
        }
    }

    /// Polls for the next frame. Once every byte read has come back in a frame, the
    /// engine goes first (see [`park_engine`](Self::park_engine)): a socket holds a read
    /// buffer only while it has input to read, as uWebSockets holds none between reads.
    pub(crate) fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<RawFrame, Error>> {
        self.park_engine();
        match self.frames_in.as_mut() {
            Some(frames) => frames.poll_frame(cx).map_err(engine::engine_error),
            None => Poll::Ready(Err(Error::ConnectionReset)),
        }
    }

    /// Turns a frame into a message: [`Step::More`] while a fragmented message is
    /// incomplete.
    pub(super) fn assemble(&mut self, frame: RawFrame) -> Result<Step<Message>, Error> {
        #[cfg(feature = "deflate")]
        if self.compressed {
            return self.assemble_marked(frame);
        }
        self.assemble_as(frame, false, false)
    }

    /// [`assemble`](Self::assemble) with compression agreed: the filter under the engine
    /// noted whether the frame had RSV1 and whether it came as text (see `marks`).
    #[cfg(feature = "deflate")]
    #[inline(never)]
    fn assemble_marked(&mut self, frame: RawFrame) -> Result<Step<Message>, Error> {
        let (compressed, sent_as_text) = self.marks();
        self.assemble_as(frame, compressed, sent_as_text)
    }

    /// Turns a frame into a message, given its RSV1 and, when compressed, whether it was
    /// sent as text. Inlined twice: without compression both are constants.
    #[inline(always)]
    fn assemble_as(
        &mut self,
        frame: RawFrame,
        compressed: bool,
        sent_as_text: bool,
    ) -> Result<Step<Message>, Error> {
        let front = self.front(&frame, compressed, sent_as_text)?;
        let RawFrame { fin, payload, .. } = frame;
        let mut partial = match front {
            Front::Control(opcode) => return control(opcode, payload).map(Step::Control),
            Front::First { text } => {
                if fin && !compressed {
                    // The engine bounds the frame; with a larger frame limit, a whole
                    // message in one frame still must fit the message limit.
                    if payload.len() > self.max_message_size {
                        return Err(too_big());
                    }
                    return self.complete(text, payload).map(Step::Item);
                }
                let capacity = if compressed {
                    0
                } else {
                    self.reassembly_capacity
                };
                Partial::start(text, compressed, false, capacity)
            }
            Front::Next(partial) => partial,
        };
        #[cfg(feature = "deflate")]
        if partial.compressed {
            return Ok(Step::Inflate(Box::new(Inflation::new(
                partial, payload, fin,
            ))));
        }
        self.append(&mut partial, &payload)?;
        if !fin {
            self.partial = Some(partial);
            return Ok(Step::More);
        }
        let Partial { text, data, .. } = *partial;
        self.complete_assembled(text, data).map(Step::Item)
    }

    /// The front half of reading that every frame goes through, whether messages are taken
    /// whole or in parts: the checks of [`admit`](Self::admit), then what the frame is.
    #[inline(always)]
    fn front(
        &mut self,
        frame: &RawFrame,
        compressed: bool,
        sent_as_text: bool,
    ) -> Result<Front, Error> {
        self.admit(frame, compressed)?;
        let front = match frame.opcode {
            OpCode::Text | OpCode::Binary => Front::First {
                text: if compressed {
                    sent_as_text
                } else {
                    frame.opcode == OpCode::Text
                },
            },
            OpCode::Continuation => match self.partial.take() {
                Some(partial) => Front::Next(partial),
                None => return Err(Error::Protocol(ProtocolError::UnexpectedContinuation)),
            },
            opcode => Front::Control(opcode),
        };
        Ok(front)
    }

    /// The checks every frame passes first, whether messages are taken whole or in parts:
    /// it is counted, it must be masked (RFC 6455 §5.1), RSV1 only on a message's first
    /// frame (RFC 7692 §6.1), and a new message only once the last one ended.
    #[inline(always)]
    fn admit(&mut self, frame: &RawFrame, compressed: bool) -> Result<(), Error> {
        self.consumed += frame.wire_len;
        self.frames += 1;
        if !frame.masked {
            return Err(Error::Protocol(ProtocolError::UnmaskedFrame));
        }
        let data = matches!(frame.opcode, OpCode::Text | OpCode::Binary);
        if compressed && !data {
            return Err(Error::Protocol(
                ProtocolError::CompressedControlOrContinuation,
            ));
        }
        if data && self.partial.is_some() {
            return Err(Error::Protocol(ProtocolError::MessageInsideMessage));
        }
        Ok(())
    }

    /// What the compression filter noted of the next frame: RSV1, and whether it came as
    /// text; without compression agreed, neither.
    #[inline(always)]
    fn marks(&self) -> (bool, bool) {
        #[cfg(feature = "deflate")]
        if self.compressed {
            return self
                .progress
                .next_mark()
                .map_or((false, false), |mark| (mark.compressed, mark.text));
        }
        (false, false)
    }

    /// Turns a frame into a part of a message, or a control message.
    pub(super) fn assemble_part(&mut self, frame: RawFrame) -> Result<Step<Part>, Error> {
        let (compressed, sent_as_text) = self.marks();
        let front = self.front(&frame, compressed, sent_as_text)?;
        let RawFrame { fin, payload, .. } = frame;
        let mut partial = match front {
            Front::Control(opcode) => return control(opcode, payload).map(Step::Control),
            Front::First { text } => Partial::start(text, compressed, true, 0),
            Front::Next(partial) => partial,
        };
        #[cfg(feature = "deflate")]
        if partial.compressed {
            return Ok(Step::Inflate(Box::new(Inflation::new(
                partial, payload, fin,
            ))));
        }
        let data = self.part_data(&mut partial, payload, fin)?;
        let kind = partial.kind();
        if !fin {
            self.partial = Some(partial);
        }
        Ok(Step::Item(Part {
            kind,
            data,
            last: fin,
        }))
    }

    /// An uncompressed frame's payload as a part, its UTF-8 checked with what came before.
    fn part_data(
        &mut self,
        partial: &mut Partial,
        payload: BytesMut,
        fin: bool,
    ) -> Result<Bytes, Error> {
        let data = payload.freeze();
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

    /// Whether a message is under way in parts.
    pub(crate) fn in_parts(&self) -> bool {
        self.partial.as_ref().is_some_and(|p| p.in_parts)
    }

    /// Whether a message is under way whole (being reassembled for `recv`).
    pub(crate) fn in_whole(&self) -> bool {
        self.partial.as_ref().is_some_and(|p| !p.in_parts)
    }

    /// Adds an uncompressed frame's payload to a message under way, within
    /// `max_message_size`, and checks the UTF-8 of text so far.
    fn append(&mut self, partial: &mut Partial, payload: &[u8]) -> Result<(), Error> {
        let before = partial.data.len();
        if before + payload.len() > self.max_message_size {
            return Err(too_big());
        }
        partial.data.extend_from_slice(payload);
        if partial.text {
            partial.utf8.push(&partial.data[before..])?;
        }
        Ok(())
    }

    /// A handle on the socket's inflater, which the read side uses with this reader's
    /// lock let go.
    #[cfg(feature = "deflate")]
    pub(super) fn inflater(&self) -> ReadProgress<Io> {
        self.progress.clone()
    }

    /// Takes back what an [`Inflation`] made of a frame: the message under way, unless it
    /// ended, and what it adds to the traffic counts.
    #[cfg(feature = "deflate")]
    pub(super) fn resume<T>(&mut self, resume: Resume<T>) -> Step<T> {
        self.partial = resume.partial;
        self.bytes += resume.bytes as u64;
        if resume.ended {
            self.messages += 1;
        }
        resume.item.map_or(Step::More, Step::Item)
    }

    /// A whole message in one frame, its payload as the engine gave it.
    fn complete(&mut self, text: bool, data: BytesMut) -> Result<Message, Error> {
        self.count(data.len());
        data_message(text, data.freeze())
    }

    /// A whole message assembled from fragments.
    fn complete_assembled(&mut self, text: bool, data: Vec<u8>) -> Result<Message, Error> {
        self.count(data.len());
        data_message(text, Bytes::from(data))
    }

    fn count(&mut self, len: usize) {
        self.messages += 1;
        self.bytes += len as u64;
    }

    /// Whether reading has ended: no more messages will be returned.
    pub(crate) fn finished(&self) -> bool {
        self.end.is_some()
    }

    /// The peer's close frame, once received (`Some(None)`: a close without a code).
    pub(crate) fn close_received(&self) -> Option<Option<CloseFrame>> {
        self.end.as_ref().and_then(|end| end.close.clone())
    }

    /// What ended reading, when it was not a close frame.
    pub(crate) fn error(&self) -> Option<SessionError> {
        self.end.as_ref().and_then(|end| end.error.clone())
    }

    /// Stops reading after the peer's close frame.
    pub(crate) fn finish_with_close(&mut self, frame: Option<CloseFrame>) {
        self.finish(ReadEnd {
            close: Some(frame),
            error: None,
        });
    }

    /// Stops reading after an error.
    pub(crate) fn finish_with_error(&mut self, error: SessionError) {
        self.finish(ReadEnd {
            close: None,
            error: Some(error),
        });
    }

    /// Stops reading for good: the engine and its half of the connection are dropped.
    fn finish(&mut self, end: ReadEnd) {
        self.end = Some(Box::new(end));
        self.partial = None;
        self.frames_in = None;
    }
}
