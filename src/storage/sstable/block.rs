//! Data blocks: entries with key prefix compression and restart points.
//!
//! Layout of a block's contents (the 4-byte CRC trailer is added by the file writer):
//!
//! ```text
//! entry*            one per version, in internal order
//! restart: u32 LE   * n   offsets of the entries that store their whole key
//! n: u32 LE               number of restart points (>= 1)
//! ```
//!
//! Each entry is `shared: varint, unshared: varint, ts: varint, vtag: varint,
//! key_suffix: [u8; unshared], value: [u8; vtag - 1]` where `shared` bytes of the key are
//! taken from the previous entry's key and `vtag` is 0 for a tombstone or `len + 1` for a
//! value of `len` bytes. Every `restart_interval`-th entry is a restart point with
//! `shared = 0`, so a lookup binary-searches the restart points and then scans at most
//! `restart_interval` entries.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::storage::MAX_KEY_LEN;
use crate::storage::coding::{DecodeError, Reader, put_u32, put_varint};
use crate::storage::entry::cmp_internal;

/// Default number of entries between restart points.
pub const DEFAULT_RESTART_INTERVAL: usize = 16;

/// Builds the contents of one data block.
#[derive(Debug, Clone)]
pub struct BlockBuilder {
    /// Encoded entries so far.
    buf: Vec<u8>,
    /// Offsets of the restart points so far.
    restarts: Vec<u32>,
    /// Entries between restart points.
    restart_interval: usize,
    /// Entries since the last restart point.
    counter: usize,
    /// Key of the last entry added.
    last_key: Vec<u8>,
    /// Timestamp of the last entry added.
    last_ts: u64,
    /// Entries added.
    entries: usize,
}

impl BlockBuilder {
    /// An empty builder.
    pub fn new(restart_interval: usize) -> BlockBuilder {
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval: restart_interval.max(1),
            counter: 0,
            last_key: Vec::new(),
            last_ts: 0,
            entries: 0,
        }
    }

    /// Appends an entry; the caller guarantees internal order.
    pub fn add(&mut self, key: &[u8], ts: u64, value: Option<&[u8]>) {
        let shared = if self.counter < self.restart_interval && self.entries > 0 {
            key.iter()
                .zip(&self.last_key)
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, ts);
        put_varint(&mut self.buf, value.map_or(0, |v| v.len() as u64 + 1));
        self.buf.extend_from_slice(&key[shared..]);
        if let Some(v) = value {
            self.buf.extend_from_slice(v);
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.last_ts = ts;
        self.counter += 1;
        self.entries += 1;
    }

    /// Size of the block if finished now.
    pub fn size_estimate(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// True when no entry was added since the last reset.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Key and timestamp of the last entry added.
    pub fn last(&self) -> (&[u8], u64) {
        (&self.last_key, self.last_ts)
    }

    /// Appends the restart array to `out` after the entries and resets the builder.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf);
        for &r in &self.restarts {
            put_u32(out, r);
        }
        put_u32(out, self.restarts.len() as u32);
        self.buf.clear();
        self.restarts.clear();
        self.counter = 0;
        self.entries = 0;
    }
}

/// A decoded, validated block.
#[derive(Debug)]
pub struct Block {
    /// The block's contents (without the CRC trailer).
    data: Vec<u8>,
    /// Where the restart array starts (= end of the entries).
    restarts_start: usize,
    /// Number of restart points.
    num_restarts: usize,
}

impl Block {
    /// Checks the restart array of `data` and wraps it.
    pub fn decode(data: Vec<u8>) -> Result<Block, DecodeError> {
        let len = data.len();
        if len < 4 {
            return Err(DecodeError("block shorter than its restart count"));
        }
        let mut r = Reader::at(&data, len - 4)?;
        let n = r.u32()? as usize;
        if n == 0 {
            return Err(DecodeError("block has no restart points"));
        }
        let array_len = n
            .checked_mul(4)
            .and_then(|a| a.checked_add(4))
            .filter(|&a| a <= len)
            .ok_or(DecodeError("restart array larger than the block"))?;
        let restarts_start = len - array_len;
        let block = Block {
            data,
            restarts_start,
            num_restarts: n,
        };
        let mut prev = None;
        for i in 0..n {
            let off = block.restart(i)?;
            let ok = match prev {
                None => off == 0,
                Some(p) => off > p,
            };
            if !ok || off >= restarts_start {
                return Err(DecodeError("restart points out of order or out of range"));
            }
            prev = Some(off);
        }
        Ok(block)
    }

