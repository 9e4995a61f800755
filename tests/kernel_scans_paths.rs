//! Key scans (prefix and range, forward and reverse, limits, own writes, streaming) and
//! paths (validation, segment-aware scans, keys and paths meeting).

use sochdb::Status;
use sochdb::backend::{Backend, KvCursor, ScanOptions, ScanRange, TxnOptions};
use sochdb::kernel::{Database, DbOptions, path};
use sochdb::storage::BatchOp;

fn open() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    (dir, db)
}

fn drain(mut c: Box<dyn KvCursor>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((k, _)) = c.next_entry().unwrap() {
        out.push(String::from_utf8(k).unwrap());
    }
    out
}

fn scan(
    db: &Database,
    txn: Option<u64>,
    range: ScanRange,
    reverse: bool,
    limit: Option<u64>,
) -> Vec<String> {
    drain(
        db.scan(
            txn,
            &ScanOptions {
                range,
                reverse,
                limit,
            },
        )
        .unwrap(),
    )
}

fn prefix(p: &str) -> ScanRange {
    ScanRange::Prefix(p.as_bytes().to_vec())
}

#[test]
fn prefix_and_range_scans() {
    let (_d, db) = open();
    let keys = ["a", "ab", "abc", "b", "ba", "c"];
    db.write_batch(
        &keys
            .iter()
            .map(|k| BatchOp::Put {
                key: k.as_bytes().to_vec(),
                value: k.as_bytes().to_vec(),
            })
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(scan(&db, None, prefix(""), false, None), keys);
    assert_eq!(
        scan(&db, None, prefix("a"), false, None),
        ["a", "ab", "abc"]
    );
    assert_eq!(scan(&db, None, prefix("a"), true, None), ["abc", "ab", "a"]);
    assert_eq!(scan(&db, None, prefix("a"), true, Some(2)), ["abc", "ab"]);
    assert_eq!(
        scan(&db, None, prefix(""), false, Some(0)),
        Vec::<String>::new()
    );
    let range = |s: &str, e: Option<&str>| ScanRange::Range {
        start: s.as_bytes().to_vec(),
        end: e.map(|e| e.as_bytes().to_vec()),
    };
    assert_eq!(
        scan(&db, None, range("ab", Some("b")), false, None),
        ["ab", "abc"]
    );
    assert_eq!(
        scan(&db, None, range("b", None), false, None),
        ["b", "ba", "c"]
    );
    assert_eq!(
        scan(&db, None, range("b", None), true, Some(2)),
        ["c", "ba"]
    );
    assert_eq!(
        scan(&db, None, range("c", Some("a")), false, None),
        Vec::<String>::new()
    );
    let e = db
        .scan(
            None,
            &ScanOptions {
                range: ScanRange::Prefix(vec![0xFF]),
                reverse: false,
                limit: None,
            },
        )
        .err()
        .unwrap();
    assert_eq!(e.status(), Status::InvalidArgument);
}

#[test]
fn scans_in_a_transaction_merge_own_writes() {
    let (_d, db) = open();
    for k in ["k1", "k3", "k5"] {
        db.put(None, k.as_bytes(), b"v").unwrap();
    }
    let t = db.begin(TxnOptions::default()).unwrap();
    db.put(Some(t), b"k2", b"new").unwrap();
    db.delete(Some(t), b"k3").unwrap();
    db.put(Some(t), b"k5", b"changed").unwrap();
    db.put(Some(t), b"k6", b"new").unwrap();
    db.delete(Some(t), b"k9").unwrap();
    assert_eq!(
        scan(&db, Some(t), prefix("k"), false, None),
        ["k1", "k2", "k5", "k6"]
    );
    assert_eq!(
        scan(&db, Some(t), prefix("k"), true, None),
        ["k6", "k5", "k2", "k1"]
    );
    assert_eq!(
        scan(&db, Some(t), prefix("k"), true, Some(3)),
        ["k6", "k5", "k2"]
    );
    assert_eq!(
        scan(&db, Some(t), prefix("k"), false, Some(2)),
        ["k1", "k2"]
    );
    let mut c = db
        .scan(
            Some(t),
            &ScanOptions {
                range: prefix("k5"),
                reverse: false,
                limit: None,
            },
        )
        .unwrap();
    assert_eq!(c.next_entry().unwrap().unwrap().1, b"changed");
    // Outside the transaction nothing changed yet.
    assert_eq!(
        scan(&db, None, prefix("k"), false, None),
        ["k1", "k3", "k5"]
    );
    // A cursor keeps streaming its snapshot after the transaction commits.
    let mut c = db
        .scan(
            Some(t),
            &ScanOptions {
                range: prefix("k"),
                reverse: false,
                limit: None,
            },
        )
        .unwrap();
    assert_eq!(c.next_entry().unwrap().unwrap().0, b"k1");
    db.commit(t).unwrap();
    let rest: Vec<Vec<u8>> = std::iter::from_fn(|| c.next_entry().unwrap().map(|e| e.0)).collect();
    assert_eq!(rest, [b"k2".to_vec(), b"k5".to_vec(), b"k6".to_vec()]);
    assert_eq!(
        scan(&db, None, prefix("k"), false, None),
        ["k1", "k2", "k5", "k6"]
    );
}

#[test]
fn empty_values_and_absent_keys_differ() {
    let (_d, db) = open();
    db.put(None, b"", b"").unwrap();
    assert_eq!(db.get(None, b"").unwrap(), Some(vec![]));
    assert_eq!(db.get(None, b"missing").unwrap(), None);
    db.delete(None, b"missing").unwrap();
    db.delete(None, b"").unwrap();
    assert_eq!(db.get(None, b"").unwrap(), None);
    let big = vec![0u8; sochdb::storage::MAX_KEY_LEN + 1];
    assert_eq!(
        db.put(None, &big, b"").unwrap_err().status(),
        Status::TooLarge
    );
}

#[test]
fn paths_are_keys_and_scans_are_segment_aware() {
    let (_d, db) = open();
    db.put_path(None, "users/alice/email", b"a@x").unwrap();
    db.put_path(None, "users/bob/email", b"b@x").unwrap();
    db.put_path(None, "users", b"root").unwrap();
    db.put_path(None, "users_archive/carol/email", b"c@x")
        .unwrap();
    db.put_path(None, "users.old/dave", b"d").unwrap();
    let joined = path::join(&["users", "alice", "email"]).unwrap();
    assert_eq!(
        db.get(None, joined.as_bytes()).unwrap(),
        Some(b"a@x".to_vec())
    );
    assert_eq!(
        db.get_path(None, "users/bob/email").unwrap(),
        Some(b"b@x".to_vec())
    );
    assert_eq!(
        drain(db.scan_path(None, "users", false, None).unwrap()),
        ["users/alice/email", "users/bob/email"]
    );
    assert_eq!(
        drain(db.scan_path(None, "users", true, Some(1)).unwrap()),
        ["users/bob/email"]
    );
    assert_eq!(
        drain(db.scan_path(None, "users/alice", false, None).unwrap()),
        ["users/alice/email"]
    );
    db.delete_path(None, "users/alice/email").unwrap();
    assert_eq!(db.get_path(None, "users/alice/email").unwrap(), None);
    for bad in ["", "/users", "users/", "a//b", "a/\0"] {
        let e = db.put_path(None, bad, b"x").unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument, "{bad:?}");
        assert_eq!(
            db.get_path(None, bad).unwrap_err().status(),
            Status::InvalidArgument
        );
        assert!(db.scan_path(None, bad, false, None).is_err());
    }
    let t = db.begin(TxnOptions::default()).unwrap();
    db.put_path(Some(t), "users/erin/email", b"e@x").unwrap();
    assert_eq!(
        drain(db.scan_path(Some(t), "users", false, None).unwrap()),
        ["users/bob/email", "users/erin/email"]
    );
    db.commit(t).unwrap();
}
