//! Compressed frames, inflated with the reader's lock let go: the reader hands a frame
//! over as an [`Inflation`] (`Step::Inflate`), the read side inflates it, and the reader
//! takes back the [`Resume`].

use bytes::{Bytes, BytesMut};

use super::{checks::data_message, partial::Partial};
use crate::{
    error::ProtocolError,
    part::Part,
    socket::connection::{Io, ReadProgress},
    Error, Message,
};

/// A compressed frame taken from the reader, with the message it belongs to, to be
/// inflated with the reader's lock let go: a frame that inflates to a large message holds
/// up nobody who looks at the socket meanwhile (its state, its keep-alive count, `abort`).
/// [`Reader::resume`](super::reader::Reader::resume) takes back what it made.
pub(super) struct Inflation {
    partial: Box<Partial>,
    payload: BytesMut,
    fin: bool,
}

/// What an [`Inflation`] gives back to its reader.
pub(super) struct Resume<T> {
    /// The message under way, unless this frame ended it.
    pub(super) partial: Option<Box<Partial>>,
    /// What the receive returns; `None` while the message goes on.
    pub(super) item: Option<T>,
    /// The bytes this frame adds to what was received (taken whole: the message's, once).
    pub(super) bytes: usize,
    /// Whether a message ended with this frame.
    pub(super) ended: bool,
}

impl Inflation {
    /// `payload`, a frame of the compressed message `partial`; `fin` ends it.
    pub(super) fn new(partial: Box<Partial>, payload: BytesMut, fin: bool) -> Inflation {
        Inflation {
            partial,
            payload,
            fin,
        }
    }

    /// For `recv`: the payload inflated onto the message under way, which may not grow
    /// past `limit`; the whole message once its last frame is in, its UTF-8 checked as it
    /// grows.
    pub(super) fn whole(
        self,
        inflater: &ReadProgress<Io>,
        limit: usize,
    ) -> Result<Resume<Message>, Error> {
        let Inflation {
            mut partial,
            payload,
            fin,
        } = self;
        let before = partial.data.len();
        inflate(inflater, &payload, fin, &mut partial.data, limit)?;
        if partial.text {
            partial.utf8.push(&partial.data[before..])?;
        }
        if !fin {
            return Ok(Resume {
                partial: Some(partial),
                item: None,
                bytes: 0,
                ended: false,
            });
        }
        let Partial { text, data, .. } = *partial;
        let bytes = data.len();
        let message = data_message(text, Bytes::from(data))?;
        Ok(Resume {
            partial: None,
            item: Some(message),
            bytes,
            ended: true,
        })
    }

    /// For `recv_part`: the payload inflated on its own (no part larger than `limit`), its
    /// UTF-8 checked with what came before.
    pub(super) fn part(
        self,
        inflater: &ReadProgress<Io>,
        limit: usize,
    ) -> Result<Resume<Part>, Error> {
        let Inflation {
            mut partial,
            payload,
            fin,
        } = self;
        let mut data = Vec::new();
        inflate(inflater, &payload, fin, &mut data, limit)?;
        if partial.text {
            partial.utf8.push(&data)?;
            if fin {
                partial.utf8.finish()?;
            }
        }
        let part = Part {
            kind: partial.kind(),
            data: Bytes::from(data),
            last: fin,
        };
        Ok(Resume {
            partial: (!fin).then_some(partial),
            bytes: part.data.len(),
            item: Some(part),
            ended: fin,
        })
    }
}

