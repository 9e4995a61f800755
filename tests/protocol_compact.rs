//! COMPACT (0x23) over the socket: announced in HELLO, carried out by the server's
//! full compaction while other connections are served, strict about its empty payload,
//! and reached through the client's `Backend::compact`.

mod common;

use common::TestServer;
use sochdb::backend::{Backend, ScanOptions, ScanRange, TxnOptions};
use sochdb::ipc::client::{Client, ClientOptions};
use sochdb::ipc::protocol::op;
use sochdb::ipc::protocol::reply::ServerHello;
use sochdb::ipc::server::ServerOptions;
use sochdb::storage::BatchOp;

const KEYS: u64 = 3000;

fn key(i: u64) -> Vec<u8> {
    format!("compact/{i:05}").into_bytes()
}

fn value(round: u64, i: u64) -> Vec<u8> {
    format!("round {round} of key {i}: {:0>80}", i * round).into_bytes()
}

fn count(c: &Client) -> usize {
    let opts = ScanOptions {
        range: ScanRange::Prefix(b"compact/".to_vec()),
        reverse: false,
        limit: None,
    };
    let mut cur = c.scan(None, &opts).unwrap();
    let mut n = 0;
    while cur.next_entry().unwrap().is_some() {
        n += 1;
    }
    n
}

/// Three rounds of every key, each round checkpointed into block files: most of the
/// bytes on disk are overwritten versions.
fn load(c: &Client) {
    for round in 0..3 {
        let ops: Vec<BatchOp> = (0..KEYS)
            .map(|i| BatchOp::Put {
                key: key(i),
                value: value(round, i),
            })
            .collect();
        c.write_batch(&ops).unwrap();
        c.checkpoint().unwrap();
    }
}

#[test]
fn a_client_compacts_the_served_database() {
    let s = TestServer::start(ServerOptions::default());
    let c = Client::connect(&s.socket, ClientOptions::default()).unwrap();
    assert!(
        c.server_hello().features.iter().any(|f| f == "compact"),
        "{:?}",
        c.server_hello().features
    );
    load(&c);
    // A transaction of a second connection, held across the compaction.
    let other = Client::connect(&s.socket, ClientOptions::default()).unwrap();
    let snap = other
        .begin(TxnOptions {
            read_only: true,
            ..TxnOptions::default()
        })
        .unwrap();
    let deletes: Vec<BatchOp> = (0..KEYS)
        .step_by(3)
        .map(|i| BatchOp::Delete { key: key(i) })
        .collect();
    c.write_batch(&deletes).unwrap();
    let before = s.db.engine().stats();

    c.compact().unwrap();

    let after = s.db.engine().stats();
    assert!(
        after.compaction_bytes_read > before.compaction_bytes_read,
        "{before:?} {after:?}"
    );
    let last = after.level_files.len() - 1;
    assert!(
        after.level_files[..last].iter().all(|&n| n == 0),
        "files above the last level: {:?}",
        after.level_files
    );
    let live = (KEYS - KEYS.div_ceil(3)) as usize;
    assert_eq!(count(&c), live);
    for i in [0, 1, 2, 3, KEYS - 1] {
        let want = (i % 3 != 0).then(|| value(2, i));
        assert_eq!(c.get(None, &key(i)).unwrap(), want, "key {i}");
        // The snapshot taken before the deletes still reads them.
        assert_eq!(other.get(Some(snap), &key(i)).unwrap(), Some(value(2, i)));
    }
    other.commit(snap).unwrap();

    // The statistics show the compaction's figures, through the server too.
    let stats = c.stats().unwrap();
    assert!(
        stats["compaction_bytes_written"].as_u64().unwrap() > 0,
        "{stats:?}"
    );
    assert!(stats["compactions"].as_u64().unwrap() > 0, "{stats:?}");

    // A closed client says so.
    c.close().unwrap();
    let e = c.compact().unwrap_err();
    assert_eq!(e.status(), sochdb::Status::Closed, "{e}");
}

fn hello(c: &mut common::Raw) -> ServerHello {
    let mut p = 2u16.to_le_bytes().to_vec();
    p.extend_from_slice(&4u16.to_le_bytes());
    p.extend_from_slice(b"test");
    let (code, body) = c.call(op::HELLO, &p);
    assert_eq!(code, 0x82);
    ServerHello::decode(&body).unwrap()
}

#[test]
fn compact_frames_byte_by_byte() {
    let s = TestServer::start(ServerOptions::default());
    let mut c = s.raw();
    // Without HELLO: OK for the empty payload, a version 1 ERROR for a malformed one.
    assert_eq!(c.call(0x23, b""), (0x80, Vec::new()));
    let (code, body) = c.call(0x23, b"x");
    assert_eq!(code, 0x81);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("malformed COMPACT request payload at byte 0"),
        "{text}"
    );
    // After HELLO: the error carries PROTOCOL (9); the connection stays usable.
    assert!(hello(&mut c).features.iter().any(|f| f == "compact"));
    let (code, body) = c.call(0x23, &[0, 0]);
    assert_eq!(code, 0x88);
    assert_eq!(&body[..4], &9u32.to_le_bytes());
    assert_eq!(c.call(0x23, b""), (0x80, Vec::new()));
    assert_eq!(c.call(op::PING, b"").0, 0x87);
}

#[test]
fn other_connections_are_served_while_one_compacts() {
    let s = TestServer::start(ServerOptions::default());
    let c = Client::connect(&s.socket, ClientOptions::default()).unwrap();
    load(&c);
    std::thread::scope(|scope| {
        let compacting = scope.spawn(|| {
            for _ in 0..3 {
                c.compact().unwrap();
            }
        });
        let w = Client::connect(&s.socket, ClientOptions::default()).unwrap();
        for i in 0..500u64 {
            let k = format!("writer/{i:04}").into_bytes();
            w.put(None, &k, b"v").unwrap();
            assert_eq!(w.get(None, &k).unwrap(), Some(b"v".to_vec()));
        }
        compacting.join().unwrap();
    });
    assert_eq!(count(&c), KEYS as usize);
    assert_eq!(c.get(None, b"writer/0499").unwrap(), Some(b"v".to_vec()));
}
