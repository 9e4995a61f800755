//! Engine-level unit tests: commit, read, reopen, segment rolling, close.

use std::ops::Bound;
use std::sync::Arc;

use super::*;
use crate::Status;

fn batch(ops: &[(&[u8], Option<&[u8]>)]) -> WriteBatch {
    let mut b = WriteBatch::new();
    for (k, v) in ops {
        match v {
            Some(v) => b.put(k, v).unwrap(),
            None => b.delete(k).unwrap(),
        }
    }
    b
}

fn scan(
    e: &Engine,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    reverse: bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    e.iter(start, end, u64::MAX, reverse)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn commit_read_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    let t1 = e
        .commit(&batch(&[(b"a", Some(b"1")), (b"b", Some(b""))]))
        .unwrap();
    let t2 = e
        .commit(&batch(&[(b"a", Some(b"2")), (b"b", None)]))
        .unwrap();
    assert!(t2 > t1);
    assert_eq!(e.visible_ts(), t2);
    assert_eq!(e.get(b"a", t1).unwrap(), Some(b"1".to_vec()));
    assert_eq!(e.get(b"b", t1).unwrap(), Some(vec![]));
    assert_eq!(e.get(b"b", t2).unwrap(), None);
    assert_eq!(e.get(b"a", u64::MAX).unwrap(), Some(b"2".to_vec()));
    assert_eq!(e.latest_ts(b"b").unwrap(), Some(t2));
    assert_eq!(e.stats().commits, 2);
    e.close().unwrap();
    assert_eq!(e.get(b"a", t2).unwrap_err().status(), Status::Closed);
    assert_eq!(
        e.commit(&WriteBatch::new()).unwrap_err().status(),
        Status::Closed
    );
    drop(e);

    let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    assert_eq!(e.recovery_report().records, 2);
    assert_eq!(e.visible_ts(), t2);
    assert_eq!(e.get(b"a", t1).unwrap(), Some(b"1".to_vec()));
    assert_eq!(e.get(b"b", u64::MAX).unwrap(), None);
    let t3 = e.commit(&batch(&[(b"c", Some(b"3"))])).unwrap();
    assert!(t3 > t2, "timestamps keep increasing across restarts");
}

#[test]
fn validate_error_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    let mut seen = 0;
    let err = e
        .commit_with(&batch(&[(b"k", Some(b"v"))]), None, &mut |ts| {
            seen = ts;
            Err(Error::Conflict("k".into()))
        })
        .unwrap_err();
    assert_eq!(err.status(), Status::Conflict);
    assert_eq!(seen, 1);
    assert_eq!(e.get(b"k", u64::MAX).unwrap(), None);
    let ts = e.commit_with(&batch(&[(b"k", Some(b"v"))]), None, &mut |ts| {
        assert_eq!(ts, 1, "the aborted commit used no timestamp");
        Ok(())
    });
    assert_eq!(ts.unwrap(), 1);
}

#[test]
fn ranges_forward_and_backward_with_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    e.commit(&batch(&[
        (b"a", Some(b"1")),
        (b"b", Some(b"1")),
        (b"c", Some(b"1")),
        (b"d", Some(b"1")),
    ]))
    .unwrap();
    let old = e.visible_ts();
    e.commit(&batch(&[
        (b"b", None),
        (b"c", Some(b"2")),
        (b"e", Some(b"2")),
    ]))
    .unwrap();
    let keys = |v: Vec<(Vec<u8>, Vec<u8>)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    use Bound::*;
    assert_eq!(
        keys(scan(&e, Unbounded, Unbounded, false)),
        [b"a", b"c", b"d", b"e"]
    );
    assert_eq!(
        keys(scan(&e, Unbounded, Unbounded, true)),
        [b"e", b"d", b"c", b"a"]
    );
    assert_eq!(
        keys(scan(
            &e,
            Included(b"b".to_vec()),
            Excluded(b"e".to_vec()),
            false
        )),
        [b"c", b"d"]
    );
    assert_eq!(
        keys(scan(
            &e,
            Excluded(b"c".to_vec()),
            Included(b"e".to_vec()),
            true
        )),
        [b"e", b"d"]
    );
    assert_eq!(
        keys(scan(
            &e,
            Excluded(b"a".to_vec()),
            Excluded(b"c".to_vec()),
            true
        )),
        Vec::<Vec<u8>>::new()
    );
    let at_old: Vec<_> = e
        .iter(Unbounded, Unbounded, old, true)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        at_old,
        vec![
            (b"d".to_vec(), b"1".to_vec()),
            (b"c".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"1".to_vec()),
            (b"a".to_vec(), b"1".to_vec())
        ]
    );
}

