//! A process crash at any point while a compaction and the last flushes run: the
//! reopened engine's visible timestamp never claims a commit it does not hold (found
//! by the power-loss campaign: timestamps once continued from the manifest's last
//! commit, which may name a `Durability::None` commit the log never received).
//!
//! Four checkpoints make four level-0 files, so a compaction starts; one more commit,
//! not synced, is written by the close while that compaction may still run. The disk
//! as left after every single file operation (a process crash: what was written stays)
//! must reopen with exactly as many keys as its visible timestamp says commits.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use sochdb::storage::io::SimFs;
use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch};

#[test]
fn a_crash_while_compaction_and_flush_race_loses_no_commit() {
    let dir = Path::new("/sim/db");
    let mut images = 0;
    for attempt in 0..20 {
        let fs = SimFs::new();
        fs.record_crash_points(true);
        let e = Engine::open_with_fs(dir, EngineOptions::default(), Arc::new(fs.clone())).unwrap();
        let modes = [
            Durability::Buffered,
            Durability::Sync,
            Durability::None,
            Durability::Sync,
        ];
        for (i, d) in modes.into_iter().enumerate() {
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
        for p in fs.take_crash_points() {
            images += 1;
            let img = p.fs.process_crash_image();
            let e = Engine::open_with_fs(dir, EngineOptions::default(), Arc::new(img))
                .unwrap_or_else(|err| panic!("attempt {attempt}, {p:?}: {err}"));
            let n = e
                .iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, false)
                .unwrap()
                .count() as u64;
            assert_eq!(n, e.visible_ts(), "attempt {attempt}, {p:?}");
        }
    }
    assert!(images > 100, "only {images} crash points");
}
