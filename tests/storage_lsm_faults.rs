//! I/O faults in flushes, compactions, manifest installs and log trims, through the
//! engine's file layer. With tiny budgets the workload flushes and compacts all the
//! time; the Nth write, sync, directory sync, create, rename or remove fails (for N
//! sampled along the whole run). A failed flush or manifest install must reach the
//! caller (the engine turns read-only), a failed compaction is recorded and retried,
//! and after reopening every acknowledged commit is there, the failed one whole or
//! absent, and `verify` finds the directory sound.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use sochdb::Status;
use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::io::{FaultFs, FaultKind, FaultOp, OsFs};
use sochdb::storage::{Engine, EngineOptions, WriteBatch, verify};

const COMMITS: u64 = 40;
/// Fault points tried per kind of operation, spread over the clean run's count.
const SAMPLES: u64 = 20;

fn options() -> EngineOptions {
    EngineOptions {
        wal_segment_size: 1024,
        memtable_budget: 1024,
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

/// Batch `i`: overwrites a shared key, adds `c{i}`, deletes `c{i-1}`.
fn batch(i: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(format!("k{}", i % 3).as_bytes(), format!("v{i}").as_bytes())
        .unwrap();
    b.put(format!("c{i:03}").as_bytes(), &[b'x'; 40]).unwrap();
    if i > 0 {
        b.delete(format!("c{:03}", i - 1).as_bytes()).unwrap();
    }
    b
}

fn expected(n: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut m = BTreeMap::new();
    for i in 0..n {
        for op in batch(i).ops() {
            match op.value() {
                Some(v) => m.insert(op.key().to_vec(), v.to_vec()),
                None => m.remove(op.key()),
            };
        }
    }
    m
}

fn contents(e: &Engine) -> BTreeMap<Vec<u8>, Vec<u8>> {
    e.iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, false)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// What a run under faults saw.
struct Outcome {
    /// Commits acknowledged.
    acked: u64,
    /// An error reached a caller.
    failed: bool,
    /// A background failure was recorded.
    background: bool,
}

/// Commits, then checkpoints and compacts, on `fs` until the first error.
fn workload(dir: &Path, fs: &FaultFs) -> Outcome {
    let engine = match Engine::open_with_fs(dir, options(), Arc::new(fs.clone())) {
        Ok(e) => e,
        Err(_) => {
            return Outcome {
                acked: 0,
                failed: true,
                background: false,
            };
        }
    };
    let mut out = Outcome {
        acked: COMMITS,
        failed: false,
        background: false,
    };
    for i in 0..COMMITS {
        if let Err(e) = engine.commit(&batch(i)) {
            assert!(
                matches!(e.status(), Status::Io | Status::ReadOnly),
                "commit {i}: {e}"
            );
            assert!(
                engine.is_read_only(),
                "commit {i} failed but the engine writes on"
            );
            assert_eq!(contents(&engine), expected(i), "reads after the failure");
            out.acked = i;
            out.failed = true;
            break;
        }
        engine.set_safe_ts(engine.visible_ts());
    }
    if !out.failed {
        if let Err(e) = engine.checkpoint() {
            assert!(
                matches!(e.status(), Status::Io | Status::ReadOnly),
                "checkpoint: {e}"
            );
            out.failed = true;
        } else if engine.compact().is_err() {
            out.failed = true;
        }
    }
    out.background = engine.stats().background_error.is_some();
    out
}

#[test]
fn faults_in_flushes_and_compactions_lose_nothing_acknowledged() {
    let clean = tempfile::tempdir().unwrap();
    let fs = FaultFs::new(Arc::new(OsFs::new()));
    let o = workload(clean.path(), &fs);
    assert!(!o.failed && !o.background, "the clean run failed");
    let flushed = Engine::open(clean.path(), options()).unwrap().stats();
    assert!(flushed.level_files.iter().sum::<u64>() > 0);

    let kinds = [
        (FaultOp::Write, FaultKind::Eio),
        (FaultOp::Write, FaultKind::Torn { keep: 17 }),
        (FaultOp::Sync, FaultKind::Enospc),
        (FaultOp::SyncDir, FaultKind::Eio),
        (FaultOp::Create, FaultKind::Enospc),
        (FaultOp::Rename, FaultKind::Eio),
        (FaultOp::Remove, FaultKind::Eio),
    ];
    let (mut runs, mut fired, mut reported) = (0, 0, 0);
    for (op, kind) in kinds {
        let total = fs.count(op);
        assert!(total > 0, "{op:?} never happens in the workload");
        let step = total.div_ceil(SAMPLES).max(1);
        for n in (1..=total).step_by(step as usize) {
            runs += 1;
            let dir = tempfile::tempdir().unwrap();
            let faulty = FaultFs::new(Arc::new(OsFs::new()));
            faulty.inject(op, n, kind);
            let o = workload(dir.path(), &faulty);
            let did_fire = !faulty.fired().is_empty();
            fired += usize::from(did_fire);
            reported += usize::from(o.failed || o.background);
            // A failed write, sync, create or rename is never silent: it fails a
            // commit or a checkpoint, or it is recorded as a background failure.
            // (A failed removal of an obsolete file or directory sync after a log
            // trim only leaves files the next open removes.)
            if did_fire
                && matches!(
                    op,
                    FaultOp::Write | FaultOp::Sync | FaultOp::Create | FaultOp::Rename
                )
            {
                assert!(
                    o.failed || o.background,
                    "{op:?} #{n} {kind:?} went unreported"
                );
            }
            let engine = Engine::open(dir.path(), options())
                .unwrap_or_else(|e| panic!("{op:?} #{n} {kind:?}: reopen failed: {e}"));
            let got = contents(&engine);
            assert!(
                got == expected(o.acked) || (o.acked < COMMITS && got == expected(o.acked + 1)),
                "{op:?} #{n} {kind:?}: after {} acknowledged commits, recovered {got:?}",
                o.acked
            );
            engine.checkpoint().unwrap();
            engine.compact().unwrap();
            assert_eq!(
                contents(&engine),
                got,
                "{op:?} #{n} {kind:?}: after compaction"
            );
            engine.close().unwrap();
            let report = verify(dir.path()).unwrap();
            assert!(report.is_ok(), "{op:?} #{n} {kind:?}: {report}");
        }
    }
    eprintln!("{runs} fault runs: {fired} faults fired, {reported} reported");
    assert!(fired > runs / 2, "only {fired} of {runs} faults fired");
}
