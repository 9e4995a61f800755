//! Connections that close while their writes are being committed: the writes still
//! commit whole, the outcomes that come back find no connection (or a new one in the
//! same slot) and are dropped, and the connections opened meanwhile get exactly their
//! own replies.

mod common;

use std::sync::Arc;

use common::{TestServer, put_payload};
use sochdb::ipc::protocol::{op, rep};
use sochdb::ipc::server::ServerOptions;

#[test]
fn outcomes_for_closed_connections_reach_no_new_one() {
    let s = Arc::new(TestServer::start(ServerOptions::default()));
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for round in 0..40 {
                    // Writes, then gone without reading a reply.
                    let mut gone = s.raw();
                    let mut burst = Vec::new();
                    for i in 0..8 {
                        let k = format!("gone/{t}/{round}/{i}");
                        burst.push(op::PUT);
                        let p = put_payload(k.as_bytes(), b"v");
                        burst.extend_from_slice(&(p.len() as u32).to_le_bytes());
                        burst.extend_from_slice(&p);
                    }
                    gone.send_bytes(&burst);
                    drop(gone);
                    // A new connection (often in the slot just freed) sees only its
                    // own replies.
                    let mut c = s.raw();
                    let k = format!("kept/{t}/{round}");
                    c.send(op::PING, b"");
                    c.send(op::PUT, &put_payload(k.as_bytes(), b"w"));
                    c.send(op::GET, k.as_bytes());
                    assert_eq!(c.recv(), Some((rep::PONG, Vec::new())), "round {round}");
                    assert_eq!(c.recv(), Some((rep::OK, Vec::new())), "round {round}");
                    assert_eq!(c.recv(), Some((rep::VALUE, b"w".to_vec())), "round {round}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // The server still answers, and every write of the connections that stayed is in.
    let mut c = s.raw();
    assert_eq!(c.call(op::PING, b""), (rep::PONG, Vec::new()));
    for t in 0..6 {
        for round in 0..40 {
            let k = format!("kept/{t}/{round}");
            assert_eq!(
                s.backend.get(None, k.as_bytes()).unwrap(),
                Some(b"w".to_vec())
            );
        }
    }
}
