//! Compression: the permessage-deflate extension (RFC 7692).
//!
//! `negotiate` reads the client's offers and chooses what the server answers; `codec`
//! compresses what the server sends and inflates what the client sends, with the
//! compressors and decompressors that no socket keeps between messages held in per-layer
//! pools.

mod codec;
mod config;
mod negotiate;

pub(crate) use codec::{Compressor, Inflater, Pools, Sharer};
pub use config::{DeflateConfig, DeflateParams};
pub(crate) use negotiate::negotiate;
