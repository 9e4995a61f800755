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

#[test]
fn mixed_durability_commits_become_visible_in_timestamp_order() {
    use sochdb::storage::Durability;
    use std::ops::Bound;
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        buffered_sync_interval: std::time::Duration::from_millis(1),
        wal_segment_size: 16 * 1024,
        ..EngineOptions::default()
    };
    let engine = Engine::open(dir.path(), opts.clone()).unwrap();
    let (writers, per_writer) = (6u64, 150u64);
    let done = AtomicBool::new(false);
    let checks = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for t in 0..writers {
            let engine = engine.clone();
            handles.push(s.spawn(move || {
                let modes = [Durability::Sync, Durability::Buffered, Durability::None];
                for i in 0..per_writer {
                    let mode = modes[((t + i) % 3) as usize];
                    engine
                        .commit_with(&batch(t, i), Some(mode), &mut |_| Ok(()))
                        .unwrap();
                }
            }));
        }
        // Every commit adds exactly one new key, so a reader at the visible timestamp
        // must see exactly that many keys: all commits at or below it, none above.
        let reader = {
            let engine = engine.clone();
            let done = &done;
            s.spawn(move || {
                let mut checks = 0u64;
                // At least one check, however the threads are scheduled.
                while checks == 0 || (!done.load(Ordering::Acquire) && checks < 2000) {
                    let v = engine.visible_ts();
                    let n = engine
                        .iter(Bound::Unbounded, Bound::Unbounded, v, checks % 2 == 0)
                        .unwrap()
                        .count();
                    assert_eq!(n as u64, v, "reader at {v} saw {n} commits");
                    checks += 1;
                }
                checks
            })
        };
        for h in handles {
            h.join().unwrap();
        }
        done.store(true, Ordering::Release);
        reader.join().unwrap()
    });
    assert!(checks > 0);
    assert_eq!(engine.visible_ts(), writers * per_writer);
    drop(engine);
    let engine = Engine::open(dir.path(), opts).unwrap();
    assert_eq!(engine.recovery_report().records, writers * per_writer);
}
