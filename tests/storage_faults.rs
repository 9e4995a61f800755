//! I/O faults through the engine's file layer: for every N along a small workload, the
//! Nth write or sync fails (EIO, ENOSPC) or the Nth write is torn. The error must reach
//! the caller, the engine must turn read-only (reads still work), and after a reopen
//! every acknowledged commit is present and the failed one is either whole or absent.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use sochdb::Status;
use sochdb::storage::io::{FaultFs, FaultKind, FaultOp, OsFs};
use sochdb::storage::{Engine, EngineOptions, WriteBatch};

const COMMITS: u64 = 14;

fn options() -> EngineOptions {
    // Small segments, so faults also hit segment creation and rolling.
    EngineOptions {
        wal_segment_size: 400,
        ..EngineOptions::default()
    }
}

/// Batch `i` of the workload: overwrites a shared key, adds `c{i}`, deletes `c{i-1}`.
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

/// The expected contents after commits `0..n`.
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

/// Runs the workload on `fs` until the first error; returns how many commits were
/// acknowledged and whether an error was seen.
fn workload(dir: &Path, fs: &FaultFs) -> (u64, bool) {
    let engine = match Engine::open_with_fs(dir, options(), Arc::new(fs.clone())) {
        Ok(e) => e,
        Err(_) => return (0, true),
    };
    for i in 0..COMMITS {
        match engine.commit(&batch(i)) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.status(), Status::Io, "commit {i}: {e}");
                assert!(e.to_string().contains("injected"), "{e}");
                assert!(engine.is_read_only());
                // Later commits are refused, reads still work.
                let again = engine.commit(&batch(i + 1)).unwrap_err();
                assert_eq!(again.status(), Status::ReadOnly, "{again}");
                assert_eq!(contents(&engine), expected(i), "reads after the failure");
                return (i, true);
            }
        }
    }
    (COMMITS, false)
}

#[test]
fn every_fault_along_the_workload_is_reported_and_loses_nothing_acknowledged() {
    // Count the operations of a clean run.
    let clean = tempfile::tempdir().unwrap();
    let fs = FaultFs::new(Arc::new(OsFs::new()));
    assert_eq!(workload(clean.path(), &fs), (COMMITS, false));
    let writes = fs.count(FaultOp::Write);
    let syncs = fs.count(FaultOp::Sync);
    assert!(
        writes > COMMITS && syncs > COMMITS,
        "writes {writes}, syncs {syncs}"
    );

    let mut plans = Vec::new();
    for n in 1..=writes {
        plans.push((FaultOp::Write, n, FaultKind::Eio));
        plans.push((FaultOp::Write, n, FaultKind::Enospc));
        plans.push((
            FaultOp::Write,
            n,
            FaultKind::Torn {
                keep: 1 + (n as usize * 7) % 50,
            },
        ));
    }
    for n in 1..=syncs {
        plans.push((FaultOp::Sync, n, FaultKind::Eio));
        plans.push((FaultOp::Sync, n, FaultKind::Enospc));
    }
    for n in 1..=fs.count(FaultOp::SyncDir) {
        plans.push((FaultOp::SyncDir, n, FaultKind::Eio));
    }
    for n in 1..=fs.count(FaultOp::Create) {
        plans.push((FaultOp::Create, n, FaultKind::Enospc));
    }
    let mut failures_seen = 0;
    for (op, n, kind) in plans {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultFs::new(Arc::new(OsFs::new()));
        fs.inject(op, n, kind);
        let (acked, failed) = workload(dir.path(), &fs);
        assert_eq!(
            failed,
            !fs.fired().is_empty(),
            "{op:?} #{n} {kind:?}: a fault fired without an error, or the reverse"
        );
        failures_seen += usize::from(failed);
        let engine = Engine::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("{op:?} #{n} {kind:?}: reopen failed: {e}"));
        let got = contents(&engine);
        // Every acknowledged commit is there; the failed one is whole or absent.
        assert!(
            got == expected(acked) || (acked < COMMITS && got == expected(acked + 1)),
            "{op:?} #{n} {kind:?}: after {acked} acknowledged commits, recovered {got:?}"
        );
        // The reopened engine writes again.
        engine.commit(&batch(99)).unwrap();
    }
    assert!(failures_seen > 50, "only {failures_seen} faults fired");
}
