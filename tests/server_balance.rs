//! Connections accepted in a burst spread over every event loop: the loop that accepts
//! one gives it to the loop with the fewest, and a loop's count falls as its
//! connections close (STATS reports the fewest and the most on one loop).

mod common;

use std::time::Duration;

use common::{Raw, TestServer};
use sochdb::ipc::protocol::{op, rep};
use sochdb::ipc::server::ServerOptions;

/// (event_loops, loop_connections_min, loop_connections_max, connections_active).
fn spread(c: &mut Raw) -> (u64, u64, u64, u64) {
    let (code, body) = c.call(op::STATS, b"");
    assert_eq!(code, rep::STATS_RESP);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    (
        n("event_loops"),
        n("loop_connections_min"),
        n("loop_connections_max"),
        n("connections_active"),
    )
}

#[test]
fn a_burst_of_connections_is_shared_by_every_loop() {
    let s = TestServer::start(ServerOptions {
        event_loops: 3,
        ..ServerOptions::default()
    });
    // Connect all at once, then make sure each one is served.
    let mut conns: Vec<Raw> = (0..17).map(|_| s.raw()).collect();
    for c in conns.iter_mut() {
        assert_eq!(c.call(op::PING, b"").0, rep::PONG);
    }
    // 17 connections over 3 loops: 5, 6 and 6.
    assert_eq!(spread(&mut conns[0]), (3, 5, 6, 17));
    // Closing connections lowers their loops' counts (the loops see the hang-ups a
    // moment later).
    conns.truncate(2);
    let mut last = None;
    for _ in 0..500 {
        let now = spread(&mut conns[0]);
        if now.3 == 2 {
            last = Some(now);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (loops, min, max, active) = last.expect("the closed connections were noticed");
    assert_eq!((loops, active), (3, 2));
    assert_eq!(min, 0);
    assert!(max <= 2, "{max}");
    // New connections go to the emptiest loops first.
    let mut more: Vec<Raw> = (0..4).map(|_| s.raw()).collect();
    for c in more.iter_mut() {
        assert_eq!(c.call(op::PING, b"").0, rep::PONG);
    }
    let (_, min, max, active) = spread(&mut more[0]);
    assert_eq!(active, 6);
    assert_eq!((min, max), (2, 2));
}

#[test]
fn one_loop_takes_every_connection() {
    let s = TestServer::start(ServerOptions {
        event_loops: 1,
        ..ServerOptions::default()
    });
    let mut conns: Vec<Raw> = (0..5).map(|_| s.raw()).collect();
    for c in conns.iter_mut() {
        assert_eq!(c.call(op::PING, b"").0, rep::PONG);
    }
    assert_eq!(spread(&mut conns[0]), (1, 5, 5, 5));
}
