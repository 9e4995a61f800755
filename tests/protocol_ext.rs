//! The version 2 additions: HELLO, status-coded errors, transaction-scoped operations,
//! found/absent reads, batches, scan cursors, tables and rows, typed query streams,
//! pipelining, concurrent clients, and what a disconnect does to open transactions.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{TestServer, u64le};
use sochdb::Error;
use sochdb::backend::*;
use sochdb::ipc::client::{Client, ClientOptions};
use sochdb::ipc::protocol::reply::{Reply, ServerHello};
use sochdb::ipc::protocol::request::Request;
use sochdb::ipc::server::ServerOptions;
use sochdb::storage::BatchOp;

fn server_with(opts: ServerOptions) -> TestServer {
    TestServer::start(opts)
}

fn server() -> TestServer {
    server_with(ServerOptions::default())
}

fn client(s: &TestServer) -> Client {
    Client::connect(&s.socket, ClientOptions::default()).unwrap()
}

fn hello_raw(c: &mut common::Raw) -> ServerHello {
    let mut p = 2u16.to_le_bytes().to_vec();
    p.extend_from_slice(&4u16.to_le_bytes());
    p.extend_from_slice(b"test");
    let (op, body) = c.call(0x10, &p);
    assert_eq!(op, 0x82);
    ServerHello::decode(&body).unwrap()
}

#[test]
fn hello_announces_version_and_features_and_switches_errors_to_status() {
    let s = server();
    let mut c = s.raw();
    // Before HELLO: version 1 text errors.
    let (op, _) = c.call(0x05, &u64le(5));
    assert_eq!(op, 0x81);
    let h = hello_raw(&mut c);
    assert_eq!(h.version, 2);
    assert_eq!(h.max_payload, 16 * 1024 * 1024);
    for f in [
        "txn-ops",
        "scan-cursor",
        "query-typed",
        "batch",
        "pipelining",
    ] {
        assert!(h.features.iter().any(|x| x == f), "{f}");
    }
    assert!(h.server.starts_with("sochdb "));
    // After HELLO: ERROR_STATUS with the stable code (NOT_FOUND = 1).
    let (op, body) = c.call(0x05, &u64le(5));
    assert_eq!(op, 0x88);
    assert_eq!(&body[..4], &1u32.to_le_bytes());
    assert_eq!(&body[4..], b"Transaction not found: 5");
    // Unknown opcode: PROTOCOL = 9, same message as version 1.
    let (op, body) = c.call(0x7f, b"");
    assert_eq!(op, 0x88);
    assert_eq!(&body[..4], &9u32.to_le_bytes());
    assert_eq!(&body[4..], b"Unknown opcode: 0x7f");
    // A version 1 client asking HELLO with version 1 stays on text errors.
    let mut old = s.raw();
    let mut p = 1u16.to_le_bytes().to_vec();
    p.extend_from_slice(&0u16.to_le_bytes());
    let (op, body) = old.call(0x10, &p);
    assert_eq!(op, 0x82);
    assert_eq!(ServerHello::decode(&body).unwrap().version, 1);
    assert_eq!(old.call(0x05, &u64le(5)).0, 0x81);
}

#[test]
fn get_tells_absent_from_empty() {
    let s = server();
    let c = client(&s);
    c.put(None, b"empty", b"").unwrap();
    assert_eq!(c.get(None, b"empty").unwrap(), Some(vec![]));
    assert_eq!(c.get(None, b"absent").unwrap(), None);
    let mut raw = s.raw();
    hello_raw(&mut raw);
    let mut p = u64le(0);
    p.extend_from_slice(b"absent");
    assert_eq!(raw.call(0x12, &p), (0x89, vec![]));
}

