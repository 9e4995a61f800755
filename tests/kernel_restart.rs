//! Reopening a database on the same directory: tables, catalog, rows, paths and keys
//! survive; row and table ids continue; commit timestamps keep increasing; a conflicting
//! commit does not come back; an interrupted table drop is finished at open.
//!
//! These tests need a storage engine that persists (the write-ahead log and block
//! files); they exercise `Database::open` on a directory written by an earlier open.

use sochdb::Status;
use sochdb::backend::{
    Backend, ColumnDef, ColumnType, QueryRequest, RowWriteMode, TableSchema, TxnOptions, Value,
};
use sochdb::kernel::{Database, DbOptions, keys};
use sochdb::storage::WriteBatch;

fn schema(name: &str) -> TableSchema {
    TableSchema {
        name: name.into(),
        columns: vec![
            ColumnDef {
                name: "name".into(),
                ty: ColumnType::Text,
                nullable: false,
            },
            ColumnDef {
                name: "n".into(),
                ty: ColumnType::Int64,
                nullable: true,
            },
        ],
    }
}

fn row(name: &str, n: i64) -> Vec<(String, Value)> {
    vec![
        ("name".into(), Value::Text(name.into())),
        ("n".into(), Value::Int64(n)),
    ]
}

#[test]
fn tables_keys_and_timestamps_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let last_ts;
    {
        let db = Database::open(dir.path(), DbOptions::default()).unwrap();
        db.create_table(&schema("people")).unwrap();
        db.create_table(&schema("gone")).unwrap();
        for (i, name) in ["ann", "ben", "cy"].iter().enumerate() {
            db.write_row(
                None,
                "people",
                None,
                &row(name, i as i64),
                RowWriteMode::Insert,
            )
            .unwrap();
        }
        db.write_row(None, "gone", None, &row("x", 0), RowWriteMode::Insert)
            .unwrap();
        db.drop_table("gone").unwrap();
        db.put_path(None, "cfg/mode", b"fast").unwrap();
        db.put(None, b"plain", b"").unwrap();
        // A commit that conflicts must not come back.
        let loser = db.begin(TxnOptions::default()).unwrap();
        db.get(Some(loser), b"plain").unwrap();
        db.put(Some(loser), b"ghost", b"boo").unwrap();
        db.put(None, b"plain", b"changed").unwrap();
        assert_eq!(db.commit(loser).unwrap_err().status(), Status::Conflict);
        let t = db.begin(TxnOptions::default()).unwrap();
        db.put(Some(t), b"last", b"1").unwrap();
        last_ts = db.commit(t).unwrap();
        db.close().unwrap();
    }
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    assert_eq!(db.list_tables().unwrap(), vec!["people"]);
    assert_eq!(db.describe_table("people").unwrap(), schema("people"));
    assert_eq!(
        db.create_table(&schema("people")).unwrap_err().status(),
        Status::AlreadyExists
    );
    let r = db
        .query(
            None,
            &QueryRequest {
                source: "people".into(),
                ..QueryRequest::default()
            },
        )
        .unwrap();
    assert_eq!(r.to_toon(), "people[3]{name,n}:\n  ann,0\n  ben,1\n  cy,2");
    // Row ids continue after the largest; a new table gets a new id (no stale rows).
    let id = db
        .write_row(None, "people", None, &row("dee", 3), RowWriteMode::Insert)
        .unwrap();
    assert_eq!(id, 4);
    db.create_table(&schema("gone")).unwrap();
    assert!(db.get_row(None, "gone", 1).unwrap().is_none());
    assert_eq!(
        db.get_path(None, "cfg/mode").unwrap(),
        Some(b"fast".to_vec())
    );
    assert_eq!(db.get(None, b"plain").unwrap(), Some(b"changed".to_vec()));
    assert_eq!(db.get(None, b"ghost").unwrap(), None);
    assert_eq!(db.get(None, b"last").unwrap(), Some(b"1".to_vec()));
    let t = db.begin(TxnOptions::default()).unwrap();
    db.put(Some(t), b"after", b"1").unwrap();
    assert!(
        db.commit(t).unwrap() > last_ts,
        "commit timestamps increase across restarts"
    );
}

#[test]
fn an_interrupted_drop_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let orphan_id;
    {
        let db = Database::open(dir.path(), DbOptions::default()).unwrap();
        db.create_table(&schema("keep")).unwrap();
        db.write_row(None, "keep", None, &row("k", 1), RowWriteMode::Insert)
            .unwrap();
        // The state a crash between a drop's catalog change and its row removal leaves:
        // a drop marker and rows of a table id the catalog no longer names.
        orphan_id = 1000;
        let mut b = WriteBatch::new();
        b.put(&keys::dropping_key(orphan_id), &[]).unwrap();
        for rid in 1..=3000u64 {
            b.put(&keys::row_key(orphan_id, rid), b"\x01\x00").unwrap();
        }
        db.engine().commit(&b).unwrap();
        db.close().unwrap();
    }
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    let engine = db.engine();
    let (lo, hi) = keys::row_bounds(orphan_id);
    assert!(
        engine
            .iter(lo, hi, engine.visible_ts(), false)
            .unwrap()
            .next()
            .is_none()
    );
    let (lo, hi) = keys::dropping_bounds();
    assert!(
        engine
            .iter(lo, hi, engine.visible_ts(), false)
            .unwrap()
            .next()
            .is_none()
    );
    assert!(db.get_row(None, "keep", 1).unwrap().is_some());
}

#[test]
fn close_syncs_and_releases_the_directory_for_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    db.put(None, b"k", b"v").unwrap();
    // While open, a second opener is refused with Locked.
    let second = Database::open(dir.path(), DbOptions::default());
    assert_eq!(second.err().map(|e| e.status()), Some(Status::Locked));
    db.close().unwrap();
    // Calls after close fail with Closed; the clone held elsewhere sees it too.
    assert_eq!(db.get(None, b"k").unwrap_err().status(), Status::Closed);
    // Close released the lock without dropping the handle.
    let reopened = Database::open(dir.path(), DbOptions::default()).unwrap();
    assert_eq!(reopened.get(None, b"k").unwrap(), Some(b"v".to_vec()));
    drop(db);
}
