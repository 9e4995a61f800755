//! Pipelined reads after writes on one connection see those writes, with replies in
//! request order, while other connections' writes share the same combined commits.

mod common;

use std::sync::Arc;

use common::{TestServer, put_payload};
use sochdb::ipc::protocol::{op, rep};
use sochdb::ipc::server::ServerOptions;

fn frame(buf: &mut Vec<u8>, code: u8, payload: &[u8]) {
    buf.push(code);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(payload);
}

#[test]
fn reads_after_writes_in_one_pipeline_see_them_in_order() {
    let s = Arc::new(TestServer::start(ServerOptions::default()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut c = s.raw();
                for i in 0..100 {
                    let k = format!("t{t}/{i}");
                    let k = k.as_bytes();
                    let mut burst = Vec::new();
                    frame(&mut burst, op::PUT, &put_payload(k, b"one"));
                    frame(&mut burst, op::GET, k);
                    frame(&mut burst, op::PUT, &put_payload(k, b"two"));
                    frame(&mut burst, op::PUT, &put_payload(k, b"three"));
                    frame(&mut burst, op::GET, k);
                    frame(&mut burst, op::DELETE, k);
                    frame(&mut burst, op::PING, b"");
                    frame(&mut burst, op::GET, k);
                    frame(&mut burst, op::PUT, &put_payload(k, b"four"));
                    frame(&mut burst, op::GET, k);
                    c.send_bytes(&burst);
                    let want: Vec<(u8, &[u8])> = vec![
                        (rep::OK, b""),
                        (rep::VALUE, b"one"),
                        (rep::OK, b""),
                        (rep::OK, b""),
                        (rep::VALUE, b"three"),
                        (rep::OK, b""),
                        (rep::PONG, b""),
                        (rep::VALUE, b""),
                        (rep::OK, b""),
                        (rep::VALUE, b"four"),
                    ];
                    for (n, (code, payload)) in want.into_iter().enumerate() {
                        let got = c.recv().expect("a reply");
                        assert_eq!(got, (code, payload.to_vec()), "reply {n} of round {i}");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = s.raw();
    let (code, stats) = c.call(op::STATS, b"");
    assert_eq!(code, rep::STATS_RESP);
    let stats: serde_json::Value = serde_json::from_slice(&stats).unwrap();
    let commits = stats["write_commits"].as_u64().unwrap();
    // 8 connections x 100 rounds x 5 one-shot writes: at most one commit each.
    assert!(commits > 0 && commits <= 8 * 100 * 5, "{commits}");
}
