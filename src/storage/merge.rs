//! Merging sorted sources: the k-way [`MergeIter`], the compaction filter
//! ([`filter_versions`]) that drops versions no reader can see, and the read-level
//! [`LiveIter`] that turns versions into live key-value pairs at a read timestamp.

use std::cmp::Ordering;
use std::ops::Bound;

use crate::error::Result;
use crate::storage::entry::{EntryIter, cmp_internal};

/// Which way a [`MergeIter`] last moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Every source is at its first entry at or after the current one.
    Forward,
    /// Every source is at its last entry at or before the current one.
    Reverse,
}

/// A k-way merge of sorted sources into one sorted source, movable both ways.
///
/// Sources are given newest first. When several sources hold the same `(key, ts)`, the
/// merge yields it once, with the value of the newest source (the lowest index).
pub struct MergeIter {
    /// The sources, newest first.
    children: Vec<Box<dyn EntryIter>>,
    /// Index of the source holding the current entry; `None` when not valid.
    current: Option<usize>,
    /// Which way the merge last moved.
    direction: Direction,
}

impl MergeIter {
    /// A merge of `children` (newest first), not yet positioned.
    pub fn new(children: Vec<Box<dyn EntryIter>>) -> MergeIter {
        MergeIter {
            children,
            current: None,
            direction: Direction::Forward,
        }
    }

    /// Picks the smallest current entry; ties go to the newest source.
    fn find_smallest(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    let bc = &self.children[b];
                    cmp_internal(c.key(), c.ts(), bc.key(), bc.ts()) == Ordering::Less
                }
            };
            if better {
                best = Some(i);
            }
        }
        self.current = best;
    }

    /// Picks the largest current entry; ties go to the newest source.
    fn find_largest(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => {
                    let bc = &self.children[b];
                    cmp_internal(c.key(), c.ts(), bc.key(), bc.ts()) == Ordering::Greater
                }
            };
            if better {
                best = Some(i);
            }
        }
        self.current = best;
    }

    fn on_error(&mut self, r: Result<()>) -> Result<()> {
        if r.is_err() {
            self.current = None;
        }
        r
    }

    /// `next` while moving forward: every source is at or after the current entry, so
    /// only the current source and those holding the same version (duplicates) move;
    /// the current key is compared in place, never copied.
    fn next_forward(&mut self) -> Result<()> {
        let Some(cur) = self.current else {
            return Ok(());
        };
        let r = (|| {
            for i in 0..self.children.len() {
                let dup = i != cur
                    && match (self.children.get(i), self.children.get(cur)) {
                        (Some(o), Some(c)) => o.valid() && o.ts() == c.ts() && o.key() == c.key(),
                        _ => false,
                    };
                if dup && let Some(o) = self.children.get_mut(i) {
                    o.next()?;
                }
            }
            match self.children.get_mut(cur) {
                Some(c) => c.next(),
                None => Ok(()),
            }
        })();
        self.on_error(r)?;
        self.find_smallest();
        Ok(())
    }

    fn current_child(&self) -> Option<&dyn EntryIter> {
        self.current
            .and_then(|i| self.children.get(i))
            .map(|c| c.as_ref() as &dyn EntryIter)
    }
}

impl EntryIter for MergeIter {
    fn valid(&self) -> bool {
        self.current_child().is_some_and(|c| c.valid())
    }
    fn key(&self) -> &[u8] {
        self.current_child().map_or(&[], |c| c.key())
    }
    fn ts(&self) -> u64 {
        self.current_child().map_or(0, |c| c.ts())
    }
    fn value(&self) -> Option<&[u8]> {
        self.current_child().and_then(|c| c.value())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        let r = self.children.iter_mut().try_for_each(|c| c.seek_to_first());
        self.on_error(r)?;
        self.direction = Direction::Forward;
        self.find_smallest();
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let r = self.children.iter_mut().try_for_each(|c| c.seek_to_last());
        self.on_error(r)?;
        self.direction = Direction::Reverse;
        self.find_largest();
        Ok(())
    }

    fn seek(&mut self, key: &[u8], ts: u64) -> Result<()> {
        let r = self.children.iter_mut().try_for_each(|c| c.seek(key, ts));
        self.on_error(r)?;
        self.direction = Direction::Forward;
        self.find_smallest();
        Ok(())
    }

