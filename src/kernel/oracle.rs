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

/// The conflict-tracking table.
#[derive(Default)]
pub struct Oracle {
    /// Newest commit timestamp of each key written above the horizon.
    by_key: BTreeMap<Arc<[u8]>, u64>,
    /// Commits above the horizon, in timestamp order, with their keys.
    log: VecDeque<(u64, Vec<Arc<[u8]>>)>,
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
    pub fn check(&self, c: CheckSet<'_>) -> Result<(), (String, u64)> {
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
        if keys.is_empty() {
            return;
        }
        for k in keys {
            self.by_key.insert(Arc::clone(k), ts);
        }
        self.tracked_keys += keys.len();
        self.log.push_back((ts, keys.to_vec()));
    }

    /// Drops every record at or below `horizon`.
    pub fn prune(&mut self, horizon: u64) {
        while let Some((ts, _)) = self.log.front() {
            if *ts > horizon {
                break;
            }
            if let Some((ts, keys)) = self.log.pop_front() {
                self.tracked_keys -= keys.len();
                for k in keys {
                    if self.by_key.get(&k) == Some(&ts) {
                        self.by_key.remove(&k);
                    }
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

    fn check(o: &Oracle, snapshot: u64, w: &[&str], r: &[&str], ranges: &[(&str, &str)]) -> bool {
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
        assert!(!check(&o, 4, &["a"], &[], &[]));
        assert!(check(&o, 5, &["a"], &[], &[]));
        assert!(!check(&o, 4, &[], &["m"], &[]));
        assert!(check(&o, 4, &[], &["b"], &[]));
        assert!(!check(&o, 4, &[], &[], &[("l", "n")]));
        assert!(check(&o, 4, &[], &[], &[("n", "z")]));
        assert!(check(&o, 4, &[], &[], &[("z", "a")]));
        assert_eq!(o.tracked_keys(), 2);
        o.prune(5);
        assert_eq!(o.tracked_keys(), 0);
        assert!(o.by_key.is_empty());
        assert!(
            !check(&o, 4, &["q"], &[], &[]),
            "snapshot below horizon conflicts"
        );
    }

    #[test]
    fn prune_keeps_newer_versions() {
        let mut o = Oracle::new(0);
        o.record(3, &keys(&["a"]));
        o.record(7, &keys(&["a"]));
        o.prune(3);
        assert!(!check(&o, 5, &["a"], &[], &[]));
        o.prune(7);
        assert!(check(&o, 7, &["a"], &[], &[]));
    }
}
