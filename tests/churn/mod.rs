//! The churn workload of the crash, power-loss and fault tests: commit `i` overwrites
//! one of a few shared keys, adds `c{i}`, deletes `c{i-1}`, and now and then writes an
//! empty value. The contents after any prefix of commits are known exactly, so a test
//! can tell an acknowledged prefix from anything else.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ops::Bound;

use sochdb::storage::{Engine, WriteBatch};

/// Key-value contents of a database.
pub type Contents = BTreeMap<Vec<u8>, Vec<u8>>;

/// The shape of a churn workload.
#[derive(Debug, Clone, Copy)]
pub struct Churn {
    /// Commits overwrite the shared keys `k0`, `k1`, ... in turn; this many of them.
    pub shared: u64,
    /// Length of the value of `c{i}` is `value_len + i % value_spread`.
    pub value_len: usize,
    /// See `value_len`; 1 gives every value the same length.
    pub value_spread: u64,
    /// Every this many commits also put an empty value under `e{i}`; 0 for never.
    pub empty_every: u64,
}

impl Churn {
    /// Commit `i` of the workload.
    pub fn batch(&self, i: u64) -> WriteBatch {
        let mut b = WriteBatch::new();
        b.put(
            format!("k{}", i % self.shared).as_bytes(),
            format!("v{i}").as_bytes(),
        )
        .unwrap();
        let len = self.value_len + (i % self.value_spread.max(1)) as usize;
        b.put(
            format!("c{i:04}").as_bytes(),
            &vec![b'a' + (i % 26) as u8; len],
        )
        .unwrap();
        if i > 0 {
            b.delete(format!("c{:04}", i - 1).as_bytes()).unwrap();
        }
        if self.empty_every > 0 && i % self.empty_every == 0 {
            b.put(format!("e{i}").as_bytes(), b"").unwrap();
        }
        b
    }

    /// The contents after commits `0..n`.
    pub fn expected(&self, n: u64) -> Contents {
        let mut m = Contents::new();
        for i in 0..n {
            self.apply(i, &mut m);
        }
        m
    }

    /// The contents after each prefix: element `j` holds them after commits `0..j`, for
    /// `j` in `0..=n`.
    pub fn states(&self, n: u64) -> Vec<Contents> {
        let mut out = vec![Contents::new()];
        let mut m = Contents::new();
        for i in 0..n {
            self.apply(i, &mut m);
            out.push(m.clone());
        }
        out
    }

    fn apply(&self, i: u64, m: &mut Contents) {
        for op in self.batch(i).ops() {
            match op.value() {
                Some(v) => m.insert(op.key().to_vec(), v.to_vec()),
                None => m.remove(op.key()),
            };
        }
    }
}

/// Everything `e` holds at its newest timestamp.
pub fn contents(e: &Engine) -> sochdb::Result<Contents> {
    e.iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, false)?
        .collect()
}
