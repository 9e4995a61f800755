//! Campaign 6, server hostility: a `sochdb serve` process under a connection flood past
//! its limit, clients that send half a frame and stall, a client that trickles a frame
//! one byte at a time, clients that open transactions until refused (pipelined, without
//! reading), frames announcing huge lengths, and (when run as root) peers of another
//! uid. Throughout, a client connected before the attack keeps being served; after each
//! round a new client is served; refused clients get an ERROR frame before the close,
//! never a silent drop; and the server's resident memory (`VmRSS`) stays within a bound
//! of where it started, round after round.

mod common;
mod harness;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::ServeProc;
use harness::Tally;
use sochdb::backend::Backend;
use sochdb::ipc::client::{Client, ClientOptions};
use sochdb::ipc::protocol::{MAX_PAYLOAD, op, rep};

const MAX_CONNECTIONS: usize = 24;
const MAX_TXNS: usize = 16;
const IDLE_SECS: u64 = 2;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn connect(socket: &Path) -> UnixStream {
    let s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

fn frame(code: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![code];
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(payload);
    f
}

/// Reads one frame; `None` when the stream ended.
fn read_frame(s: &mut UnixStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 5];
    s.read_exact(&mut h).ok()?;
    let n = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
    let mut p = vec![0u8; n];
    s.read_exact(&mut p).ok()?;
    Some((h[0], p))
}

/// True once the server has closed `s` (waits up to 30 s).
fn closed_by_server(s: &mut UnixStream) -> bool {
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn ping(s: &mut UnixStream) -> bool {
    s.write_all(&frame(op::PING, b"")).is_ok() && read_frame(s).is_some_and(|(c, _)| c == rep::PONG)
}

/// A fresh client does a write and reads it back.
fn served(socket: &Path, round: u64) -> Result<(), String> {
    let c = Client::connect(socket, ClientOptions::default()).map_err(|e| e.to_string())?;
    let k = format!("probe/{round}");
    c.put(None, k.as_bytes(), b"ok")
        .map_err(|e| e.to_string())?;
    let v = c.get(None, k.as_bytes()).map_err(|e| e.to_string())?;
    c.close().map_err(|e| e.to_string())?;
    (v.as_deref() == Some(b"ok"))
        .then_some(())
        .ok_or("read back wrong".into())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A client connected before the attacks that pings all through them; returns how
/// many pings were answered and how many were not.
struct Bystander {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64)>,
}

impl Bystander {
    fn start(socket: &Path) -> Bystander {
        let mut s = connect(socket);
        assert!(ping(&mut s), "the bystander was not admitted");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (mut ok, mut failed) = (1, 0);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if ping(&mut s) {
                    ok += 1;
                } else {
                    failed += 1;
                    break;
                }
                // Well inside the idle timeout.
                std::thread::sleep(Duration::from_millis(100));
            }
            (ok, failed)
        });
        Bystander { stop, thread }
    }

    fn finish(self) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Waits (at most 10 s) until a new connection is admitted: closed connections of an
