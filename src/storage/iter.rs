//! Iteration over live keys at a read timestamp: resolves versions (the newest at or
//! below the read timestamp wins, tombstones hide keys) over the engine's sorted
//! entries, forward or backward, between bounds. It streams: it holds one position and
//! the current key, whatever the size of the range.

use std::ops::Bound;

use super::memtable::MemCursor;
use crate::error::Result;

/// A streaming iterator over live key-value pairs at a read timestamp. It owns what it
/// needs (it does not borrow the engine), so it can be moved across threads and handles.
pub struct EngineIter {
    /// Position in the sorted entries.
    cursor: MemCursor,
    /// Lower bound on keys.
    start: Bound<Vec<u8>>,
    /// Upper bound on keys.
    end: Bound<Vec<u8>>,
    /// Versions newer than this are ignored.
    read_ts: u64,
    /// Descending key order when true.
    reverse: bool,
    /// False until the cursor is placed at the first bound.
    positioned: bool,
    /// True once the range is exhausted.
    done: bool,
}

impl EngineIter {
    pub(crate) fn new(
        cursor: MemCursor,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        read_ts: u64,
        reverse: bool,
    ) -> EngineIter {
        EngineIter {
            cursor,
            start,
            end,
            read_ts,
            reverse,
            positioned: false,
            done: false,
        }
    }

    /// The read timestamp the iterator reads at.
    pub fn read_ts(&self) -> u64 {
        self.read_ts
    }

    fn before_start(&self, key: &[u8]) -> bool {
        match &self.start {
            Bound::Unbounded => false,
            Bound::Included(s) => key < s.as_slice(),
            Bound::Excluded(s) => key <= s.as_slice(),
        }
    }

    fn after_end(&self, key: &[u8]) -> bool {
        match &self.end {
            Bound::Unbounded => false,
            Bound::Included(e) => key > e.as_slice(),
            Bound::Excluded(e) => key >= e.as_slice(),
        }
    }

    fn next_forward(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        if !self.positioned {
            self.positioned = true;
            match &self.start {
                Bound::Unbounded => self.cursor.seek_to_first(),
                Bound::Included(s) | Bound::Excluded(s) => self.cursor.seek(s, u64::MAX),
            }
        }
        loop {
            let e = self.cursor.entry()?;
            if self.after_end(e.key) {
                return None;
            }
            if self.before_start(e.key) {
                // Only the versions of an excluded start key get here.
                let key = e.key.to_vec();
                self.cursor.seek(&key, 0);
                self.skip_key(&key);
                continue;
            }
            if e.ts > self.read_ts {
                let key = e.key.to_vec();
                // Lands on the newest version at or below the read timestamp, or on the
                // next key when there is none.
                self.cursor.seek(&key, self.read_ts);
                continue;
            }
            let key = e.key.to_vec();
            let value = e.value.map(<[u8]>::to_vec);
            self.cursor.seek(&key, 0);
            self.skip_key(&key);
            if let Some(value) = value {
                return Some((key, value));
            }
        }
    }

    /// Steps past any remaining entry of `key`.
    fn skip_key(&mut self, key: &[u8]) {
        while self.cursor.entry().is_some_and(|n| n.key == key) {
            self.cursor.next();
        }
    }

    fn next_backward(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        if !self.positioned {
            self.positioned = true;
            match &self.end {
                Bound::Unbounded => self.cursor.seek_to_last(),
                Bound::Excluded(e) => self.cursor.seek_before(e, u64::MAX),
                Bound::Included(e) => {
                    // The smallest key after `e` is `e` followed by a zero byte.
                    let mut after = e.clone();
                    after.push(0);
                    self.cursor.seek_before(&after, u64::MAX);
                }
            }
        }
        loop {
            let e = self.cursor.entry()?;
            if self.before_start(e.key) {
                return None;
            }
            let key = e.key.to_vec();
            if self.after_end(&key) {
                self.cursor.seek_before(&key, u64::MAX);
                continue;
            }
            self.cursor.seek(&key, self.read_ts);
            let value = self
                .cursor
                .entry()
                .filter(|n| n.key == key.as_slice())
                .and_then(|n| n.value.map(<[u8]>::to_vec));
            self.cursor.seek_before(&key, u64::MAX);
            if let Some(value) = value {
                return Some((key, value));
            }
        }
    }
}

impl Iterator for EngineIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = if self.reverse {
            self.next_backward()
        } else {
            self.next_forward()
        };
        if item.is_none() {
            self.done = true;
        }
        item.map(Ok)
    }
}
