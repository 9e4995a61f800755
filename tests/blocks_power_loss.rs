//! Power loss while memtables are flushed and block files compacted all the time: on
//! the simulated file system, a workload of durable commits runs with tiny memtable and
//! level budgets, every state along it is recorded (the background flushes, manifest
//! installs, log trims and compactions included), and at each one the disks a crash
//! could leave (only what was synced; everything written; random mixes of unsynced
//! appends and directory operations kept, lost, torn or zeroed) are reopened. Each must
//! open, show exactly the first `m` commits where `m` is its visible timestamp, and hold
//! every commit acknowledged before the crash.

mod churn;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use churn::{Churn, contents};
use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::io::{CrashPoint, Fate, PieceKind, SimFs};
use sochdb::storage::{Engine, EngineOptions};

const CHURN: Churn = Churn {
    shared: 4,
    value_len: 30,
    value_spread: 1,
    empty_every: 0,
};

const COMMITS: u64 = 300;
const RANDOM_IMAGES: u64 = 4;

fn dir() -> PathBuf {
    PathBuf::from("/power/lsm")
}

fn options() -> EngineOptions {
    EngineOptions {
        wal_segment_size: 2048,
        memtable_budget: 1024,
        buffered_sync_interval: Duration::from_secs(3600),
        compaction: CompactionOptions {
            num_levels: 4,
            l0_trigger: 2,
            level1_bytes: 4 * 1024,
            level_ratio: 3,
            target_file_size: 2 * 1024,
            ..CompactionOptions::default()
        },
        ..EngineOptions::default()
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// The disks a crash at `point` could leave.
fn images(point: &CrashPoint, rng: &mut Rng) -> Vec<(String, SimFs)> {
    let fs = &point.fs;
    let mut out = vec![
        ("synced only".to_string(), fs.synced_image()),
        ("everything written".to_string(), fs.process_crash_image()),
    ];
    for r in 0..RANDOM_IMAGES {
        let img = fs.crash_image(&mut |p| match (p.kind, rng.below(10)) {
            (_, 0..=3) => Fate::Keep,
            (PieceKind::Append { len }, 7) => Fate::Torn(rng.below(len as u64 + 1) as usize),
            (PieceKind::Append { .. }, 8) => Fate::Zeroed,
            _ => Fate::Lose,
        });
        out.push((format!("random mix {r}"), img));
    }
    out
}

#[test]
fn power_loss_during_flushes_and_compactions_keeps_every_acknowledged_commit() {
    let expected = CHURN.states(COMMITS);
    let fs = SimFs::new();
    fs.record_crash_points(true);
    let engine = Engine::open_with_fs(&dir(), options(), Arc::new(fs.clone())).unwrap();
    // Per commit, the operation count by which it was acknowledged (durable).
    let mut acked_at = Vec::new();
    for i in 0..COMMITS {
        let ts = engine.commit(&CHURN.batch(i)).unwrap();
        assert_eq!(ts, i + 1);
        acked_at.push(fs.ops());
        engine.set_safe_ts(ts);
        if i % 25 == 24 {
            engine.checkpoint().unwrap();
        }
    }
    let stats = engine.stats();
    engine.close().unwrap();
    drop(engine);
    assert!(stats.flushes >= 10 && stats.compactions >= 3, "{stats:?}");
    let points = fs.take_crash_points();
    fs.record_crash_points(false);

    let mut rng = Rng(0x51_5eed);
    let mut opened = 0;
    for point in &points {
        let must = acked_at.iter().take_while(|&&at| at <= point.op).count() as u64;
        for (name, img) in images(point, &mut rng) {
            let e = Engine::open_with_fs(&dir(), options(), Arc::new(img))
                .unwrap_or_else(|err| panic!("{point:?}, {name}: refused to open: {err}"));
            let m = e.visible_ts();
            assert!(
                m >= must && m <= COMMITS,
                "{point:?}, {name}: {m} commits visible, {must} acknowledged"
            );
            let got = contents(&e).unwrap();
            assert_eq!(
                got, expected[m as usize],
                "{point:?}, {name}: not the first {m} commits"
            );
            opened += 1;
        }
    }
    eprintln!(
        "power loss on block files: {} crash points, {opened} images reopened, {} flushes \
         and {} compactions in the run",
        points.len(),
        stats.flushes,
        stats.compactions
    );
}
