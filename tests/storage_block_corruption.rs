//! A flipped byte in a block file: reads report `Corruption` naming the file (at open
//! when the damage is in the file's metadata, at the read that meets it otherwise),
//! `verify` reports it naming the file, and no read ever returns wrong data.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use sochdb::Status;
use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::sstable::TableOptions;
use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch, verify};

const KEYS: u32 = 3000;

fn options() -> EngineOptions {
    EngineOptions {
        durability: Durability::None,
        memtable_budget: 64 * 1024,
        // No compaction: the opens below must leave the set of files as it is.
        compaction: CompactionOptions {
            l0_trigger: usize::MAX,
            l0_slowdown: usize::MAX,
            l0_max_slowdown: usize::MAX,
            table: TableOptions {
                block_size: 512,
                ..TableOptions::default()
            },
            ..CompactionOptions::default()
        },
        ..EngineOptions::default()
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

fn value(i: u32) -> Vec<u8> {
    format!("value-{i}-{}", "x".repeat((i % 50) as usize)).into_bytes()
}

fn block_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    out.sort();
    out
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

/// Reads every key and a full scan both ways; every answer is right or `Corruption`
/// naming `file`. Returns how many reads reported corruption.
fn read_everything(e: &Engine, file: &str) -> usize {
    let mut bad = 0;
    let mut expect_corruption = |err: sochdb::Error| {
        assert_eq!(err.status(), Status::Corruption, "{err}");
        assert!(err.to_string().contains(file), "{err} does not name {file}");
        bad += 1;
    };
    for i in 0..KEYS {
        match e.get(&key(i), u64::MAX) {
            Ok(v) => assert_eq!(v, Some(value(i)), "key {i}: wrong data"),
            Err(err) => expect_corruption(err),
        }
    }
    for reverse in [false, true] {
        let it = e
            .iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, reverse)
            .unwrap();
        let mut want: Box<dyn Iterator<Item = u32>> = if reverse {
            Box::new((0..KEYS).rev())
        } else {
            Box::new(0..KEYS)
        };
        for item in it {
            match item {
                Ok((k, v)) => {
                    let i = want.next().unwrap();
                    assert_eq!((k, v), (key(i), value(i)), "scan: wrong data");
                }
                Err(err) => {
                    expect_corruption(err);
                    break;
                }
            }
        }
    }
    bad
}

#[test]
fn flipped_byte_in_a_block_file_is_corruption_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(dir.path(), options()).unwrap();
        for i in 0..KEYS {
            let mut b = WriteBatch::new();
            b.put(&key(i), &value(i)).unwrap();
            e.commit(&b).unwrap();
        }
        e.checkpoint().unwrap();
        e.close().unwrap();
    }
    let files = block_files(dir.path());
    assert!(!files.is_empty());
    assert!(verify(dir.path()).unwrap().is_ok());

    let mut data_hits = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let len = std::fs::metadata(path).unwrap().len();
        // Data blocks near the start, the middle and the end of the data, then the
        // index, filter and properties region, then the footer.
        for offset in [3, len / 3, len / 2, len - 100, len - 30] {
            flip(path, offset);
            let report = verify(dir.path()).unwrap();
            assert!(
                !report.is_ok(),
                "verify missed a flip at {offset} of {name}"
            );
            assert!(
                report.problems.iter().any(|p| p.contains(&name)),
                "verify does not name {name}: {report}"
            );
            match Engine::open(dir.path(), options()) {
                Ok(e) => {
                    let bad = read_everything(&e, &name);
                    if offset < len / 2 {
                        assert!(bad > 0, "a damaged data block at {offset} went unnoticed");
                    }
                    data_hits += bad;
                }
                Err(err) => {
                    assert_eq!(err.status(), Status::Corruption, "{err}");
                    assert!(err.to_string().contains(&name), "{err}");
                }
            }
            flip(path, offset);
        }
    }
    assert!(data_hits > 0);
    // Undamaged again: everything reads back.
    let e = Engine::open(dir.path(), options()).unwrap();
    assert_eq!(read_everything(&e, "-"), 0);
}