    fn seek_for_prev(&mut self, key: &[u8], ts: u64) -> Result<()> {
        let r = self
            .children
            .iter_mut()
            .try_for_each(|c| c.seek_for_prev(key, ts));
        self.on_error(r)?;
        self.direction = Direction::Reverse;
        self.find_largest();
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        let Some(cur) = self.current_child().filter(|c| c.valid()) else {
            return Ok(());
        };
        if self.direction == Direction::Forward {
            return self.next_forward();
        }
        let (key, ts) = (cur.key().to_vec(), cur.ts());
        let r = (|| {
            if self.direction == Direction::Reverse {
                // Put every source at its first entry at or after the current one.
                for c in &mut self.children {
                    c.seek(&key, ts)?;
                }
                self.direction = Direction::Forward;
            }
            // Step every source holding the current entry past it.
            for c in &mut self.children {
                if c.valid() && c.ts() == ts && c.key() == key.as_slice() {
                    c.next()?;
                }
            }
            Ok(())
        })();
        self.on_error(r)?;
        self.find_smallest();
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        let Some(cur) = self.current_child().filter(|c| c.valid()) else {
            return Ok(());
        };
        let (key, ts) = (cur.key().to_vec(), cur.ts());
        let r = (|| {
            if self.direction == Direction::Forward {
                // Put every source at its last entry at or before the current one.
                for c in &mut self.children {
                    c.seek_for_prev(&key, ts)?;
                }
                self.direction = Direction::Reverse;
            }
            for c in &mut self.children {
                if c.valid() && c.ts() == ts && c.key() == key.as_slice() {
                    c.prev()?;
                }
            }
            Ok(())
        })();
        self.on_error(r)?;
        self.find_largest();
        Ok(())
    }
}

/// Receives `(key, ts, value)` of each version passed on by [`filter_versions`].
pub type EmitFn<'a> = dyn FnMut(&[u8], u64, Option<&[u8]>) -> Result<()> + 'a;

/// What [`filter_versions`] kept and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterStats {
    /// Versions read.
    pub input_entries: u64,
    /// Versions passed on.
    pub output_entries: u64,
    /// Versions dropped because a newer version at or below the safe timestamp hides
    /// them from every reader.
    pub dropped_versions: u64,
    /// Tombstones dropped at the bottom level.
    pub dropped_tombstones: u64,
}

/// The compaction filter: reads `src` from its first entry and passes to `emit`, in
/// order, the versions some reader at a timestamp `>= safe_ts` may still see.
///
/// For every key it keeps every version with `ts > safe_ts` and the newest version with
/// `ts <= safe_ts`; older versions are dropped. That newest version is dropped too when
/// it is a tombstone and `bottom` is true (the output is the bottom of the tree for its
/// key range, so nothing older exists that the tombstone must keep hiding).
pub fn filter_versions(
    src: &mut dyn EntryIter,
    safe_ts: u64,
    bottom: bool,
    emit: &mut EmitFn<'_>,
) -> Result<FilterStats> {
    let mut stats = FilterStats::default();
    let mut key: Vec<u8> = Vec::new();
    let mut started = false;
    // True once this key's newest version at or below safe_ts was seen.
    let mut settled = false;
    src.seek_to_first()?;
    while src.valid() {
        stats.input_entries += 1;
        if !started || src.key() != key.as_slice() {
            key.clear();
            key.extend_from_slice(src.key());
            started = true;
            settled = false;
        }
        let ts = src.ts();
        if settled {
            stats.dropped_versions += 1;
        } else if ts > safe_ts {
            emit(src.key(), ts, src.value())?;
            stats.output_entries += 1;
        } else {
            settled = true;
            if bottom && src.value().is_none() {
                stats.dropped_tombstones += 1;
            } else {
                emit(src.key(), ts, src.value())?;
                stats.output_entries += 1;
            }
        }
        src.next()?;
    }
    Ok(stats)
}

/// Live key-value pairs at a read timestamp: for every key in the bounds, the value of
/// its newest version at or below `read_ts`, skipping keys whose version is a tombstone.
/// Streams in ascending key order, or descending when reverse.
pub struct LiveIter<I: EntryIter> {
    /// The merged versions.
    inner: I,
    /// The read timestamp.
    read_ts: u64,
    /// Lower key bound.
    start: Bound<Vec<u8>>,
    /// Upper key bound.
    end: Bound<Vec<u8>>,
    /// True for descending order.
    reverse: bool,
    /// False until the first call positions `inner`.
    positioned: bool,
    /// True once exhausted or failed.
    done: bool,
}

