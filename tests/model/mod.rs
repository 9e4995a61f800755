//! The reference the engine's property tests check against: every version of every key
//! in a `BTreeMap`, read at a timestamp the way the engine reads.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

/// Versions per key, oldest first: `(ts, None)` is a tombstone.
pub type Model = BTreeMap<Vec<u8>, Vec<(u64, Option<Vec<u8>>)>>;

/// The value of `key` at timestamp `ts`: the newest version at or below it, unless that
/// is a tombstone.
pub fn get(model: &Model, key: &[u8], ts: u64) -> Option<Vec<u8>> {
    model
        .get(key)?
        .iter()
        .rev()
        .find(|(t, _)| *t <= ts)
        .and_then(|(_, v)| v.clone())
}

/// The live pairs between `start` and `end` at `ts`, in key order or reversed.
pub fn scan(
    model: &Model,
    start: &Bound<Vec<u8>>,
    end: &Bound<Vec<u8>>,
    ts: u64,
    rev: bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let range = (start.clone(), end.clone());
    let mut out: Vec<_> = model
        .keys()
        .filter(|k| range.contains(*k))
        .filter_map(|k| get(model, k, ts).map(|v| (k.clone(), v)))
        .collect();
    if rev {
        out.reverse();
    }
    out
}
