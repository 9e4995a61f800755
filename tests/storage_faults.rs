//! I/O faults through the engine's file layer: for every N along a small workload, the
//! Nth write or sync fails (EIO, ENOSPC) or the Nth write is torn. The error must reach
//! the caller, the engine must turn read-only (reads still work), and after a reopen
//! every acknowledged commit is present and the failed one is either whole or absent.

mod churn;

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use churn::{Churn, contents};
use sochdb::Status;
use sochdb::storage::io::{FaultFs, FaultKind, FaultOp, OsFs};
use sochdb::storage::{Engine, EngineOptions, WriteBatch};

const CHURN: Churn = Churn {
    shared: 3,
    value_len: 40,
    value_spread: 1,
    empty_every: 0,
};

const COMMITS: u64 = 14;

fn options() -> EngineOptions {
    // Small segments, so faults also hit segment creation and rolling.
    EngineOptions {
        wal_segment_size: 400,
        ..EngineOptions::default()
    }
}

/// Runs the workload on `fs` until the first error; returns how many commits were
/// acknowledged and whether an error was seen.
fn workload(dir: &Path, fs: &FaultFs) -> (u64, bool) {
    let engine = match Engine::open_with_fs(dir, options(), Arc::new(fs.clone())) {
        Ok(e) => e,
        Err(_) => return (0, true),
    };
    for i in 0..COMMITS {
        match engine.commit(&CHURN.batch(i)) {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.status(), Status::Io, "commit {i}: {e}");
                assert!(e.to_string().contains("injected"), "{e}");
                assert!(engine.is_read_only());
                // Later commits are refused, reads still work.
                let again = engine.commit(&CHURN.batch(i + 1)).unwrap_err();
                assert_eq!(again.status(), Status::ReadOnly, "{again}");
                assert_eq!(
                    contents(&engine).unwrap(),
                    CHURN.expected(i),
                    "reads after the failure"
                );
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
        let got = contents(&engine).unwrap();
        // Every acknowledged commit is there; the failed one is whole or absent.
        assert!(
            got == CHURN.expected(acked) || (acked < COMMITS && got == CHURN.expected(acked + 1)),
            "{op:?} #{n} {kind:?}: after {acked} acknowledged commits, recovered {got:?}"
        );
        // The reopened engine writes again, and what it repaired stays consistent
        // across one more reopen.
        engine.commit(&CHURN.batch(99)).unwrap();
        let after = contents(&engine).unwrap();
        drop(engine);
        let engine = Engine::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("{op:?} #{n} {kind:?}: second reopen failed: {e}"));
        assert_eq!(contents(&engine).unwrap(), after, "{op:?} #{n} {kind:?}");
    }
    assert!(failures_seen > 50, "only {failures_seen} faults fired");
}

#[test]
fn a_fault_under_concurrent_group_commits_fails_the_group_and_keeps_every_ack() {
    let (threads, per_thread) = (6u64, 40u64);
    for (op, n, kind) in [
        (FaultOp::Sync, 4, FaultKind::Eio),
        (FaultOp::Sync, 20, FaultKind::Enospc),
        (FaultOp::Write, 10, FaultKind::Torn { keep: 30 }),
        (FaultOp::Write, 25, FaultKind::Enospc),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultFs::new(Arc::new(OsFs::new()));
        fs.inject(op, n, kind);
        let engine = Engine::open_with_fs(dir.path(), options(), Arc::new(fs.clone())).unwrap();
        let acked: Vec<Option<u64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let engine = engine.clone();
                    s.spawn(move || {
                        let mut last_ok = None;
                        for i in 0..per_thread {
                            let mut b = WriteBatch::new();
                            b.put(format!("t{t}/{i:03}").as_bytes(), b"").unwrap();
                            b.put(format!("t{t}/last").as_bytes(), &i.to_le_bytes())
                                .unwrap();
                            match engine.commit(&b) {
                                Ok(_) => last_ok = Some(i),
                                Err(e) => {
                                    assert!(
                                        matches!(e.status(), Status::Io | Status::ReadOnly),
                                        "{e}"
                                    );
                                    break;
                                }
                            }
                        }
                        last_ok
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(fs.fired().len(), 1, "{op:?} #{n}: the fault did not fire");
        assert!(engine.is_read_only());
        drop(engine);
        let engine = Engine::open(dir.path(), options()).unwrap();
        for t in 0..threads {
            let last = engine
                .get(format!("t{t}/last").as_bytes(), u64::MAX)
                .unwrap()
                .map(|v| u64::from_le_bytes(v.try_into().unwrap()));
            if let Some(a) = acked[t as usize] {
                assert!(
                    last >= Some(a),
                    "{op:?} #{n}: writer {t} acknowledged {a}, recovered {last:?}"
                );
            }
            // The writer's commits recovered are exactly 0..=last: whole batches, no hole.
            let prefix = format!("t{t}/0").into_bytes();
            let mut end = format!("t{t}/").into_bytes();
            end.push(b'0' + 10);
            let found = engine
                .iter(
                    Bound::Included(prefix),
                    Bound::Excluded(end),
                    u64::MAX,
                    false,
                )
                .unwrap()
                .count() as u64;
            assert_eq!(found, last.map_or(0, |l| l + 1), "{op:?} #{n}: writer {t}");
        }
    }
}
