//! Version 1 conformance: every opcode byte by byte over a real socket, malformed
//! payloads (ERROR, the connection lives on) and broken frames (the connection closes,
//! the server goes on serving others).

mod common;

use common::{Raw, TestServer, put_payload, u64le};
use sochdb::backend::{Backend, QueryRequest, RowWriteMode, Value};
use sochdb::ipc::server::ServerOptions;

const OK: u8 = 0x80;
const ERROR: u8 = 0x81;
const VALUE: u8 = 0x82;
const TXN_ID: u8 = 0x83;
const STATS_RESP: u8 = 0x86;
const PONG: u8 = 0x87;

fn server() -> TestServer {
    TestServer::start(ServerOptions::default())
}

fn alive(c: &mut Raw) {
    assert_eq!(c.call(0x0E, b""), (PONG, vec![]));
}

fn error_text(r: (u8, Vec<u8>)) -> String {
    assert_eq!(r.0, ERROR, "expected ERROR, got {r:?}");
    String::from_utf8(r.1).unwrap()
}

#[test]
fn put_get_delete_byte_exact() {
    let s = server();
    let mut c = s.raw();
    c.send_bytes(&[0x01, 9, 0, 0, 0, 2, 0, 0, 0, b'k', b'1', b'v', b'a', b'l']);
    let mut reply = [0u8; 5];
    std::io::Read::read_exact(&mut c.s, &mut reply).unwrap();
    assert_eq!(reply, [0x80, 0, 0, 0, 0]);
    c.send_bytes(&[0x02, 2, 0, 0, 0, b'k', b'1']);
    let mut reply = [0u8; 8];
    std::io::Read::read_exact(&mut c.s, &mut reply).unwrap();
    assert_eq!(reply, [0x82, 3, 0, 0, 0, b'v', b'a', b'l']);
    // Absent key: VALUE with an empty payload.
    assert_eq!(c.call(0x02, b"nope"), (VALUE, vec![]));
    assert_eq!(c.call(0x03, b"k1"), (OK, vec![]));
    assert_eq!(c.call(0x02, b"k1"), (VALUE, vec![]));
    // An empty value and an empty key are values like any other.
    assert_eq!(c.call(0x01, &put_payload(b"", b"e")), (OK, vec![]));
    assert_eq!(c.call(0x02, b""), (VALUE, b"e".to_vec()));
    // Deleting an absent key is fine.
    assert_eq!(c.call(0x03, b"never"), (OK, vec![]));
}

#[test]
fn transactions_have_connection_local_ids_and_commit_timestamps() {
    let s = server();
    let mut a = s.raw();
    let mut b = s.raw();
    assert_eq!(a.call(0x01, &put_payload(b"x", b"1")), (OK, vec![]));
    assert_eq!(a.call(0x04, b""), (TXN_ID, u64le(1)));
    assert_eq!(a.call(0x04, b""), (TXN_ID, u64le(2)));
    assert_eq!(a.call(0x01, &put_payload(b"y", b"1")), (OK, vec![]));
    assert_eq!(b.call(0x04, b""), (TXN_ID, u64le(1)));
    // A version 1 transaction writes nothing: its commit returns its snapshot's
    // timestamp, which is that of the last commit before it began.
    let (op, p) = a.call(0x05, &u64le(1));
    assert_eq!(op, TXN_ID);
    let ts1 = u64::from_le_bytes(p.try_into().unwrap());
    let (op, p) = b.call(0x05, &u64le(1));
    assert_eq!(op, TXN_ID);
    let ts2 = u64::from_le_bytes(p.try_into().unwrap());
    assert!(ts1 >= 1 && ts2 > ts1, "{ts1} {ts2}");
    assert_eq!(
        error_text(a.call(0x05, &u64le(1))),
        "Transaction not found: 1"
    );
    assert_eq!(a.call(0x06, &u64le(2)), (OK, vec![]));
    assert_eq!(
        error_text(a.call(0x06, &u64le(2))),
        "Transaction not found: 2"
    );
    assert_eq!(
        error_text(a.call(0x06, &u64le(99))),
        "Transaction not found: 99"
    );
    // Ids keep counting up on the connection.
    assert_eq!(a.call(0x04, b""), (TXN_ID, u64le(3)));
    alive(&mut a);
}

