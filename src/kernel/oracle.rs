//! Conflict tracking: which keys recent commits wrote, and at which timestamps.
//!
//! Every commit records its written keys here while the engine assigns its timestamp
//! (inside [`crate::storage::Engine::commit_with`]'s validation callback), so the order of
//! records is the order of timestamps. A committing transaction with snapshot `s` fails
//! when a key it wrote (any isolation), read or scanned (serializable) was written by a
//! commit with a timestamp above `s`.
//!
//! Memory is bounded by pruning: records at or below the oldest snapshot of any open
//! read-write transaction can never cause a conflict and are dropped.
//!
//! Recording is cheap and indexing is lazy: a commit's keys are appended to a log, and
//! only a check moves the log's new records into the per-key index. Under a stream of
//! plain writes with no transaction open, every record is pruned before any check, so
//! no key is ever indexed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use crate::kernel::keys::{KeyRange, as_slice_bounds, display_key, range_is_valid};

/// The keys a committing transaction must be checked on.
pub struct CheckSet<'a> {
    /// Its id (for messages).
    pub txn: u64,
    /// Its snapshot timestamp.
    pub snapshot: u64,
    /// Keys it writes.
    pub writes: &'a [Arc<[u8]>],
    /// Sets of keys it read (plain reads are empty under snapshot isolation; catalog
    /// reads are always checked).
    pub reads: &'a [&'a BTreeSet<Vec<u8>>],
    /// Ranges it scanned (empty under snapshot isolation).
    pub ranges: &'a [KeyRange],
}

/// The keys one commit wrote.
pub enum CommitKeys {
    /// Keys a transaction already holds shared.
    Shared(Vec<Arc<[u8]>>),
    /// Keys copied back to back into one buffer (a plain write's batch).
    Packed {
        /// The keys, back to back.
        bytes: Vec<u8>,
        /// Where each key ends in `bytes`.
        ends: Vec<usize>,
    },
}

impl CommitKeys {
    /// The keys of `keys`, copied into one buffer.
    pub fn packed<'a>(keys: impl Iterator<Item = &'a [u8]>) -> CommitKeys {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for k in keys {
            bytes.extend_from_slice(k);
            ends.push(bytes.len());
        }
        CommitKeys::Packed { bytes, ends }
    }

    /// Number of keys.
    fn len(&self) -> usize {
        match self {
            CommitKeys::Shared(v) => v.len(),
            CommitKeys::Packed { ends, .. } => ends.len(),
        }
    }

    /// Calls `f` with each key, shared.
    fn for_each_shared(&self, mut f: impl FnMut(Arc<[u8]>)) {
        match self {
            CommitKeys::Shared(v) => v.iter().for_each(|k| f(Arc::clone(k))),
            CommitKeys::Packed { bytes, ends } => {
                let mut start = 0;
                for &end in ends {
                    f(Arc::from(&bytes[start..end]));
                    start = end;
                }
            }
        }
    }

    /// Calls `f` with each key.
    fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            CommitKeys::Shared(v) => v.iter().for_each(|k| f(k)),
            CommitKeys::Packed { bytes, ends } => {
                let mut start = 0;
                for &end in ends {
                    f(&bytes[start..end]);
                    start = end;
                }
            }
        }
    }
}

/// The conflict-tracking table.
#[derive(Default)]
pub struct Oracle {
    /// Newest commit timestamp of each key written by the indexed records.
    by_key: BTreeMap<Arc<[u8]>, u64>,
    /// Commits above the horizon, in timestamp order, with their keys.
    log: VecDeque<(u64, CommitKeys)>,
    /// The first `indexed` records of `log` are in `by_key`; the rest are not yet.
    indexed: usize,
    /// Every commit at or below this timestamp was pruned.
    horizon: u64,
    /// Keys held in `log` (for stats).
    tracked_keys: usize,
}

impl Oracle {
    /// An empty table whose history starts at `ts` (the newest commit at open).
    pub fn new(ts: u64) -> Oracle {
        Oracle {
            horizon: ts,
            ..Oracle::default()
        }
    }

    /// Checks a transaction; `Err` holds the reason for the `Conflict` error and the
    /// timestamp of the commit it lost to (which may not be visible yet).
    pub fn check(&mut self, c: CheckSet<'_>) -> Result<(), (String, u64)> {
        self.index();
        let s = c.snapshot;
        if s < self.horizon {
            return Err((
                format!(
                    "transaction {}: the history after its snapshot {s} was pruned (horizon {})",
                    c.txn, self.horizon
                ),
                self.horizon,
            ));
        }
        let newer = |key: &[u8]| self.by_key.get(key).copied().filter(|t| *t > s);
        for k in c.writes {
            if let Some(t) = newer(k) {
                return Err((
                    format!(
                        "transaction {} writes key {}, which a transaction committed at {t} \
                     wrote after this one's snapshot {s}",
                        c.txn,
                        display_key(k)
                    ),
                    t,
                ));
            }
        }
        for k in c.reads.iter().flat_map(|set| set.iter()) {
            if let Some(t) = newer(k) {
                return Err((
                    format!(
                        "transaction {} read key {}, which a transaction committed at {t} \
                     wrote after this one's snapshot {s}",
                        c.txn,
                        display_key(k)
                    ),
                    t,
                ));
            }
        }
        for (lo, hi) in c.ranges {
            let range = as_slice_bounds(lo, hi);
            if !range_is_valid(&range) {
                continue;
            }
            if let Some((k, t)) = self.by_key.range::<[u8], _>(range).find(|(_, t)| **t > s) {
                return Err((
                    format!(
                        "transaction {} scanned a range holding key {}, which a transaction \
                     committed at {t} wrote after this one's snapshot {s}",
                        c.txn,
                        display_key(k)
                    ),
                    *t,
                ));
            }
        }
        Ok(())
    }

