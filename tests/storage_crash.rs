//! Real crashes: a child process (this test binary, re-executed) runs concurrent
//! durable commits and prints each acknowledged one; the parent kills it with SIGKILL
//! at a random moment, reopens the database and checks that every acknowledged commit
//! is there, that no batch is half there, and that deleted keys stay deleted. Many
//! rounds on the same directory, so history accumulates across crashes.
//!
//! Every batch of writer `t` with sequence number `s` writes, atomically:
//! `t{t}/seq = s`, `t{t}/k0..k3 = s`, `t{t}/live/{s}` (a put) and deletes
//! `t{t}/live/{s-1}`. So after any crash, for each writer: all of `k0..k3` equal `seq`
//! (no half batch), `seq` is at least the last acknowledged `s`, and exactly one
//! `live/` key exists, the one for `seq` (deletes stay deleted).
//!
//! The memtable and level budgets are tiny, so the child flushes memtables and
//! compacts block files all the time (and drops old versions and tombstones, as it
//! keeps the safe timestamp at the newest commit): the kills land during flushes,
//! compactions, manifest installs and log trims too. The parent counts the rounds that
//! were killed with a block file half written.

use std::io::{BufRead, BufReader};
use std::ops::Bound;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch, parse_temp_table_file_name};

const CHILD_ENV: &str = "SOCHDB_CRASH_CHILD_DIR";
const WRITERS: u64 = 4;
const ROUNDS: usize = 60;

fn options() -> EngineOptions {
    EngineOptions {
        wal_segment_size: 32 * 1024,
        buffered_sync_interval: Duration::from_millis(2),
        memtable_budget: 4 * 1024,
        cache_budget: 64 * 1024,
        compaction: CompactionOptions {
            num_levels: 4,
            l0_trigger: 2,
            level1_bytes: 16 * 1024,
            level_ratio: 4,
            target_file_size: 8 * 1024,
            ..CompactionOptions::default()
        },
        ..EngineOptions::default()
    }
}

/// True when the directory holds a block file being written (a flush or compaction
/// was in progress).
fn unfinished_block_file(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let name = e.unwrap().file_name();
        parse_temp_table_file_name(&name.to_string_lossy()).is_some()
    })
}

fn read_seq(engine: &Engine, t: u64) -> u64 {
    engine
        .get(format!("t{t}/seq").as_bytes(), u64::MAX)
        .unwrap()
        .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
        .unwrap_or(0)
}

/// The child: commits forever (until killed, or a safety limit) from several threads.
fn child(dir: &Path) {
    let engine = Engine::open(dir, options()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    std::thread::scope(|scope| {
        for t in 0..WRITERS {
            let engine = engine.clone();
            scope.spawn(move || {
                let mut s = read_seq(&engine, t);
                // Writer 3 uses Buffered: a process crash must not lose it either.
                let durability = if t == 3 {
                    Durability::Buffered
                } else {
                    Durability::Sync
                };
                while Instant::now() < deadline {
                    s += 1;
                    let mut b = WriteBatch::new();
                    let v = s.to_le_bytes();
                    b.put(format!("t{t}/seq").as_bytes(), &v).unwrap();
                    for j in 0..4 {
                        b.put(format!("t{t}/k{j}").as_bytes(), &v).unwrap();
                    }
                    b.put(format!("t{t}/live/{s:012}").as_bytes(), b"").unwrap();
                    b.delete(format!("t{t}/live/{:012}", s - 1).as_bytes())
                        .unwrap();
                    let ts = engine
                        .commit_with(&b, Some(durability), &mut |_| Ok(()))
                        .unwrap();
                    // No reader needs anything older: compaction may drop it.
                    engine.set_safe_ts(ts);
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    let st = engine.stats();
                    writeln!(out, "ack {t} {s} {} {}", st.flushes, st.compactions).unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn check(dir: &Path, acked: &[u64], prev_ts: u64) -> u64 {
    let engine = Engine::open(dir, options()).unwrap();
    let visible = engine.visible_ts();
    assert!(
        visible >= prev_ts,
        "timestamps went back: {visible} < {prev_ts}"
    );
    for t in 0..WRITERS {
        let seq = read_seq(&engine, t);
        assert!(
            seq >= acked[t as usize],
            "writer {t}: acknowledged {} but recovered {seq}",
            acked[t as usize]
        );
        for j in 0..4 {
            let v = engine
                .get(format!("t{t}/k{j}").as_bytes(), u64::MAX)
                .unwrap();
            let v = v
                .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
                .unwrap_or(0);
            assert_eq!(
                v, seq,
                "writer {t}: half a batch visible (k{j} = {v}, seq = {seq})"
            );
        }
        let prefix = format!("t{t}/live/").into_bytes();
        let mut end = prefix.clone();
        *end.last_mut().unwrap() += 1;
        let live: Vec<_> = engine
            .iter(
                Bound::Included(prefix),
                Bound::Excluded(end),
                u64::MAX,
                false,
            )
            .unwrap()
            .map(|r| String::from_utf8(r.unwrap().0).unwrap())
            .collect();
        if seq == 0 {
            assert!(live.is_empty(), "writer {t}: {live:?}");
        } else {
            assert_eq!(
                live,
                vec![format!("t{t}/live/{seq:012}")],
                "writer {t}: deleted keys came back"
            );
        }
    }
    visible
}

#[test]
fn sigkill_during_concurrent_commits_loses_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut acked = vec![0u64; WRITERS as usize];
    let mut prev_ts = 0;
    let mut total_acks = 0u64;
    let mut mid_write = 0;
    let (mut flushes, mut compactions) = (0, 0);
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkill_during_concurrent_commits_loses_nothing_acknowledged",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let mut lines = Vec::new();
        if round % 3 == 1 {
            // Kill while commits are surely flowing: after the first acknowledgement
            // (however slow the machine is), plus a random while.
            if let Ok(first) = rx.recv_timeout(Duration::from_secs(30)) {
                lines.push(first);
            }
            std::thread::sleep(Duration::from_millis(rng.below(150)));
        } else {
            // Kill at a random moment, sometimes before the child has even opened.
            let wait = if round % 6 == 0 {
                rng.below(15)
            } else {
                10 + rng.below(120)
            };
            std::thread::sleep(Duration::from_millis(wait));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if unfinished_block_file(dir.path()) {
            mid_write += 1;
        }
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        let (mut round_flushes, mut round_compactions) = (0, 0);
        for line in lines {
            let mut parts = line.split(' ');
            if parts.next() != Some("ack") {
                continue;
            }
            let (Some(t), Some(s)) = (parts.next(), parts.next()) else {
                continue;
            };
            let (Ok(t), Ok(s)) = (t.parse::<usize>(), s.parse::<u64>()) else {
                continue;
            };
            acked[t] = acked[t].max(s);
            total_acks += 1;
            let mut counts = parts.map(|p| p.parse::<u64>().unwrap_or(0));
            round_flushes = round_flushes.max(counts.next().unwrap_or(0));
            round_compactions = round_compactions.max(counts.next().unwrap_or(0));
        }
        flushes += round_flushes;
        compactions += round_compactions;
        prev_ts = check(dir.path(), &acked, prev_ts);
    }
    let files = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sst")
        })
        .count();
    eprintln!(
        "crash test: {ROUNDS} rounds ({mid_write} killed while a block file was being \
         written), {total_acks} acknowledged commits checked, at least {flushes} flushes \
         and {compactions} compactions in the children, {files} block files at the end"
    );
    assert!(total_acks > 0, "the child never acknowledged a commit");
}
