//! Campaign 1, process crashes: a driver runs the mixed workload (one-shot writes and
//! deletes, batches, transactions that conflict and are retried or abandoned, table
//! rows, checkpoints) from several threads, records every operation it starts and what
//! became of it, and is killed with SIGKILL at a random moment; the database is
//! reopened and checked against the record ([`mixed::check_round`]): every acknowledged
//! write present (the newest of an item's acknowledged writes), nothing of a conflicted,
//! aborted or unacknowledged transaction half there, deleted items still deleted. Many
//! cycles on one database, so history accumulates across crashes.
//!
//! Three drivers:
//! - in-process: this test binary, re-executed as a child, on the kernel `Backend`;
//! - C ABI: the same child calling the `extern "C"` functions of `libsochdb`;
//! - socket: a `sochdb serve` child killed under clients of this process.

mod common;
mod harness;

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ServeProc;
use harness::cabi::CDb;
use harness::mixed::{self, Outcome, Record, Seen, Shape, State, Target};
use harness::{Rng, Tally};
use sochdb::backend::Backend;
use sochdb::ipc::client::{Client, ClientOptions};
use sochdb::kernel::{Database, DbOptions};

const CHILD_ENV: &str = "SOCHDB_CRASH_CAMPAIGN_CHILD";
const THREADS: u64 = 4;
/// Attempts of a transaction that conflicts before it is abandoned.
const ATTEMPTS: u64 = 3;
/// Rounds on one database before a fresh one (so long runs do not spend their time
/// replaying an ever longer history).
const ROUNDS_PER_DATABASE: u64 = 60;

/// The operation thread `t` runs as its `k`th, attempt `a`, in round `round`.
fn op_of(shape: &Shape, round: u64, t: u64, k: u64, a: u64) -> mixed::Op {
    shape.op(t, &format!("{round}.{t}.{k}.{a}"))
}

/// The generator of thread `t`'s shapes in `round`.
fn shapes(seed: u64, round: u64, t: u64) -> Rng {
    Rng(seed).fork(round * 64 + t)
}

/// Runs thread `t`'s program until `stop` or a failure, calling `log` with each event:
/// `try k a`, then `ok k a ts|-`, `no k a` or `err k a`.
fn program(
    target: &dyn Target,
    seed: u64,
    round: u64,
    t: u64,
    stop: &AtomicBool,
    deadline: Instant,
    log: &mut dyn FnMut(String),
) {
    let mut rng = shapes(seed, round, t);
    for k in 0.. {
        let shape = Shape::plan(&mut rng);
        for a in 0..ATTEMPTS {
            if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                return;
            }
            let op = op_of(&shape, round, t, k, a);
            log(format!("try {t} {k} {a}"));
            match mixed::execute(target, &op) {
                Outcome::Committed(ts) => {
                    let ts = ts.map_or("-".to_string(), |x| x.to_string());
                    log(format!("ok {t} {k} {a} {ts}"));
                    break;
                }
                Outcome::NotCommitted(why) => {
                    log(format!("no {t} {k} {a}"));
                    // A conflict is retried; an abort is the plan.
                    if !why.contains("conflict") {
                        break;
                    }
                }
                Outcome::Failed(_) => {
                    log(format!("no {t} {k} {a}"));
                    return;
                }
                Outcome::Unknown(_) => {
                    log(format!("err {t} {k} {a}"));
                    return;
                }
            }
        }
    }
}

