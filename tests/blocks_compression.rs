//! Compressed block files: the same entries read back alike with and without
//! compression, format 1 files (no type byte) still open and read beside current ones,
//! an engine whose files mix both settings reads and compacts them, and `verify`
//! decompresses and checks every compressed block.

use std::ops::{Bound, Range};
use std::sync::Arc;

use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::entry::{Entry, EntryIter, read_all};
use sochdb::storage::sstable::footer::{FORMAT_VERSION, OLDEST_FORMAT_VERSION};
use sochdb::storage::sstable::{
    Compression, ConcatIter, MemSource, Table, TableBuilder, TableOptions,
};
use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch, verify};

/// Versions of keys `key{3i:05}` for `i` in `range`: several versions per key,
/// tombstones, empty values, values that compress well and values that do not.
fn entries(range: Range<u64>) -> Vec<Entry> {
    let mut out = Vec::new();
    for i in range {
        let key = format!("key{:05}", i * 3).into_bytes();
        for v in 0..(i % 4).max(1) {
            let ts = 500 - v * 7 - i % 5;
            let mut x = (i << 8 | v) ^ 0x9e37_79b9_7f4a_7c15;
            let value = match (i + v) % 6 {
                0 => None,
                1 => Some(Vec::new()),
                2 | 3 => {
                    Some(format!("value {i} {v} {}", "abc".repeat(i as usize % 20)).into_bytes())
                }
                _ => Some(
                    (0..(i % 37) * 3)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x as u8
                        })
                        .collect(),
                ),
            };
            out.push(Entry::new(key.clone(), ts, value));
        }
    }
    out
}

/// The options `tests/fixtures/blocks_v1.sst` was written with, and `compression`.
fn options(compression: Compression) -> TableOptions {
    TableOptions {
        block_size: 256,
        restart_interval: 4,
        bloom_bits_per_key: 10,
        compression,
    }
}

fn build(es: &[Entry], compression: Compression) -> Vec<u8> {
    let mut b = TableBuilder::new(Vec::new(), "mem", options(compression));
    for e in es {
        b.add(&e.key, e.ts, e.value.as_deref()).unwrap();
    }
    b.finish().unwrap().0
}

fn open(name: &str, bytes: Vec<u8>) -> Arc<Table> {
    Table::open(Arc::new(MemSource::new(name, bytes)), 1, None).unwrap()
}

/// Every entry by point lookup, an absent key, a full scan, and a full check.
fn check_reads(t: &Arc<Table>, es: &[Entry]) {
    for e in es {
        assert_eq!(t.get(&e.key, e.ts).unwrap(), Some((e.ts, e.value.clone())));
    }
    assert_eq!(t.get(b"key00001", u64::MAX).unwrap(), None);
    assert_eq!(read_all(&mut t.iter()).unwrap(), es);
    assert_eq!(t.verify().unwrap().entries, es.len() as u64);
}

#[test]
fn same_entries_with_and_without_compression() {
    let es = entries(0..120);
    let raw = build(&es, Compression::None);
    let packed = build(&es, Compression::Snappy);
    assert!(
        packed.len() < raw.len() * 9 / 10,
        "compressed {} bytes, raw {}",
        packed.len(),
        raw.len()
    );
    let (r, p) = (open("raw", raw), open("packed", packed));
    assert_eq!(r.format_version(), FORMAT_VERSION);
    assert_eq!(p.format_version(), FORMAT_VERSION);
    check_reads(&r, &es);
    check_reads(&p, &es);
    assert_eq!(r.verify().unwrap().compressed_blocks, 0);
    let v = p.verify().unwrap();
    // Blocks of random values stay raw; the others are compressed.
    assert!(
        v.compressed_blocks > 0 && v.compressed_blocks < v.blocks,
        "{v:?}"
    );
}

#[test]
fn format_1_files_still_read_beside_current_ones() {
    // Written by the format 1 builder (before blocks carried a type byte) from
    // `entries(0..60)` with `options(..)`, and checked in so that this keeps proving
    // that files written before compression existed still open and read.
    let v1 = include_bytes!("fixtures/blocks_v1.sst").to_vec();
    assert_eq!(&v1[v1.len() - 16..v1.len() - 12], &1u32.to_le_bytes());
    let head = entries(0..60);
    let old = open("blocks_v1.sst", v1);
    assert_eq!(old.format_version(), OLDEST_FORMAT_VERSION);
    check_reads(&old, &head);
    assert_eq!(old.verify().unwrap().compressed_blocks, 0);

    // Rewritten (as a compaction rewrites it), it becomes a compressed current file.
    let rewritten = open(
        "rewritten",
        build(&read_all(&mut old.iter()).unwrap(), Compression::Snappy),
    );
    assert_eq!(rewritten.format_version(), FORMAT_VERSION);
    assert!(rewritten.verify().unwrap().compressed_blocks > 0);
    check_reads(&rewritten, &head);

    // One cursor over an old file followed by a compressed current one.
    let tail = entries(60..120);
    let newer = open("newer", build(&tail, Compression::Snappy));
    let mut both = ConcatIter::new(vec![old, newer], false);
    let all: Vec<Entry> = head.into_iter().chain(tail).collect();
    assert_eq!(read_all(&mut both).unwrap(), all);
}