    fn restart(&self, i: usize) -> Result<usize, DecodeError> {
        let mut r = Reader::at(&self.data, self.restarts_start + 4 * i)?;
        Ok(r.u32()? as usize)
    }

    /// Bytes of the block's contents.
    pub fn size(&self) -> usize {
        self.data.len()
    }
}

/// A position inside a [`Block`], movable both ways.
#[derive(Debug)]
pub struct BlockCursor {
    /// The block.
    block: Arc<Block>,
    /// Offset of the current entry.
    cur: usize,
    /// Offset just past the current entry.
    next: usize,
    /// Full key of the current entry.
    key: Vec<u8>,
    /// Timestamp of the current entry.
    ts: u64,
    /// Offset and length of the current value, `None` for a tombstone.
    value: Option<(usize, usize)>,
    /// True when on an entry.
    valid: bool,
}

impl BlockCursor {
    /// A cursor over `block`, not yet positioned.
    pub fn new(block: Arc<Block>) -> BlockCursor {
        BlockCursor {
            block,
            cur: 0,
            next: 0,
            key: Vec::new(),
            ts: 0,
            value: None,
            valid: false,
        }
    }

    /// True when on an entry.
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// Key of the current entry.
    pub fn key(&self) -> &[u8] {
        if self.valid { &self.key } else { &[] }
    }

    /// Timestamp of the current entry.
    pub fn ts(&self) -> u64 {
        self.ts
    }

