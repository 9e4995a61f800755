//! Tables: catalog operations, row writes in every mode, type checks, row id order,
//! transactions over rows, and drop removing rows.

use sochdb::Status;
use sochdb::backend::{
    Backend, ColumnDef, ColumnType, QueryRequest, RowWriteMode, TableSchema, TxnOptions, Value,
};
use sochdb::kernel::{Database, DbOptions};

fn open() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    (dir, db)
}

fn col(name: &str, ty: ColumnType, nullable: bool) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        ty,
        nullable,
    }
}

fn users() -> TableSchema {
    TableSchema {
        name: "users".into(),
        columns: vec![
            col("name", ColumnType::Text, false),
            col("age", ColumnType::Int64, true),
            col("score", ColumnType::Float64, true),
            col("active", ColumnType::Bool, true),
            col("avatar", ColumnType::Binary, true),
            col("visits", ColumnType::UInt64, true),
        ],
    }
}

fn vals(v: &[(&str, Value)]) -> Vec<(String, Value)> {
    v.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[test]
fn catalog_create_list_describe_drop() {
    let (_d, db) = open();
    db.create_table(&users()).unwrap();
    let e = db.create_table(&users()).unwrap_err();
    assert_eq!(e.status(), Status::AlreadyExists, "{e}");
    let mut other = users();
    other.name = "accounts".into();
    db.create_table(&other).unwrap();
    assert_eq!(db.list_tables().unwrap(), vec!["accounts", "users"]);
    assert_eq!(db.describe_table("users").unwrap(), users());
    assert_eq!(
        db.describe_table("nope").unwrap_err().status(),
        Status::NotFound
    );
    db.drop_table("accounts").unwrap();
    assert_eq!(db.list_tables().unwrap(), vec!["users"]);
    assert_eq!(
        db.drop_table("accounts").unwrap_err().status(),
        Status::NotFound
    );

    let mut bad = users();
    bad.columns.push(col("name", ColumnType::Int64, true));
    assert_eq!(
        db.create_table(&bad).unwrap_err().status(),
        Status::InvalidArgument
    );
    bad.columns.clear();
    assert_eq!(
        db.create_table(&bad).unwrap_err().status(),
        Status::InvalidArgument
    );
    // Tables are invisible to key scans and cannot be reached through user keys.
    let mut c = db
        .scan(
            None,
            &sochdb::backend::ScanOptions {
                range: sochdb::backend::ScanRange::Prefix(vec![]),
                reverse: false,
                limit: None,
            },
        )
        .unwrap();
    assert!(c.next_entry().unwrap().is_none());
    assert_eq!(
        db.get(None, &[0xFF, 1]).unwrap_err().status(),
        Status::InvalidArgument
    );
    assert_eq!(
        db.put(None, &[0xFF], b"x").unwrap_err().status(),
        Status::InvalidArgument
    );
}

#[test]
fn rows_insert_upsert_update_get_delete() {
    let (_d, db) = open();
    db.create_table(&users()).unwrap();
    let r1 = db
        .write_row(
            None,
            "users",
            None,
            &vals(&[
                ("name", Value::Text("Alice".into())),
                ("age", Value::Int64(30)),
                ("score", Value::Float64(95.5)),
                ("active", Value::Bool(true)),
                ("avatar", Value::Binary(vec![0, 1, 255])),
                ("visits", Value::UInt64(u64::MAX)),
            ]),
            RowWriteMode::Insert,
        )
        .unwrap();
    assert_eq!(r1, 1);
    let r2 = db
        .write_row(
            None,
            "users",
            None,
            &vals(&[("name", Value::Text("Bob".into()))]),
            RowWriteMode::Insert,
        )
        .unwrap();
    assert_eq!(r2, 2);
    assert_eq!(
        db.get_row(None, "users", 1).unwrap().unwrap(),
        vec![
            Value::Text("Alice".into()),
            Value::Int64(30),
            Value::Float64(95.5),
            Value::Bool(true),
            Value::Binary(vec![0, 1, 255]),
            Value::UInt64(u64::MAX),
        ]
    );
    assert_eq!(
        db.get_row(None, "users", 2).unwrap().unwrap(),
        vec![
            Value::Text("Bob".into()),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    // Insert of an existing id fails; upsert replaces; update changes named columns.
    let e = db
        .write_row(
            None,
            "users",
            Some(2),
            &vals(&[("name", Value::Text("X".into()))]),
            RowWriteMode::Insert,
        )
        .unwrap_err();
    assert_eq!(e.status(), Status::AlreadyExists, "{e}");
    db.write_row(
        None,
        "users",
        Some(2),
        &vals(&[
            ("name", Value::Text("Bobby".into())),
            ("age", Value::Int64(7)),
        ]),
        RowWriteMode::Upsert,
    )
    .unwrap();
    db.write_row(
        None,
        "users",
        Some(2),
        &vals(&[("age", Value::Null)]),
        RowWriteMode::Update,
    )
    .unwrap();
    let row = db.get_row(None, "users", 2).unwrap().unwrap();
    assert_eq!(row[0], Value::Text("Bobby".into()));
    assert_eq!(row[1], Value::Null);
    let e = db
        .write_row(
            None,
            "users",
            Some(99),
            &vals(&[("age", Value::Int64(1))]),
            RowWriteMode::Update,
        )
        .unwrap_err();
    assert_eq!(e.status(), Status::NotFound);
    assert!(db.delete_row(None, "users", 2).unwrap());
    assert!(!db.delete_row(None, "users", 2).unwrap());
    assert!(db.get_row(None, "users", 2).unwrap().is_none());
    assert_eq!(
        db.get_row(None, "nope", 1).unwrap_err().status(),
        Status::NotFound
    );
}

#[test]
fn bad_values_name_the_column() {
    let (_d, db) = open();
    db.create_table(&users()).unwrap();
    for (values, column) in [
        (vals(&[("name", Value::Int64(1))]), "name"),
        (vals(&[("name", Value::Null)]), "name"),
        (vals(&[("age", Value::Int64(1))]), "name"), // missing non-nullable
        (
            vals(&[
                ("name", Value::Text("a".into())),
                ("bogus", Value::Int64(1)),
            ]),
            "bogus",
        ),
        (
            vals(&[
                ("name", Value::Text("a".into())),
                ("visits", Value::Int64(-1)),
            ]),
            "visits",
        ),
        (
            vals(&[
                ("name", Value::Text("a".into())),
                ("active", Value::Text("yes".into())),
            ]),
            "active",
        ),
        (
            vals(&[
                ("name", Value::Text("a".into())),
                ("name", Value::Text("b".into())),
            ]),
            "name",
        ),
    ] {
        let e = db
            .write_row(None, "users", None, &values, RowWriteMode::Insert)
            .unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument, "{e}");
        assert!(e.to_string().contains(&format!("\"{column}\"")), "{e}");
    }
    // Lossless integer conversion between Int64 and UInt64 is accepted.
    let id = db
        .write_row(
            None,
            "users",
            None,
            &vals(&[
                ("name", Value::Text("a".into())),
                ("visits", Value::Int64(5)),
                ("age", Value::UInt64(9)),
            ]),
            RowWriteMode::Insert,
        )
        .unwrap();
    let row = db.get_row(None, "users", id).unwrap().unwrap();
    assert_eq!(
        (row[1].clone(), row[5].clone()),
        (Value::Int64(9), Value::UInt64(5))
    );
}

#[test]
fn row_ids_sort_numerically_and_continue_after_the_largest() {
    let (_d, db) = open();
    let schema = TableSchema {
        name: "t".into(),
        columns: vec![col("v", ColumnType::Int64, false)],
    };
    db.create_table(&schema).unwrap();
    for id in [10u64, 2, 1000, 1] {
        db.write_row(
            None,
            "t",
            Some(id),
            &vals(&[("v", Value::Int64(id as i64))]),
            RowWriteMode::Insert,
        )
        .unwrap();
    }
    let next = db
        .write_row(
            None,
            "t",
            None,
            &vals(&[("v", Value::Int64(0))]),
            RowWriteMode::Insert,
        )
        .unwrap();
    assert_eq!(next, 1001);
    let r = db
        .query(
            None,
            &QueryRequest {
                source: "t".into(),
                ..QueryRequest::default()
            },
        )
        .unwrap();
    let got: Vec<Value> = r.rows.into_iter().map(|mut row| row.remove(0)).collect();
    assert_eq!(
        got,
        [1, 2, 10, 1000, 0].map(Value::Int64).to_vec(),
        "row id order: 1, 2, 10, 1000, 1001"
    );
}

#[test]
fn rows_in_transactions_and_drop_removes_rows() {
    let (_d, db) = open();
    let schema = TableSchema {
        name: "t".into(),
        columns: vec![col("v", ColumnType::Text, false)],
    };
    db.create_table(&schema).unwrap();
    let t = db.begin(TxnOptions::default()).unwrap();
    for i in 0..2500 {
        db.write_row(
            Some(t),
            "t",
            None,
            &vals(&[("v", Value::Text(format!("r{i}")))]),
            RowWriteMode::Insert,
        )
        .unwrap();
    }
    // Own writes are visible inside, invisible outside until commit.
    assert_eq!(
        db.get_row(Some(t), "t", 2500).unwrap().unwrap(),
        vec![Value::Text("r2499".into())]
    );
    assert!(db.get_row(None, "t", 1).unwrap().is_none());
    db.commit(t).unwrap();
    assert!(db.get_row(None, "t", 1).unwrap().is_some());

    // A transaction that used the table conflicts with a drop that commits first.
    let t = db
        .begin(TxnOptions {
            isolation: Some(sochdb::backend::Isolation::Snapshot),
            read_only: false,
        })
        .unwrap();
    db.write_row(
        Some(t),
        "t",
        Some(5000),
        &vals(&[("v", Value::Text("late".into()))]),
        RowWriteMode::Upsert,
    )
    .unwrap();
    db.drop_table("t").unwrap();
    assert_eq!(db.commit(t).unwrap_err().status(), Status::Conflict);

    let engine = db.engine();
    let mut it = engine
        .iter(
            std::ops::Bound::Included(vec![0xFF, 0x02]),
            std::ops::Bound::Excluded(vec![0xFF, 0x03]),
            engine.visible_ts(),
            false,
        )
        .unwrap();
    assert!(
        it.next().is_none(),
        "every row of the dropped table was removed"
    );
    // A table created again under the same name starts empty.
    db.create_table(&schema).unwrap();
    assert!(db.get_row(None, "t", 1).unwrap().is_none());
}
