//! Streaming scans: the engine's iterator at a snapshot, merged with a transaction's own
//! writes, recording how much of the range the caller actually consumed.
//!
//! A serializable transaction is validated against the part of a scan it observed: for
//! a forward scan of `[lo, hi)` that returned keys up to `k`, that is `[lo, k]`; for a
//! reverse scan that returned keys down to `k`, `[k, hi)`; once the cursor reported the
//! end, the whole `[lo, hi)`. A cursor never advanced observed nothing. Entries read
//! ahead internally but not returned do not count.

use std::cmp::Ordering;
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::backend::KvCursor;
use crate::error::Result;
use crate::kernel::keys::{KeyRange, as_slice_bounds, range_is_valid};
use crate::storage::{Engine, EngineIter};

/// A transaction's own write: the key and its value, or `None` for a delete.
pub type OwnWrite = (Vec<u8>, Option<Vec<u8>>);

/// How far a scan has been consumed; shared between a cursor and its transaction.
#[derive(Debug)]
pub struct ScanProgress {
    /// Lower bound of the scan.
    pub lo: Bound<Vec<u8>>,
    /// Upper bound of the scan.
    pub hi: Bound<Vec<u8>>,
    /// Whether the scan runs in descending order.
    pub reverse: bool,
    /// The last key returned to the caller.
    pub last: Option<Vec<u8>>,
    /// Whether the caller saw the end of the range.
    pub done: bool,
}

impl ScanProgress {
    /// The range the caller observed, or `None` when it observed nothing.
    pub fn observed(&self) -> Option<KeyRange> {
        if self.done {
            return Some((self.lo.clone(), self.hi.clone()));
        }
        let last = self.last.clone()?;
        Some(if self.reverse {
            (Bound::Included(last), self.hi.clone())
        } else {
            (self.lo.clone(), Bound::Included(last))
        })
    }

    /// Bytes of keys this record holds (for the read-set limit).
    pub fn bytes(&self) -> usize {
        let len = |b: &Bound<Vec<u8>>| match b {
            Bound::Included(v) | Bound::Excluded(v) => v.len(),
            Bound::Unbounded => 0,
        };
        len(&self.lo) + len(&self.hi) * 2
    }
}

/// A cursor over the engine's view at a snapshot merged with a transaction's own
/// (buffered) writes as of the moment the scan began.
pub struct MergedCursor {
    /// The engine's entries (`None` for a range that holds no key).
    engine: Option<EngineIter>,
    /// The engine's next entry when it was read ahead to be compared with the own
    /// writes (`None` when nothing was read ahead, or the engine is exhausted).
    head: Option<(Vec<u8>, Vec<u8>)>,
    /// The transaction's own writes in the range, in scan order (`None` = deleted).
    own: Peekable<std::vec::IntoIter<OwnWrite>>,
    /// Descending order.
    reverse: bool,
    /// Entries still allowed by the limit.
    remaining: Option<u64>,
    /// Progress shared with the transaction (serializable transactions only).
    progress: Option<Arc<Mutex<ScanProgress>>>,
    /// The end was reached.
    finished: bool,
}

impl MergedCursor {
    /// A cursor merging `engine` with `own` (already in scan order).
    pub fn new(
        engine: Option<EngineIter>,
        own: Vec<OwnWrite>,
        reverse: bool,
        limit: Option<u64>,
        progress: Option<Arc<Mutex<ScanProgress>>>,
    ) -> MergedCursor {
        MergedCursor {
            engine,
            head: None,
            own: own.into_iter().peekable(),
            reverse,
            remaining: limit,
            progress,
            finished: false,
        }
    }

    /// Reads the engine's next entry ahead into `head` if it is not there yet.
    fn fill_head(&mut self) -> Result<()> {
        if self.head.is_none()
            && let Some(engine) = self.engine.as_mut()
        {
            self.head = engine.next().transpose()?;
        }
        Ok(())
    }

    fn next_merged(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        loop {
            if self.engine.is_none() {
                return Ok(self.own.by_ref().find_map(|(k, v)| v.map(|v| (k, v))));
            }
            self.fill_head()?;
            let reverse = self.reverse;
            let e_key = self.head.as_ref().map(|(k, _)| k.as_slice());
            let o_key = self.own.peek().map(|(k, _)| k);
            let take_own = match (e_key, o_key) {
                (None, None) => return Ok(None),
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(e), Some(o)) => {
                    let ord = if reverse {
                        o.as_slice().cmp(e).reverse()
                    } else {
                        o.as_slice().cmp(e)
                    };
                    if ord == Ordering::Equal {
                        // The transaction's own write shadows the stored version.
                        self.head = None;
                    }
                    ord != Ordering::Greater
                }
            };
            if take_own {
                match self.own.next() {
                    Some((k, Some(v))) => return Ok(Some((k, v))),
                    Some((_, None)) => continue,
                    None => return Ok(None),
                }
            }
            return Ok(self.head.take());
        }
    }

    /// Counts a returned entry (or the end) against the limit and the progress record.
    fn record(&mut self, key: Option<&[u8]>) {
        match key {
            Some(k) => {
                if let Some(r) = self.remaining.as_mut() {
                    *r -= 1;
                }
                if let Some(p) = &self.progress {
                    p.lock().last = Some(k.to_vec());
                }
            }
            None => {
                self.finished = true;
                if let Some(p) = &self.progress {
                    p.lock().done = true;
                }
            }
        }
    }
}

/// The engine's iterator over `(lo, hi)` at `ts`, or `None` when the range is inverted
/// or empty (it holds no key).
pub fn engine_iter(
    engine: &Engine,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    ts: u64,
    reverse: bool,
) -> Result<Option<EngineIter>> {
    if !range_is_valid(&as_slice_bounds(&lo, &hi)) {
        return Ok(None);
    }
    engine.iter(lo, hi, ts, reverse).map(Some)
}

impl KvCursor for MergedCursor {
    fn next_entry(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if self.finished || self.remaining == Some(0) {
            return Ok(None);
        }
        let next = self.next_merged()?;
        self.record(next.as_ref().map(|(k, _)| k.as_slice()));
        Ok(next)
    }

    fn next_into(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<bool> {
        if self.finished || self.remaining == Some(0) {
            return Ok(false);
        }
        // No own write left and nothing read ahead: the engine writes straight into
        // the caller's buffers.
        let got = match self.engine.as_mut() {
            Some(engine) if self.head.is_none() && self.own.peek().is_none() => {
                engine.next_into(key, value)?
            }
            _ => match self.next_merged()? {
                Some((k, v)) => {
                    *key = k;
                    *value = v;
                    true
                }
                None => false,
            },
        };
        self.record(got.then_some(key.as_slice()));
        Ok(got)
    }
}
