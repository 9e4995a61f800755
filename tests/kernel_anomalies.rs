//! The classic isolation anomalies, each run under serializable (all prevented) and under
//! snapshot isolation (write skew allowed, the others prevented).

use sochdb::Status;
use sochdb::backend::{Backend, Isolation, ScanOptions, ScanRange, TxnOptions};
use sochdb::kernel::{Database, DbOptions};

fn open() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    (dir, db)
}

fn opts(iso: Isolation) -> TxnOptions {
    TxnOptions {
        isolation: Some(iso),
        read_only: false,
    }
}

fn int(v: Option<Vec<u8>>) -> i64 {
    String::from_utf8(v.unwrap()).unwrap().parse().unwrap()
}

fn put_int(db: &Database, txn: Option<u64>, key: &str, v: i64) {
    db.put(txn, key.as_bytes(), v.to_string().as_bytes())
        .unwrap();
}

fn count_prefix(db: &Database, txn: u64, prefix: &str) -> usize {
    let mut c = db
        .scan(
            Some(txn),
            &ScanOptions {
                range: ScanRange::Prefix(prefix.as_bytes().to_vec()),
                reverse: false,
                limit: None,
            },
        )
        .unwrap();
    let mut n = 0;
    while c.next_entry().unwrap().is_some() {
        n += 1;
    }
    n
}

/// Two read-modify-write increments of one counter: the second commit must fail.
fn lost_update(iso: Isolation) {
    let (_d, db) = open();
    put_int(&db, None, "x", 10);
    let t1 = db.begin(opts(iso)).unwrap();
    let t2 = db.begin(opts(iso)).unwrap();
    let a = int(db.get(Some(t1), b"x").unwrap());
    let b = int(db.get(Some(t2), b"x").unwrap());
    put_int(&db, Some(t1), "x", a + 1);
    put_int(&db, Some(t2), "x", b + 1);
    db.commit(t1).unwrap();
    let e = db.commit(t2).unwrap_err();
    assert_eq!(e.status(), Status::Conflict, "{iso:?}: {e}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains("retried"), "{e}");
    assert_eq!(int(db.get(None, b"x").unwrap()), 11, "{iso:?}");
}

/// Two on-call doctors each go off call after checking the other is on: at least one
/// must stay on call under serializable; snapshot isolation lets both commit.
fn write_skew(iso: Isolation) -> bool {
    let (_d, db) = open();
    put_int(&db, None, "alice", 1);
    put_int(&db, None, "bob", 1);
    let t1 = db.begin(opts(iso)).unwrap();
    let t2 = db.begin(opts(iso)).unwrap();
    let on1 = int(db.get(Some(t1), b"alice").unwrap()) + int(db.get(Some(t1), b"bob").unwrap());
    let on2 = int(db.get(Some(t2), b"alice").unwrap()) + int(db.get(Some(t2), b"bob").unwrap());
    assert_eq!((on1, on2), (2, 2));
    put_int(&db, Some(t1), "alice", 0);
    put_int(&db, Some(t2), "bob", 0);
    db.commit(t1).unwrap();
    let second = db.commit(t2);
    let total = int(db.get(None, b"alice").unwrap()) + int(db.get(None, b"bob").unwrap());
    match second {
        Ok(_) => {
            assert_eq!(total, 0);
            true
        }
        Err(e) => {
            assert_eq!(e.status(), Status::Conflict, "{e}");
            assert_eq!(total, 1);
            false
        }
    }
}

/// A transaction counts rows through a scan and records the count; a concurrent insert
/// into the scanned range commits first.
fn phantom(iso: Isolation) -> bool {
    let (_d, db) = open();
    put_int(&db, None, "emp/1", 1);
    put_int(&db, None, "emp/2", 1);
    put_int(&db, None, "empty", 1); // outside the prefix scanned below
    let t1 = db.begin(opts(iso)).unwrap();
    assert_eq!(count_prefix(&db, t1, "emp/"), 2);
    let t2 = db.begin(opts(iso)).unwrap();
    put_int(&db, Some(t2), "emp/3", 1);
    db.commit(t2).unwrap();
    // The snapshot does not change under the transaction: no phantom row appears.
    assert_eq!(count_prefix(&db, t1, "emp/"), 2, "{iso:?}");
    put_int(&db, Some(t1), "emp_count", 2);
    match db.commit(t1) {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e.status(), Status::Conflict, "{e}");
            assert!(db.get(None, b"emp_count").unwrap().is_none(), "no trace");
            false
        }
    }
}

/// A transfer commits between a transaction's two reads: the reader still sees the
/// old total; a writer that acted on those reads cannot commit under serializable.
fn read_skew(iso: Isolation) -> bool {
    let (_d, db) = open();
    put_int(&db, None, "a", 50);
    put_int(&db, None, "b", 50);
    let reader = db
        .begin(TxnOptions {
            isolation: Some(iso),
            read_only: true,
        })
        .unwrap();
    let t1 = db.begin(opts(iso)).unwrap();
    let ra = int(db.get(Some(reader), b"a").unwrap());
    let a = int(db.get(Some(t1), b"a").unwrap());
    let t2 = db.begin(opts(iso)).unwrap();
    put_int(&db, Some(t2), "a", 0);
    put_int(&db, Some(t2), "b", 100);
    db.commit(t2).unwrap();
    let rb = int(db.get(Some(reader), b"b").unwrap());
    let b = int(db.get(Some(t1), b"b").unwrap());
    assert_eq!(
        ra + rb,
        100,
        "{iso:?}: a read-only reader sees a consistent total"
    );
    assert_eq!(a + b, 100, "{iso:?}: a writer sees a consistent total");
    db.commit(reader).unwrap();
    put_int(&db, Some(t1), "total", a + b);
    db.commit(t1).is_ok()
}

