//! The open-transaction policy (age, write-set and read-set limits, open count), retry
//! behaviour, conflicts leaving no trace, closing, and the stats object.

use std::time::Duration;

use sochdb::Status;
use sochdb::backend::{
    Backend, ColumnDef, ColumnType, RowWriteMode, TableSchema, TxnOptions, Value,
};
use sochdb::kernel::{Database, DbOptions};

fn open_with(opts: DbOptions) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), opts).unwrap();
    (dir, db)
}

fn open() -> (tempfile::TempDir, Database) {
    open_with(DbOptions::default())
}

#[test]
fn transactions_older_than_max_age_are_aborted() {
    let (_d, db) = open_with(DbOptions {
        max_txn_age: Duration::from_millis(1),
        ..DbOptions::default()
    });
    let used = db.begin(TxnOptions::default()).unwrap();
    db.put(Some(used), b"k", b"v").unwrap_or(());
    let idle = db.begin(TxnOptions::default()).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let e = db.get(Some(used), b"k").unwrap_err();
    assert_eq!(e.status(), Status::Timeout, "{e}");
    assert!(e.to_string().contains("max_txn_age"), "{e}");
    assert_eq!(db.commit(used).unwrap_err().status(), Status::Timeout);
    db.abort(used).unwrap();
    assert!(
        db.get(None, b"k").unwrap().is_none(),
        "nothing of it was committed"
    );
    // An idle transaction is reaped by a later begin, releasing its snapshot.
    let fresh = db.begin(TxnOptions::default()).unwrap();
    let stats = db.stats().unwrap();
    assert_eq!(stats["txns_open"].as_u64(), Some(1), "{stats:?}");
    assert_eq!(stats["txns_expired"].as_u64(), Some(2), "{stats:?}");
    assert_eq!(db.commit(idle).unwrap_err().status(), Status::Timeout);
    db.abort(fresh).unwrap();
}

