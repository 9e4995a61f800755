//! The storage engine on data larger than its memory budgets: fills, overwrites, point
//! reads that hit and miss, short range scans, a full scan, reopen time after a crash
//! with a full memtable, disk bytes per live byte and peak resident memory.
//!
//! `cargo bench --bench engine` runs 1M keys; `cargo bench --bench engine -- --full`
//! (or `SOCHDB_BENCH_FULL=1`) runs 10M. `SOCHDB_BENCH_KEYS=n` sets another count;
//! `SOCHDB_BENCH_DIR` chooses where the files go (default: `target/`, the build's file
//! system). Keys are 16 bytes, values 100 bytes and different on every write; writes
//! are one put per commit with `Durability::None` (bulk, as in the usual "fill"
//! workloads); the engine runs with its default options (64 MiB memtable, 128 MiB
//! block cache), and the safe timestamp follows the newest commit (no reader holds a
//! snapshot), so compaction may drop overwritten versions. Prints a Markdown table.

use std::io::{BufRead, BufReader, Write};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sochdb::storage::{Durability, Engine, EngineOptions, EngineStats, WriteBatch};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
/// The child process that fills a memtable and waits to be killed.
const CHILD_ENV: &str = "SOCHDB_BENCH_CRASH_CHILD";

/// Key `i`: 16 lowercase hex digits, so key order is numeric order. Present keys are
/// even, so odd keys are misses spread over the same range.
fn key(i: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    let hex = format!("{:016x}", 2 * i);
    k.copy_from_slice(hex.as_bytes());
    k
}