/// earlier phase have been released.
fn wait_admitted(socket: &Path) -> bool {
    for _ in 0..200 {
        let mut s = connect(socket);
        if ping(&mut s) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// One round of every attack.
fn round(server: &ServeProc, r: u64, t: &mut Tally) {
    let socket = &server.socket;
    let fail = |t: &mut Tally, what: String| t.violation(format!("round {r}: {what}"));
    let bystander = Bystander::start(socket);

    // 1. A flood past the connection limit: every refused client gets an ERROR frame.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..3 * MAX_CONNECTIONS {
        let mut s = connect(socket);
        // An admitted connection answers a ping; a refused one gets ERROR and a close.
        s.write_all(&frame(op::PING, b"")).unwrap_or(());
        match read_frame(&mut s) {
            Some((c, _)) if c == rep::PONG => held.push(s),
            Some((c, msg)) if c == rep::ERROR || c == rep::ERROR_STATUS => {
                refused += 1;
                if !String::from_utf8_lossy(&msg).contains("limit") {
                    fail(t, format!("refusal without the reason: {msg:?}"));
                }
                if !closed_by_server(&mut s) {
                    fail(t, "a refused connection was left open".into());
                }
            }
            other => fail(
                t,
                format!("a flooding client got {other:?} instead of an ERROR"),
            ),
        }
    }
    t.add("flood_connections", 3 * MAX_CONNECTIONS as u64);
    t.add("flood_refused_with_error", refused);
    if held.len() + 1 > MAX_CONNECTIONS {
        fail(
            t,
            format!(
                "{} connections admitted past a limit of {MAX_CONNECTIONS}",
                held.len() + 1
            ),
        );
    }
    drop(held);
    if !wait_admitted(socket) {
        fail(t, "no connection admitted after the flood ended".into());
    }

    // 2. Half frames, then silence: closed after the idle timeout; others served.
    let mut stalled = Vec::new();
    for i in 0..8 {
        let mut s = connect(socket);
        let mut f = frame(op::PUT, &[7u8; 100]);
        f.truncate(if i % 2 == 0 { 3 } else { 40 });
        s.write_all(&f).unwrap();
        stalled.push(s);
    }
    for mut s in stalled {
        t.add("stalled_clients", 1);
        if !closed_by_server(&mut s) {
            fail(t, "a stalled half frame was never closed".into());
        }
    }

    // 3. A frame trickled one byte at a time, each byte well inside the idle timeout:
    // no request completes, so the connection must be closed as idle while the bytes
    // still come (not merely once they stop).
    let mut trickle = connect(socket);
    let f = frame(op::PUT, &[1u8; 64]);
    let started = Instant::now();
    let mut cut = false;
    let mut sent = 0;
    for b in &f[..f.len() - 1] {
        if trickle.write_all(std::slice::from_ref(b)).is_err() {
            cut = true;
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(IDLE_SECS * 1000 / 4));
        if started.elapsed() > Duration::from_secs(6 * IDLE_SECS) {
            break;
        }
    }
    t.add("trickled_frames", 1);
    if harness::verbose() {
        eprintln!(
            "trickle: {sent} bytes over {:?}, cut: {cut}",
            started.elapsed()
        );
    }
    if !cut {
        fail(
            t,
            format!(
                "a frame trickled one byte per {} ms for {:?} kept its connection open",
                IDLE_SECS * 1000 / 4,
                started.elapsed()
            ),
        );
    }

    // 4. Transactions until refused, pipelined without reading the replies.
    if !wait_admitted(socket) {
        fail(t, "no connection admitted after the stalls".into());
    }
    let mut greedy = connect(socket);
    let n = 2000;
    let mut burst = Vec::new();
    for _ in 0..n {
        burst.extend(frame(op::BEGIN_TXN, b""));
    }
    let writer = {
        let mut w = greedy.try_clone().unwrap();
        std::thread::spawn(move || w.write_all(&burst).is_ok())
    };
    let (mut ok, mut busy) = (0, 0);
    for _ in 0..n {
        match read_frame(&mut greedy) {
            Some((c, _)) if c == rep::TXN_ID => ok += 1,
            Some((c, _)) if c == rep::ERROR || c == rep::ERROR_STATUS => busy += 1,
            other => {
                fail(t, format!("begin {} answered {other:?}", ok + busy));
                break;
            }
        }
    }
    let _ = writer.join();
    t.add("transactions_begun", ok);
    t.add("transactions_refused", busy);
    if ok != MAX_TXNS as u64 {
        fail(
            t,
            format!("{ok} transactions open on one connection, the limit is {MAX_TXNS}"),
        );
    }
    if !ping(&mut greedy) {
        fail(
            t,
            "the greedy connection stopped answering after its refusals".into(),
        );
    }
    drop(greedy);

    // 5. Huge announced lengths: over the maximum, refused before allocation; at the
    // maximum and never sent, no memory held for them.
    let mut huge = Vec::new();
    for i in 0..12u32 {
        let mut s = connect(socket);
        let len = if i % 2 == 0 {
            u32::MAX - i
        } else {
            MAX_PAYLOAD as u32
        };
        let mut h = vec![op::PUT];
        h.extend_from_slice(&len.to_le_bytes());
        h.extend_from_slice(&[0u8; 16]);
        s.write_all(&h).unwrap();
        if len as usize > MAX_PAYLOAD {
            match read_frame(&mut s) {
                Some((c, _)) if c == rep::ERROR || c == rep::ERROR_STATUS => {}
                other => fail(t, format!("an announced {len} bytes got {other:?}")),
            }
        }
        huge.push(s);
    }
    t.add("huge_announcements", 12);
    drop(huge);

    // 6. Peers of another uid (needs root to act as one).
    if is_root() {
        for _ in 0..4 {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_sochdb"))
                .args(["stats", "--socket"])
                .arg(socket)
                .uid(65534)
                .gid(65534)
                .output()
                .unwrap();
            t.add("foreign_uid_attempts", 1);
            if out.status.success() {
                fail(t, "a peer of another uid was served".into());
            }
        }
    }

    let (pings, missed) = bystander.finish();
    t.add("bystander_pings", pings);
    if missed > 0 {
        fail(
            t,
            format!("the bystander went unanswered after {pings} pings"),
        );
    }
    if !wait_admitted(socket) {
        fail(t, "no connection admitted after the attacks".into());
    }
    if let Err(e) = served(socket, r) {
        fail(
            t,
            format!("a new client was not served after the attacks: {e}"),
        );
    }
    t.add("rounds", 1);
}

#[test]
fn the_server_survives_hostile_clients_and_its_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProc::start(
        &dir.path().join("db"),
        &[
            "--quiet",
            "--max-connections",
            &MAX_CONNECTIONS.to_string(),
            "--max-txns",
            &MAX_TXNS.to_string(),
            "--idle-timeout",
            &IDLE_SECS.to_string(),
        ],
    );
    let pid = server.child.id();
    let mut t = Tally::new("server_hostility");
    // Warm up, so the baseline includes what normal work allocates.
    served(&server.socket, 0).unwrap();
    let baseline = rss_kib(pid);
    let mut peak = baseline;
    let rounds = 2 * harness::scale();
    let mut after_first = 0;
    for r in 1..=rounds {
        round(&server, r, &mut t);
        let rss = rss_kib(pid);
        peak = peak.max(rss);
        if r == 1 {
            after_first = rss;
        }
    }
    let last = rss_kib(pid);
    t.add("rss_baseline_kib", baseline);
    t.add("rss_peak_kib", peak);
    t.add("rss_end_kib", last);
    // Bounded: nothing the attacks sent justifies more than a few buffers per
    // connection; and no growth from round to round (no leak).
    if peak > baseline + 64 * 1024 {
        t.violation(format!("RSS grew from {baseline} KiB to {peak} KiB"));
    }
    if rounds > 2 && last > after_first + 16 * 1024 {
        t.violation(format!(
            "RSS kept growing over the rounds: {after_first} KiB after the first, {last} KiB at the end"
        ));
    }
    server.signal(libc::SIGTERM);
    let (status, err) = server.wait();
    if !status.success() {
        t.violation(format!("the server did not exit cleanly: {status}: {err}"));
    }
    t.finish();
}

/// Regression: a frame trickled in one byte at a time, each byte inside the idle
/// timeout, used to keep its connection (and its slot) forever; it is now closed once
/// the frame has been arriving for the idle timeout.
#[test]
fn a_frame_trickled_byte_by_byte_is_closed_as_idle() {
    use sochdb::ipc::server::ServerOptions;
    let s = common::TestServer::start(ServerOptions {
        idle_timeout: Some(Duration::from_millis(300)),
        ..ServerOptions::default()
    });
    let mut c = connect(&s.socket);
    let f = frame(op::PUT, &[1u8; 200]);
    let mut cut = false;
    // 200 bytes at one per 50 ms would take 10 s: far past the timeout.
    for b in &f {
        if c.write_all(std::slice::from_ref(b)).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(cut, "the trickling connection was never closed");
    let counters = s.handle.as_ref().unwrap().counters();
    assert!(
        counters
            .idle_timeouts
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    // Requests that arrive whole are untouched by it, however long between them.
    let mut ok = connect(&s.socket);
    for _ in 0..5 {
        assert!(ping(&mut ok));
        std::thread::sleep(Duration::from_millis(20));
    }
}
