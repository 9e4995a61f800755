//! The full manual compaction (`Backend::compact`) of an in-process database: the
//! contents afterwards are exactly those of a model, snapshots held across it still read
//! their versions, writers and readers go on while it runs, only one version of each
//! key is left once no snapshot needs more, and a read-only or closed database answers
//! with its status.

mod harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use harness::Rng;
use sochdb::Error;
use sochdb::backend::{Backend, ScanOptions, ScanRange, TxnId, TxnOptions};
use sochdb::kernel::{Database, DbOptions};
use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::{BatchOp, Durability, EngineOptions};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Small memtables and levels, so that a few hundred kilobytes make a tree.
fn options() -> DbOptions {
    DbOptions {
        engine: EngineOptions {
            durability: Durability::None,
            memtable_budget: 64 * 1024,
            compaction: CompactionOptions {
                level1_bytes: 256 * 1024,
                target_file_size: 64 * 1024,
                ..CompactionOptions::default()
            },
            ..EngineOptions::default()
        },
        ..DbOptions::default()
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key/{i:05}").into_bytes()
}

/// Every pair the scan covers, in the transaction `txn` or outside any.
fn scan_all(db: &dyn Backend, txn: Option<TxnId>) -> Model {
    let opts = ScanOptions {
        range: ScanRange::Prefix(Vec::new()),
        reverse: false,
        limit: None,
    };
    let mut c = db.scan(txn, &opts).unwrap();
    let mut m = Model::new();
    while let Some((k, v)) = c.next_entry().unwrap() {
        m.insert(k, v);
    }
    m
}

/// Checks the database (and each held snapshot) against the models.
fn check(db: &Database, model: &Model, snapshots: &[(TxnId, Model)], rng: &mut Rng) {
    assert!(
        scan_all(db, None) == *model,
        "the scan differs from the model"
    );
    for _ in 0..200 {
        let k = key(rng.below(KEYS + 10));
        assert_eq!(db.get(None, &k).unwrap(), model.get(&k).cloned(), "{k:?}");
    }
    for (t, m) in snapshots {
        assert!(
            scan_all(db, Some(*t)) == *m,
            "snapshot {t} reads other versions than it did when it began"
        );
        let k = key(rng.below(KEYS));
        assert_eq!(db.get(Some(*t), &k).unwrap(), m.get(&k).cloned());
    }
}

const KEYS: u64 = 1500;

/// One round of random writes: batches of puts and deletes, and one transaction.
fn write_round(db: &Database, model: &mut Model, rng: &mut Rng) {
    for _ in 0..8 {
        let mut ops = Vec::new();
        for _ in 0..50 {
            let k = key(rng.below(KEYS));
            if rng.below(5) == 0 {
                model.remove(&k);
                ops.push(BatchOp::Delete { key: k });
            } else {
                let len = rng.below(300) as usize;
                let v = rng.bytes(len);
                model.insert(k.clone(), v.clone());
                ops.push(BatchOp::Put { key: k, value: v });
            }
        }
        db.write_batch(&ops).unwrap();
    }
    let t = db.begin(TxnOptions::default()).unwrap();
    let k = key(rng.below(KEYS));
    let v = rng.bytes(40);
    db.put(Some(t), &k, &v).unwrap();
    db.commit(t).unwrap();
    model.insert(k, v);
}

#[test]
fn compaction_keeps_exactly_the_contents_and_every_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let mut rng = Rng(0x5EED_C0DE);
    let mut model = Model::new();
    let mut snapshots: Vec<(TxnId, Model)> = Vec::new();
    for round in 0..14 {
        write_round(&db, &mut model, &mut rng);
        if round == 3 || round == 8 {
            let t = db
                .begin(TxnOptions {
                    read_only: true,
                    ..TxnOptions::default()
                })
                .unwrap();
            snapshots.push((t, model.clone()));
        }
        if round % 4 == 2 {
            db.compact().unwrap();
            check(&db, &model, &snapshots, &mut rng);
        }
    }
    let stats = db.engine().stats();
    assert!(stats.flushes >= 10, "{stats:?}");

    // With no snapshot held, one version of each key is left, and no tombstone.
    for (t, _) in snapshots.drain(..) {
        db.commit(t).unwrap();
    }
    db.compact().unwrap();
    check(&db, &model, &snapshots, &mut rng);
    let stats = db.engine().stats();
    let last = stats.level_files.len() - 1;
    assert!(
        stats.level_files[..last].iter().all(|&n| n == 0),
        "files above the last level: {:?}",
        stats.level_files
    );
    assert_eq!(stats.memtable_entries, 0, "the memtable was not flushed");
    assert_eq!(stats.live_keys_estimate, model.len() as u64, "{stats:?}");

    // And the result survives a reopen.
    db.close().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    check(&db, &model, &[], &mut rng);
}