#[test]
fn segments_roll_and_replay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        wal_segment_size: 200,
        ..EngineOptions::default()
    };
    let e = Engine::open(dir.path(), opts.clone()).unwrap();
    for i in 0u32..40 {
        e.commit(&batch(&[(&i.to_be_bytes(), Some(&[7u8; 30]))]))
            .unwrap();
    }
    drop(e);
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|d| {
            d.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("wal-")
        })
        .count();
    assert!(segments > 5, "only {segments} segments");
    let e = Engine::open(dir.path(), opts).unwrap();
    assert_eq!(e.recovery_report().records, 40);
    assert_eq!(
        scan(&e, Bound::Unbounded, Bound::Unbounded, false).len(),
        40
    );
}

#[test]
fn durability_modes_all_recover() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        buffered_sync_interval: std::time::Duration::from_millis(5),
        ..EngineOptions::default()
    };
    let e = Engine::open(dir.path(), opts.clone()).unwrap();
    let modes = [Durability::Sync, Durability::Buffered, Durability::None];
    for i in 0u32..30 {
        let m = modes[i as usize % 3];
        e.commit_with(
            &batch(&[(&i.to_be_bytes(), Some(b"v"))]),
            Some(m),
            &mut |_| Ok(()),
        )
        .unwrap();
    }
    e.checkpoint().unwrap();
    assert_eq!(e.stats().commits, 30);
    drop(e);
    let e = Engine::open(dir.path(), opts.clone()).unwrap();
    // The checkpoint moved every commit into a block file: nothing is replayed.
    assert_eq!(e.recovery_report().records, 0);
    for i in 0u32..30 {
        assert_eq!(
            e.get(&i.to_be_bytes(), u64::MAX).unwrap(),
            Some(b"v".to_vec())
        );
    }
    for i in 30u32..40 {
        let m = modes[i as usize % 3];
        e.commit_with(
            &batch(&[(&i.to_be_bytes(), Some(b"w"))]),
            Some(m),
            &mut |_| Ok(()),
        )
        .unwrap();
    }
    drop(e);
    // Without a checkpoint, close syncs every mode and the log replays them.
    let e = Engine::open(dir.path(), opts).unwrap();
    assert_eq!(e.recovery_report().records, 10);
    assert_eq!(
        e.get(&35u32.to_be_bytes(), u64::MAX).unwrap(),
        Some(b"w".to_vec())
    );
}

#[test]
fn read_only_open_reads_and_refuses_commits() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    e.commit(&batch(&[(b"k", Some(b"v"))])).unwrap();
    drop(e);
    let opts = EngineOptions {
        read_only: true,
        ..EngineOptions::default()
    };
    let e = Engine::open(dir.path(), opts).unwrap();
    assert_eq!(e.get(b"k", u64::MAX).unwrap(), Some(b"v".to_vec()));
    assert_eq!(
        e.commit(&WriteBatch::new()).unwrap_err().status(),
        Status::ReadOnly
    );
    assert!(e.is_read_only());
}

