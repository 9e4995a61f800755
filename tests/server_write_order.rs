//! A connection's one-shot writes spread over many commits (sent one frame at a time
//! without waiting for replies, while other connections keep the committer busy) apply
//! in the connection's order: the last write of each key wins, and every reply comes
//! back in request order.

mod common;

use std::sync::Arc;

use common::{TestServer, put_payload};
use sochdb::ipc::protocol::{op, rep};
use sochdb::ipc::server::ServerOptions;

const CONNECTIONS: usize = 8;
/// Writes per connection; the last one (index 150) is a PUT, every tenth a DELETE.
const WRITES: usize = 151;

#[test]
fn each_connections_writes_apply_in_its_order_across_commits() {
    let s = Arc::new(TestServer::start(ServerOptions::default()));
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut c = s.raw();
                let key = format!("order/{t}");
                // One frame per send: they arrive over many rounds and commits.
                for i in 0..WRITES {
                    let value = format!("{i:04}");
                    if i % 10 == 9 {
                        c.send(op::DELETE, key.as_bytes());
                    } else {
                        c.send(op::PUT, &put_payload(key.as_bytes(), value.as_bytes()));
                    }
                    if i % 7 == 0 {
                        std::thread::yield_now();
                    }
                }
                c.send(op::GET, key.as_bytes());
                for n in 0..WRITES {
                    assert_eq!(c.recv(), Some((rep::OK, Vec::new())), "reply {n}");
                }
                let last = format!("{:04}", WRITES - 1).into_bytes();
                assert_eq!(c.recv(), Some((rep::VALUE, last)), "connection {t}");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for t in 0..CONNECTIONS {
        let key = format!("order/{t}");
        let want = format!("{:04}", WRITES - 1);
        assert_eq!(
            s.backend.get(None, key.as_bytes()).unwrap(),
            Some(want.into_bytes()),
            "{key} in the database"
        );
    }
}
