//! The fixed 64-byte footer at the end of every block file.
//!
//! ```text
//! offset size field
//!  0     8    index block offset      (u64 LE)
//!  8     8    index block length      (u64 LE, without its 4-byte CRC)
//! 16     8    filter block offset
//! 24     8    filter block length
//! 32     8    properties block offset
//! 40     8    properties block length
//! 48     4    format version          (u32 LE, 1 or FORMAT_VERSION)
//! 52     8    magic                   (u64 LE, = MAGIC, the bytes "SOCHSST1")
//! 60     4    CRC32 of bytes 0..60    (u32 LE)
//! ```
//!
//! Version 1 files store every block as its contents followed by a CRC. Version 2 files
//! (written since blocks may be compressed) store every block as its stored bytes and a
//! type byte ([`crate::storage::sstable::compression`]), followed by a CRC of both; a
//! block handle's length then counts the type byte, so handles tile the file in the same
//! way in both versions.

use crate::storage::coding::{DecodeError, Reader, put_u32, put_u64};

/// Bytes of the footer.
pub const FOOTER_LEN: usize = 64;
/// The magic number: the ASCII bytes `SOCHSST1` read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SOCHSST1");
/// The format version this code writes: blocks carry a type byte (compression).
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this code reads: blocks without a type byte.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// Where a block lies in the file: `len` bytes at `offset` (the contents in version 1;
/// the stored bytes and the type byte in version 2), followed by a 4-byte CRC32 of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHandle {
    /// Offset of the block's first byte.
    pub offset: u64,
    /// Length of the block without its CRC (with the type byte in version 2).
    pub len: u64,
}

impl BlockHandle {
    /// Offset just past the block's CRC trailer.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.len)?.checked_add(4)
    }
}

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// The index block.
    pub index: BlockHandle,
    /// The Bloom filter block.
    pub filter: BlockHandle,
    /// The properties block.
    pub props: BlockHandle,
    /// The file's format version ([`OLDEST_FORMAT_VERSION`] ..= [`FORMAT_VERSION`]).
    pub version: u32,
}

impl Footer {
    /// The 64 bytes of the footer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FOOTER_LEN);
        for h in [self.index, self.filter, self.props] {
            put_u64(&mut out, h.offset);
            put_u64(&mut out, h.len);
        }
        put_u32(&mut out, self.version);
        put_u64(&mut out, MAGIC);
        let crc = crc32fast::hash(&out);
        put_u32(&mut out, crc);
        out
    }

    /// Decodes and checks the last [`FOOTER_LEN`] bytes of a file of `file_len` bytes:
    /// magic, version, CRC, and that the three blocks follow each other in the order
    /// index, filter, properties and end where the footer begins.
    pub fn decode(bytes: &[u8], file_len: u64) -> Result<Footer, DecodeError> {
        if bytes.len() != FOOTER_LEN {
            return Err(DecodeError("footer has the wrong length"));
        }
        let mut r = Reader::new(bytes);
        let mut handles = [BlockHandle { offset: 0, len: 0 }; 3];
        for h in &mut handles {
            h.offset = r.u64()?;
            h.len = r.u64()?;
        }
        let version = r.u32()?;
        let magic = r.u64()?;
        let crc = r.u32()?;
        if magic != MAGIC {
            return Err(DecodeError("bad magic number (not a block file)"));
        }
        if crc != crc32fast::hash(&bytes[..FOOTER_LEN - 4]) {
            return Err(DecodeError("footer checksum mismatch"));
        }
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(DecodeError("unsupported format version"));
        }
        let [index, filter, props] = handles;
        let footer_start = file_len
            .checked_sub(FOOTER_LEN as u64)
            .ok_or(DecodeError("file shorter than a footer"))?;
        let chained = index.end() == Some(filter.offset)
            && filter.end() == Some(props.offset)
            && props.end() == Some(footer_start);
        if !chained {
            return Err(DecodeError("footer block handles do not tile the file"));
        }
        Ok(Footer {
            index,
            filter,
            props,
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Footer {
        Footer {
            index: BlockHandle {
                offset: 1000,
                len: 96,
            },
            filter: BlockHandle {
                offset: 1100,
                len: 20,
            },
            props: BlockHandle {
                offset: 1124,
                len: 80,
            },
            version: FORMAT_VERSION,
        }
    }

    #[test]
    fn round_trip_and_every_flip_detected() {
        let f = sample();
        let bytes = f.encode();
        assert_eq!(bytes.len(), FOOTER_LEN);
        let file_len = 1208 + FOOTER_LEN as u64;
        assert_eq!(Footer::decode(&bytes, file_len), Ok(f));
        assert!(Footer::decode(&bytes, file_len + 1).is_err());
        for i in 0..FOOTER_LEN {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(Footer::decode(&b, file_len).is_err(), "flip at {i}");
        }
        assert_eq!(&bytes[52..60], b"SOCHSST1");
    }

    #[test]
    fn every_known_version_decodes_and_others_do_not() {
        let file_len = 1208 + FOOTER_LEN as u64;
        for version in [0, OLDEST_FORMAT_VERSION, FORMAT_VERSION, FORMAT_VERSION + 1] {
            let f = Footer {
                version,
                ..sample()
            };
            let known = (OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version);
            assert_eq!(
                Footer::decode(&f.encode(), file_len).ok(),
                known.then_some(f),
                "version {version}"
            );
        }
    }
}