#[test]
fn iterator_outlives_engine_handle_and_moves_threads() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    e.commit(&batch(&[(b"x", Some(b"1")), (b"y", Some(b"2"))]))
        .unwrap();
    let it = e
        .iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, false)
        .unwrap();
    drop(e);
    let got: Vec<_> = std::thread::spawn(move || it.map(Result::unwrap).collect::<Vec<_>>())
        .join()
        .unwrap();
    assert_eq!(got.len(), 2);
    // The lock was released by the drop even though the iterator lived on.
    Engine::open(dir.path(), EngineOptions::default()).unwrap();
}

#[test]
fn open_with_fault_fs_counts_operations() {
    let dir = tempfile::tempdir().unwrap();
    let fs = io::FaultFs::new(Arc::new(io::OsFs::new()));
    let e =
        Engine::open_with_fs(dir.path(), EngineOptions::default(), Arc::new(fs.clone())).unwrap();
    let writes = fs.count(io::FaultOp::Write);
    let syncs = fs.count(io::FaultOp::Sync);
    e.commit(&batch(&[(b"k", Some(b"v"))])).unwrap();
    assert_eq!(
        fs.count(io::FaultOp::Write),
        writes + 1,
        "one write per lone commit"
    );
    assert_eq!(
        fs.count(io::FaultOp::Sync),
        syncs + 1,
        "one sync per lone commit"
    );
}

#[test]
fn open_iterator_keeps_its_snapshot_while_commits_continue() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        durability: Durability::None,
        ..EngineOptions::default()
    };
    let e = Engine::open(dir.path(), opts).unwrap();
    for i in 0u32..2000 {
        e.commit(&batch(&[(&(i * 2).to_be_bytes(), Some(b"old"))]))
            .unwrap();
    }
    let snapshot = e.visible_ts();
    for reverse in [false, true] {
        let it = e
            .iter(Bound::Unbounded, Bound::Unbounded, snapshot, reverse)
            .unwrap();
        let mut seen = 0u32;
        for item in it {
            let (k, v) = item.unwrap();
            assert_eq!(v, b"old");
            let k = u32::from_be_bytes(k.try_into().unwrap());
            let want = if reverse { (1999 - seen) * 2 } else { seen * 2 };
            assert_eq!(k, want);
            seen += 1;
            // Meanwhile: new keys in between, overwrites and deletes of keys not yet
            // reached. None of it may show through the snapshot.
            if seen % 10 == 0 {
                let ahead = if reverse {
                    k.saturating_sub(20)
                } else {
                    k + 20
                };
                e.commit(&batch(&[
                    (&(k + 1).to_be_bytes(), Some(b"new")),
                    (&ahead.to_be_bytes(), None),
                    (&(ahead + 2).to_be_bytes(), Some(b"new")),
                ]))
                .unwrap();
            }
        }
        assert_eq!(seen, 2000);
    }
}

#[test]
fn checkpoint_trims_the_log_and_reopen_replays_only_what_came_after() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        wal_segment_size: 4096,
        ..EngineOptions::default()
    };
    let e = Engine::open(dir.path(), opts.clone()).unwrap();
    for i in 0u32..200 {
        e.commit(&batch(&[(&i.to_be_bytes(), Some(&[7u8; 50]))]))
            .unwrap();
    }
    let segments = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .filter_map(|e| {
                wal::segment::parse_segment_name(&e.unwrap().file_name().to_string_lossy())
            })
            .collect();
        v.sort();
        v
    };
    assert!(segments(dir.path()).len() > 3);
    e.checkpoint().unwrap();
    let s = e.stats();
    assert_eq!(s.memtable_entries, 0);
    assert_eq!(s.level_files.iter().sum::<u64>(), 1);
    assert_eq!(s.flushed_ts, 200);
    // Only the segment started at the checkpoint is left, holding no record.
    assert_eq!(segments(dir.path()).len(), 1);
    assert_eq!(s.wal_bytes, wal::segment::HEADER_LEN as u64);
    // A second checkpoint with nothing new is a no-op.
    e.checkpoint().unwrap();
    assert_eq!(e.stats().flushes, 1);
    for i in 200u32..205 {
        e.commit(&batch(&[(&i.to_be_bytes(), None)])).unwrap();
    }
    drop(e);
    let e = Engine::open(dir.path(), opts).unwrap();
    let r = e.recovery_report();
    assert_eq!((r.records, r.skipped), (5, 0), "{r:?}");
    assert_eq!(e.visible_ts(), 205);
    assert_eq!(
        e.get(&10u32.to_be_bytes(), u64::MAX).unwrap(),
        Some(vec![7u8; 50])
    );
    assert_eq!(e.get(&202u32.to_be_bytes(), u64::MAX).unwrap(), None);
    assert_eq!(
        scan(&e, Bound::Unbounded, Bound::Unbounded, false).len(),
        200
    );
}

