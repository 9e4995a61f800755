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
use crate::storage::entry::key_prefix;
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

/// The index of an open file, decoded once into flat arrays: no allocation per entry,
/// and a lookup binary-searches a dense array of 8-byte key prefixes, touching a key's
/// full bytes only when two prefixes are equal.
#[derive(Debug, Clone, Default)]
pub struct FlatIndex {
    /// Per block, the first 8 bytes of its last key (big-endian, zero-padded) beside
    /// where the block lies, so the probe that ends a search has the handle on the same
    /// cache line. Prefix order agrees with key order: a smaller prefix means a smaller
    /// key, and equal prefixes decide nothing (the full keys are then compared).
    slots: Vec<Slot>,
    /// Every last key, one after another.
    keys: Vec<u8>,
    /// Where each key ends in `keys` (it starts where the previous one ends).
    key_ends: Vec<usize>,
    /// The timestamp of every block's last entry.
    last_ts: Vec<u64>,
    /// Where every block lies (the same as in `slots`, as one slice).
    handles: Vec<BlockHandle>,
}

/// One block in a [`FlatIndex`]: the prefix its search compares, and its handle.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The first 8 bytes of the block's last key, big-endian, zero-padded.
    prefix: u64,
    /// Where the block lies.
    handle: BlockHandle,
}

impl FlatIndex {
    /// The flat form of decoded index entries (kept in their order).
    pub fn new(entries: &[IndexEntry]) -> FlatIndex {
        let total: usize = entries.iter().map(|e| e.last_key.len()).sum();
        let mut ix = FlatIndex {
            slots: Vec::with_capacity(entries.len()),
            keys: Vec::with_capacity(total),
            key_ends: Vec::with_capacity(entries.len()),
            last_ts: Vec::with_capacity(entries.len()),
            handles: Vec::with_capacity(entries.len()),
        };
        for e in entries {
            ix.slots.push(Slot {
                prefix: key_prefix(&e.last_key),
                handle: e.handle,
            });
            ix.keys.extend_from_slice(&e.last_key);
            ix.key_ends.push(ix.keys.len());
            ix.last_ts.push(e.last_ts);
            ix.handles.push(e.handle);
        }
        ix
    }

