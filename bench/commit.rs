//! Durable commits per second: the engine's single writer against a raw
//! `write + fdatasync` loop on the same file system, and 16 writer threads against the
//! single writer. Run with `cargo bench --bench commit`; prints a Markdown table.
//!
//! `SOCHDB_BENCH_DIR` chooses where the files go (default: `target/`, so the same file
//! system as the build); `SOCHDB_BENCH_SECS` the seconds per measurement round (default 0.4; 11 rounds of
//! each measurement, interleaved, medians reported).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch};

const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;
/// Bytes one commit of one 16-byte key and 100-byte value adds to the log.
const RECORD_LEN: usize = 9 + 8 + 4 + 1 + 4 + KEY_LEN + 4 + VALUE_LEN;

fn key(thread: u64, i: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k[..8].copy_from_slice(&thread.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// Appends `RECORD_LEN` bytes and `fdatasync`s, as fast as possible, for `secs`.
fn raw_loop(dir: &Path, secs: Duration) -> f64 {
    let path = dir.join("raw.log");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .expect("create raw.log");
    let buf = [0x5au8; RECORD_LEN];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < secs {
        f.write_all(&buf).expect("write");
        f.sync_data().expect("fdatasync");
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    rate
}

/// Durable (`Sync`) commits per second with `threads` writers, for `secs`.
fn engine_loop(dir: &Path, threads: u64, secs: Duration) -> (f64, f64) {
    let db = dir.join(format!("db-{threads}"));
    let _ = std::fs::remove_dir_all(&db);
    let engine = Engine::open(
        &db,
        EngineOptions {
            durability: Durability::Sync,
            ..EngineOptions::default()
        },
    )
    .expect("open engine");
    let value = [0xa5u8; VALUE_LEN];
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let engine = engine.clone();
            s.spawn(move || {
                let mut b = WriteBatch::new();
                let mut i = 0u64;
                while start.elapsed() < secs {
                    b.clear();
                    b.put(&key(t, i), &value).expect("put");
                    engine.commit(&b).expect("commit");
                    i += 1;
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let stats = engine.stats();
    drop(engine);
    let _ = std::fs::remove_dir_all(&db);
    (
        stats.commits as f64 / elapsed,
        stats.commits as f64 / stats.syncs.max(1) as f64,
    )
}

/// Rounds of each measurement.
const ROUNDS: usize = 11;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let base = std::env::var_os("SOCHDB_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    std::fs::create_dir_all(&base).expect("create bench directory");
    let dir = tempfile::tempdir_in(&base).expect("temporary directory");
    let secs = Duration::from_secs_f64(
        std::env::var("SOCHDB_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.4),
    );

    // Interleave short rounds of the three measurements and report medians, so that a
    // burst of load on the machine (or a slow moment of the disk) does not decide a
    // ratio on its own.
    let (mut raw, mut single, mut multi, mut per_sync) = (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        raw.push(raw_loop(dir.path(), secs));
        single.push(engine_loop(dir.path(), 1, secs).0);
        let (rate, group) = engine_loop(dir.path(), 16, secs);
        multi.push(rate);
        per_sync.push(group);
    }
    let (raw, single, multi, per_sync) =
        (median(raw), median(single), median(multi), median(per_sync));

    println!(
        "Durable commits ({RECORD_LEN}-byte log records: one 16-byte key and 100-byte value \
         per commit), in {}, medians of {ROUNDS} interleaved rounds of {:.1} s:",
        base.display(),
        secs.as_secs_f64()
    );
    println!();
    println!("| measurement | commits/s | ratio | goal |");
    println!("|---|---:|---:|---:|");
    println!("| raw `write + fdatasync` loop | {raw:.0} | 1.00 | |");
    println!(
        "| engine, 1 writer, `Sync` | {single:.0} | {:.2} vs raw | >= 0.90 |",
        single / raw
    );
    println!(
        "| engine, 16 writers, `Sync` | {multi:.0} | {:.2} vs 1 writer | >= 10 |",
        multi / single
    );
    println!();
    println!("16 writers: {per_sync:.1} commits per sync on average.");
}