#[test]
fn a_missing_current_with_a_trimmed_log_refuses_to_open_and_keeps_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    e.commit(&batch(&[(b"k", Some(b"v"))])).unwrap();
    e.checkpoint().unwrap();
    e.commit(&batch(&[(b"k2", Some(b"v"))])).unwrap();
    drop(e);
    std::fs::remove_file(dir.path().join(manifest::CURRENT)).unwrap();
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let err = Engine::open(dir.path(), EngineOptions::default())
        .err()
        .unwrap();
    assert_eq!(err.status(), Status::Corruption, "{err}");
    assert!(err.to_string().contains("CURRENT"), "{err}");
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before.len(), after.len(), "no file was touched");
}

#[test]
fn leftovers_of_an_interrupted_flush_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    e.commit(&batch(&[(b"k", Some(b"v"))])).unwrap();
    e.checkpoint().unwrap();
    drop(e);
    // An unfinished output and a finished but never installed one.
    std::fs::write(dir.path().join(temp_table_file_name(900)), b"partial").unwrap();
    std::fs::write(dir.path().join(sstable::table_file_name(901)), b"orphan").unwrap();
    let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    assert_eq!(e.get(b"k", u64::MAX).unwrap(), Some(b"v".to_vec()));
    assert!(!dir.path().join(temp_table_file_name(900)).exists());
    assert!(!dir.path().join(sstable::table_file_name(901)).exists());
    // New files never reuse the numbers seen.
    e.commit(&batch(&[(b"k3", Some(b"v"))])).unwrap();
    e.checkpoint().unwrap();
    assert!(dir.path().join(sstable::table_file_name(902)).exists());
}

#[test]
fn a_lone_none_writer_fills_and_writes_the_log_buffer_itself() {
    // A `None` commit is visible at once, yet writes the log buffer itself once it holds
    // 1 MiB; it must not wait for itself to leave before leading that write.
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        durability: Durability::None,
        buffered_sync_interval: std::time::Duration::from_secs(3600),
        ..EngineOptions::default()
    };
    let e = Engine::open(dir.path(), opts).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = {
        let e = e.clone();
        std::thread::spawn(move || {
            for i in 0u32..30_000 {
                e.commit(&batch(&[(&i.to_be_bytes(), Some(&[1u8; 100]))]))
                    .unwrap();
            }
            tx.send(()).unwrap();
        })
    };
    rx.recv_timeout(std::time::Duration::from_secs(120))
        .expect("the writer is stuck");
    writer.join().unwrap();
    assert!(e.stats().wal_writes > 0, "the full buffer was written");
}

#[test]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Engine>();
    send::<EngineIter>();
    send_sync::<io::OsFs>();
    send_sync::<io::FaultFs>();
}

fn tiny_lsm_options() -> EngineOptions {
    EngineOptions {
        durability: Durability::None,
        memtable_budget: 8 * 1024,
        compaction: compaction::CompactionOptions {
            num_levels: 4,
            l0_trigger: 2,
            level1_bytes: 32 * 1024,
            level_ratio: 3,
            target_file_size: 16 * 1024,
            ..compaction::CompactionOptions::default()
        },
        ..EngineOptions::default()
    }
}