/// Inflates a compressed frame's payload onto `out`, which may not grow past `limit`;
/// `fin` ends the message. A frame is compressed only where compression was agreed
/// (`admit` refuses RSV1 otherwise), so the inflater is there.
fn inflate(
    progress: &ReadProgress<Io>,
    payload: &[u8],
    fin: bool,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), Error> {
    match progress.inflater() {
        Some(mut inflater) => inflater.inflate(payload, fin, out, limit),
        None => Err(Error::Protocol(ProtocolError::ReservedBits)),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::mpsc,
        time::{Duration, Instant},
    };

    use flate2::{Compress, Compression, FlushCompress};
    use hyper_util::{
        rt::{TokioExecutor, TokioIo},
        server::conn::auto,
        service::TowerToHyperService,
    };
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
    };
    use tower::ServiceBuilder;

    use crate::{deflate::DeflateConfig, Handshake, Message, WebSocket, WebSocketLayer};

    /// A message that inflates to 4 MiB, as one masked, compressed client frame.
    fn compressed_frame(message: &[u8]) -> Vec<u8> {
        let mut compress = Compress::new(Compression::new(6), false);
        let mut deflated = Vec::with_capacity(message.len());
        compress
            .compress_vec(message, &mut deflated, FlushCompress::Sync)
            .unwrap();
        assert!(
            compress.total_in() as usize == message.len() && deflated.ends_with(&[0, 0, 255, 255])
        );
        deflated.truncate(deflated.len() - 4);
        // FIN, RSV1, binary; masked, 64-bit length.
        let mut frame = vec![0x80 | 0x40 | 0x2, 0x80 | 127];
        frame.extend_from_slice(&(deflated.len() as u64).to_be_bytes());
        let key = [0x11, 0x22, 0x33, 0x44];
        frame.extend_from_slice(&key);
        frame.extend(deflated.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        frame
    }

    /// While a compressed frame is being inflated, the socket's reader is free: here the
    /// inflater is held by another thread, so the receive waits inside inflation, and the
    /// reader's frame count (what the keep-alive clock reads without waiting) must be
    /// readable meanwhile. Inflating under the reader's lock, it is not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_compressed_frame_is_inflated_with_the_reader_let_go() {
        let (verdict_tx, verdict_rx) = tokio::sync::oneshot::channel();
        let verdict_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(verdict_tx)));
        let handler = move |mut socket: WebSocket, _: Handshake| {
            let verdict_tx = verdict_tx.clone();
            async move {
                let shared = socket.shared().clone();
                let inflater = shared.read.lock().inflater();
                let (held_tx, held_rx) = mpsc::channel();
                let (release_tx, release_rx) = mpsc::channel::<()>();
                let holder = std::thread::spawn(move || {
                    let guard = inflater.inflater();
                    held_tx.send(()).unwrap();
                    let _ = release_rx.recv();
                    drop(guard);
                });
                held_rx.recv().unwrap();
                // Watches from a thread of its own: the receive below blocks its worker.
                let watcher = std::thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(30);
                    let seen = loop {
                        match shared.read.frames_received() {
                            Some(1) => break true,
                            _ if Instant::now() > deadline => break false,
                            _ => std::thread::sleep(Duration::from_millis(1)),
                        }
                    };
                    release_tx.send(()).unwrap();
                    seen
                });
                let received = socket.recv().await;
                let seen = watcher.join().unwrap();
                holder.join().unwrap();
                let length = match received {
                    Some(Ok(Message::Binary(data))) if data.iter().all(|&b| b == b'x') => {
                        data.len()
                    }
                    _ => 0,
                };
                let sender = verdict_tx.lock().unwrap().take();
                if let Some(sender) = sender {
                    let _ = sender.send((seen, length));
                }
            }
        };
        let layer = WebSocketLayer::new(handler).deflate(DeflateConfig::new());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service =
                    ServiceBuilder::new()
                        .layer(layer.clone())
                        .service(tower::service_fn(|_| async {
                            Ok::<_, std::convert::Infallible>(http::Response::new(
                                http_body_util::Empty::<bytes::Bytes>::new(),
                            ))
                        }));
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(
                            TokioIo::new(stream),
                            TowerToHyperService::new(service),
                        )
                        .await;
                });
            }
        });

        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(
                b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
                  Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                  Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            )
            .await
            .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = tokio::time::timeout(Duration::from_secs(10), client.read_u8())
                .await
                .expect("the response's head in time")
                .unwrap();
            head.push(byte);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("permessage-deflate"), "{head}");
        let message = vec![b'x'; 4 << 20];
        client.write_all(&compressed_frame(&message)).await.unwrap();
        let (seen, length) = tokio::time::timeout(Duration::from_secs(60), verdict_rx)
            .await
            .expect("the handler's verdict in time")
            .unwrap();
        assert!(
            seen,
            "the reader stayed locked while the frame was inflated"
        );
        assert_eq!(length, message.len());
    }
}
