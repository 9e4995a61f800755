//! The index block: for every data block, its last entry's key and timestamp and where
//! the block lies.
//!
//! ```text
//! count: u32 LE
//! count times:
//!   key_len: u16 LE, key: [u8; key_len], ts: u64 LE, offset: u64 LE, len: u32 LE
//! ```
//!
//! Data blocks tile the start of the file: the first is at offset 0 and each begins
//! where the previous one's CRC trailer ends; the last ends where the index begins.

use crate::storage::coding::{DecodeError, Reader, put_u16, put_u32, put_u64};
use crate::storage::sstable::footer::BlockHandle;

/// One data block as the index describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Key of the block's last entry.
    pub last_key: Vec<u8>,
    /// Timestamp of the block's last entry.
    pub last_ts: u64,
    /// Where the block lies.
    pub handle: BlockHandle,
}

/// Encodes the index block contents.
pub fn encode_index(entries: &[IndexEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    put_u32(&mut out, entries.len() as u32);
    for e in entries {
        put_u16(&mut out, e.last_key.len() as u16);
        out.extend_from_slice(&e.last_key);
        put_u64(&mut out, e.last_ts);
        put_u64(&mut out, e.handle.offset);
        put_u32(&mut out, e.handle.len as u32);
    }
    out
}

/// Decodes the index block contents and checks that the data blocks tile
/// `[0, data_end)` and that their last keys are strictly increasing.
pub fn decode_index(bytes: &[u8], data_end: u64) -> Result<Vec<IndexEntry>, DecodeError> {
    let mut r = Reader::new(bytes);
    let count = r.u32()? as usize;
    // Each entry takes at least 22 bytes: bound the allocation by the block size.
    if count == 0 || count > r.remaining() / 22 {
        return Err(DecodeError("index entry count inconsistent with its size"));
    }
    let mut out: Vec<IndexEntry> = Vec::with_capacity(count);
    let mut expected_offset = 0u64;
    for _ in 0..count {
        let key_len = usize::from(r.u16()?);
        let last_key = r.bytes(key_len)?.to_vec();
        let last_ts = r.u64()?;
        let offset = r.u64()?;
        let len = u64::from(r.u32()?);
        let handle = BlockHandle { offset, len };
        if offset != expected_offset {
            return Err(DecodeError("data blocks do not follow each other"));
        }
        expected_offset = handle.end().ok_or(DecodeError("block handle overflows"))?;
        if let Some(prev) = out.last() {
            let order = crate::storage::entry::cmp_internal(
                &prev.last_key,
                prev.last_ts,
                &last_key,
                last_ts,
            );
            if order != std::cmp::Ordering::Less {
                return Err(DecodeError("index keys out of order"));
            }
        }
        out.push(IndexEntry {
            last_key,
            last_ts,
            handle,
        });
    }
    if r.remaining() != 0 {
        return Err(DecodeError("trailing bytes after the index entries"));
    }
    if expected_offset != data_end {
        return Err(DecodeError("data blocks do not end where the index begins"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_structure_checks() {
        let es = vec![
            IndexEntry {
                last_key: b"b".to_vec(),
                last_ts: 4,
                handle: BlockHandle { offset: 0, len: 10 },
            },
            IndexEntry {
                last_key: b"b".to_vec(),
                last_ts: 2,
                handle: BlockHandle {
                    offset: 14,
                    len: 20,
                },
            },
        ];
        let enc = encode_index(&es);
        assert_eq!(decode_index(&enc, 38), Ok(es.clone()));
        assert!(decode_index(&enc, 39).is_err());
        assert!(decode_index(&enc[..enc.len() - 1], 38).is_err());
        let mut swapped = es.clone();
        swapped.swap(0, 1);
        swapped[0].handle = es[0].handle;
        swapped[1].handle = es[1].handle;
        assert!(decode_index(&encode_index(&swapped), 38).is_err());
        assert!(decode_index(&encode_index(&[]), 0).is_err());
    }
}
