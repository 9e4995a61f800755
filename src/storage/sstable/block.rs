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
use crate::storage::entry::{cmp_internal, common_prefix, key_prefix};

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

/// A decoded, validated block. Cloning is cheap: the contents are shared.
#[derive(Debug, Clone)]
pub struct Block {
    /// The block's contents (without the CRC trailer).
    data: Arc<[u8]>,
    /// Where the restart array starts (= end of the entries).
    restarts_start: usize,
    /// Number of restart points.
    num_restarts: usize,
    /// The restart points `1..=hinted` with their key prefixes, read once when the
    /// block is decoded: a search among them touches none of the block's bytes unless
    /// two prefixes tie, and starts its scan without reading the restart array.
    hints: [RestartHint; HINTS],
    /// How many of `hints` are filled (0 when a restart entry did not decode: the
    /// search then reads the block and reports the damage).
    hinted: usize,
}

/// Restart points (after the first) whose key prefixes a [`Block`] keeps.
const HINTS: usize = 4;

/// A restart point as a [`Block`] keeps it.
#[derive(Debug, Clone, Copy, Default)]
struct RestartHint {
    /// The first 8 bytes of its key ([`key_prefix`]).
    prefix: u64,
    /// Its offset in the block.
    offset: usize,
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
        let mut block = Block {
            data: data.into(),
            restarts_start,
            num_restarts: n,
            hints: [RestartHint::default(); HINTS],
            hinted: 0,
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
        let mut hints = [RestartHint::default(); HINTS];
        let mut hinted = 0;
        for (i, h) in (1..n).zip(hints.iter_mut()) {
            match (block.restart(i), block.restart_entry(i)) {
                (Ok(offset), Ok((key, _))) => {
                    *h = RestartHint {
                        prefix: key_prefix(key),
                        offset,
                    };
                    hinted = i;
                }
                _ => {
                    hinted = 0;
                    break;
                }
            }
        }
        block.hints = hints;
        block.hinted = hinted;
        Ok(block)
    }

    /// The offset of restart point `i`, from the hints when they hold it.
    #[inline]
    fn restart_offset(&self, i: usize) -> Result<usize, DecodeError> {
        match i.checked_sub(1) {
            // Restart 0 is at offset 0 (checked by `decode`).
            None => Ok(0),
            Some(h) if h < self.hinted => Ok(self.hints[h].offset),
            Some(_) => self.restart(i),
        }
    }

    #[inline]
    fn restart(&self, i: usize) -> Result<usize, DecodeError> {
        let at = self.restarts_start + 4 * i;
        match self.data.get(at..).and_then(<[u8]>::first_chunk::<4>) {
            Some(b) => Ok(u32::from_le_bytes(*b) as usize),
            None => Err(DecodeError("restart point past the end of the block")),
        }
    }

    /// The entries area (everything before the restart array).
    #[inline]
    fn entries(&self) -> &[u8] {
        self.data.get(..self.restarts_start).unwrap_or(&[])
    }

    /// Key and timestamp of the entry at restart point `i`, read in place (a restart
    /// entry stores its whole key).
    fn restart_entry(&self, i: usize) -> Result<(&[u8], u64), DecodeError> {
        let mut r = Reader::at(self.entries(), self.restart(i)?)?;
        let h = Header::read(&mut r)?;
        if h.shared != 0 {
            return Err(DecodeError("entry key length inconsistent with its prefix"));
        }
        Ok((r.bytes(h.unshared)?, h.ts))
    }

