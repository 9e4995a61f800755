use sochdb::storage::io::SimFs;
use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

#[test]
fn a_crash_while_compaction_and_flush_race_loses_no_commit() {
    let dir = Path::new("/repro/db");
    for attempt in 0..50 {
        let fs = SimFs::new();
        fs.record_crash_points(true);
        let e = Engine::open_with_fs(dir, EngineOptions::default(), Arc::new(fs.clone())).unwrap();
        // Four checkpoints make four level-0 files (a compaction starts); the last
        // commit (not synced) is flushed by the close while that compaction runs.
        for (i, d) in [
            Durability::Buffered,
            Durability::Sync,
            Durability::None,
            Durability::Sync,
        ]
        .into_iter()
        .enumerate()
        {
            let mut b = WriteBatch::new();
            b.put(format!("k{i}").as_bytes(), b"v").unwrap();
            e.commit_with(&b, Some(d), &mut |_| Ok(())).unwrap();
            e.checkpoint().unwrap();
        }
        let mut b = WriteBatch::new();
        b.put(b"k4", b"v").unwrap();
        e.commit_with(&b, Some(Durability::None), &mut |_| Ok(()))
            .unwrap();
        e.close().unwrap();
        drop(e);
        // The disk as left at every step (a process crash: nothing lost).
        for p in fs.take_crash_points() {
            let img = p.fs.process_crash_image();
            let e = Engine::open_with_fs(dir, EngineOptions::default(), Arc::new(img)).unwrap();
            let n = e
                .iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, false)
                .unwrap()
                .count() as u64;
            assert_eq!(n, e.visible_ts(), "attempt {attempt}, {p:?}");
        }
    }
}
