//! Queries over tables and over path-shaped keys: projection, filters, offset and limit,
//! key order, and the TOON and JSON renderings.

use sochdb::Status;
use sochdb::backend::{
    Backend, ColumnDef, ColumnType, Filter, FilterOp, QueryRequest, RowWriteMode, TableSchema,
    TxnOptions, Value,
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

fn users(db: &Database) {
    db.create_table(&TableSchema {
        name: "users".into(),
        columns: vec![
            col("id", ColumnType::UInt64, false),
            col("name", ColumnType::Text, false),
            col("score", ColumnType::Float64, true),
            col("active", ColumnType::Bool, false),
        ],
    })
    .unwrap();
    for (id, name, score, active) in [
        (1u64, "Alice", Some(95.5), true),
        (2, "Bob, Jr.", Some(87.0), false),
        (3, "Carol", None, true),
        (10, "Dan", Some(70.25), true),
    ] {
        db.write_row(
            None,
            "users",
            Some(id),
            &[
                ("id".to_string(), Value::UInt64(id)),
                ("name".to_string(), Value::Text(name.into())),
                (
                    "score".to_string(),
                    score.map_or(Value::Null, Value::Float64),
                ),
                ("active".to_string(), Value::Bool(active)),
            ],
            RowWriteMode::Insert,
        )
        .unwrap();
    }
}

fn q(source: &str) -> QueryRequest {
    QueryRequest {
        source: source.into(),
        ..QueryRequest::default()
    }
}

fn filter(column: &str, op: FilterOp, value: Value) -> Filter {
    Filter {
        column: column.into(),
        op,
        value,
    }
}

#[test]
fn table_query_renders_the_spec_example() {
    let (_d, db) = open();
    users(&db);
    let mut req = q("users");
    req.limit = Some(3);
    let r = db.query(None, &req).unwrap();
    assert_eq!(
        r.to_toon(),
        "users[3]{id,name,score,active}:\n  1,Alice,95.5,true\n  2,\"Bob, Jr.\",87,false\n  3,Carol,null,true"
    );
    assert_eq!(
        r.to_json(),
        r#"[{"id":1,"name":"Alice","score":95.5,"active":true},{"id":2,"name":"Bob, Jr.","score":87.0,"active":false},{"id":3,"name":"Carol","score":null,"active":true}]"#
    );
}

#[test]
fn projection_filters_offset_limit() {
    let (_d, db) = open();
    users(&db);
    let mut req = q("users");
    req.columns = vec!["name".into(), "id".into()];
    req.filters = vec![filter("active", FilterOp::Eq, Value::Bool(true))];
    let r = db.query(None, &req).unwrap();
    assert_eq!(
        r.to_toon(),
        "users[3]{name,id}:\n  Alice,1\n  Carol,3\n  Dan,10"
    );
    req.offset = 1;
    req.limit = Some(1);
    assert_eq!(
        db.query(None, &req).unwrap().to_toon(),
        "users[1]{name,id}:\n  Carol,3"
    );
    req.offset = 5;
    assert_eq!(db.query(None, &req).unwrap().to_toon(), "users: []");

    let mut req = q("users");
    req.columns = vec!["id".into()];
    let ids = |req: &QueryRequest| -> Vec<Value> {
        db.query(None, req)
            .unwrap()
            .rows
            .into_iter()
            .map(|mut r| r.remove(0))
            .collect()
    };
    req.filters = vec![
        filter("score", FilterOp::Ge, Value::Int64(80)),
        filter("score", FilterOp::Lt, Value::Float64(95.5)),
    ];
    assert_eq!(ids(&req), vec![Value::UInt64(2)]);
    req.filters = vec![filter("score", FilterOp::Eq, Value::Null)];
    assert_eq!(ids(&req), vec![Value::UInt64(3)]);
    req.filters = vec![filter("score", FilterOp::Ne, Value::Null)];
    assert_eq!(ids(&req).len(), 3);
    req.filters = vec![filter("name", FilterOp::Gt, Value::Text("Bob".into()))];
    assert_eq!(
        ids(&req),
        vec![Value::UInt64(2), Value::UInt64(3), Value::UInt64(10)]
    );
    req.filters = vec![
        filter("id", FilterOp::Ne, Value::Int64(1)),
        filter("id", FilterOp::Le, Value::UInt64(3)),
    ];
    assert_eq!(ids(&req), vec![Value::UInt64(2), Value::UInt64(3)]);

    for (f, what) in [
        (filter("nope", FilterOp::Eq, Value::Int64(1)), "nope"),
        (filter("name", FilterOp::Eq, Value::Int64(1)), "name"),
        (filter("score", FilterOp::Lt, Value::Null), "score"),
    ] {
        let mut req = q("users");
        req.filters = vec![f];
        let e = db.query(None, &req).unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument, "{e}");
        assert!(e.to_string().contains(what), "{e}");
    }
    let mut req = q("users");
    req.columns = vec!["ghost".into()];
    assert_eq!(
        db.query(None, &req).unwrap_err().status(),
        Status::InvalidArgument
    );
    req.columns = vec!["id".into(), "id".into()];
    let e = db.query(None, &req).unwrap_err();
    assert!(e.to_string().contains("twice"), "{e}");
}

