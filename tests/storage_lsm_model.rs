//! The engine on block files against a model: tiny memtable and level budgets so that
//! flushes and compactions happen all the time, random batches, reads at old timestamps
//! that the safe timestamp still protects, range scans both ways, checkpoints, explicit
//! compactions and reopens at random points. The engine must always agree with a
//! `BTreeMap` of versions.

mod model;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::time::Duration;

use model::Model;
use proptest::prelude::*;
use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::sstable::TableOptions;
use sochdb::storage::{Durability, Engine, EngineOptions, EngineStats, WriteBatch};

fn options() -> EngineOptions {
    EngineOptions {
        memtable_budget: 2 * 1024,
        cache_budget: 16 * 1024,
        wal_segment_size: 1024,
        durability: Durability::None,
        buffered_sync_interval: Duration::from_millis(20),
        compaction: CompactionOptions {
            num_levels: 4,
            l0_trigger: 2,
            l0_slowdown: 6,
            l0_max_slowdown: 10,
            level1_bytes: 6 * 1024,
            level_ratio: 3,
            target_file_size: 3 * 1024,
            max_write_delay: Duration::from_millis(2),
            table: TableOptions {
                block_size: 256,
                restart_interval: 4,
                bloom_bits_per_key: 10,
                ..TableOptions::default()
            },
            ..CompactionOptions::default()
        },
        ..EngineOptions::default()
    }
}

fn open(dir: &Path, safe: u64) -> Engine {
    let e = Engine::open(dir, options()).unwrap();
    // The layer above tells a reopened engine its oldest snapshot again.
    e.set_safe_ts(safe);
    e
}

/// The engine and its model, with the checks every step shares.
struct Harness {
    dir: tempfile::TempDir,
    engine: Option<Engine>,
    model: Model,
    last_ts: u64,
    safe: u64,
    /// Flushes and compactions seen over every engine opened.
    flushes: u64,
    compactions: u64,
    deepest_level: usize,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let engine = Some(open(dir.path(), 0));
        Harness {
            dir,
            engine,
            model: Model::new(),
            last_ts: 0,
            safe: 0,
            flushes: 0,
            compactions: 0,
            deepest_level: 0,
        }
    }

    fn engine(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    fn commit(&mut self, ops: &[(Vec<u8>, Option<Vec<u8>>)], durability: Durability) {
        let mut batch = WriteBatch::new();
        for (k, v) in ops {
            match v {
                Some(v) => batch.put(k, v).unwrap(),
                None => batch.delete(k).unwrap(),
            }
        }
        let ts = self
            .engine()
            .commit_with(&batch, Some(durability), &mut |_| Ok(()))
            .unwrap();
        assert!(ts > self.last_ts);
        self.last_ts = ts;
        let mut last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for (k, v) in ops {
            last.insert(k.clone(), v.clone());
        }
        for (k, v) in last {
            self.model.entry(k).or_default().push((ts, v));
        }
    }

    /// A read timestamp the safe timestamp still protects: `back` steps below the
    /// newest commit, but never below the safe timestamp.
    fn read_ts(&self, back: u64) -> u64 {
        self.last_ts.saturating_sub(back).max(self.safe)
    }

    fn check_get(&self, key: &[u8], ts: u64) {
        let got = self.engine().get(key, ts).unwrap();
        assert_eq!(got, model::get(&self.model, key, ts), "get {key:?} at {ts}");
        let newest = self.model.get(key).and_then(|v| v.last());
        let latest = self.engine().latest_ts(key).unwrap();
        match newest {
            // A tombstone no reader needs may be gone with all it deleted.
            Some((t, None)) if *t <= self.safe => {
                assert!(latest.is_none() || latest == Some(*t), "latest_ts {key:?}")
            }
            other => assert_eq!(latest, other.map(|(t, _)| *t), "latest_ts {key:?}"),
        }
    }

    fn check_scan(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, ts: u64, rev: bool) {
        let got: Vec<_> = self
            .engine()
            .iter(start.clone(), end.clone(), ts, rev)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            got,
            model::scan(&self.model, &start, &end, ts, rev),
            "scan {start:?}..{end:?} at {ts} reverse {rev}"
        );
    }

    fn set_safe(&mut self, back: u64) {
        let ts = self.last_ts.saturating_sub(back).max(self.safe);
        self.safe = ts;
        self.engine().set_safe_ts(ts);
    }

    fn note_stats(&mut self, s: &EngineStats) {
        self.flushes += s.flushes;
        self.compactions += s.compactions;
        if let Some(l) = s.level_files.iter().rposition(|&n| n > 0) {
            self.deepest_level = self.deepest_level.max(l);
        }
    }

    fn reopen(&mut self) {
        let e = self.engine.take().unwrap();
        let stats = e.stats();
        self.note_stats(&stats);
        drop(e);
        let e = open(self.dir.path(), self.safe);
        assert_eq!(e.visible_ts(), self.last_ts, "timestamps after reopen");
        self.engine = Some(e);
    }

    /// Every protected timestamp agrees, after a checkpoint, a compaction and a reopen.
    fn final_check(&mut self) {
        self.engine().checkpoint().unwrap();
        self.engine().compact_all().unwrap();
        self.reopen();
        assert_eq!(
            self.engine().recovery_report().records,
            0,
            "a checkpoint leaves nothing to replay"
        );
        for ts in self.safe..=self.last_ts {
            self.check_scan(Bound::Unbounded, Bound::Unbounded, ts, ts % 2 == 0);
        }
        let report = sochdb::storage::verify(self.dir.path());
        // The engine holds the lock: verify refuses rather than read moving files.
        assert!(report.is_err());
        self.engine.take().unwrap().close().unwrap();
        let report = sochdb::storage::verify(self.dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        self.engine = Some(open(self.dir.path(), self.safe));
    }
}

