//! Resident memory stays near the memtable budget plus the block cache budget plus the
//! open files' indexes and filters, whatever the data size: with 1 MiB budgets, loading
//! 40 MiB of keys and values, scanning them all and reading them at random raises the
//! process's peak resident size (`VmHWM`) by far less than the data.

use std::ops::Bound;

use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch};

const MIB: u64 = 1 << 20;
const VALUE: usize = 100;
/// 40 MiB of 16-byte keys and 100-byte values.
const KEYS: u64 = 40 * MIB / (16 + VALUE as u64);

/// The peak resident set size of this process so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn key(i: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    // Keys arrive in a scattered order.
    k[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn value(i: u64) -> [u8; VALUE] {
    let mut v = [0u8; VALUE];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

#[test]
fn resident_memory_stays_near_the_budgets_for_data_forty_times_larger() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        durability: Durability::None,
        memtable_budget: MIB as usize,
        cache_budget: MIB as usize,
        compaction: CompactionOptions {
            level1_bytes: 4 * MIB,
            target_file_size: 2 * MIB,
            ..CompactionOptions::default()
        },
        ..EngineOptions::default()
    };
    let e = Engine::open(dir.path(), opts).unwrap();
    let put = |i: u64| {
        let mut b = WriteBatch::new();
        b.put(&key(i), &value(i)).unwrap();
        e.commit(&b).unwrap();
    };
    // Warm up: memtables, threads, cache and buffers all in use once.
    let warm = KEYS / 20;
    for i in 0..warm {
        put(i);
    }
    e.checkpoint().unwrap();
    let base = peak_rss();

    for i in warm..KEYS {
        put(i);
        if i % 50_000 == 0 {
            e.set_safe_ts(e.visible_ts());
        }
    }
    e.set_safe_ts(e.visible_ts());
    e.checkpoint().unwrap();
    let mut n = 0u64;
    for item in e
        .iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, false)
        .unwrap()
    {
        let (k, v) = item.unwrap();
        assert_eq!(k.len(), 16);
        assert_eq!(v.len(), VALUE);
        n += 1;
    }
    assert_eq!(n, KEYS);
    for j in 0..20_000u64 {
        let i = j.wrapping_mul(7919) % KEYS;
        assert_eq!(e.get(&key(i), u64::MAX).unwrap(), Some(value(i).to_vec()));
    }
    let stats = e.stats();
    let grew = peak_rss().saturating_sub(base);
    let data = KEYS * (16 + VALUE as u64);
    eprintln!(
        "memory: {} MiB of data; peak resident grew by {:.1} MiB (budgets: memtable 1 MiB, \
         cache 1 MiB; index and filters {:.1} MiB); {} flushes, {} compactions",
        data / MIB,
        grew as f64 / MIB as f64,
        stats.index_filter_bytes as f64 / MIB as f64,
        stats.flushes,
        stats.compactions
    );
    assert!(stats.cache_bytes <= MIB, "{stats:?}");
    // Two memtables, the cache, indexes and filters, compaction and flush buffers: a
    // handful of MiB. Holding the data would take more than 40.
    assert!(
        grew < 20 * MIB,
        "peak resident memory grew by {grew} bytes for {data} bytes of data"
    );
}