#[test]
fn path_queries_group_keys_into_rows() {
    let (_d, db) = open();
    for (k, v) in [
        ("docs/1/title", &b"Intro"[..]),
        ("docs/1/body", b"Hello, world"),
        ("docs/2/title", b"true"),
        ("docs/2/year", b"2021"),
        ("docs/10/title", b"Ten"),
        ("docs/10/blob", &[0xFF, 0x00]),
        ("docs/3", b"not a row field"),
        ("docs_old/1/title", b"elsewhere"),
    ] {
        db.put(None, k.as_bytes(), v).unwrap();
    }
    let r = db.query(None, &q("docs")).unwrap();
    assert_eq!(r.columns, ["_key", "blob", "body", "title", "year"]);
    assert_eq!(
        r.to_toon(),
        "docs[3]{_key,blob,body,title,year}:\n  \"1\",null,\"Hello, world\",Intro,null\n  \
         \"10\",/wA=,null,Ten,null\n  \"2\",null,null,\"true\",\"2021\""
    );
    let mut req = q("docs");
    req.columns = vec!["title".into(), "_key".into()];
    req.filters = vec![filter("year", FilterOp::Ge, Value::Int64(2000))];
    assert_eq!(
        db.query(None, &req).unwrap().to_toon(),
        "docs[1]{title,_key}:\n  \"true\",\"2\""
    );
    req.filters = vec![];
    req.offset = 1;
    req.limit = Some(1);
    assert_eq!(
        db.query(None, &req).unwrap().to_toon(),
        "docs[1]{title,_key}:\n  Ten,\"10\""
    );
    assert_eq!(
        db.query(None, &q("docs/1")).unwrap().to_toon(),
        "\"docs/1\": []"
    );
    assert_eq!(
        db.query(None, &q("a//b")).unwrap_err().status(),
        Status::NotFound
    );

    // Inside a transaction the query sees its own writes.
    let t = db.begin(TxnOptions::default()).unwrap();
    db.put_path(Some(t), "docs/4/title", b"Four").unwrap();
    db.delete_path(Some(t), "docs/1/title").unwrap();
    db.delete_path(Some(t), "docs/1/body").unwrap();
    let r = db.query(Some(t), &q("docs")).unwrap();
    let keys: Vec<Value> = r.rows.iter().map(|row| row[0].clone()).collect();
    assert_eq!(
        keys,
        ["10", "2", "4"].map(|s| Value::Text(s.into())).to_vec()
    );
    db.abort(t).unwrap();
}

#[test]
fn queries_in_transactions_are_validated() {
    let (_d, db) = open();
    users(&db);
    let t = db.begin(TxnOptions::default()).unwrap();
    let mut req = q("users");
    req.filters = vec![filter("active", FilterOp::Eq, Value::Bool(true))];
    let n = db.query(Some(t), &req).unwrap().rows.len();
    // Another transaction adds a matching row: the query's result is stale.
    db.write_row(
        None,
        "users",
        Some(11),
        &[
            ("id".to_string(), Value::UInt64(11)),
            ("name".to_string(), Value::Text("Eve".into())),
            ("active".to_string(), Value::Bool(true)),
        ],
        RowWriteMode::Insert,
    )
    .unwrap();
    db.put(Some(t), b"active_count", n.to_string().as_bytes())
        .unwrap();
    assert_eq!(db.commit(t).unwrap_err().status(), Status::Conflict);
}