/// Rebuilds the records of a round from the driver's event lines.
fn records(seed: u64, round: u64, lines: &[String]) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut plans: Vec<(Rng, Vec<Shape>)> = (0..THREADS)
        .map(|t| (shapes(seed, round, t), Vec::new()))
        .collect();
    for line in lines {
        let event = line.rfind('@').map_or(line.as_str(), |at| &line[at + 1..]);
        let parts: Vec<&str> = event.split(' ').collect();
        let (Some(kind), Some(t), Some(k), Some(a)) = (
            parts.first(),
            parts.get(1).and_then(|s| s.parse::<u64>().ok()),
            parts.get(2).and_then(|s| s.parse::<u64>().ok()),
            parts.get(3).and_then(|s| s.parse::<u64>().ok()),
        ) else {
            continue;
        };
        let Some((rng, planned)) = plans.get_mut(t as usize) else {
            continue;
        };
        while planned.len() as u64 <= k {
            planned.push(Shape::plan(rng));
        }
        let seq = k * ATTEMPTS + a;
        match *kind {
            "try" => out.push(Record {
                thread: t,
                seq,
                op: op_of(&planned[k as usize], round, t, k, a),
                seen: Seen::InFlight,
            }),
            "ok" | "no" => {
                if let Some(r) = out.iter_mut().rev().find(|r| r.thread == t && r.seq == seq) {
                    r.seen = if *kind == "ok" {
                        Seen::Acked(parts.get(4).and_then(|s| s.parse().ok()))
                    } else {
                        Seen::NotCommitted
                    };
                }
            }
            _ => {}
        }
    }
    out
}

/// Checks a recovered database against a round's records; returns the new base.
fn check(
    db: &dyn Backend,
    base: &State,
    recs: &[Record],
    round: u64,
    mode: &str,
    t: &mut Tally,
) -> State {
    let got = match mixed::observe(db) {
        Ok(s) => s,
        Err(e) => {
            t.violation(format!(
                "{mode} round {round}: reading the database failed: {e}"
            ));
            return base.clone();
        }
    };
    for v in mixed::check_round(base, recs, &got) {
        t.violation(format!("{mode} round {round}: {v}"));
    }
    t.add("cycles", 1);
    t.add(
        "acknowledged",
        recs.iter()
            .filter(|r| matches!(r.seen, Seen::Acked(_)))
            .count() as u64,
    );
    t.add(
        "not_committed",
        recs.iter().filter(|r| r.seen == Seen::NotCommitted).count() as u64,
    );
    t.add(
        "in_flight",
        recs.iter().filter(|r| r.seen == Seen::InFlight).count() as u64,
    );
    got
}

/// The child: runs the workload on the database in `dir` until killed.
fn child(spec: &str) {
    let parts: Vec<&str> = spec.splitn(4, ';').collect();
    let [mode, dir, seed, round] = parts[..] else {
        panic!("bad child spec {spec}");
    };
    let (seed, round): (u64, u64) = (seed.parse().unwrap(), round.parse().unwrap());
    let dir = Path::new(dir);
    let target: Box<dyn Target + Send + Sync> = match mode {
        "cabi" => Box::new(CDb::open(dir).unwrap()),
        _ => Box::new(Database::open(dir, DbOptions::default()).unwrap()),
    };
    let out = Mutex::new(std::io::stdout());
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (target, out, stop) = (&target, &out, &stop);
            s.spawn(move || {
                let mut log = |line: String| {
                    let mut o = out.lock().unwrap();
                    // The `@` marks where an event starts: the test harness may print
                    // its own text before the first one on the same line.
                    writeln!(o, "@{line}").unwrap();
                    o.flush().unwrap();
                };
                program(&**target, seed, round, t, stop, deadline, &mut log);
            });
        }
    });
}