    /// The last restart point whose entry is before `(key, ts)`, or 0 when there is
    /// none: a lookup scans forward from there.
    fn restart_before(&self, key: &[u8], ts: u64) -> Result<usize, DecodeError> {
        let (mut lo, mut hi) = (0, self.num_restarts - 1);
        let all_hinted = hi <= self.hinted;
        let p = key_prefix(key);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let by_prefix = match self.hints.get(mid - 1) {
                Some(h) if all_hinted => h.prefix.cmp(&p),
                _ => Ordering::Equal,
            };
            let before = match by_prefix {
                Ordering::Less => true,
                Ordering::Greater => false,
                Ordering::Equal => {
                    let (k, t) = self.restart_entry(mid)?;
                    cmp_internal(k, t, key, ts) == Ordering::Less
                }
            };
            if before {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(lo)
    }

    /// The first entry at or after `(key, ts)`, found without building any key: `None`
    /// when every entry of the block is before it.
    ///
    /// The scan from the restart point keeps only `m`, the length of the common prefix
    /// of the previous entry's key and `key`. An entry sharing `s <= m` bytes with its
    /// predecessor agrees with `key` on those `s` bytes, so its own suffix decides; one
    /// sharing more than `m` bytes agrees with its predecessor where the predecessor
    /// first differs from `key` (from below), so it is still before `key`.
    pub fn find(&self, key: &[u8], ts: u64) -> Result<Option<Found>, DecodeError> {
        let entries = self.entries();
        let mut r = Reader::at(entries, self.restart_offset(self.restart_before(key, ts)?)?)?;
        let (mut m, mut prev_len) = (0usize, 0usize);
        while r.pos() < entries.len() {
            let h = Header::read(&mut r)?;
            if h.shared > prev_len || h.shared + h.unshared > MAX_KEY_LEN {
                return Err(DecodeError("entry key length inconsistent with its prefix"));
            }
            let suffix = r.bytes(h.unshared)?;
            let value = h.value(&mut r)?;
            let key_order = if h.shared <= m {
                let rest = key.get(h.shared..).unwrap_or(&[]);
                let c = common_prefix(suffix, rest);
                m = h.shared + c;
                match (suffix.get(c), rest.get(c)) {
                    (Some(a), Some(b)) => a.cmp(b),
                    (a, b) => a.is_some().cmp(&b.is_some()),
                }
            } else {
                Ordering::Less
            };
            if key_order.then(ts.cmp(&h.ts)) != Ordering::Less {
                return Ok(Some(Found {
                    same_key: key_order == Ordering::Equal,
                    ts: h.ts,
                    value,
                }));
            }
            prev_len = h.shared + h.unshared;
        }
        Ok(None)
    }

    /// The bytes of a value that [`Block::find`] returned.
    pub fn value(&self, at: (usize, usize)) -> Option<&[u8]> {
        self.data.get(at.0..at.0.checked_add(at.1)?)
    }

    /// Bytes of the block's contents.
    pub fn size(&self) -> usize {
        self.data.len()
    }
}

/// Where [`Block::find`] landed: the first entry at or after the key looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// True when the entry's key is the key looked up.
    pub same_key: bool,
    /// The entry's timestamp.
    pub ts: u64,
    /// Offset and length of its value in the block, `None` for a tombstone.
    pub value: Option<(usize, usize)>,
}

/// The fixed part of an entry: `shared, unshared, ts, vtag` varints.
struct Header {
    /// Bytes of the key taken from the previous entry.
    shared: usize,
    /// Bytes of the key stored in this entry.
    unshared: usize,
    /// The timestamp.
    ts: u64,
    /// 0 for a tombstone, `len + 1` for a value of `len` bytes.
    vtag: u64,
}

impl Header {
    #[inline(always)]
    fn read(r: &mut Reader<'_>) -> Result<Header, DecodeError> {
        Ok(Header {
            shared: r.varint_len(MAX_KEY_LEN)?,
            unshared: r.varint_len(MAX_KEY_LEN)?,
            ts: r.varint()?,
            vtag: r.varint()?,
        })
    }

    /// Reads past the value (which follows the key suffix) and returns where it lies.
    #[inline]
    fn value(&self, r: &mut Reader<'_>) -> Result<Option<(usize, usize)>, DecodeError> {
        if self.vtag == 0 {
            return Ok(None);
        }
        let len =
            usize::try_from(self.vtag - 1).map_err(|_| DecodeError("value length too large"))?;
        let start = r.pos();
        r.bytes(len)?;
        Ok(Some((start, len)))
    }
}