#[test]
fn readers_and_writers_go_on_during_a_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Database::open(dir.path(), options()).unwrap());
    let mut rng = Rng(42);
    let mut model = Model::new();
    for _ in 0..6 {
        write_round(&db, &mut model, &mut rng);
    }
    let written: Model = std::thread::scope(|s| {
        let compactor = s.spawn(|| {
            for _ in 0..3 {
                db.compact().unwrap();
            }
        });
        // Keys of their own, each read back at once, while the compactions run.
        let mut mine = Model::new();
        for i in 0..3000u64 {
            let k = format!("writer/{i:05}").into_bytes();
            let v = format!("value {i}").into_bytes();
            db.put(None, &k, &v).unwrap();
            assert_eq!(db.get(None, &k).unwrap(), Some(v.clone()));
            if i % 7 == 0 {
                db.delete(None, &k).unwrap();
                assert_eq!(db.get(None, &k).unwrap(), None);
            } else {
                mine.insert(k, v);
            }
        }
        compactor.join().unwrap();
        mine
    });
    model.extend(written);
    check(&db, &model, &[], &mut rng);
    db.compact().unwrap();
    check(&db, &model, &[], &mut rng);
}

fn fill(dir: &Path) {
    let db = Database::open(dir, options()).unwrap();
    for i in 0..2000u64 {
        db.put(None, &key(i), format!("value {i}").as_bytes())
            .unwrap();
    }
    db.close().unwrap();
}

#[test]
fn a_read_only_or_closed_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());

    let mut ro = options();
    ro.engine.read_only = true;
    let db = Database::open(dir.path(), ro).unwrap();
    let e = db.compact().unwrap_err();
    assert!(matches!(e, Error::ReadOnly(_)), "{e}");
    assert!(e.to_string().contains("read-only"), "{e}");
    assert_eq!(
        db.get(None, &key(7)).unwrap(),
        Some(b"value 7".to_vec()),
        "reads still work"
    );
    db.close().unwrap();

    let db = Database::open(dir.path(), options()).unwrap();
    db.close().unwrap();
    let e = db.compact().unwrap_err();
    assert!(matches!(e, Error::Closed(_)), "{e}");
}

#[test]
fn closing_during_a_compaction_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let db = Database::open(dir.path(), options()).unwrap();
        let mut rng = Rng(7);
        for _ in 0..6 {
            write_round(&db, &mut model, &mut rng);
        }
        db.checkpoint().unwrap();
        let db = Arc::new(db);
        let outcome = std::thread::scope(|s| {
            let c = s.spawn(|| db.compact());
            db.close().unwrap();
            c.join().unwrap()
        });
        // Finished before the close, or stopped by it: nothing else.
        if let Err(e) = outcome {
            assert!(matches!(e, Error::Closed(_)), "{e}");
        }
    }
    let db = Database::open(dir.path(), options()).unwrap();
    check(&db, &model, &[], &mut Rng(8));
}
