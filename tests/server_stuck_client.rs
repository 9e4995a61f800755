//! A client that pipelines requests with large replies and never reads them fills only
//! its own reply queue: every other client on the same event loop is served all along,
//! and the stuck one is closed once its replies have waited past the write timeout.

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{TestServer, put_payload};
use sochdb::ipc::protocol::{op, rep};
use sochdb::ipc::server::ServerOptions;

#[test]
fn a_client_that_never_reads_blocks_no_one() {
    let s = TestServer::start(ServerOptions {
        reply_buffer_bytes: 256 * 1024,
        write_timeout: Duration::from_millis(500),
        event_loops: 1,
        ..ServerOptions::default()
    });
    let mut setup = s.raw();
    let big = vec![b'x'; 1024 * 1024];
    assert_eq!(setup.call(op::PUT, &put_payload(b"big", &big)).0, rep::OK);

    // 64 GETs of 1 MiB each: far more than the socket and the reply queue hold.
    let mut stuck = s.raw();
    let mut burst = Vec::new();
    for _ in 0..64 {
        burst.push(op::GET);
        burst.extend_from_slice(&3u32.to_le_bytes());
        burst.extend_from_slice(b"big");
    }
    stuck.s.write_all(&burst).unwrap();

    // Others keep being served, reads and durable writes alike.
    let counters = || s.handle.as_ref().unwrap().counters();
    let mut other = s.raw();
    for i in 0..50u32 {
        let k = format!("k{i}");
        assert_eq!(
            other.call(op::PUT, &put_payload(k.as_bytes(), b"v")).0,
            rep::OK
        );
        assert_eq!(
            other.call(op::GET, k.as_bytes()),
            (rep::VALUE, b"v".to_vec())
        );
        let mut fresh = s.raw();
        assert_eq!(fresh.call(op::PING, b"").0, rep::PONG);
    }

    // The stuck client is closed after its replies waited past the write timeout.
    for _ in 0..2000 {
        if counters().connections_active.load(Ordering::Relaxed) == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(counters().connections_active.load(Ordering::Relaxed), 2);
    assert_eq!(other.call(op::PING, b"").0, rep::PONG);
    assert_eq!(setup.call(op::PING, b"").0, rep::PONG);
}
