//! Space after an overwrite and a full manual compaction: every key written, then
//! overwritten three times in random order (the level-0 files of the overwrites lying
//! on top of the older data), then `Backend::compact`. The files must then hold little
//! more than the live keys and values.

use std::path::Path;

use sochdb::backend::Backend;
use sochdb::kernel::{Database, DbOptions};
use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::{BatchOp, Durability, EngineOptions};

const KEYS: u64 = 30_000;
const VALUE: usize = 100;
/// Bytes of one live pair: a 16-byte key and its value.
const PAIR: u64 = 16 + VALUE as u64;

/// A 16-byte key, spread over the key space like a hash.
fn key(i: u64) -> Vec<u8> {
    let mut k = b"overwrt/".to_vec();
    k.extend_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    k
}

/// The next number of a xorshift generator.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// A value that differs on every write and does not compress.
fn value(seed: &mut u64) -> Vec<u8> {
    (0..VALUE).map(|_| next(seed) as u8).collect()
}

/// Bytes of the files in `dir` other than log segments (the newest segment is written
/// a megabyte of zeroes ahead of its records, whatever they hold).
fn bytes_but_log(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.to_string_lossy().ends_with(".log"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn an_overwritten_database_takes_little_more_than_its_live_data_after_compact() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DbOptions {
        engine: EngineOptions {
            durability: Durability::None,
            memtable_budget: 512 * 1024,
            compaction: CompactionOptions {
                level1_bytes: 1 << 20,
                target_file_size: 1 << 20,
                ..CompactionOptions::default()
            },
            ..EngineOptions::default()
        },
        ..DbOptions::default()
    };
    let db = Database::open(dir.path(), opts).unwrap();
    let mut seed = 0x1234_5678_9ABC_DEF1u64;
    let mut order: Vec<u64> = (0..KEYS).collect();
    for round in 0..4 {
        if round > 0 {
            // A fresh random order for each overwrite.
            for i in (1..order.len()).rev() {
                let j = (next(&mut seed) % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
        }
        for chunk in order.chunks(100) {
            let ops: Vec<BatchOp> = chunk
                .iter()
                .map(|&i| BatchOp::Put {
                    key: key(i),
                    value: value(&mut seed),
                })
                .collect();
            db.write_batch(&ops).unwrap();
        }
    }
    db.checkpoint().unwrap();
    let live = KEYS * PAIR;
    let before = bytes_but_log(dir.path());

    db.compact().unwrap();

    let after = bytes_but_log(dir.path());
    let stats = db.stats().unwrap();
    eprintln!(
        "{live} live bytes: {before} bytes of files before the compaction ({:.2}x), \
         {after} after ({:.2}x); {stats:?}",
        before as f64 / live as f64,
        after as f64 / live as f64
    );
    assert!(after < before, "{after} bytes after, {before} before");
    assert!(
        after * 100 < live * 115,
        "{after} bytes of files for {live} live bytes: {:.2}x",
        after as f64 / live as f64
    );
    assert!(
        after > live / 2,
        "{after} bytes cannot hold {live} live bytes"
    );
    assert!(
        stats["log_bytes"].as_u64().unwrap() < 4096,
        "the log still holds records: {stats:?}"
    );
    assert!(stats["compaction_bytes_written"].as_u64().unwrap() >= after / 2);
    for i in (0..KEYS).step_by(97) {
        assert_eq!(db.get(None, &key(i)).unwrap().map(|v| v.len()), Some(VALUE));
    }
}