#[test]
fn close_amid_flushes_and_compactions_leaves_a_sound_directory() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0u32..3 {
        let e = Engine::open(dir.path(), tiny_lsm_options()).unwrap();
        for i in 0u32..3000 {
            let k = (i % 700).to_be_bytes();
            e.commit(&batch(&[(&k, Some(&round.to_le_bytes()))]))
                .unwrap();
            e.set_safe_ts(e.visible_ts());
        }
        // Close while the background threads are busy.
        e.close().unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| parse_temp_table_file_name(n).is_some()),
            "unfinished block files after close: {names:?}"
        );
        let report = verify(dir.path()).unwrap();
        assert!(report.is_ok(), "{report}");
        assert!(report.files > 0, "{report}");
    }
    let e = Engine::open(dir.path(), tiny_lsm_options()).unwrap();
    for i in 0u32..700 {
        assert_eq!(
            e.get(&i.to_be_bytes(), u64::MAX).unwrap(),
            Some(2u32.to_le_bytes().to_vec())
        );
    }
}

#[test]
fn read_only_open_reads_block_files_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), tiny_lsm_options()).unwrap();
    for i in 0u32..2000 {
        e.commit(&batch(&[(&i.to_be_bytes(), Some(b"v"))])).unwrap();
    }
    e.checkpoint().unwrap();
    e.commit(&batch(&[(b"after", Some(b"x"))])).unwrap();
    drop(e);
    std::fs::write(dir.path().join(temp_table_file_name(999)), b"partial").unwrap();
    let listing = |d: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), e.metadata().unwrap().len())
            })
            .collect();
        v.sort();
        v
    };
    let before = listing(dir.path());
    let ro = EngineOptions {
        read_only: true,
        ..tiny_lsm_options()
    };
    let e = Engine::open(dir.path(), ro).unwrap();
    assert!(e.stats().level_files.iter().sum::<u64>() > 0);
    assert_eq!(
        e.get(&7u32.to_be_bytes(), u64::MAX).unwrap(),
        Some(b"v".to_vec())
    );
    assert_eq!(e.get(b"after", u64::MAX).unwrap(), Some(b"x".to_vec()));
    assert_eq!(
        scan(&e, Bound::Unbounded, Bound::Unbounded, true).len(),
        2001
    );
    assert_eq!(e.compact().unwrap(), 0);
    e.checkpoint().unwrap();
    drop(e);
    assert_eq!(
        listing(dir.path()),
        before,
        "a read-only open changed files"
    );
}

/// A replayed memtable of at least a quarter of the budget goes to a block file after
/// open (in the background), keeping every value; a smaller one stays in memory.
#[test]
fn a_large_replayed_memtable_is_flushed_after_open_and_a_small_one_is_not() {
    let opts = || EngineOptions {
        memtable_budget: 256 * 1024,
        durability: Durability::Buffered,
        ..EngineOptions::default()
    };
    let value = [7u8; 100];
    for (keys, flushed) in [(100u32, false), (1000u32, true)] {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(dir.path(), opts()).unwrap();
        for i in 0..keys {
            e.commit(&batch(&[(&i.to_be_bytes(), Some(&value))]))
                .unwrap();
        }
        let bytes = e.inner.shared.current().mem.approximate_bytes();
        assert_eq!(bytes >= 64 * 1024, flushed, "{keys} keys: {bytes} bytes");
        e.close().unwrap();
        drop(e);

        let e = Engine::open(dir.path(), opts()).unwrap();
        assert_eq!(e.recovery_report().records, u64::from(keys));
        if flushed {
            for _ in 0..6000 {
                if e.stats().flushes > 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            assert_eq!(e.stats().flushes, 1, "{keys} keys");
            assert!(e.inner.shared.current().frozen.is_empty());
        } else {
            assert_eq!(e.stats().flushes, 0, "{keys} keys");
            assert!(e.inner.shared.current().frozen.is_empty());
        }
        for i in 0..keys {
            assert_eq!(
                e.get(&i.to_be_bytes(), u64::MAX).unwrap().as_deref(),
                Some(&value[..])
            );
        }
    }
}
