//! Space comes back: after every key is overwritten five times and half of them are
//! deleted, a checkpoint and a full compaction leave block files holding about what
//! the live data needs, and a log holding nothing of it.

use std::path::Path;

use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::sstable::{Compression, TableOptions};
use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch};

const KEYS: u64 = 20_000;
const VALUE: usize = 100;

fn options() -> EngineOptions {
    EngineOptions {
        durability: Durability::None,
        memtable_budget: 256 * 1024,
        compaction: CompactionOptions {
            level1_bytes: 1 << 20,
            target_file_size: 512 * 1024,
            // The bounds below are about the data's own size: uncompressed (these
            // values, runs of one byte, would compress to almost nothing).
            table: TableOptions {
                compression: Compression::None,
                ..TableOptions::default()
            },
            ..CompactionOptions::default()
        },
        ..EngineOptions::default()
    }
}

/// A 16-byte key.
fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(b"spacekey");
    k[8..].copy_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes());
    k
}

fn bytes_of(dir: &Path, ext: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn overwritten_and_deleted_data_gives_its_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), options()).unwrap();
    for round in 0..5u8 {
        for i in 0..KEYS {
            let mut b = WriteBatch::new();
            b.put(&key(i), &[round; VALUE]).unwrap();
            e.commit(&b).unwrap();
        }
        // No snapshot is held: nothing older than the newest commit is needed.
        e.set_safe_ts(e.visible_ts());
    }
    for i in (0..KEYS).step_by(2) {
        let mut b = WriteBatch::new();
        b.delete(&key(i)).unwrap();
        e.commit(&b).unwrap();
    }
    e.set_safe_ts(e.visible_ts());
    e.checkpoint().unwrap();
    e.compact_all().unwrap();

    let live = (KEYS / 2) * (16 + VALUE as u64);
    let files = bytes_of(dir.path(), ".sst");
    let log = bytes_of(dir.path(), ".log");
    let stats = e.stats();
    eprintln!(
        "space: {files} bytes of block files, {log} bytes of log for {live} live bytes \
         ({:.2}x); written: log {}, flush {}, compaction {}; {stats:?}",
        files as f64 / live as f64,
        stats.wal_bytes_written,
        stats.flush_bytes_written,
        stats.compaction_bytes_written
    );
    assert!(
        files < 2 * live,
        "{files} bytes of files for {live} live bytes"
    );
    assert!(
        files > live / 2,
        "{files} bytes cannot hold {live} live bytes"
    );
    // The log holds no record: its one segment is a header and the zeroes written
    // ahead of the next records.
    assert!(
        stats.wal_bytes < 4096,
        "the checkpoint left {} bytes of log records",
        stats.wal_bytes
    );
    assert!(
        log <= 4096 + sochdb::storage::wal::ZEROES_AHEAD,
        "the checkpoint left {log} bytes of log files"
    );
    assert_eq!(stats.live_keys_estimate, KEYS / 2);
    for i in 0..KEYS {
        let want = (i % 2 == 1).then(|| vec![4u8; VALUE]);
        assert_eq!(e.get(&key(i), u64::MAX).unwrap(), want);
    }
}
