//! Block compression: how a block's contents are stored, and the type byte that says so.
//!
//! From format version 2 on, every block is stored as `stored bytes | type: u8` followed
//! by the CRC of both. Type 0 means the stored bytes are the contents; type 1 means they
//! are the contents compressed with Snappy (raw Snappy, no framing: a varint of the
//! uncompressed length, then the compressed elements). A block is stored compressed only
//! when that saves at least a sixteenth of its bytes ([`MIN_SAVING_DIVISOR`]), so
//! incompressible blocks cost no decompression on read.

use crate::storage::coding::DecodeError;

/// How a block file's blocks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Every block is stored as it is.
    None,
    /// Blocks that shrink by at least a sixteenth are stored compressed with Snappy.
    #[default]
    Snappy,
}

/// Type byte of a block stored as it is.
pub const BLOCK_RAW: u8 = 0;
/// Type byte of a block stored compressed with Snappy.
pub const BLOCK_SNAPPY: u8 = 1;

/// A block is stored compressed only when that saves at least `1 / MIN_SAVING_DIVISOR`
/// of its bytes. A sixteenth rather than an eighth: on 16-byte keys with 100-byte values
/// written in random order and compacted, data blocks shrink to about 0.88 of their
/// size, which an eighth would just miss, storing them all raw.
pub const MIN_SAVING_DIVISOR: usize = 16;

/// An upper bound on how many times larger than its compressed form a genuine Snappy
/// block can be: the best element is a 3-byte copy of 64 bytes (21.3 times). A larger
/// claimed length is corruption and is refused before anything is allocated.
const MAX_SNAPPY_EXPANSION: usize = 22;

/// Compresses blocks for one file, reusing its buffers.
pub struct BlockCompressor {
    /// The compression asked for.
    compression: Compression,
    /// The Snappy encoder (keeps its hash table between blocks).
    encoder: snap::raw::Encoder,
    /// Scratch space for a compressed block.
    buf: Vec<u8>,
}

impl BlockCompressor {
    /// A compressor applying `compression`.
    pub fn new(compression: Compression) -> BlockCompressor {
        BlockCompressor {
            compression,
            encoder: snap::raw::Encoder::new(),
            buf: Vec::new(),
        }
    }

    /// Appends to `out` how `contents` are stored and returns the block's type byte
    /// (which the caller appends after them): compressed when that saves at least
    /// `1 / MIN_SAVING_DIVISOR` of the bytes, else the contents themselves.
    pub fn store_into(&mut self, contents: &[u8], out: &mut Vec<u8>) -> u8 {
        if self.compression == Compression::Snappy && self.compress(contents) {
            out.extend_from_slice(&self.buf);
            BLOCK_SNAPPY
        } else {
            out.extend_from_slice(contents);
            BLOCK_RAW
        }
    }

    /// Compresses `contents` into `self.buf`; true when the result is small enough to
    /// be worth storing.
    fn compress(&mut self, contents: &[u8]) -> bool {
        // Too short to be worth it after the length header and a literal tag.
        if contents.len() < 16 {
            return false;
        }
        self.buf
            .resize(snap::raw::max_compress_len(contents.len()), 0);
        match self.encoder.compress(contents, &mut self.buf) {
            Ok(n) => {
                self.buf.truncate(n);
                n <= contents.len() - contents.len() / MIN_SAVING_DIVISOR
            }
            // Only an input too large for Snappy (over 4 GiB) fails: store it raw.
            Err(_) => false,
        }
    }
}

/// The contents of a block stored as `stored` with type byte `kind`. Bounds-checked:
/// an unknown type, a claimed length out of proportion to the stored bytes, or damaged
/// compressed data is an error, never a panic or a large allocation.
pub fn block_contents(kind: u8, stored: Vec<u8>) -> Result<Vec<u8>, DecodeError> {
    match kind {
        BLOCK_RAW => Ok(stored),
        BLOCK_SNAPPY => {
            let len = snap::raw::decompress_len(&stored)
                .map_err(|_| DecodeError("bad compressed block length header"))?;
            if len > stored.len().saturating_mul(MAX_SNAPPY_EXPANSION) {
                return Err(DecodeError("compressed block claims an impossible length"));
            }
            let mut out = vec![0u8; len];
            let n = snap::raw::Decoder::new()
                .decompress(&stored, &mut out)
                .map_err(|_| DecodeError("compressed block does not decompress"))?;
            if n != len {
                return Err(DecodeError("compressed block has the wrong length"));
            }
            Ok(out)
        }
        _ => Err(DecodeError("unknown block type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(c: Compression, contents: &[u8]) -> (Vec<u8>, u8) {
        let mut out = Vec::new();
        let kind = BlockCompressor::new(c).store_into(contents, &mut out);
        (out, kind)
    }

    #[test]
    fn compressible_blocks_shrink_and_come_back() {
        let contents: Vec<u8> = (0..4000u32).map(|i| (i % 7) as u8).collect();
        let (stored, kind) = store(Compression::Snappy, &contents);
        assert_eq!(kind, BLOCK_SNAPPY);
        assert!(stored.len() < contents.len() / 4);
        assert_eq!(block_contents(kind, stored).unwrap(), contents);
        let (stored, kind) = store(Compression::None, &contents);
        assert_eq!((kind, &stored), (BLOCK_RAW, &contents));
    }

    #[test]
    fn incompressible_and_tiny_blocks_stay_raw() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let noise: Vec<u8> = (0..4000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(
            store(Compression::Snappy, &noise),
            (noise.clone(), BLOCK_RAW)
        );
        assert_eq!(
            store(Compression::Snappy, b"aaaa"),
            (b"aaaa".to_vec(), BLOCK_RAW)
        );
        assert_eq!(store(Compression::Snappy, b""), (Vec::new(), BLOCK_RAW));
    }

    #[test]
    fn damaged_compressed_blocks_are_errors() {
        let contents: Vec<u8> = (0..3000u32).map(|i| (i % 11) as u8).collect();
        let (stored, kind) = store(Compression::Snappy, &contents);
        assert!(block_contents(7, stored.clone()).is_err());
        // A header claiming 4 GiB is refused without allocating it.
        let mut huge = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
        huge.extend_from_slice(&stored[5..]);
        assert!(block_contents(kind, huge).is_err());
        assert!(block_contents(kind, stored[..stored.len() / 2].to_vec()).is_err());
        assert!(block_contents(kind, Vec::new()).is_err());
        for i in 0..stored.len() {
            let mut s = stored.clone();
            s[i] ^= 0x55;
            // Any outcome but a panic: damage is caught by the CRC before this point.
            let _ = block_contents(kind, s);
        }
    }
}