fn miss_key(i: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    let hex = format!("{:016x}", 2 * i + 1);
    k.copy_from_slice(hex.as_bytes());
    k
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A value that differs on every write.
fn value(rng: &mut Rng, out: &mut [u8; VALUE_LEN]) {
    for chunk in out.chunks_mut(8) {
        let r = rng.next().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
}

/// A permutation of `0..n`: `j * p mod n` for a prime `p` that does not divide `n`.
fn permuted(j: u64, n: u64) -> u64 {
    const P: u64 = 2_654_435_761;
    ((j as u128 * P as u128) % n as u128) as u64
}

fn options() -> EngineOptions {
    EngineOptions {
        durability: Durability::None,
        ..EngineOptions::default()
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// One row of the table.
struct Row {
    name: String,
    ops: u64,
    secs: f64,
    note: String,
}

impl Row {
    fn new(name: &str, ops: u64, elapsed: Duration, note: String) -> Row {
        Row {
            name: name.to_string(),
            ops,
            secs: elapsed.as_secs_f64(),
            note,
        }
    }
}

/// Writes `n` puts, the key of put `j` given by `key_of(j)`; keeps the safe timestamp
/// at the newest commit.
fn fill(e: &Engine, n: u64, rng: &mut Rng, mut key_of: impl FnMut(u64) -> u64) -> Duration {
    let mut b = WriteBatch::new();
    let mut v = [0u8; VALUE_LEN];
    let start = Instant::now();
    for j in 0..n {
        value(rng, &mut v);
        b.clear();
        b.put(&key(key_of(j)), &v).expect("put");
        e.commit(&b).expect("commit");
        if j % 4096 == 0 {
            e.set_safe_ts(e.visible_ts());
        }
    }
    e.set_safe_ts(e.visible_ts());
    start.elapsed()
}

fn write_note(s: &EngineStats, user_bytes: u64) -> String {
    let written = s.wal_bytes_written + s.flush_bytes_written + s.compaction_bytes_written;
    format!(
        "{} flushes, {} compactions, write amplification {:.1} (log + flush + compaction \
         bytes over key and value bytes), {} stalls, {:.0} ms of throttle delay",
        s.flushes,
        s.compactions,
        written as f64 / user_bytes.max(1) as f64,
        s.write_stalls,
        s.write_delay_micros as f64 / 1000.0
    )
}

/// The crash child: fills the memtable almost to its budget (nothing flushed), makes
/// the log durable, says so, and waits to be killed.
fn crash_child(dir: &Path) {
    let e = Engine::open(dir, options()).expect("open");
    let budget = e.options().memtable_budget as u64;
    let mut rng = Rng(7);
    let mut b = WriteBatch::new();
    let mut v = [0u8; VALUE_LEN];
    let mut i = 0u64;
    while e.stats().memtable_bytes < budget * 97 / 100 {
        for _ in 0..1000 {
            value(&mut rng, &mut v);
            b.clear();
            b.put(&key(permuted(i, 1 << 40)), &v).expect("put");
            e.commit(&b).expect("commit");
            i += 1;
        }
    }
    b.clear();
    b.put(b"last", b"durable").expect("put");
    e.commit_with(&b, Some(Durability::Sync), &mut |_| Ok(()))
        .expect("commit");
    let s = e.stats();
    println!("full {} {} {}", i + 1, s.memtable_bytes, s.flushes);
    std::io::stdout().flush().expect("flush stdout");
    std::thread::sleep(Duration::from_secs(600));
}

/// Reopen time after SIGKILL with a full memtable: (seconds, records replayed,
/// memtable bytes, log bytes).
fn reopen_after_crash(dir: &Path) -> (Duration, u64, u64, u64) {
    let mut child = Command::new(std::env::current_exe().expect("bench path"))
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the crash child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the child");
    let mut parts = line.split_whitespace().skip(1);
    let _commits: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let mem: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let log = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let start = Instant::now();
    let e = Engine::open(dir, options()).expect("reopen");
    let took = start.elapsed();
    assert_eq!(
        e.get(b"last", u64::MAX).expect("get"),
        Some(b"durable".to_vec())
    );
    let replayed = e.recovery_report().records;
    (took, replayed, mem, log)
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        crash_child(Path::new(&dir));
        return;
    }
    let full = std::env::args().any(|a| a == "--full")
        || std::env::var("SOCHDB_BENCH_FULL").is_ok_and(|v| v == "1");
    let n: u64 = std::env::var("SOCHDB_BENCH_KEYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 10_000_000 } else { 1_000_000 });
    let base = std::env::var_os("SOCHDB_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&base).expect("create bench directory");
    let root = tempfile::tempdir_in(&base).expect("temporary directory");
    let user_bytes = n * (KEY_LEN + VALUE_LEN) as u64;
    let mut rows = Vec::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    // Fill sequential.
    {
        let dir = root.path().join("seq");
        let e = Engine::open(&dir, options()).expect("open");
        let t = fill(&e, n, &mut rng, |j| j);
        let note = write_note(&e.stats(), user_bytes);
        rows.push(Row::new("fill sequential", n, t, note));
        drop(e);
        let _ = std::fs::remove_dir_all(&dir);
    }

    // Fill random, then overwrite, on the same database.
    let dir = root.path().join("random");
    let e = Engine::open(&dir, options()).expect("open");
    let t = fill(&e, n, &mut rng, |j| permuted(j, n));
    rows.push(Row::new(
        "fill random",
        n,
        t,
        write_note(&e.stats(), user_bytes),
    ));
    let before = e.stats();
    let mut over = Rng(42);
    let t = fill(&e, n, &mut rng, |_| over.below(n));
    let after = e.stats();
    let delta = EngineStats {
        wal_bytes_written: after.wal_bytes_written - before.wal_bytes_written,
        flush_bytes_written: after.flush_bytes_written - before.flush_bytes_written,
        compaction_bytes_written: after.compaction_bytes_written - before.compaction_bytes_written,
        flushes: after.flushes - before.flushes,
        compactions: after.compactions - before.compactions,
        write_stalls: after.write_stalls - before.write_stalls,
        write_delay_micros: after.write_delay_micros - before.write_delay_micros,
        ..EngineStats::default()
    };
    rows.push(Row::new(
        "overwrite (random keys)",
        n,
        t,
        write_note(&delta, user_bytes),
    ));
    let start = Instant::now();
    e.checkpoint().expect("checkpoint");
    let ran = e.compact_all().expect("compact");
    rows.push(Row::new(
        "checkpoint + full compaction",
        0,
        start.elapsed(),
        format!("{ran} compactions in the foreground"),
    ));
    let s = e.stats();
    let on_disk = dir_bytes(&dir);
    let files: u64 = s.level_bytes.iter().sum();
    let space_note = format!(
        "{on_disk} bytes on disk ({files} in block files, levels {:?}) for {user_bytes} \
         live bytes: {:.2} disk bytes per live byte",
        s.level_files,
        on_disk as f64 / user_bytes as f64
    );

    // Reads: hits, misses, seek + 10 next, full scan.
    let reads = n.min(1_000_000);
    let mut r = Rng(5);
    let start = Instant::now();
    for _ in 0..reads {
        let i = r.below(n);
        let v = e.get(&key(i), u64::MAX).expect("get");
        assert!(v.is_some(), "key {i} missing");
    }
    let cache = e.stats();
    rows.push(Row::new(
        "random read, hit",
        reads,
        start.elapsed(),
        format!(
            "block cache hit ratio {:.2}",
            cache.cache_hit_ratio().unwrap_or(0.0)
        ),
    ));
    let start = Instant::now();
    for _ in 0..reads {
        let i = r.below(n);
        let v = e.get(&miss_key(i), u64::MAX).expect("get");
        assert!(v.is_none());
    }
    let after_miss = e.stats();
    rows.push(Row::new(
        "random read, miss",
        reads,
        start.elapsed(),
        format!(
            "{} block reads for {reads} misses (Bloom filters skip the rest)",
            (after_miss.cache_hits + after_miss.cache_misses)
                - (cache.cache_hits + cache.cache_misses)
        ),
    ));
    let seeks = n.min(200_000);
    let start = Instant::now();
    for _ in 0..seeks {
        let i = r.below(n);
        let it = e
            .iter(
                Bound::Included(key(i).to_vec()),
                Bound::Unbounded,
                u64::MAX,
                false,
            )
            .expect("iter");
        let got = it.take(11).count();
        assert!(got >= 1);
    }
    rows.push(Row::new(
        "seek + 10 next",
        seeks,
        start.elapsed(),
        "one seek and ten steps per operation".into(),
    ));
    let start = Instant::now();
    let mut count = 0u64;
    for item in e
        .iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, false)
        .expect("iter")
    {
        item.expect("scan");
        count += 1;
    }
    assert_eq!(count, n);
    rows.push(Row::new(
        "full scan",
        count,
        start.elapsed(),
        "entries per second".into(),
    ));
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);

    let crash_dir = root.path().join("crash");
    let (reopen, replayed, mem, log) = reopen_after_crash(&crash_dir);
    rows.push(Row::new(
        "reopen after a crash with a full memtable",
        0,
        reopen,
        format!(
            "SIGKILL with {:.1} MiB in the memtable ({:.1} MiB of log); {replayed} records \
             replayed",
            mem as f64 / (1 << 20) as f64,
            log as f64 / (1 << 20) as f64
        ),
    ));

    println!(
        "Engine: {n} keys ({KEY_LEN}-byte keys, {VALUE_LEN}-byte values), one put per \
         commit with `Durability::None`, default options, in {}:",
        base.display()
    );
    println!();
    println!("| workload | ops/s | time | notes |");
    println!("|---|---:|---:|---|");
    for row in &rows {
        let rate = if row.ops > 0 {
            format!("{:.0}", row.ops as f64 / row.secs)
        } else {
            String::new()
        };
        println!(
            "| {} | {rate} | {:.2} s | {} |",
            row.name, row.secs, row.note
        );
    }
    println!();
    println!("Space after the overwrite and a full compaction: {space_note}.");
    println!(
        "Peak resident memory of the benchmark process: {:.0} MiB (memtable budget 64 MiB, \
         block cache budget 128 MiB, {:.0} MiB of keys and values).",
        peak_rss_mib(),
        user_bytes as f64 / (1 << 20) as f64
    );
}
