//! Versioned entries and the cursor every sorted source of them implements.
//!
//! An entry is `(user_key, ts, value)`: a version of `user_key` committed at `ts`, where
//! a `None` value is a tombstone. Every sorted source (memtable, block file, a level of
//! files, a merge of those) orders entries by user key ascending, then by timestamp
//! descending, so the newest version of a key comes first. That order is the "internal
//! order" of [`cmp_internal`]; within one source no two entries share `(user_key, ts)`.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::Result;

/// One version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The user key.
    pub key: Vec<u8>,
    /// The commit timestamp of this version.
    pub ts: u64,
    /// The value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

impl Entry {
    /// A new entry.
    pub fn new(key: impl Into<Vec<u8>>, ts: u64, value: Option<Vec<u8>>) -> Entry {
        Entry {
            key: key.into(),
            ts,
            value,
        }
    }
}

/// Compares `(k1, ts1)` with `(k2, ts2)` in internal order: user key ascending, then
/// timestamp descending.
#[inline]
pub fn cmp_internal(k1: &[u8], ts1: u64, k2: &[u8], ts2: u64) -> Ordering {
    cmp_keys(k1, k2).then(ts2.cmp(&ts1))
}

/// Compares two user keys bytewise (the order of `<[u8]>::cmp`), eight bytes at a time:
/// short keys, the common case, compare in a few instructions without a library call.
#[inline]
pub fn cmp_keys(a: &[u8], b: &[u8]) -> Ordering {
    let (mut a, mut b) = (a, b);
    while let (Some((x, a_rest)), Some((y, b_rest))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if x != y {
            return u64::from_be_bytes(*x).cmp(&u64::from_be_bytes(*y));
        }
        (a, b) = (a_rest, b_rest);
    }
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// The first 8 bytes of `key` as a big-endian integer, zero-padded. The order of these
/// prefixes agrees with key order: a smaller prefix means a smaller key, and equal
/// prefixes decide nothing (the keys must then be compared).
#[inline]
pub fn key_prefix(key: &[u8]) -> u64 {
    match key.first_chunk::<8>() {
        Some(p) => u64::from_be_bytes(*p),
        None => {
            let mut p = [0u8; 8];
            p[..key.len()].copy_from_slice(key);
            u64::from_be_bytes(p)
        }
    }
}

/// Length of the longest common prefix of `a` and `b`.
#[inline]
pub fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut n = 0;
    let (mut a, mut b) = (a, b);
    while let (Some((x, a_rest)), Some((y, b_rest))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        let diff = u64::from_be_bytes(*x) ^ u64::from_be_bytes(*y);
        if diff != 0 {
            return n + (diff.leading_zeros() / 8) as usize;
        }
        n += 8;
        (a, b) = (a_rest, b_rest);
    }
    n + a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A cursor over entries in internal order, movable both ways.
///
/// A fresh cursor is not positioned; call one of the seek methods first. Methods that
/// move may fail (a corrupted block, an I/O error); after an error the cursor is not
/// valid. `key`, `ts` and `value` may only be called while [`EntryIter::valid`] is true
/// (they return empty/zero values otherwise, never panic).
pub trait EntryIter: Send {
    /// True when the cursor is on an entry.
    fn valid(&self) -> bool;
    /// User key of the current entry.
    fn key(&self) -> &[u8];
    /// Timestamp of the current entry.
    fn ts(&self) -> u64;
    /// Value of the current entry, `None` for a tombstone.
    fn value(&self) -> Option<&[u8]>;
    /// Moves to the first entry.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Moves to the last entry.
    fn seek_to_last(&mut self) -> Result<()>;
    /// Moves to the first entry at or after `(key, ts)` in internal order: the newest
    /// version of `key` with timestamp `<= ts`, or else the first entry of a larger key.
    /// `seek(key, u64::MAX)` finds the first entry whose user key is `>= key`.
    fn seek(&mut self, key: &[u8], ts: u64) -> Result<()>;
    /// Moves to the next entry (invalid past the last).
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry (invalid before the first).
    fn prev(&mut self) -> Result<()>;

    /// Moves to the last entry at or before `(key, ts)` in internal order.
    /// `seek_for_prev(key, 0)` finds the last entry whose user key is `<= key`.
    fn seek_for_prev(&mut self, key: &[u8], ts: u64) -> Result<()> {
        self.seek(key, ts)?;
        if !self.valid() {
            return self.seek_to_last();
        }
        if cmp_internal(self.key(), self.ts(), key, ts) == Ordering::Greater {
            self.prev()?;
        }
        Ok(())
    }
}

/// Every entry of `it` from the first, in order, copied out (the whole source is held
/// in memory: for checks and tools, not for large ranges).
pub fn read_all(it: &mut dyn EntryIter) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    it.seek_to_first()?;
    while it.valid() {
        out.push(Entry::new(
            it.key(),
            it.ts(),
            it.value().map(<[u8]>::to_vec),
        ));
        it.next()?;
    }
    Ok(out)
}