fn create_table_payload(name: &str, cols: &[(&str, u8, u8)]) -> Vec<u8> {
    let mut p = (name.len() as u16).to_le_bytes().to_vec();
    p.extend_from_slice(name.as_bytes());
    p.extend_from_slice(&(cols.len() as u16).to_le_bytes());
    for (n, t, null) in cols {
        p.extend_from_slice(&(n.len() as u16).to_le_bytes());
        p.extend_from_slice(n.as_bytes());
        p.push(*t);
        p.push(*null);
    }
    p
}

#[test]
fn create_table_is_persisted_and_duplicates_are_errors() {
    let mut s = server();
    let mut c = s.raw();
    let p = create_table_payload("users", &[("name", 3, 0), ("age", 0, 1), ("ok", 5, 1)]);
    assert_eq!(c.call(0x08, &p), (OK, vec![]));
    let schema = s.backend.describe_table("users").unwrap();
    assert_eq!(schema.columns.len(), 3);
    assert_eq!(schema.columns[1].name, "age");
    assert!(schema.columns[1].nullable && !schema.columns[0].nullable);
    let msg = error_text(c.call(0x08, &p));
    assert!(msg.contains("users"), "{msg}");
    // Unknown type code and a nullable byte other than 0/1 are malformed.
    error_text(c.call(0x08, &create_table_payload("t2", &[("a", 6, 0)])));
    error_text(c.call(0x08, &create_table_payload("t3", &[("a", 0, 2)])));
    alive(&mut c);
    drop(c);
    let db = s.reopen();
    assert_eq!(db.describe_table("users").unwrap(), schema);
    assert_eq!(db.list_tables().unwrap(), vec!["users".to_string()]);
}

fn query_payload(path: &str, limit: u32, offset: u32, cols: &[&str]) -> Vec<u8> {
    let mut p = (path.len() as u16).to_le_bytes().to_vec();
    p.extend_from_slice(path.as_bytes());
    p.extend_from_slice(&limit.to_le_bytes());
    p.extend_from_slice(&offset.to_le_bytes());
    p.extend_from_slice(&(cols.len() as u16).to_le_bytes());
    for c in cols {
        p.extend_from_slice(&(c.len() as u16).to_le_bytes());
        p.extend_from_slice(c.as_bytes());
    }
    p
}

#[test]
fn query_answers_toon() {
    let s = server();
    let mut c = s.raw();
    let p = create_table_payload("users", &[("name", 3, 0), ("age", 0, 1)]);
    assert_eq!(c.call(0x08, &p), (OK, vec![]));
    for (id, name, age) in [(1u64, "Alice", Some(30i64)), (2, "Bob, Jr.", None)] {
        let mut vals = vec![("name".to_string(), Value::Text(name.into()))];
        if let Some(a) = age {
            vals.push(("age".to_string(), Value::Int64(a)));
        }
        s.backend
            .write_row(None, "users", Some(id), &vals, RowWriteMode::Insert)
            .unwrap();
    }
    assert_eq!(
        c.call(0x07, &query_payload("users", 0, 0, &[])),
        (
            VALUE,
            b"users[2]{name,age}:\n  Alice,30\n  \"Bob, Jr.\",null".to_vec()
        )
    );
    assert_eq!(
        c.call(0x07, &query_payload("users", 1, 1, &["age", "name"])),
        (VALUE, b"users[1]{age,name}:\n  null,\"Bob, Jr.\"".to_vec())
    );
    assert_eq!(
        c.call(0x07, &query_payload("users", 5, 9, &[])),
        (VALUE, b"users: []".to_vec())
    );
    // Path-shaped keys group into rows.
    for (seg, v) in [
        (["docs", "1", "title"], "Hello"),
        (["docs", "2", "title"], "World"),
    ] {
        assert_eq!(
            c.call(0x09, &path_payload(&seg, v.as_bytes())),
            (OK, vec![])
        );
    }
    let (op, toon) = c.call(0x07, &query_payload("docs", 0, 0, &[]));
    assert_eq!(op, VALUE);
    let local = s
        .backend
        .query(
            None,
            &QueryRequest {
                source: "docs".into(),
                ..QueryRequest::default()
            },
        )
        .unwrap();
    assert_eq!(String::from_utf8(toon).unwrap(), local.to_toon());
    assert_eq!(local.rows.len(), 2);
    // A source that is neither a table nor a valid path is an error.
    let msg = error_text(c.call(0x07, &query_payload("a//b", 0, 0, &[])));
    assert!(msg.contains("a//b"), "{msg}");
    alive(&mut c);
}