impl<I: EntryIter> LiveIter<I> {
    /// Live pairs of `inner` in `[start, end]` bounds at `read_ts`.
    pub fn new(
        inner: I,
        read_ts: u64,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> LiveIter<I> {
        LiveIter {
            inner,
            read_ts,
            start,
            end,
            reverse,
            positioned: false,
            done: false,
        }
    }

    fn below_start(&self, key: &[u8]) -> bool {
        match &self.start {
            Bound::Included(s) => key < s.as_slice(),
            Bound::Excluded(s) => key <= s.as_slice(),
            Bound::Unbounded => false,
        }
    }

    fn above_end(&self, key: &[u8]) -> bool {
        match &self.end {
            Bound::Included(e) => key > e.as_slice(),
            Bound::Excluded(e) => key >= e.as_slice(),
            Bound::Unbounded => false,
        }
    }

    fn position(&mut self) -> Result<()> {
        self.positioned = true;
        if self.reverse {
            match &self.end {
                Bound::Included(e) => self.inner.seek_for_prev(e, 0)?,
                Bound::Excluded(e) => self.inner.seek_for_prev(e, u64::MAX)?,
                Bound::Unbounded => self.inner.seek_to_last()?,
            }
            while self.inner.valid() && self.above_end(self.inner.key()) {
                self.inner.prev()?;
            }
        } else {
            match &self.start {
                Bound::Included(s) | Bound::Excluded(s) => self.inner.seek(s, u64::MAX)?,
                Bound::Unbounded => self.inner.seek_to_first()?,
            }
            while self.inner.valid() && self.below_start(self.inner.key()) {
                self.inner.next()?;
            }
        }
        Ok(())
    }

    /// The next live pair moving forward, into `key` and `value`.
    fn step_forward(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<bool> {
        while self.inner.valid() {
            key.clear();
            key.extend_from_slice(self.inner.key());
            if self.above_end(key) {
                return Ok(false);
            }
            // The newest version at or below read_ts: Some(true) a value, Some(false) a
            // tombstone.
            let mut found = None;
            while self.inner.valid() && self.inner.key() == key.as_slice() {
                if found.is_none() && self.inner.ts() <= self.read_ts {
                    found = Some(take_value(self.inner.value(), value));
                }
                self.inner.next()?;
            }
            if found == Some(true) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The next live pair moving backward, into `key` and `value`.
    fn step_backward(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<bool> {
        while self.inner.valid() {
            key.clear();
            key.extend_from_slice(self.inner.key());
            if self.below_start(key) {
                return Ok(false);
            }
            // Versions come oldest first here: the last one at or below read_ts wins.
            let mut found = None;
            while self.inner.valid() && self.inner.key() == key.as_slice() {
                if self.inner.ts() <= self.read_ts {
                    found = Some(take_value(self.inner.value(), value));
                }
                self.inner.prev()?;
            }
            if found == Some(true) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The next live pair written into `key` and `value` (allocations reused); `false`
    /// once exhausted. After an error, every later call returns `false`.
    pub fn next_into(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let r = (|| {
            if !self.positioned {
                self.position()?;
            }
            if self.reverse {
                self.step_backward(key, value)
            } else {
                self.step_forward(key, value)
            }
        })();
        if !matches!(r, Ok(true)) {
            self.done = true;
        }
        r
    }
}

/// Copies a version's value into `out`: true for a value, false for a tombstone.
fn take_value(v: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
    match v {
        Some(v) => {
            out.clear();
            out.extend_from_slice(v);
            true
        }
        None => false,
    }
}

impl<I: EntryIter> Iterator for LiveIter<I> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let (mut key, mut value) = (Vec::new(), Vec::new());
        match self.next_into(&mut key, &mut value) {
            Ok(true) => Some(Ok((key, value))),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::entry::{Entry, VecIter, read_all};

    fn e(k: &str, ts: u64, v: Option<&str>) -> Entry {
        Entry::new(k.as_bytes().to_vec(), ts, v.map(|s| s.as_bytes().to_vec()))
    }

    fn merge(sources: Vec<Vec<Entry>>) -> MergeIter {
        MergeIter::new(
            sources
                .into_iter()
                .map(|s| Box::new(VecIter::new(s)) as Box<dyn EntryIter>)
                .collect(),
        )
    }

    #[test]
    fn merge_orders_and_newest_source_wins_duplicates() {
        let mut m = merge(vec![
            vec![e("b", 5, Some("new")), e("d", 1, None)],
            vec![
                e("a", 1, Some("a1")),
                e("b", 5, Some("old")),
                e("b", 3, None),
            ],
            vec![],
        ]);
        let got = read_all(&mut m).unwrap();
        assert_eq!(
            got,
            vec![
                e("a", 1, Some("a1")),
                e("b", 5, Some("new")),
                e("b", 3, None),
                e("d", 1, None)
            ]
        );
    }

    #[test]
    fn merge_switches_direction() {
        let mut m = merge(vec![
            vec![e("a", 2, Some("1")), e("c", 2, Some("2"))],
            vec![
                e("b", 2, Some("3")),
                e("c", 2, Some("dup")),
                e("c", 1, Some("4")),
            ],
        ]);
        m.seek(b"b", u64::MAX).unwrap();
        assert_eq!(m.key(), b"b");
        m.next().unwrap();
        assert_eq!(
            (m.key(), m.ts(), m.value()),
            (&b"c"[..], 2, Some(&b"2"[..]))
        );
        m.prev().unwrap();
        assert_eq!(m.key(), b"b");
        m.prev().unwrap();
        assert_eq!(m.key(), b"a");
        m.next().unwrap();
        m.next().unwrap();
        assert_eq!((m.key(), m.ts()), (&b"c"[..], 2));
        m.next().unwrap();
        assert_eq!((m.key(), m.ts()), (&b"c"[..], 1));
        m.prev().unwrap();
        assert_eq!(
            (m.key(), m.ts(), m.value()),
            (&b"c"[..], 2, Some(&b"2"[..]))
        );
        m.next().unwrap();
        m.next().unwrap();
        assert!(!m.valid());
    }

    #[test]
    fn filter_keeps_what_readers_at_or_above_safe_ts_need() {
        let src = vec![
            e("a", 9, Some("a9")),
            e("a", 5, Some("a5")),
            e("a", 3, Some("a3")),
            e("b", 4, None),
            e("b", 2, Some("b2")),
            e("c", 7, None),
        ];
        let run = |bottom| {
            let mut out = Vec::new();
            let stats = filter_versions(
                &mut VecIter::new(src.clone()),
                5,
                bottom,
                &mut |k, ts, v| {
                    out.push(Entry::new(k, ts, v.map(<[u8]>::to_vec)));
                    Ok(())
                },
            )
            .unwrap();
            (out, stats)
        };
        let (out, stats) = run(false);
        assert_eq!(
            out,
            vec![
                e("a", 9, Some("a9")),
                e("a", 5, Some("a5")),
                e("b", 4, None),
                e("c", 7, None)
            ]
        );
        assert_eq!((stats.dropped_versions, stats.dropped_tombstones), (2, 0));
        let (out, stats) = run(true);
        assert_eq!(
            out,
            vec![
                e("a", 9, Some("a9")),
                e("a", 5, Some("a5")),
                e("c", 7, None)
            ]
        );
        assert_eq!((stats.dropped_versions, stats.dropped_tombstones), (2, 1));
    }

    #[test]
    fn live_iter_bounds_and_directions() {
        let src = vec![
            e("a", 3, Some("a3")),
            e("b", 6, None),
            e("b", 2, Some("b2")),
            e("c", 8, Some("c8")),
            e("c", 4, Some("c4")),
            e("d", 1, None),
        ];
        let live = |ts, s, en, rev| -> Vec<(String, String)> {
            LiveIter::new(VecIter::new(src.clone()), ts, s, en, rev)
                .map(|r| {
                    let (k, v) = r.unwrap();
                    (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
                })
                .collect()
        };
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        use Bound::*;
        assert_eq!(
            live(5, Unbounded, Unbounded, false),
            vec![p("a", "a3"), p("b", "b2"), p("c", "c4")]
        );
        assert_eq!(
            live(9, Unbounded, Unbounded, true),
            vec![p("c", "c8"), p("a", "a3")]
        );
        assert_eq!(
            live(5, Excluded(b"a".to_vec()), Included(b"c".to_vec()), true),
            vec![p("c", "c4"), p("b", "b2")]
        );
        assert_eq!(
            live(5, Included(b"b".to_vec()), Excluded(b"c".to_vec()), false),
            vec![p("b", "b2")]
        );
        assert_eq!(live(0, Unbounded, Unbounded, false), vec![]);
    }
}