#[test]
fn transactions_scope_reads_writes_and_scans() {
    let s = server();
    let a = client(&s);
    let b = client(&s);
    a.put(None, b"k0", b"base").unwrap();
    let t = a.begin(TxnOptions::default()).unwrap();
    a.put(Some(t), b"k1", b"one").unwrap();
    a.delete(Some(t), b"k0").unwrap();
    // The transaction sees its own writes; others do not, until commit.
    assert_eq!(a.get(Some(t), b"k1").unwrap(), Some(b"one".to_vec()));
    assert_eq!(a.get(Some(t), b"k0").unwrap(), None);
    assert_eq!(b.get(None, b"k1").unwrap(), None);
    assert_eq!(b.get(None, b"k0").unwrap(), Some(b"base".to_vec()));
    let mut cur = a
        .scan(
            Some(t),
            &ScanOptions {
                range: ScanRange::Prefix(b"k".to_vec()),
                reverse: false,
                limit: None,
            },
        )
        .unwrap();
    assert_eq!(
        cur.next_entry().unwrap(),
        Some((b"k1".to_vec(), b"one".to_vec()))
    );
    assert_eq!(cur.next_entry().unwrap(), None);
    a.call(&Request::PathPut {
        txn: t,
        path: "docs/1/title",
        value: b"hello",
    })
    .unwrap();
    let got = a
        .call(&Request::PathGet {
            txn: t,
            path: "docs/1/title",
        })
        .unwrap();
    assert!(matches!(got, Reply::Value(v) if v == b"hello"));
    let ts = a.commit(t).unwrap();
    assert!(ts > 0);
    assert_eq!(b.get(None, b"k1").unwrap(), Some(b"one".to_vec()));
    assert_eq!(b.get(None, b"k0").unwrap(), None);
    assert_eq!(
        b.get(None, b"docs/1/title").unwrap(),
        Some(b"hello".to_vec())
    );
    let absent = b
        .call(&Request::PathGet {
            txn: 0,
            path: "docs/2/title",
        })
        .unwrap();
    assert!(matches!(absent, Reply::NotFound));
    // Unknown transactions are NotFound with the version 1 text.
    match a.commit(t) {
        Err(Error::NotFound(m)) => assert_eq!(m, format!("Transaction not found: {t}")),
        other => panic!("{other:?}"),
    }
    // Transaction ids are the connection's own.
    assert!(matches!(b.get(Some(t), b"k1"), Err(Error::NotFound(_))));
}

#[test]
fn conflicts_arrive_as_conflicts() {
    let s = server();
    let a = client(&s);
    let b = client(&s);
    let t1 = a.begin(TxnOptions::default()).unwrap();
    let t2 = b.begin(TxnOptions::default()).unwrap();
    a.put(Some(t1), b"x", b"a").unwrap();
    b.put(Some(t2), b"x", b"b").unwrap();
    a.commit(t1).unwrap();
    let e = b.commit(t2).unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(e.is_retryable());
    assert_eq!(b.get(None, b"x").unwrap(), Some(b"a".to_vec()));
}