    /// Number of data blocks.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// True when the index lists no block.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// The last key of block `i` (empty when out of range).
    pub fn last_key(&self, i: usize) -> &[u8] {
        let start = match i.checked_sub(1) {
            Some(p) => self.key_ends.get(p).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.key_ends.get(i).copied().unwrap_or(start);
        self.keys.get(start..end).unwrap_or(&[])
    }

    /// The timestamp of block `i`'s last entry (0 when out of range).
    pub fn last_ts(&self, i: usize) -> u64 {
        self.last_ts.get(i).copied().unwrap_or(0)
    }

    /// Where block `i` lies.
    #[inline]
    pub fn handle(&self, i: usize) -> Option<BlockHandle> {
        self.slots.get(i).map(|s| s.handle)
    }

    /// Every block's handle, in file order.
    pub fn handles(&self) -> &[BlockHandle] {
        &self.handles
    }

    /// Index of the first block whose last entry is at or after `(key, ts)` in internal
    /// order; `len()` when every block ends before it.
    pub fn find(&self, key: &[u8], ts: u64) -> usize {
        let p = key_prefix(key);
        let (mut lo, mut hi) = (0, self.slots.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let before = match self.slots.get(mid).map(|m| m.prefix.cmp(&p)) {
                Some(std::cmp::Ordering::Less) => true,
                Some(std::cmp::Ordering::Greater) | None => false,
                Some(std::cmp::Ordering::Equal) => {
                    crate::storage::entry::cmp_internal(
                        self.last_key(mid),
                        self.last_ts(mid),
                        key,
                        ts,
                    ) == std::cmp::Ordering::Less
                }
            };
            if before {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Bytes of memory held.
    pub fn memory_bytes(&self) -> usize {
        self.keys.capacity()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.key_ends.capacity() * std::mem::size_of::<usize>()
            + self.last_ts.capacity() * 8
            + self.handles.capacity() * std::mem::size_of::<BlockHandle>()
    }
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

    fn entries(keys: &[(&[u8], u64)]) -> Vec<IndexEntry> {
        let mut offset = 0;
        keys.iter()
            .map(|&(k, ts)| {
                let handle = BlockHandle { offset, len: 10 };
                offset += 14;
                IndexEntry {
                    last_key: k.to_vec(),
                    last_ts: ts,
                    handle,
                }
            })
            .collect()
    }

    /// The reference answer: a partition point over the entries themselves.
    fn reference(es: &[IndexEntry], key: &[u8], ts: u64) -> usize {
        es.partition_point(|e| {
            crate::storage::entry::cmp_internal(&e.last_key, e.last_ts, key, ts)
                == std::cmp::Ordering::Less
        })
    }

    #[test]
    fn flat_index_of_nothing_finds_nothing() {
        let ix = FlatIndex::new(&[]);
        assert!(ix.is_empty());
        assert_eq!(ix.find(b"", u64::MAX), 0);
        assert_eq!(ix.find(b"zz", 0), 0);
        assert_eq!(ix.last_key(0), b"");
        assert_eq!(ix.handle(0), None);
    }

    #[test]
    fn flat_index_of_one_block() {
        let es = entries(&[(b"m", 5)]);
        let ix = FlatIndex::new(&es);
        assert_eq!(ix.len(), 1);
        assert_eq!((ix.last_key(0), ix.last_ts(0)), (&b"m"[..], 5));
        assert_eq!(ix.handle(0), Some(es[0].handle));
        assert_eq!(ix.find(b"a", 0), 0);
        assert_eq!(ix.find(b"m", 9), 0);
        assert_eq!(ix.find(b"m", 5), 0);
        assert_eq!(ix.find(b"m", 4), 1);
        assert_eq!(ix.find(b"m\0", u64::MAX), 1);
    }

    #[test]
    fn flat_index_finds_every_boundary_like_the_entries() {
        // Keys around the 8-byte prefix: shorter, equal prefixes with different tails,
        // zero bytes that padding could confuse, and one key with several versions
        // spread over blocks.
        let keys: Vec<(&[u8], u64)> = vec![
            (b"", 3),
            (b"\0", 7),
            (b"\0\0", 1),
            (b"abc", 9),
            (b"abcdefgh", 4),
            (b"abcdefgh", 2),
            (b"abcdefgh\0", 6),
            (b"abcdefghz", 1),
            (b"abcdefgi", 8),
            (b"b", 1),
            (&[0xff; 20], 5),
        ];
        let es = entries(&keys);
        assert_eq!(
            decode_index(&encode_index(&es), 14 * es.len() as u64),
            Ok(es.clone())
        );
        let ix = FlatIndex::new(&es);
        assert_eq!(ix.len(), es.len());
        for (i, e) in es.iter().enumerate() {
            assert_eq!(ix.last_key(i), e.last_key.as_slice());
            assert_eq!(ix.last_ts(i), e.last_ts);
            assert_eq!(ix.handle(i), Some(e.handle));
        }
        let mut probes: Vec<Vec<u8>> = keys.iter().map(|(k, _)| k.to_vec()).collect();
        probes.extend([
            b"a".to_vec(),
            b"abcdefg".to_vec(),
            b"abcdefgh\0\0".to_vec(),
            b"abcdefgg\xff".to_vec(),
            b"c".to_vec(),
            vec![0xff; 21],
        ]);
        for k in &probes {
            for ts in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, u64::MAX] {
                assert_eq!(ix.find(k, ts), reference(&es, k, ts), "{k:?} @ {ts}");
            }
        }
    }
}