impl<T: EntryIter + ?Sized> EntryIter for Box<T> {
    fn valid(&self) -> bool {
        (**self).valid()
    }
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn ts(&self) -> u64 {
        (**self).ts()
    }
    fn value(&self) -> Option<&[u8]> {
        (**self).value()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        (**self).seek_to_first()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        (**self).seek_to_last()
    }
    fn seek(&mut self, key: &[u8], ts: u64) -> Result<()> {
        (**self).seek(key, ts)
    }
    fn next(&mut self) -> Result<()> {
        (**self).next()
    }
    fn prev(&mut self) -> Result<()> {
        (**self).prev()
    }
    fn seek_for_prev(&mut self, key: &[u8], ts: u64) -> Result<()> {
        (**self).seek_for_prev(key, ts)
    }
}

/// A cursor over an in-memory, already sorted slice of entries (a frozen memtable
/// snapshot, or a model in tests).
#[derive(Debug, Clone)]
pub struct VecIter {
    /// The entries, in internal order, without duplicate `(key, ts)`.
    entries: Arc<Vec<Entry>>,
    /// Index of the current entry; `entries.len()` when not valid.
    pos: usize,
}

impl VecIter {
    /// A cursor over `entries`, which must be in internal order without duplicates
    /// (checked: out-of-order input is sorted and de-duplicated, first occurrence wins).
    pub fn new(mut entries: Vec<Entry>) -> VecIter {
        let sorted = entries
            .windows(2)
            .all(|w| cmp_internal(&w[0].key, w[0].ts, &w[1].key, w[1].ts) == Ordering::Less);
        if !sorted {
            entries.sort_by(|a, b| cmp_internal(&a.key, a.ts, &b.key, b.ts));
            entries.dedup_by(|b, a| a.key == b.key && a.ts == b.ts);
        }
        let len = entries.len();
        VecIter {
            entries: Arc::new(entries),
            pos: len,
        }
    }

    /// A cursor over shared entries already known to be in internal order without
    /// duplicates.
    pub fn from_sorted(entries: Arc<Vec<Entry>>) -> VecIter {
        let len = entries.len();
        VecIter { entries, pos: len }
    }

    fn current(&self) -> Option<&Entry> {
        self.entries.get(self.pos)
    }
}