    /// Records the keys a commit at `ts` writes.
    pub fn record(&mut self, ts: u64, keys: &[Arc<[u8]>]) {
        self.record_keys(ts, CommitKeys::Shared(keys.to_vec()));
    }

    /// Records the keys a commit at `ts` writes, as they are held.
    pub fn record_keys(&mut self, ts: u64, keys: CommitKeys) {
        if keys.len() == 0 {
            return;
        }
        self.tracked_keys += keys.len();
        self.log.push_back((ts, keys));
    }

    /// Moves the records not yet indexed into `by_key` (in timestamp order, so each
    /// key ends with its newest commit).
    fn index(&mut self) {
        let by_key = &mut self.by_key;
        for (ts, keys) in self.log.iter().skip(self.indexed) {
            keys.for_each_shared(|k| {
                by_key.insert(k, *ts);
            });
        }
        self.indexed = self.log.len();
    }

    /// Drops every record at or below `horizon`.
    pub fn prune(&mut self, horizon: u64) {
        while let Some((ts, _)) = self.log.front() {
            if *ts > horizon {
                break;
            }
            if let Some((ts, keys)) = self.log.pop_front() {
                self.tracked_keys -= keys.len();
                if self.indexed > 0 {
                    self.indexed -= 1;
                    let by_key = &mut self.by_key;
                    keys.for_each(|k| {
                        if by_key.get(k) == Some(&ts) {
                            by_key.remove(k);
                        }
                    });
                }
            }
        }
        self.horizon = self.horizon.max(horizon);
    }

    /// Number of key records held (for stats).
    pub fn tracked_keys(&self) -> usize {
        self.tracked_keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Bound;

    fn keys(ks: &[&str]) -> Vec<Arc<[u8]>> {
        ks.iter().map(|k| Arc::from(k.as_bytes())).collect()
    }

    fn check(
        o: &mut Oracle,
        snapshot: u64,
        w: &[&str],
        r: &[&str],
        ranges: &[(&str, &str)],
    ) -> bool {
        let w = keys(w);
        let r: BTreeSet<Vec<u8>> = r.iter().map(|k| k.as_bytes().to_vec()).collect();
        let ranges: Vec<_> = ranges
            .iter()
            .map(|(a, b)| {
                (
                    Bound::Included(a.as_bytes().to_vec()),
                    Bound::Excluded(b.as_bytes().to_vec()),
                )
            })
            .collect();
        o.check(CheckSet {
            txn: 1,
            snapshot,
            writes: &w,
            reads: &[&r],
            ranges: &ranges,
        })
        .is_ok()
    }

    #[test]
    fn detects_and_prunes() {
        let mut o = Oracle::new(0);
        o.record(5, &keys(&["a", "m"]));
        assert!(!check(&mut o, 4, &["a"], &[], &[]));
        assert!(check(&mut o, 5, &["a"], &[], &[]));
        assert!(!check(&mut o, 4, &[], &["m"], &[]));
        assert!(check(&mut o, 4, &[], &["b"], &[]));
        assert!(!check(&mut o, 4, &[], &[], &[("l", "n")]));
        assert!(check(&mut o, 4, &[], &[], &[("n", "z")]));
        assert!(check(&mut o, 4, &[], &[], &[("z", "a")]));
        assert_eq!(o.tracked_keys(), 2);
        o.prune(5);
        assert_eq!(o.tracked_keys(), 0);
        assert!(o.by_key.is_empty());
        assert!(
            !check(&mut o, 4, &["q"], &[], &[]),
            "snapshot below horizon conflicts"
        );
    }

    #[test]
    fn prune_keeps_newer_versions() {
        let mut o = Oracle::new(0);
        o.record(3, &keys(&["a"]));
        o.record(7, &keys(&["a"]));
        o.prune(3);
        assert!(!check(&mut o, 5, &["a"], &[], &[]));
        o.prune(7);
        assert!(check(&mut o, 7, &["a"], &[], &[]));
    }

    #[test]
    fn packed_records_are_indexed_only_when_checked() {
        let mut o = Oracle::new(0);
        let packed = |ks: &[&str]| CommitKeys::packed(ks.iter().map(|k| k.as_bytes()));
        o.record_keys(2, packed(&["a", "", "bb"]));
        o.record_keys(3, packed(&[]));
        assert_eq!(o.tracked_keys(), 3);
        // Pruned before any check: never indexed.
        o.prune(2);
        assert_eq!((o.tracked_keys(), o.by_key.len(), o.indexed), (0, 0, 0));

        o.record_keys(4, packed(&["a", "c"]));
        o.record(5, &keys(&["c"]));
        assert!(!check(&mut o, 3, &["a"], &[], &[]));
        assert!(!check(&mut o, 4, &[], &["c"], &[]), "c was written at 5");
        assert!(check(&mut o, 5, &["a", "c"], &[], &[]));
        assert_eq!(o.indexed, 2);
        // Records after the last check are indexed by the next one, newest last.
        o.record_keys(6, packed(&["", "a"]));
        o.prune(4);
        assert_eq!(o.indexed, 1);
        assert!(!check(&mut o, 5, &[""], &[], &[]));
        assert!(!check(&mut o, 5, &[], &[], &[("a", "b")]));
        assert!(check(&mut o, 6, &["", "a", "c"], &[], &[]));
        o.prune(6);
        assert!(o.by_key.is_empty());
        assert_eq!((o.tracked_keys(), o.indexed), (0, 0));
    }
}