fn path_payload(segs: &[&str], value: &[u8]) -> Vec<u8> {
    let mut p = (segs.len() as u16).to_le_bytes().to_vec();
    for s in segs {
        p.extend_from_slice(&(s.len() as u16).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    p.extend_from_slice(value);
    p
}

#[test]
fn paths_join_segments_and_meet_plain_keys() {
    let s = server();
    let mut c = s.raw();
    assert_eq!(
        c.call(
            0x09,
            &path_payload(&["users", "alice", "email"], b"a@x.org")
        ),
        (OK, vec![])
    );
    assert_eq!(
        c.call(0x0A, &path_payload(&["users", "alice", "email"], b"")),
        (VALUE, b"a@x.org".to_vec())
    );
    assert_eq!(
        c.call(0x02, b"users/alice/email"),
        (VALUE, b"a@x.org".to_vec())
    );
    // The value part of GET_PATH is ignored; absent paths read empty.
    assert_eq!(
        c.call(0x0A, &path_payload(&["users", "bob"], b"ignored")),
        (VALUE, vec![])
    );
    alive(&mut c);
}

#[test]
fn scan_layout_is_exact_and_in_key_order() {
    let s = server();
    let mut c = s.raw();
    for (k, v) in [("b", "2"), ("ab", "x"), ("a", "1"), ("ac", ""), ("z", "9")] {
        assert_eq!(
            c.call(0x01, &put_payload(k.as_bytes(), v.as_bytes())),
            (OK, vec![])
        );
    }
    let (op, p) = c.call(0x0B, b"a");
    assert_eq!(op, VALUE);
    let mut want = 3u32.to_le_bytes().to_vec();
    for (k, v) in [("a", "1"), ("ab", "x"), ("ac", "")] {
        want.extend_from_slice(&(k.len() as u16).to_le_bytes());
        want.extend_from_slice(k.as_bytes());
        want.extend_from_slice(&(v.len() as u32).to_le_bytes());
        want.extend_from_slice(v.as_bytes());
    }
    assert_eq!(p, want);
    assert_eq!(c.call(0x0B, b"q"), (VALUE, 0u32.to_le_bytes().to_vec()));
    let (_, all) = c.call(0x0B, b"");
    assert_eq!(&all[..4], &5u32.to_le_bytes());
}

#[test]
fn checkpoint_stats_ping_and_sql() {
    let s = server();
    let mut c = s.raw();
    assert_eq!(c.call(0x01, &put_payload(b"k", b"v")), (OK, vec![]));
    assert_eq!(c.call(0x0C, b""), (OK, vec![]));
    assert_eq!(c.call(0x0E, b""), (PONG, vec![]));
    let (op, p) = c.call(0x0D, b"");
    assert_eq!(op, STATS_RESP);
    let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
    let m = v.as_object().unwrap();
    for k in [
        "connections_total",
        "connections_active",
        "requests_total",
        "requests_success",
        "requests_error",
        "bytes_received",
        "bytes_sent",
        "uptime_secs",
        "memtable_size_bytes",
        "wal_size_bytes",
        "active_transactions",
    ] {
        assert!(m.get(k).and_then(|x| x.as_u64()).is_some(), "{k} in {m:?}");
    }
    for (k, x) in m {
        assert!(
            x.as_u64().is_some(),
            "version 1 values are unsigned: {k}={x}"
        );
    }
    assert_eq!(m["connections_active"], 1);
    // PUT, CHECKPOINT, PING and this STATS; the STATS itself is not answered yet.
    assert_eq!(m["requests_total"], 4);
    assert_eq!(m["requests_success"], 3);
    // The checkpoint moved the put into a block file: the memtable is empty again, and
    // the log holds only the header of the segment started at the checkpoint.
    assert_eq!(m["memtable_size_bytes"].as_u64(), Some(0));
    assert!(m["wal_size_bytes"].as_u64().unwrap() > 0);
    assert!(m["bytes_received"].as_u64().unwrap() > 0);
    let (op, p) = c.call(0x0F, b"SELECT * FROM users");
    assert_eq!(op, VALUE);
    let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
}

#[test]
fn unknown_opcodes_get_an_error_and_the_connection_lives() {
    let s = server();
    let mut c = s.raw();
    assert_eq!(error_text(c.call(0x7f, b"")), "Unknown opcode: 0x7f");
    assert_eq!(error_text(c.call(0x00, b"abc")), "Unknown opcode: 0x00");
    assert_eq!(error_text(c.call(0x80, b"")), "Unknown opcode: 0x80");
    assert_eq!(error_text(c.call(0xff, &[1; 100])), "Unknown opcode: 0xff");
    alive(&mut c);
}

#[test]
fn malformed_payloads_get_an_error_and_the_connection_lives() {
    let s = server();
    let mut c = s.raw();
    let cases: Vec<(u8, Vec<u8>)> = vec![
        (0x01, vec![]),                          // PUT without key length
        (0x01, vec![9, 0, 0, 0, b'a']),          // PUT key length past the end
        (0x05, vec![1, 0, 0]),                   // COMMIT with 3 bytes
        (0x05, vec![1, 0, 0, 0, 0, 0, 0, 0, 0]), // COMMIT with 9 bytes
        (0x06, vec![]),                          // ABORT without id
        (0x07, vec![5, 0, b'a']),                // QUERY path cut
        (0x07, vec![1, 0, b't', 0, 0, 0, 0]),    // QUERY offset cut
        (0x08, vec![1, 0, b't', 1, 0]),          // CREATE_TABLE column cut
        (0x09, vec![2, 0, 1, 0, b'a']),          // PUT_PATH second segment missing
        (0x09, vec![1, 0, 2, 0, 0xc3, 0x28]),    // PUT_PATH invalid UTF-8
        (0x0A, vec![1]),                         // GET_PATH count cut
        (0x0B, vec![0xff, 0xfe]),                // SCAN prefix not UTF-8
        (0x0F, vec![0x80]),                      // EXECUTE_SQL not UTF-8
    ];
    for (op, p) in cases {
        let msg = error_text(c.call(op, &p));
        assert!(msg.contains("malformed"), "opcode {op:#04x}: {msg}");
        alive(&mut c);
    }
    // Nothing was written by the malformed requests.
    assert_eq!(c.call(0x0B, b""), (VALUE, 0u32.to_le_bytes().to_vec()));
}

#[test]
fn oversized_frame_closes_only_that_connection() {
    let s = server();
    let mut bad = s.raw();
    let mut good = s.raw();
    alive(&mut good);
    let mut h = vec![0x01];
    h.extend_from_slice(&(16 * 1024 * 1024 + 1u32).to_le_bytes());
    bad.send_bytes(&h);
    let msg = error_text(bad.recv().expect("an ERROR before the close"));
    assert!(msg.contains("16777216"), "{msg}");
    assert!(bad.recv().is_none());
    alive(&mut good);
    let mut fresh = s.raw();
    alive(&mut fresh);
}

#[test]
fn stream_ending_inside_a_frame_closes_only_that_connection() {
    let s = server();
    let mut good = s.raw();
    for cut in [
        vec![0x01u8, 5],
        vec![0x02u8, 10, 0, 0, 0, b'a', b'b'],
        // A frame announcing exactly the maximum, cut short.
        {
            let mut v = vec![0x01];
            v.extend_from_slice(&(16u32 * 1024 * 1024).to_le_bytes());
            v.extend_from_slice(&[0u8; 1000]);
            v
        },
    ] {
        let mut bad = s.raw();
        alive(&mut bad);
        bad.send_bytes(&cut);
        bad.s.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(bad.recv().is_none());
        alive(&mut good);
    }
    assert_eq!(
        s.handle
            .as_ref()
            .unwrap()
            .counters()
            .broken_frames
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

#[test]
fn requests_sent_together_are_answered_in_order() {
    let s = server();
    let mut c = s.raw();
    let mut bytes = Vec::new();
    for (op, p) in [
        (0x01u8, put_payload(b"a", b"1")),
        (0x02, b"a".to_vec()),
        (0x7e, vec![]),
        (0x0E, vec![]),
        (0x02, b"b".to_vec()),
    ] {
        bytes.push(op);
        bytes.extend_from_slice(&(p.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&p);
    }
    c.send_bytes(&bytes);
    assert_eq!(c.recv().unwrap(), (OK, vec![]));
    assert_eq!(c.recv().unwrap(), (VALUE, b"1".to_vec()));
    assert_eq!(error_text(c.recv().unwrap()), "Unknown opcode: 0x7e");
    assert_eq!(c.recv().unwrap(), (PONG, vec![]));
    assert_eq!(c.recv().unwrap(), (VALUE, vec![]));
}