#[derive(Debug, Clone)]
enum Step {
    Commit(Vec<(Vec<u8>, Option<Vec<u8>>)>, u8),
    Get(Vec<u8>, u8),
    Scan(Option<Vec<u8>>, Option<Vec<u8>>, bool, bool, u8),
    SafeTs(u8),
    Checkpoint,
    Compact(bool),
    Reopen,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (0u8..40).prop_map(|i| vec![b'k', i]),
        1 => prop::collection::vec(prop::sample::select(vec![0u8, b'a', 0xff]), 0..3),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let op = (
        key(),
        prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..40)),
    );
    prop_oneof![
        12 => (prop::collection::vec(op, 1..8), 0u8..4).prop_map(|(ops, d)| Step::Commit(ops, d)),
        4 => (key(), any::<u8>()).prop_map(|(k, back)| Step::Get(k, back)),
        2 => (prop::option::of(key()), prop::option::of(key()), any::<bool>(), any::<bool>(), any::<u8>())
            .prop_map(|(s, e, incl, rev, back)| Step::Scan(s, e, incl, rev, back)),
        2 => any::<u8>().prop_map(Step::SafeTs),
        1 => Just(Step::Checkpoint),
        1 => any::<bool>().prop_map(Step::Compact),
        1 => Just(Step::Reopen),
    ]
}

fn durability(d: u8) -> Durability {
    [
        Durability::Sync,
        Durability::Buffered,
        Durability::None,
        Durability::None,
    ][d as usize % 4]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn engine_on_block_files_agrees_with_model(steps in prop::collection::vec(step(), 1..120)) {
        let mut h = Harness::new();
        for step in steps {
            match step {
                Step::Commit(ops, d) => h.commit(&ops, durability(d)),
                Step::Get(k, back) => {
                    let ts = h.read_ts(u64::from(back % 16));
                    h.check_get(&k, ts);
                }
                Step::Scan(s, e, incl, rev, back) => {
                    let ts = h.read_ts(u64::from(back % 16));
                    let start = match s { Some(s) if incl => Bound::Included(s), Some(s) => Bound::Excluded(s), None => Bound::Unbounded };
                    let end = match e { Some(e) if incl => Bound::Excluded(e), Some(e) => Bound::Included(e), None => Bound::Unbounded };
                    h.check_scan(start, end, ts, rev);
                }
                Step::SafeTs(back) => h.set_safe(u64::from(back % 24)),
                Step::Checkpoint => h.engine().checkpoint().unwrap(),
                Step::Compact(all) => {
                    if all {
                        h.engine().compact_all().unwrap();
                    } else {
                        h.engine().compact().unwrap();
                    }
                }
                Step::Reopen => h.reopen(),
            }
        }
        h.final_check();
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A longer seeded run: thousands of commits through many flushes, compactions down to
/// the deepest level and reopens, checked against the model all along.
#[test]
fn long_run_flushes_and_compacts_through_every_level() {
    let mut rng = Rng(0x5eed_1234_9876_0001);
    let mut h = Harness::new();
    for round in 0..3000u64 {
        let n = 1 + rng.below(6);
        let ops: Vec<_> = (0..n)
            .map(|_| {
                let k = vec![b'k', (rng.below(200) / 2) as u8, rng.below(2) as u8];
                let v = (rng.below(8) != 0).then(|| vec![round as u8; rng.below(48) as usize]);
                (k, v)
            })
            .collect();
        h.commit(&ops, durability(rng.below(4) as u8));
        if round % 7 == 0 {
            let ts = h.read_ts(rng.below(40));
            let k = vec![b'k', (rng.below(200) / 2) as u8, rng.below(2) as u8];
            h.check_get(&k, ts);
        }
        if round % 97 == 0 {
            let ts = h.read_ts(rng.below(40));
            h.check_scan(Bound::Unbounded, Bound::Unbounded, ts, round % 2 == 0);
        }
        if round % 50 == 0 {
            h.set_safe(rng.below(30));
        }
        if round % 700 == 699 {
            h.reopen();
        }
    }
    h.final_check();
    let stats = h.engine().stats();
    h.note_stats(&stats);
    eprintln!(
        "long run: {} flushes, {} compactions, deepest level {}",
        h.flushes, h.compactions, h.deepest_level
    );
    assert!(h.flushes >= 50, "only {} flushes", h.flushes);
    assert!(h.compactions >= 10, "only {} compactions", h.compactions);
    assert!(
        h.deepest_level >= 2,
        "data never went below level {}",
        h.deepest_level
    );
}