    /// Value of the current entry (`None` for a tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        if !self.valid {
            return None;
        }
        self.value
            .and_then(|(off, len)| self.block.data.get(off..off + len))
    }

    /// Decodes the entry at `offset`, whose predecessor's key is in `self.key`.
    fn decode_at(&mut self, offset: usize) -> Result<(), DecodeError> {
        self.valid = false;
        let entries = &self.block.data[..self.block.restarts_start];
        let mut r = Reader::at(entries, offset)?;
        let shared = r.varint_len(MAX_KEY_LEN)?;
        let unshared = r.varint_len(MAX_KEY_LEN)?;
        let ts = r.varint()?;
        let vtag = r.varint()?;
        if shared > self.key.len() || shared + unshared > MAX_KEY_LEN {
            return Err(DecodeError("entry key length inconsistent with its prefix"));
        }
        let suffix = r.bytes(unshared)?;
        let value = if vtag == 0 {
            None
        } else {
            let len =
                usize::try_from(vtag - 1).map_err(|_| DecodeError("value length too large"))?;
            let start = r.pos();
            r.bytes(len)?;
            Some((start, len))
        };
        self.key.truncate(shared);
        self.key.extend_from_slice(suffix);
        self.cur = offset;
        self.next = r.pos();
        self.ts = ts;
        self.value = value;
        self.valid = true;
        Ok(())
    }

    fn decode_restart(&mut self, i: usize) -> Result<(), DecodeError> {
        let off = self.block.restart(i)?;
        self.key.clear();
        self.decode_at(off)
    }

    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) -> Result<(), DecodeError> {
        self.decode_restart(0)
    }

    /// Moves to the last entry.
    pub fn seek_to_last(&mut self) -> Result<(), DecodeError> {
        self.decode_restart(self.block.num_restarts - 1)?;
        while self.next < self.block.restarts_start {
            self.decode_at(self.next)?;
        }
        Ok(())
    }

    /// Moves to the first entry at or after `(key, ts)`; invalid when there is none.
    pub fn seek(&mut self, key: &[u8], ts: u64) -> Result<(), DecodeError> {
        let (mut lo, mut hi) = (0, self.block.num_restarts - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            self.decode_restart(mid)?;
            if cmp_internal(&self.key, self.ts, key, ts) == Ordering::Less {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        self.decode_restart(lo)?;
        while cmp_internal(&self.key, self.ts, key, ts) == Ordering::Less {
            if self.next >= self.block.restarts_start {
                self.valid = false;
                return Ok(());
            }
            self.decode_at(self.next)?;
        }
        Ok(())
    }

    /// Moves to the next entry; invalid past the last.
    pub fn next_entry(&mut self) -> Result<(), DecodeError> {
        if !self.valid {
            return Ok(());
        }
        if self.next >= self.block.restarts_start {
            self.valid = false;
            return Ok(());
        }
        self.decode_at(self.next)
    }

    /// Moves to the previous entry; invalid before the first.
    pub fn prev_entry(&mut self) -> Result<(), DecodeError> {
        if !self.valid {
            return Ok(());
        }
        let target = self.cur;
        if target == 0 {
            self.valid = false;
            return Ok(());
        }
        // The last restart point before the current entry.
        let (mut lo, mut hi) = (0, self.block.num_restarts - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.block.restart(mid)? < target {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        self.decode_restart(lo)?;
        while self.next < target {
            self.decode_at(self.next)?;
        }
        if self.next != target {
            self.valid = false;
            return Err(DecodeError("entries do not chain to the current entry"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Ent = (Vec<u8>, u64, Option<Vec<u8>>);

    fn build(entries: &[Ent], interval: usize) -> Arc<Block> {
        let mut b = BlockBuilder::new(interval);
        for (k, ts, v) in entries {
            b.add(k, *ts, v.as_deref());
        }
        let mut out = Vec::new();
        b.finish_into(&mut out);
        Arc::new(Block::decode(out).unwrap())
    }

    fn sample() -> Vec<Ent> {
        let mut v = Vec::new();
        for i in 0..50u64 {
            let k = format!("key{:03}", i / 2).into_bytes();
            let ts = 100 - (i % 2);
            let val = (i % 7 != 0).then(|| vec![i as u8; i as usize]);
            v.push((k, ts, val));
        }
        v
    }

    fn cur(c: &BlockCursor) -> Ent {
        (c.key().to_vec(), c.ts(), c.value().map(<[u8]>::to_vec))
    }

    #[test]
    fn forward_backward_and_seek() {
        for interval in [1, 3, 16] {
            let es = sample();
            let block = build(&es, interval);
            let mut c = BlockCursor::new(block);
            c.seek_to_first().unwrap();
            let mut seen = Vec::new();
            while c.valid() {
                seen.push(cur(&c));
                c.next_entry().unwrap();
            }
            assert_eq!(seen, es);
            c.seek_to_last().unwrap();
            let mut back = Vec::new();
            while c.valid() {
                back.push(cur(&c));
                c.prev_entry().unwrap();
            }
            back.reverse();
            assert_eq!(back, es);
            for (i, (k, ts, _)) in es.iter().enumerate() {
                c.seek(k, *ts).unwrap();
                assert_eq!(cur(&c), es[i]);
                c.seek(k, ts + 1).unwrap();
                assert_eq!(cur(&c).0, *k);
            }
            c.seek(b"key999", 0).unwrap();
            assert!(!c.valid());
            c.seek(b"", u64::MAX).unwrap();
            assert_eq!(cur(&c), es[0]);
        }
    }

    #[test]
    fn malformed_blocks_are_rejected_without_panic() {
        assert!(Block::decode(vec![]).is_err());
        assert!(Block::decode(vec![0, 0, 0, 0]).is_err());
        assert!(Block::decode(vec![0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(Block::decode(vec![5, 0, 0, 0, 1, 0, 0, 0]).is_err());
        // A valid block with every byte of its entry area replaced must never panic.
        let es = sample();
        let block = build(&es, 4);
        let data = block.data.clone();
        for pos in 0..block.restarts_start {
            for val in [0u8, 0x7f, 0x80, 0xff] {
                let mut d = data.clone();
                d[pos] = val;
                let Ok(b) = Block::decode(d) else { continue };
                let mut c = BlockCursor::new(Arc::new(b));
                let mut steps = 0;
                if c.seek_to_first().is_ok() {
                    while c.valid() && steps < 1000 && c.next_entry().is_ok() {
                        steps += 1;
                    }
                }
                let _ = c.seek_to_last().and_then(|_| c.prev_entry());
                let _ = c.seek(b"key010", 5);
            }
        }
    }
}
