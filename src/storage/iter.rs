//! Iteration over live keys at a read timestamp: a merge of the memtables and block
//! files of one version (newest source first), resolved to live pairs (the newest
//! version at or below the read timestamp wins, tombstones hide keys), forward or
//! backward, between bounds. It streams: it holds one position per source and the
//! current key, whatever the size of the range.

use std::ops::Bound;
use std::sync::Arc;

use super::merge::{LiveIter, MergeIter};
use super::version::Version;
use crate::error::Result;

/// A streaming iterator over live key-value pairs at a read timestamp. It owns what it
/// needs (it does not borrow the engine), so it can be moved across threads and handles;
/// it keeps the memtables and block files it reads alive until it is dropped.
pub struct EngineIter {
    /// The live pairs of the merged sources.
    inner: LiveIter<MergeIter>,
    /// The version read: keeps its files from being removed.
    _version: Arc<Version>,
    /// The read timestamp.
    read_ts: u64,
}

impl EngineIter {
    pub(crate) fn new(
        version: Arc<Version>,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        read_ts: u64,
        reverse: bool,
    ) -> EngineIter {
        let merged = MergeIter::new(version.sources());
        EngineIter {
            inner: LiveIter::new(merged, read_ts, start, end, reverse),
            _version: version,
            read_ts,
        }
    }

    /// The next live pair written into `key` and `value`, reusing their allocations;
    /// `false` at the end (and after an error).
    pub fn next_into(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<bool> {
        self.inner.next_into(key, value)
    }

    /// The read timestamp the iterator reads at.
    pub fn read_ts(&self) -> u64 {
        self.read_ts
    }
}

impl Iterator for EngineIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}