fn engine_options(compression: Compression) -> EngineOptions {
    EngineOptions {
        durability: Durability::None,
        memtable_budget: 64 * 1024,
        compaction: CompactionOptions {
            table: TableOptions {
                block_size: 1024,
                compression,
                ..TableOptions::default()
            },
            // Files stay in level 0 until `compact_all`, so that files written under
            // both settings are read side by side.
            l0_trigger: 100,
            l0_slowdown: 200,
            l0_max_slowdown: 400,
            ..CompactionOptions::default()
        },
        ..EngineOptions::default()
    }
}

fn engine_value(i: u32, round: u32) -> Vec<u8> {
    format!("round {round} value {i} {}", "pad".repeat(i as usize % 30)).into_bytes()
}

#[test]
fn engine_reads_and_compacts_files_of_both_settings() {
    const KEYS: u32 = 2000;
    let dir = tempfile::tempdir().unwrap();
    let key = |i: u32| format!("key{i:08}").into_bytes();
    let write = |e: &Engine, keys: &mut dyn Iterator<Item = u32>, round: u32| {
        for chunk in keys.collect::<Vec<_>>().chunks(100) {
            let mut b = WriteBatch::new();
            for &i in chunk {
                b.put(&key(i), &engine_value(i, round)).unwrap();
            }
            e.commit(&b).unwrap();
        }
        e.checkpoint().unwrap();
    };
    let e = Engine::open(dir.path(), engine_options(Compression::None)).unwrap();
    write(&e, &mut (0..KEYS), 0);
    e.close().unwrap();
    let raw = verify(dir.path()).unwrap();
    assert!(raw.is_ok(), "{raw}");
    assert!(raw.blocks > 0 && raw.compressed_blocks == 0, "{raw}");

    let e = Engine::open(dir.path(), engine_options(Compression::Snappy)).unwrap();
    write(&e, &mut (0..KEYS).step_by(3), 1);
    let latest = |i: u32| engine_value(i, u32::from(i % 3 == 0));
    let check = |e: &Engine| {
        for i in 0..KEYS {
            assert_eq!(
                e.get(&key(i), u64::MAX).unwrap(),
                Some(latest(i)),
                "key {i}"
            );
        }
        let it = e
            .iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, false)
            .unwrap();
        let got: Vec<(Vec<u8>, Vec<u8>)> = it.map(Result::unwrap).collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = (0..KEYS).map(|i| (key(i), latest(i))).collect();
        assert!(got == want, "scan differs");
    };
    check(&e);
    e.close().unwrap();
    let mixed = verify(dir.path()).unwrap();
    assert!(mixed.is_ok(), "{mixed}");
    assert!(
        mixed.compressed_blocks > 0 && mixed.compressed_blocks < mixed.blocks,
        "{mixed}"
    );

    let e = Engine::open(dir.path(), engine_options(Compression::Snappy)).unwrap();
    check(&e);
    e.set_safe_ts(e.visible_ts());
    e.compact_all().unwrap();
    check(&e);
    e.close().unwrap();
    let compacted = verify(dir.path()).unwrap();
    assert!(compacted.is_ok(), "{compacted}");
    assert_eq!(compacted.compressed_blocks, compacted.blocks, "{compacted}");
    assert!(compacted.bytes < raw.bytes, "{compacted} vs {raw}");
    let e = Engine::open(dir.path(), engine_options(Compression::None)).unwrap();
    check(&e);
}

/// A file whose only data block is stored compressed: `(bytes, stored length)`, the
/// block's stored bytes at `[0, len)`, its type byte at `len`, its CRC after that.
fn one_compressed_block() -> (Vec<u8>, usize) {
    let es: Vec<Entry> = (0..40u32)
        .map(|i| Entry::new(format!("key{i:04}").into_bytes(), 9, Some(vec![b'v'; 40])))
        .collect();
    let mut b = TableBuilder::new(Vec::new(), "mem", TableOptions::default());
    for e in &es {
        b.add(&e.key, e.ts, e.value.as_deref()).unwrap();
    }
    let bytes = b.finish().unwrap().0;
    let t = open("one", bytes.clone());
    assert_eq!(t.block_count(), 1);
    // The single data block ends (CRC included) where the index begins.
    let len = t.footer().index.offset as usize - 5;
    assert_eq!(bytes[len], 1, "the data block is stored compressed");
    (bytes, len)
}

/// Recomputes the data block's CRC after its stored bytes or type byte were changed.
fn reseal(bytes: &mut [u8], len: usize) {
    let crc = crc32fast::hash(&bytes[..=len]);
    bytes[len + 1..len + 5].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn damage_behind_a_valid_crc_is_corruption_naming_the_block() {
    let (clean, len) = one_compressed_block();
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // A length header claiming 4 GiB.
    let mut huge = clean.clone();
    huge[..5].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    cases.push(("huge length", huge));
    // A length header one byte short of the truth.
    let mut short = clean.clone();
    short[0] -= 1;
    cases.push(("short length", short));
    // An unknown type byte.
    let mut kind = clean.clone();
    kind[len] = 7;
    cases.push(("unknown type", kind));
    // A first element that copies from before the start of the output.
    let mut early = clean.clone();
    let header = clean.iter().position(|b| b & 0x80 == 0).unwrap() + 1;
    early[header] = 0x01;
    cases.push(("early copy", early));
    for (what, mut bytes) in cases {
        reseal(&mut bytes, len);
        let t = open(what, bytes);
        for err in [
            t.get(b"key0003", 9).unwrap_err(),
            t.verify().unwrap_err(),
            t.iter().seek_to_first().unwrap_err(),
        ] {
            assert_eq!(err.status(), sochdb::Status::Corruption, "{what}: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains(what) && msg.contains("data block at offset 0"),
                "{msg}"
            );
        }
    }
}