#[test]
fn write_and_read_sets_are_bounded() {
    let (_d, db) = open_with(DbOptions {
        max_txn_write_bytes: 100,
        max_txn_read_bytes: 64,
        ..DbOptions::default()
    });
    let t = db.begin(TxnOptions::default()).unwrap();
    db.put(Some(t), b"a", &[1; 60]).unwrap();
    let e = db.put(Some(t), b"b", &[1; 60]).unwrap_err();
    assert_eq!(e.status(), Status::TooLarge, "{e}");
    assert!(e.to_string().contains("max_txn_write_bytes"), "{e}");
    // Replacing a buffered write counts the new size, not both.
    db.put(Some(t), b"a", &[2; 90]).unwrap();
    let mut failed = None;
    for i in 0..64 {
        if let Err(e) = db.get(Some(t), format!("key{i:04}").as_bytes()) {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("the read set hit its limit");
    assert_eq!(e.status(), Status::TooLarge);
    assert!(e.to_string().contains("max_txn_read_bytes"), "{e}");
    // The transaction is still usable and commits what it buffered.
    db.commit(t).unwrap();
    assert_eq!(db.get(None, b"a").unwrap(), Some(vec![2; 90]));
    assert_eq!(db.get(None, b"b").unwrap(), None);
    // Snapshot isolation records no reads, so reads are not limited.
    let si = db
        .begin(TxnOptions {
            isolation: Some(sochdb::backend::Isolation::Snapshot),
            read_only: false,
        })
        .unwrap();
    for i in 0..64 {
        db.get(Some(si), format!("key{i:04}").as_bytes()).unwrap();
    }
    db.commit(si).unwrap();
}

#[test]
fn open_transactions_are_bounded() {
    let (_d, db) = open_with(DbOptions {
        max_open_txns: 2,
        ..DbOptions::default()
    });
    let a = db.begin(TxnOptions::default()).unwrap();
    let _b = db.begin(TxnOptions::default()).unwrap();
    let e = db.begin(TxnOptions::default()).unwrap_err();
    assert_eq!(e.status(), Status::Busy, "{e}");
    // One-shot operations still run.
    db.put(None, b"k", b"v").unwrap();
    db.abort(a).unwrap();
    db.begin(TxnOptions::default()).unwrap();
}

#[test]
fn a_conflict_leaves_no_trace() {
    let (_d, db) = open();
    db.create_table(&TableSchema {
        name: "t".into(),
        columns: vec![ColumnDef {
            name: "v".into(),
            ty: ColumnType::Int64,
            nullable: false,
        }],
    })
    .unwrap();
    db.put(None, b"x", b"0").unwrap();
    let loser = db.begin(TxnOptions::default()).unwrap();
    db.get(Some(loser), b"x").unwrap();
    db.put(Some(loser), b"y", b"1").unwrap();
    db.delete(Some(loser), b"x").unwrap();
    db.put_path(Some(loser), "p/q", b"2").unwrap();
    db.write_row(
        Some(loser),
        "t",
        Some(7),
        &[("v".into(), Value::Int64(7))],
        RowWriteMode::Insert,
    )
    .unwrap();
    db.put(None, b"x", b"1").unwrap();
    let before = db.engine().stats().commits;
    let e = db.commit(loser).unwrap_err();
    assert_eq!(e.status(), Status::Conflict);
    assert!(
        e.to_string().contains("\"x\""),
        "the message names the key: {e}"
    );
    assert_eq!(
        db.engine().stats().commits,
        before,
        "nothing reached the engine"
    );
    assert_eq!(db.get(None, b"y").unwrap(), None);
    assert_eq!(db.get(None, b"x").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get_path(None, "p/q").unwrap(), None);
    assert_eq!(db.get_row(None, "t", 7).unwrap(), None);
    assert_eq!(db.commit(loser).unwrap_err().status(), Status::NotFound);
    assert_eq!(db.stats().unwrap()["txns_conflicted"].as_u64(), Some(1));
}

#[test]
fn retry_helper_retries_conflicts_a_bounded_number_of_times() {
    let (_d, db) = open();
    db.put(None, b"n", b"0").unwrap();
    // Succeeds after two forced conflicts.
    let mut calls = 0;
    let (v, ts) = db
        .run_in_txn(TxnOptions::default(), 5, |t| {
            calls += 1;
            let n = db.get(Some(t), b"n")?.unwrap();
            if calls <= 2 {
                db.put(None, b"n", format!("{calls}").as_bytes())?; // a rival commit
            }
            db.put(Some(t), b"n", b"done")?;
            Ok(n)
        })
        .unwrap();
    assert_eq!(calls, 3);
    assert_eq!(v, b"2".to_vec());
    assert!(ts <= db.engine().visible_ts());
    // Gives up after the bound, saying so.
    let mut calls = 0;
    let e = db
        .run_in_txn(TxnOptions::default(), 3, |t| {
            calls += 1;
            db.get(Some(t), b"n")?;
            db.put(None, b"n", b"rival")?;
            db.put(Some(t), b"n", b"mine")
        })
        .unwrap_err();
    assert_eq!(calls, 3);
    assert_eq!(e.status(), Status::Conflict);
    assert!(e.to_string().contains("after 3 attempts"), "{e}");
    // Other errors are returned at once.
    let mut calls = 0;
    let e = db
        .run_in_txn(TxnOptions::default(), 3, |t| {
            calls += 1;
            db.put(Some(t), &[0xFF], b"")
        })
        .unwrap_err();
    assert_eq!((calls, e.status()), (1, Status::InvalidArgument));
    assert_eq!(db.stats().unwrap()["txns_open"].as_u64(), Some(0));
}

#[test]
fn unknown_and_closed() {
    let (_d, db) = open();
    assert_eq!(
        db.get(Some(999), b"k").unwrap_err().status(),
        Status::NotFound
    );
    assert_eq!(db.commit(999).unwrap_err().status(), Status::NotFound);
    assert_eq!(db.abort(999).unwrap_err().status(), Status::NotFound);
    let t = db.begin(TxnOptions::default()).unwrap();
    db.put(Some(t), b"k", b"v").unwrap();
    let other = db.clone();
    db.close().unwrap();
    db.close().unwrap();
    for e in [
        other.get(None, b"k").unwrap_err(),
        other.put(None, b"k", b"v").unwrap_err(),
        other.begin(TxnOptions::default()).unwrap_err(),
        other.commit(t).unwrap_err(),
        other.list_tables().unwrap_err(),
        other.stats().unwrap_err(),
    ] {
        assert_eq!(e.status(), Status::Closed, "{e}");
    }
}

#[test]
fn stats_report_transactions_snapshots_and_engine_figures() {
    let (_d, db) = open();
    let stats = db.stats().unwrap();
    for field in [
        "txns_begun",
        "txns_committed",
        "txns_aborted",
        "txns_conflicted",
        "live_keys_estimate",
        "memtable_bytes",
        "log_bytes",
        "file_count",
        "file_bytes",
        "cache_hit_ratio",
        "oldest_snapshot",
        "uptime_secs",
    ] {
        assert!(stats.contains_key(field), "missing {field}: {stats:?}");
    }
    assert!(stats["oldest_snapshot"].is_null());
    db.put(None, b"a", b"1").unwrap();
    let t = db.begin(TxnOptions::default()).unwrap();
    let snapshot = db.engine().visible_ts();
    db.put(None, b"b", b"2").unwrap();
    db.put(Some(t), b"c", b"3").unwrap();
    let stats = db.stats().unwrap();
    assert_eq!(stats["oldest_snapshot"].as_u64(), Some(snapshot));
    assert_eq!(stats["txns_begun"].as_u64(), Some(3));
    assert_eq!(stats["txns_committed"].as_u64(), Some(2));
    assert!(stats["memtable_bytes"].as_u64().unwrap() > 0);
    // Two committed puts (the open transaction's write is not in the engine yet).
    assert_eq!(stats["live_keys_estimate"].as_u64(), Some(2));
    // The write committed after the open transaction's snapshot is tracked until it ends.
    assert_eq!(stats["conflict_tracked_keys"].as_u64(), Some(1));
    db.commit(t).unwrap();
    let stats = db.stats().unwrap();
    assert!(stats["oldest_snapshot"].is_null());
    assert_eq!(stats["conflict_tracked_keys"].as_u64(), Some(0));
    assert_eq!(stats["txns_committed"].as_u64(), Some(3));
    db.checkpoint().unwrap();
}