#[test]
fn batches_commit_atomically() {
    let s = server();
    let c = client(&s);
    c.put(None, b"gone", b"1").unwrap();
    let ts = c
        .write_batch(&[
            BatchOp::Put {
                key: b"a".to_vec(),
                value: b"1".to_vec(),
            },
            BatchOp::Put {
                key: b"b".to_vec(),
                value: vec![],
            },
            BatchOp::Delete {
                key: b"gone".to_vec(),
            },
        ])
        .unwrap();
    assert!(ts > 0);
    assert_eq!(c.get(None, b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(c.get(None, b"b").unwrap(), Some(vec![]));
    assert_eq!(c.get(None, b"gone").unwrap(), None);
}

fn collect(mut cur: Box<dyn KvCursor>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v = Vec::new();
    while let Some(e) = cur.next_entry().unwrap() {
        v.push(e);
    }
    v
}

#[test]
fn scans_page_through_cursors_in_every_direction() {
    let s = server_with(ServerOptions {
        scan_page_entries: 7,
        ..ServerOptions::default()
    });
    let c = Client::connect(
        &s.socket,
        ClientOptions {
            scan_page_entries: 0,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let ops: Vec<BatchOp> = (0..250u32)
        .map(|i| BatchOp::Put {
            key: format!("k{i:04}").into_bytes(),
            value: i.to_le_bytes().to_vec(),
        })
        .collect();
    c.write_batch(&ops).unwrap();
    c.put(None, b"other", b"x").unwrap();
    let all = collect(
        c.scan(
            None,
            &ScanOptions {
                range: ScanRange::Prefix(b"k".to_vec()),
                reverse: false,
                limit: None,
            },
        )
        .unwrap(),
    );
    assert_eq!(all.len(), 250);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    let rev = collect(
        c.scan(
            None,
            &ScanOptions {
                range: ScanRange::Range {
                    start: b"k0100".to_vec(),
                    end: Some(b"k0200".to_vec()),
                },
                reverse: true,
                limit: Some(15),
            },
        )
        .unwrap(),
    );
    let keys: Vec<String> = rev
        .iter()
        .map(|(k, _)| String::from_utf8(k.clone()).unwrap())
        .collect();
    let want: Vec<String> = (185..200).rev().map(|i| format!("k{i:04}")).collect();
    assert_eq!(keys, want);
    // A cursor dropped half-way is released on the server.
    let mut half = c
        .scan(
            None,
            &ScanOptions {
                range: ScanRange::Prefix(vec![]),
                reverse: false,
                limit: None,
            },
        )
        .unwrap();
    half.next_entry().unwrap();
    drop(half);
    c.ping().unwrap();
    // Raw paging: page size from the request, cursor 0 at the end.
    let mut raw = s.raw();
    hello_raw(&mut raw);
    let mut p = u64le(0);
    p.extend_from_slice(&100u32.to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&u64le(0));
    p.extend_from_slice(&2u32.to_le_bytes());
    p.extend_from_slice(b"k0");
    let (op, body) = raw.call(0x18, &p);
    assert_eq!(op, 0x82);
    let (id, entries) = sochdb::ipc::protocol::reply::decode_page(&body).unwrap();
    assert_eq!(entries.len(), 100);
    assert_ne!(id, 0);
    let mut n = 100;
    let mut cursor = id;
    while cursor != 0 {
        let mut p = u64le(cursor);
        p.extend_from_slice(&60u32.to_le_bytes());
        let (_, body) = raw.call(0x19, &p);
        let (next, entries) = sochdb::ipc::protocol::reply::decode_page(&body).unwrap();
        n += entries.len();
        cursor = next;
    }
    assert_eq!(n, 250);
    let mut p = u64le(id);
    p.extend_from_slice(&1u32.to_le_bytes());
    let (op, body) = raw.call(0x19, &p);
    assert_eq!(op, 0x88);
    assert_eq!(&body[4..], format!("Cursor not found: {id}").as_bytes());
}

#[test]
fn tables_rows_and_typed_queries() {
    let s = server();
    let c = client(&s);
    let schema = TableSchema {
        name: "users".into(),
        columns: vec![
            ColumnDef {
                name: "name".into(),
                ty: ColumnType::Text,
                nullable: false,
            },
            ColumnDef {
                name: "score".into(),
                ty: ColumnType::Float64,
                nullable: true,
            },
            ColumnDef {
                name: "blob".into(),
                ty: ColumnType::Binary,
                nullable: true,
            },
        ],
    };
    c.create_table(&schema).unwrap();
    assert!(matches!(
        c.create_table(&schema),
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(c.list_tables().unwrap(), vec!["users".to_string()]);
    assert_eq!(c.describe_table("users").unwrap(), schema);
    let id = c
        .write_row(
            None,
            "users",
            None,
            &[
                ("name".into(), Value::Text("Alice".into())),
                ("score".into(), Value::Float64(95.5)),
            ],
            RowWriteMode::Insert,
        )
        .unwrap();
    c.write_row(
        None,
        "users",
        Some(10),
        &[
            ("name".into(), Value::Text("Bob, Jr.".into())),
            ("blob".into(), Value::Binary(vec![0, 1, 255])),
        ],
        RowWriteMode::Upsert,
    )
    .unwrap();
    assert!(matches!(
        c.write_row(
            None,
            "users",
            Some(id),
            &[("name".into(), Value::Text("x".into()))],
            RowWriteMode::Insert
        ),
        Err(Error::AlreadyExists(_))
    ));
    c.write_row(
        None,
        "users",
        Some(id),
        &[("score".into(), Value::Float64(-0.0))],
        RowWriteMode::Update,
    )
    .unwrap();
    assert_eq!(
        c.get_row(None, "users", id).unwrap(),
        Some(vec![
            Value::Text("Alice".into()),
            Value::Float64(-0.0),
            Value::Null
        ])
    );
    assert_eq!(c.get_row(None, "users", 999).unwrap(), None);
    let q = QueryRequest {
        source: "users".into(),
        ..QueryRequest::default()
    };
    let remote = c.query(None, &q).unwrap();
    let local = s.backend.query(None, &q).unwrap();
    assert_eq!(remote, local);
    assert_eq!(remote.rows.len(), 2);
    assert!(c.delete_row(None, "users", 10).unwrap());
    assert!(!c.delete_row(None, "users", 10).unwrap());
    c.drop_table("users").unwrap();
    assert!(matches!(c.describe_table("users"), Err(Error::NotFound(_))));
}

#[test]
fn typed_query_results_stream_in_chunks() {
    let s = server();
    let c = client(&s);
    c.create_table(&TableSchema {
        name: "big".into(),
        columns: vec![ColumnDef {
            name: "t".into(),
            ty: ColumnType::Text,
            nullable: false,
        }],
    })
    .unwrap();
    let text = "x".repeat(1000);
    for i in 0..1500u64 {
        c.write_row(
            None,
            "big",
            Some(i),
            &[("t".into(), Value::Text(format!("{i}{text}")))],
            RowWriteMode::Insert,
        )
        .unwrap();
    }
    let before = s
        .handle
        .as_ref()
        .unwrap()
        .counters()
        .bytes_sent
        .load(Ordering::Relaxed);
    let r = c
        .query(
            None,
            &QueryRequest {
                source: "big".into(),
                ..QueryRequest::default()
            },
        )
        .unwrap();
    assert_eq!(r.rows.len(), 1500);
    assert_eq!(r.rows[1499][0], Value::Text(format!("1499{text}")));
    // More than a megabyte went out, in several frames (the counter is bumped right
    // after the server's write returns, so wait for it).
    wait_until(|| {
        s.handle
            .as_ref()
            .unwrap()
            .counters()
            .bytes_sent
            .load(Ordering::Relaxed)
            - before
            > 1_500_000
    });
    c.ping().unwrap();
}

#[test]
fn pipelined_requests_come_back_in_order() {
    let s = server();
    let mut raw = s.raw();
    let mut bytes = Vec::new();
    for i in 0..100u32 {
        let key = format!("p{i}");
        let req = if i % 2 == 0 {
            Request::Put {
                key: key.as_bytes(),
                value: &i.to_le_bytes(),
            }
        } else {
            Request::Get {
                key: format!("p{}", i - 1).into_bytes().leak(),
            }
        };
        req.encode(&mut bytes).unwrap();
    }
    raw.send_bytes(&bytes);
    for i in 0..100u32 {
        let r = raw.recv().unwrap();
        if i % 2 == 0 {
            assert_eq!(r, (0x80, vec![]));
        } else {
            assert_eq!(r, (0x82, (i - 1).to_le_bytes().to_vec()));
        }
    }
    // The server wrote the hundred replies in far fewer than a hundred writes: every
    // reply it had ready went out together. Count bytes per write via the counters.
    let c = client(&s);
    let keys: Vec<String> = (0..2000).map(|i| format!("q{i}")).collect();
    let reqs: Vec<Request<'_>> = keys
        .iter()
        .map(|k| Request::KvPut {
            txn: 0,
            key: k.as_bytes(),
            value: &[7u8; 100],
        })
        .collect();
    let replies = c.pipeline(&reqs).unwrap();
    assert_eq!(replies.len(), 2000);
    assert!(replies.iter().all(|r| matches!(r, Ok(Reply::Ok))));
    let gets: Vec<Request<'_>> = keys
        .iter()
        .map(|k| Request::KvGet {
            txn: 0,
            key: k.as_bytes(),
        })
        .collect();
    for r in c.pipeline(&gets).unwrap() {
        match r.unwrap() {
            Reply::Value(v) => assert_eq!(v, vec![7u8; 100]),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn pipelined_one_shot_writes_commit_together_yet_answer_one_by_one() {
    let s = server();
    let mut raw = s.raw();
    let big = vec![b'k'; 70_000];
    let mut bytes = Vec::new();
    for r in [
        Request::Put {
            key: b"a",
            value: b"1",
        },
        Request::Put {
            key: &big,
            value: b"too long a key",
        },
        Request::Put {
            key: b"b",
            value: b"2",
        },
        Request::Delete { key: b"a" },
        Request::Get { key: b"a" },
        Request::Get { key: b"b" },
        Request::Put {
            key: b"c",
            value: b"3",
        },
        Request::Delete { key: b"c" },
    ] {
        r.encode(&mut bytes).unwrap();
    }
    raw.send_bytes(&bytes);
    assert_eq!(raw.recv().unwrap(), (0x80, vec![]));
    let (op, msg) = raw.recv().unwrap();
    assert_eq!(op, 0x81);
    assert!(String::from_utf8(msg).unwrap().contains("70000"));
    assert_eq!(raw.recv().unwrap(), (0x80, vec![]));
    assert_eq!(raw.recv().unwrap(), (0x80, vec![]));
    assert_eq!(raw.recv().unwrap(), (0x82, vec![]));
    assert_eq!(raw.recv().unwrap(), (0x82, b"2".to_vec()));
    assert_eq!(raw.recv().unwrap(), (0x80, vec![]));
    assert_eq!(raw.recv().unwrap(), (0x80, vec![]));
    assert_eq!(s.backend.get(None, b"c").unwrap(), None);
    let c = s.handle.as_ref().unwrap().counters();
    assert_eq!(c.requests_total.load(Ordering::Relaxed), 8);
    assert_eq!(c.requests_error.load(Ordering::Relaxed), 1);
}

#[test]
fn thirty_two_concurrent_clients() {
    let s = server();
    let threads: Vec<_> = (0..32)
        .map(|t| {
            let path = s.socket.clone();
            std::thread::spawn(move || {
                let c = Client::connect(&path, ClientOptions::default()).unwrap();
                for i in 0..50 {
                    let k = format!("c{t}/{i}");
                    c.put(None, k.as_bytes(), k.as_bytes()).unwrap();
                    assert_eq!(c.get(None, k.as_bytes()).unwrap(), Some(k.into_bytes()));
                }
                let txn = c.begin(TxnOptions::default()).unwrap();
                c.put(Some(txn), format!("t{t}").as_bytes(), b"1").unwrap();
                c.commit(txn).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let c = client(&s);
    let all = collect(
        c.scan(
            None,
            &ScanOptions {
                range: ScanRange::Prefix(b"c".to_vec()),
                reverse: false,
                limit: None,
            },
        )
        .unwrap(),
    );
    assert_eq!(all.len(), 32 * 50);
    let stats = c.stats().unwrap();
    assert!(stats["connections_total"].as_u64().unwrap() >= 33);
}

#[test]
fn a_shared_client_serves_many_threads() {
    let s = server();
    let c = client(&s);
    std::thread::scope(|sc| {
        for t in 0..8 {
            let c = &c;
            sc.spawn(move || {
                for i in 0..50 {
                    let k = format!("s{t}/{i}");
                    c.put(None, k.as_bytes(), b"v").unwrap();
                    assert!(c.get(None, k.as_bytes()).unwrap().is_some());
                }
            });
        }
    });
}

fn wait_until(mut f: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("condition not reached within 10 s");
}

#[test]
fn disconnect_aborts_open_transactions() {
    let s = server();
    let counters = || s.handle.as_ref().unwrap().counters();
    let c = client(&s);
    let t = c.begin(TxnOptions::default()).unwrap();
    c.put(Some(t), b"uncommitted", b"1").unwrap();
    let _t2 = c.begin(TxnOptions::default()).unwrap();
    assert_eq!(counters().active_transactions.load(Ordering::Relaxed), 2);
    c.close().unwrap();
    wait_until(|| counters().active_transactions.load(Ordering::Relaxed) == 0);
    assert_eq!(
        counters()
            .transactions_aborted_on_disconnect
            .load(Ordering::Relaxed),
        2
    );
    let stats = s.backend.stats().unwrap();
    assert_eq!(stats["txns_open"], 0);
    assert_eq!(s.backend.get(None, b"uncommitted").unwrap(), None);
    assert!(matches!(c.ping(), Err(Error::Closed(_))));
}

#[test]
fn limits_on_connections_transactions_and_cursors() {
    let s = server_with(ServerOptions {
        max_connections: 2,
        max_txns_per_connection: 3,
        max_cursors_per_connection: 1,
        scan_page_entries: 1,
        ..ServerOptions::default()
    });
    let a = client(&s);
    let _b = client(&s);
    let mut third = s.raw();
    let (op, msg) = third.recv().expect("an ERROR frame before the close");
    assert_eq!(op, 0x81);
    assert!(
        String::from_utf8(msg)
            .unwrap()
            .contains("limit of 2 connections")
    );
    assert!(third.recv().is_none());
    let e = Client::connect(&s.socket, ClientOptions::default()).unwrap_err();
    assert!(e.to_string().contains("limit of 2 connections"), "{e}");
    for _ in 0..3 {
        a.begin(TxnOptions::default()).unwrap();
    }
    let e = a.begin(TxnOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Busy(_)), "{e}");
    a.put(None, b"a", b"1").unwrap();
    a.put(None, b"b", b"1").unwrap();
    let all = ScanOptions {
        range: ScanRange::Prefix(vec![]),
        reverse: false,
        limit: None,
    };
    let _open = a.scan(None, &all).unwrap();
    let e = a.scan(None, &all).err().unwrap();
    assert!(matches!(e, Error::Busy(_)), "{e}");
}

#[test]
fn idle_connections_are_closed_and_the_client_reconnects() {
    let s = server_with(ServerOptions {
        idle_timeout: Some(Duration::from_millis(200)),
        ..ServerOptions::default()
    });
    let counters = || s.handle.as_ref().unwrap().counters();
    let c = client(&s);
    c.put(None, b"k", b"v").unwrap();
    // Closed: counted, and the socket shut (the connection is gone from the registry).
    let closed = |n| {
        counters().idle_timeouts.load(Ordering::Relaxed) == n
            && counters().connections_active.load(Ordering::Relaxed) == 0
    };
    wait_until(|| closed(1));
    // Nothing lived on the connection: the client reconnects on its own.
    assert_eq!(c.get(None, b"k").unwrap(), Some(b"v".to_vec()));
    // With a transaction open, the loss is an error that says so.
    let t = c.begin(TxnOptions::default()).unwrap();
    wait_until(|| closed(2));
    let e = c.get(Some(t), b"k").unwrap_err();
    assert!(e.to_string().contains("transactions"), "{e}");
    wait_until(|| counters().active_transactions.load(Ordering::Relaxed) == 0);
}

#[test]
fn stop_aborts_transactions_and_removes_the_socket() {
    let mut s = server();
    let c = client(&s);
    let t = c.begin(TxnOptions::default()).unwrap();
    c.put(Some(t), b"k", b"v").unwrap();
    s.stop();
    assert!(!s.socket.exists());
    assert!(!s.dir.path().join("t.sock.lock").exists());
    assert_eq!(s.backend.stats().unwrap()["txns_open"], 0);
    let e = c.get(None, b"k").unwrap_err();
    assert!(e.to_string().contains("t.sock"), "{e}");
}

#[test]
fn a_second_server_on_the_same_socket_is_refused() {
    let s = server();
    let other = tempfile::tempdir().unwrap();
    let db = sochdb::kernel::Database::open(other.path(), Default::default()).unwrap();
    let e = sochdb::ipc::server::Server::start(Arc::new(db), &s.socket, ServerOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, Error::Locked(_)), "{e}");
    assert!(
        e.to_string().contains(&std::process::id().to_string()),
        "{e}"
    );
    // The first server still serves.
    client(&s).ping().unwrap();
}