/// A position inside a [`Block`], movable both ways.
#[derive(Debug)]
pub struct BlockCursor {
    /// The block.
    block: Block,
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
    pub fn new(block: Block) -> BlockCursor {
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

    /// Moves the cursor to another block, keeping its key buffer; not yet positioned.
    pub fn reset(&mut self, block: Block) {
        self.block = block;
        self.cur = 0;
        self.next = 0;
        self.key.clear();
        self.ts = 0;
        self.value = None;
        self.valid = false;
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
        let mut r = Reader::at(self.block.entries(), offset)?;
        let h = Header::read(&mut r)?;
        if h.shared > self.key.len() || h.shared + h.unshared > MAX_KEY_LEN {
            return Err(DecodeError("entry key length inconsistent with its prefix"));
        }
        let suffix = r.bytes(h.unshared)?;
        let value = h.value(&mut r)?;
        self.key.truncate(h.shared);
        self.key.extend_from_slice(suffix);
        self.cur = offset;
        self.next = r.pos();
        self.ts = h.ts;
        self.value = value;
        self.valid = true;
        Ok(())
    }

    fn decode_restart(&mut self, i: usize) -> Result<(), DecodeError> {
        let off = self.block.restart_offset(i)?;
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
        let lo = self.block.restart_before(key, ts)?;
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

    fn build(entries: &[Ent], interval: usize) -> Block {
        let mut b = BlockBuilder::new(interval);
        for (k, ts, v) in entries {
            b.add(k, *ts, v.as_deref());
        }
        let mut out = Vec::new();
        b.finish_into(&mut out);
        Block::decode(out).unwrap()
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

    /// What `find` must return, computed by a plain scan.
    fn find_by_scan(es: &[Ent], key: &[u8], ts: u64) -> Option<(bool, u64, Option<Vec<u8>>)> {
        es.iter()
            .find(|(k, t, _)| cmp_internal(k, *t, key, ts) != Ordering::Less)
            .map(|(k, t, v)| (k.as_slice() == key, *t, v.clone()))
    }

    fn found(block: &Block, key: &[u8], ts: u64) -> Option<(bool, u64, Option<Vec<u8>>)> {
        block.find(key, ts).unwrap().map(|f| {
            let v = f.value.map(|at| block.value(at).unwrap().to_vec());
            (f.same_key, f.ts, v)
        })
    }

    #[test]
    fn find_agrees_with_a_scan_at_every_entry_and_between() {
        // Keys that share prefixes of every length, keys that are prefixes of others,
        // several versions per key, and a one-entry block.
        let mut es: Vec<Ent> = Vec::new();
        let keys: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"a".to_vec(),
            b"aa".to_vec(),
            b"aaa".to_vec(),
            b"aab".to_vec(),
            b"ab".to_vec(),
            b"abcdefghij".to_vec(),
            b"abcdefghijk".to_vec(),
            b"abcdefghik".to_vec(),
            b"abd".to_vec(),
            b"b".to_vec(),
            vec![b'b', 0],
            vec![b'b', 0, 0],
            b"ba".to_vec(),
            vec![0xff; 9],
        ];
        for (i, k) in keys.iter().enumerate() {
            for v in 0..(i % 3 + 1) as u64 {
                let val = ((i as u64 + v) % 4 != 0).then(|| vec![i as u8; i + v as usize]);
                es.push((k.clone(), 50 - 10 * v, val));
            }
        }
        let mut probes = keys.clone();
        probes.extend([
            b"0".to_vec(),
            b"aaaa".to_vec(),
            b"abcdefghia".to_vec(),
            b"abcdefghijj".to_vec(),
            vec![b'b', 0, 0, 0],
            b"c".to_vec(),
            vec![0xff; 10],
        ]);
        let one = vec![(b"only".to_vec(), 7, Some(b"v".to_vec()))];
        for (set, intervals) in [
            (&es, &[1usize, 2, 3, 7, 8, 10, 16][..]),
            (&one, &[1, 16][..]),
        ] {
            for &interval in intervals {
                let block = build(set, interval);
                for k in &probes {
                    for ts in [0, 1, 9, 10, 20, 25, 30, 40, 50, 51, u64::MAX] {
                        assert_eq!(
                            found(&block, k, ts),
                            find_by_scan(set, k, ts),
                            "{k:?} @ {ts}, interval {interval}"
                        );
                        let mut c = BlockCursor::new(block.clone());
                        c.seek(k, ts).unwrap();
                        let want = find_by_scan(set, k, ts).map(|(_, t, v)| (t, v));
                        assert_eq!(
                            c.valid().then(|| (c.ts(), c.value().map(<[u8]>::to_vec))),
                            want
                        );
                    }
                }
            }
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
        let data = block.data.to_vec();
        for pos in 0..block.restarts_start {
            for val in [0u8, 0x7f, 0x80, 0xff] {
                let mut d = data.clone();
                d[pos] = val;
                let Ok(b) = Block::decode(d) else { continue };
                let mut c = BlockCursor::new(b.clone());
                let mut steps = 0;
                if c.seek_to_first().is_ok() {
                    while c.valid() && steps < 1000 && c.next_entry().is_ok() {
                        steps += 1;
                    }
                }
                let _ = c.seek_to_last().and_then(|_| c.prev_entry());
                let _ = c.seek(b"key010", 5);
                for probe in [&b"key010"[..], b"", b"key0", b"zzz"] {
                    if let Ok(Some(f)) = b.find(probe, 5)
                        && let Some(at) = f.value
                    {
                        assert!(b.value(at).is_some());
                    }
                }
            }
        }
    }
}
