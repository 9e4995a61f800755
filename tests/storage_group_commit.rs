//! Group commit: concurrent durable committers share syncs; a lone writer pays exactly
//! one sync per commit.

use std::sync::Arc;

use sochdb::storage::io::{FaultFs, FaultOp, OsFs};
use sochdb::storage::{Engine, EngineOptions, WriteBatch};

fn batch(t: u64, i: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(format!("t{t}/{i}").as_bytes(), &i.to_le_bytes())
        .unwrap();
    b
}

#[test]
fn concurrent_committers_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    let (threads, per_thread) = (8u64, 60u64);
    std::thread::scope(|s| {
        for t in 0..threads {
            let engine = engine.clone();
            s.spawn(move || {
                for i in 0..per_thread {
                    engine.commit(&batch(t, i)).unwrap();
                }
            });
        }
    });
    let stats = engine.stats();
    assert_eq!(stats.commits, threads * per_thread);
    assert!(
        stats.syncs < stats.commits,
        "{} syncs for {} commits",
        stats.syncs,
        stats.commits
    );
    drop(engine);
    let engine = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    assert_eq!(engine.recovery_report().records, threads * per_thread);
}

#[test]
fn lone_writer_pays_one_write_and_one_sync_per_commit() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new(Arc::new(OsFs::new()));
    let engine =
        Engine::open_with_fs(dir.path(), EngineOptions::default(), Arc::new(fs.clone())).unwrap();
    let (w0, s0) = (fs.count(FaultOp::Write), fs.count(FaultOp::Sync));
    for i in 0..25 {
        engine.commit(&batch(0, i)).unwrap();
    }
    assert_eq!(fs.count(FaultOp::Write) - w0, 25);
    assert_eq!(fs.count(FaultOp::Sync) - s0, 25);
}