/// Runs one child round and kills it at a random moment; returns its event lines.
fn child_round(
    test: &str,
    mode: &str,
    dir: &Path,
    seed: u64,
    round: u64,
    rng: &mut Rng,
) -> Vec<String> {
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(
            CHILD_ENV,
            format!("{mode};{};{seed};{round}", dir.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(l) = line else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    if round % 3 != 0 {
        // Kill while operations surely flow: after the first acknowledgement (however
        // slow the machine), plus a random while.
        let first_ack = Instant::now() + Duration::from_secs(30);
        while Instant::now() < first_ack {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => {
                    let acked = l.contains("@ok");
                    lines.push(l);
                    if acked {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_millis(rng.below(60)));
    } else {
        // Kill at any moment, sometimes before the child has opened the database.
        std::thread::sleep(Duration::from_millis(rng.below(150)));
    }
    proc.kill().unwrap(); // SIGKILL
    proc.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    lines
}

fn run_child_campaign(test: &str, mode: &str, rounds: u64) {
    let seed = harness::seed(&format!("crash_{mode}"));
    let mut rng = Rng(seed);
    let mut t = Tally::new(&format!("crash_{mode}"));
    let dir = tempfile::tempdir().unwrap();
    let mut db_dir = PathBuf::new();
    let mut base = State::new();
    for round in 0..rounds {
        if round % ROUNDS_PER_DATABASE == 0 {
            db_dir = dir.path().join(format!("db{round}"));
            let db = Database::open(&db_dir, DbOptions::default()).unwrap();
            mixed::setup(&db).unwrap();
            db.close().unwrap();
            base = State::new();
            t.add("databases", 1);
        }
        let lines = child_round(test, mode, &db_dir, seed, round, &mut rng);
        let recs = records(seed, round, &lines);
        let db = match Database::open(&db_dir, DbOptions::default()) {
            Ok(db) => db,
            Err(e) => {
                t.violation(format!("{mode} round {round}: reopen failed: {e}"));
                break;
            }
        };
        base = check(&db, &base, &recs, round, mode, &mut t);
        db.close().unwrap();
    }
    assert!(t.get("acknowledged") > 0, "nothing was acknowledged");
    t.finish();
}

#[test]
fn sigkill_of_an_in_process_driver_loses_no_acknowledged_write() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    run_child_campaign(
        "sigkill_of_an_in_process_driver_loses_no_acknowledged_write",
        "kernel",
        24 * harness::scale(),
    );
}

#[test]
fn sigkill_of_a_c_abi_driver_loses_no_acknowledged_write() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    run_child_campaign(
        "sigkill_of_a_c_abi_driver_loses_no_acknowledged_write",
        "cabi",
        16 * harness::scale(),
    );
}

#[test]
fn sigkill_of_the_server_loses_no_acknowledged_write() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let rounds = 10 * harness::scale();
    let seed = harness::seed("crash_socket");
    let mut rng = Rng(seed);
    let mut t = Tally::new("crash_socket");
    let dir = tempfile::tempdir().unwrap();
    let fresh = |round: u64| {
        let db_dir: PathBuf = dir.path().join(format!("db{round}"));
        let server = ServeProc::start(&db_dir, &["--quiet"]);
        let c = Client::connect(&server.socket, ClientOptions::default()).unwrap();
        mixed::setup(&c).unwrap();
        c.close().unwrap();
        (db_dir, server)
    };
    let (mut db_dir, mut server) = fresh(0);
    t.add("databases", 1);
    let mut base = State::new();
    for round in 0..rounds {
        if round > 0 && round % ROUNDS_PER_DATABASE == 0 {
            server.signal(libc::SIGTERM);
            let (status, err) = server.wait();
            assert!(status.success(), "{status}: {err}");
            (db_dir, server) = fresh(round);
            t.add("databases", 1);
            base = State::new();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..THREADS)
            .map(|th| {
                let (socket, stop, lines) =
                    (server.socket.clone(), Arc::clone(&stop), Arc::clone(&lines));
                std::thread::spawn(move || {
                    let Ok(c) = Client::connect(&socket, ClientOptions::default()) else {
                        return;
                    };
                    let deadline = Instant::now() + Duration::from_secs(20);
                    let mut log = |l: String| lines.lock().unwrap().push(l);
                    program(&c, seed, round, th, &stop, deadline, &mut log);
                    let _ = c.close();
                })
            })
            .collect();
        // Let operations flow, then kill the server at a random moment.
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until && !lines.lock().unwrap().iter().any(|l| l.starts_with("ok")) {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rng.below(80)));
        server.signal(libc::SIGKILL);
        let _ = server.wait();
        stop.store(true, Ordering::Relaxed);
        for th in threads {
            th.join().unwrap();
        }
        let lines = lines.lock().unwrap().clone();
        let recs = records(seed, round, &lines);
        server = ServeProc::start(&db_dir, &["--quiet"]);
        let c = Client::connect(&server.socket, ClientOptions::default()).unwrap();
        base = check(&c, &base, &recs, round, "socket", &mut t);
        c.close().unwrap();
    }
    server.signal(libc::SIGTERM);
    let (status, err) = server.wait();
    assert!(status.success(), "{status}: {err}");
    assert!(t.get("acknowledged") > 0, "nothing was acknowledged");
    t.finish();
}