impl EntryIter for VecIter {
    fn valid(&self) -> bool {
        self.pos < self.entries.len()
    }
    fn key(&self) -> &[u8] {
        self.current().map_or(&[], |e| &e.key)
    }
    fn ts(&self) -> u64 {
        self.current().map_or(0, |e| e.ts)
    }
    fn value(&self) -> Option<&[u8]> {
        self.current().and_then(|e| e.value.as_deref())
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.pos = 0;
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.pos = self
            .entries
            .len()
            .checked_sub(1)
            .unwrap_or(self.entries.len());
        Ok(())
    }
    fn seek(&mut self, key: &[u8], ts: u64) -> Result<()> {
        self.pos = self
            .entries
            .partition_point(|e| cmp_internal(&e.key, e.ts, key, ts) == Ordering::Less);
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        if self.valid() {
            self.pos += 1;
        }
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        self.pos = if self.pos == 0 || !self.valid() {
            self.entries.len()
        } else {
            self.pos - 1
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VecIter {
        VecIter::new(vec![
            Entry::new("b", 5, Some(b"b5".to_vec())),
            Entry::new("a", 3, None),
            Entry::new("b", 9, Some(b"b9".to_vec())),
            Entry::new("a", 3, Some(b"dup".to_vec())),
            Entry::new("c", 1, Some(b"c1".to_vec())),
        ])
    }

    fn pos(it: &VecIter) -> Option<(Vec<u8>, u64)> {
        it.valid().then(|| (it.key().to_vec(), it.ts()))
    }

    #[test]
    fn internal_order_is_key_then_newest_first() {
        assert_eq!(cmp_internal(b"a", 1, b"b", 9), Ordering::Less);
        assert_eq!(cmp_internal(b"a", 9, b"a", 1), Ordering::Less);
        assert_eq!(cmp_internal(b"a", 1, b"a", 1), Ordering::Equal);
        assert_eq!(cmp_internal(b"", 0, b"a", u64::MAX), Ordering::Less);
    }

    #[test]
    fn key_comparison_and_common_prefix_match_the_slice_order() {
        let keys: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![1],
            vec![0xff],
            b"abcdefg".to_vec(),
            b"abcdefgh".to_vec(),
            b"abcdefgh\0".to_vec(),
            b"abcdefghi".to_vec(),
            b"abcdefgi".to_vec(),
            b"abcdefghijklmnop".to_vec(),
            b"abcdefghijklmnoq".to_vec(),
            b"abcdefghijklmnopq".to_vec(),
            b"abcdefgh\xffjklmnop".to_vec(),
            vec![0x80; 24],
            vec![0x7f; 25],
        ];
        for a in &keys {
            for b in &keys {
                assert_eq!(cmp_keys(a, b), a.cmp(b), "{a:?} vs {b:?}");
                let want = a.iter().zip(b).take_while(|(x, y)| x == y).count();
                assert_eq!(common_prefix(a, b), want, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn vec_iter_sorts_and_seeks_both_ways() {
        let mut it = sample();
        assert!(!it.valid());
        it.seek_to_first().unwrap();
        assert_eq!(pos(&it), Some((b"a".to_vec(), 3)));
        assert_eq!(it.value(), None, "first duplicate (the tombstone) wins");
        it.next().unwrap();
        assert_eq!(pos(&it), Some((b"b".to_vec(), 9)));
        it.seek(b"b", 6).unwrap();
        assert_eq!(pos(&it), Some((b"b".to_vec(), 5)));
        it.seek(b"bb", u64::MAX).unwrap();
        assert_eq!(pos(&it), Some((b"c".to_vec(), 1)));
        it.seek_for_prev(b"b", 0).unwrap();
        assert_eq!(pos(&it), Some((b"b".to_vec(), 5)));
        it.seek_for_prev(b"b", 7).unwrap();
        assert_eq!(pos(&it), Some((b"b".to_vec(), 9)));
        it.seek_for_prev(b"a", 4).unwrap();
        assert!(!it.valid());
        it.seek_for_prev(b"z", 0).unwrap();
        assert_eq!(pos(&it), Some((b"c".to_vec(), 1)));
        it.prev().unwrap();
        it.prev().unwrap();
        it.prev().unwrap();
        assert_eq!(pos(&it), Some((b"a".to_vec(), 3)));
        it.prev().unwrap();
        assert!(!it.valid());
    }
}