#[test]
fn serializable_prevents_every_anomaly() {
    lost_update(Isolation::Serializable);
    assert!(!write_skew(Isolation::Serializable), "write skew prevented");
    assert!(!phantom(Isolation::Serializable), "phantom prevented");
    assert!(
        !read_skew(Isolation::Serializable),
        "stale-read writer refused"
    );
}

#[test]
fn snapshot_isolation_allows_only_write_skew() {
    lost_update(Isolation::Snapshot);
    assert!(
        write_skew(Isolation::Snapshot),
        "write skew is allowed under SI"
    );
    // Under SI the scan sees no phantom row; the count it writes commits (write skew).
    assert!(phantom(Isolation::Snapshot));
    // Reads are consistent; the writer commits because SI checks only write-write.
    assert!(read_skew(Isolation::Snapshot));
}

#[test]
fn default_isolation_is_serializable_and_configurable() {
    let (_d, db) = open();
    put_int(&db, None, "alice", 1);
    put_int(&db, None, "bob", 1);
    let t1 = db.begin(TxnOptions::default()).unwrap();
    let t2 = db.begin(TxnOptions::default()).unwrap();
    db.get(Some(t1), b"bob").unwrap();
    db.get(Some(t2), b"alice").unwrap();
    put_int(&db, Some(t1), "alice", 0);
    put_int(&db, Some(t2), "bob", 0);
    db.commit(t1).unwrap();
    assert_eq!(db.commit(t2).unwrap_err().status(), Status::Conflict);

    let dir = tempfile::tempdir().unwrap();
    let si = Database::open(
        dir.path(),
        DbOptions {
            default_isolation: Isolation::Snapshot,
            ..DbOptions::default()
        },
    )
    .unwrap();
    put_int(&si, None, "alice", 1);
    put_int(&si, None, "bob", 1);
    let t1 = si.begin(TxnOptions::default()).unwrap();
    let t2 = si.begin(TxnOptions::default()).unwrap();
    si.get(Some(t1), b"bob").unwrap();
    si.get(Some(t2), b"alice").unwrap();
    put_int(&si, Some(t1), "alice", 0);
    put_int(&si, Some(t2), "bob", 0);
    si.commit(t1).unwrap();
    si.commit(t2).unwrap();
}

#[test]
fn scan_conflicts_cover_only_what_was_consumed() {
    let (_d, db) = open();
    for i in 0..10 {
        put_int(&db, None, &format!("k{i}"), i);
    }
    // Reads the first two keys of the range only.
    let t1 = db.begin(TxnOptions::default()).unwrap();
    let mut c = db
        .scan(
            Some(t1),
            &ScanOptions {
                range: ScanRange::Prefix(b"k".to_vec()),
                reverse: false,
                limit: Some(2),
            },
        )
        .unwrap();
    assert_eq!(c.next_entry().unwrap().unwrap().0, b"k0");
    assert_eq!(c.next_entry().unwrap().unwrap().0, b"k1");
    assert!(c.next_entry().unwrap().is_none());
    // A write beyond the consumed part does not conflict...
    put_int(&db, None, "k5", 55);
    put_int(&db, Some(t1), "out", 1);
    db.commit(t1).unwrap();
    // ...one inside it does.
    let t2 = db.begin(TxnOptions::default()).unwrap();
    let mut c = db
        .scan(
            Some(t2),
            &ScanOptions {
                range: ScanRange::Prefix(b"k".to_vec()),
                reverse: true,
                limit: Some(2),
            },
        )
        .unwrap();
    assert_eq!(c.next_entry().unwrap().unwrap().0, b"k9");
    assert_eq!(c.next_entry().unwrap().unwrap().0, b"k8");
    put_int(&db, None, "k1", 11); // below the consumed part of a reverse scan: fine
    put_int(&db, None, "k85", 1); // inside [k8, end): conflict
    put_int(&db, Some(t2), "out", 2);
    assert_eq!(db.commit(t2).unwrap_err().status(), Status::Conflict);
    assert_eq!(int(db.get(None, b"out").unwrap()), 1);
}

#[test]
fn read_only_transactions_never_conflict_and_cannot_write() {
    let (_d, db) = open();
    put_int(&db, None, "x", 1);
    let commits_before = db.engine().stats().commits;
    let r = db
        .begin(TxnOptions {
            isolation: None,
            read_only: true,
        })
        .unwrap();
    assert_eq!(int(db.get(Some(r), b"x").unwrap()), 1);
    put_int(&db, None, "x", 2);
    assert_eq!(int(db.get(Some(r), b"x").unwrap()), 1);
    let e = db.put(Some(r), b"y", b"1").unwrap_err();
    assert_eq!(e.status(), Status::ReadOnly);
    let ts = db.commit(r).unwrap();
    assert_eq!(
        db.engine().stats().commits,
        commits_before + 1,
        "read-only wrote nothing"
    );
    assert!(ts < db.engine().visible_ts());
}
