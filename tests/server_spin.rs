//! Event loops that keep polling after serving (`ServerOptions::spin`) serve exactly
//! like loops that sleep at once: with no spin, a short one and one far longer than the
//! pauses between requests (so a loop is nearly always polling, and the other loop,
//! which cannot poll at the same time, must sleep and be woken), every request is
//! answered, in order, on every connection. The serve command takes `--spin-us`, and a
//! server that has gone quiet stops polling: it uses no processor time while idle.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ServeProc, TestServer, put_payload};
use sochdb::ipc::protocol::{op, rep};
use sochdb::ipc::server::ServerOptions;

fn exercise(spin: Duration) {
    let s = Arc::new(TestServer::start(ServerOptions {
        spin,
        event_loops: 2,
        ..ServerOptions::default()
    }));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let mut c = s.raw();
                for i in 0..40 {
                    let k = format!("spin/{t}/{i}");
                    let v = format!("v{i}");
                    assert_eq!(
                        c.call(op::PUT, &put_payload(k.as_bytes(), v.as_bytes())).0,
                        rep::OK
                    );
                    assert_eq!(
                        c.call(op::GET, k.as_bytes()),
                        (rep::VALUE, v.into_bytes()),
                        "client {t}, round {i}"
                    );
                    // Pauses longer than the short spin, shorter than the long one.
                    if i % 4 == t % 4 {
                        std::thread::sleep(Duration::from_millis(3));
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // A connection made after every loop has gone quiet is still served.
    std::thread::sleep(Duration::from_millis(20));
    let mut c = s.raw();
    assert_eq!(c.call(op::GET, b"spin/3/39"), (rep::VALUE, b"v39".to_vec()));
}

#[test]
fn no_spin() {
    exercise(Duration::ZERO);
}

#[test]
fn short_spin() {
    exercise(Duration::from_micros(50));
}

#[test]
fn spin_longer_than_the_pauses() {
    exercise(Duration::from_millis(200));
}

#[test]
fn serve_takes_spin_us() {
    let dir = tempfile::tempdir().unwrap();
    let p = ServeProc::start(dir.path(), &["--spin-us", "0"]);
    let mut c = common::Raw::connect(&p.socket);
    assert_eq!(c.call(op::PING, b"").0, rep::PONG);
    drop(c);
    p.signal(libc::SIGTERM);
    let (status, err) = p.wait();
    assert!(status.success(), "{err}");
    let (code, _, err) = common::cli(&["serve", "--db", "x", "--spin-us", "soon"]);
    assert_ne!(code, 0);
    assert!(err.contains("spin-us"), "{err}");
}

/// Processor time (user + system, in clock ticks) the process `pid` has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses): state is the first,
    // utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_server_stops_polling() {
    let dir = tempfile::tempdir().unwrap();
    // A spin of 20 ms: after the last request, the loop polls at most that long.
    let p = ServeProc::start(dir.path(), &["--spin-us", "20000"]);
    let mut c = common::Raw::connect(&p.socket);
    for _ in 0..100 {
        assert_eq!(c.call(op::PING, b"").0, rep::PONG);
    }
    std::thread::sleep(Duration::from_millis(100));
    let before = cpu_ticks(p.child.id());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(p.child.id()) - before;
    // A loop that kept polling would use most of a processor-second (about 100 ticks);
    // an idle server wakes only for its timeout checks.
    assert!(used <= 20, "an idle server used {used} ticks in one second");
    drop(c);
    p.signal(libc::SIGTERM);
    assert!(p.wait().0.success());
}
