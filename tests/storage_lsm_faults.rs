//! I/O faults in flushes, compactions, manifest installs and log trims, through the
//! engine's file layer. With tiny budgets the workload flushes and compacts all the
//! time; the Nth write, sync, directory sync, create, rename or remove fails (for N
//! sampled along the whole run). A failed flush or manifest install must reach the
//! caller (the engine turns read-only), a failed compaction is recorded and retried,
//! and after reopening every acknowledged commit is there, the failed one whole or
//! absent, and `verify` finds the directory sound.

mod churn;

use std::path::Path;
use std::sync::Arc;

use churn::{Churn, contents};
use sochdb::Status;
use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::io::{FaultFs, FaultKind, FaultOp, OsFs};
use sochdb::storage::{Engine, EngineOptions, verify};

const CHURN: Churn = Churn {
    shared: 3,
    value_len: 40,
    value_spread: 1,
    empty_every: 0,
};

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
        if let Err(e) = engine.commit(&CHURN.batch(i)) {
            assert!(
                matches!(e.status(), Status::Io | Status::ReadOnly),
                "commit {i}: {e}"
            );
            assert!(
                engine.is_read_only(),
                "commit {i} failed but the engine writes on"
            );
            assert_eq!(
                contents(&engine).unwrap(),
                CHURN.expected(i),
                "reads after the failure"
            );
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
            let got = contents(&engine).unwrap();
            assert!(
                got == CHURN.expected(o.acked)
                    || (o.acked < COMMITS && got == CHURN.expected(o.acked + 1)),
                "{op:?} #{n} {kind:?}: after {} acknowledged commits, recovered {got:?}",
                o.acked
            );
            engine.checkpoint().unwrap();
            engine.compact().unwrap();
            assert_eq!(
                contents(&engine).unwrap(),
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
