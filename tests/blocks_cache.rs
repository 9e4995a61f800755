//! The block cache under concurrent readers: answers stay right, the byte budget is
//! never exceeded, and hits and misses are counted.

use std::sync::Arc;
use std::thread;

use sochdb::storage::cache::BlockCache;
use sochdb::storage::sstable::{FileSource, Table, TableBuilder, TableOptions};

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    vec![(i % 251) as u8; 50 + (i % 200) as usize]
}

#[test]
fn budget_holds_under_concurrent_readers() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 256 * 1024;
    let cache = Arc::new(BlockCache::new(budget));
    let n = 20_000u64;
    let mut tables = Vec::new();
    for file in 0..2u64 {
        let path = dir.path().join(format!("{file:06}.sst"));
        let f = std::fs::File::create(&path).unwrap();
        let mut b = TableBuilder::new(f, path.display().to_string(), TableOptions::default());
        for i in (file..n).step_by(2) {
            b.add(&key(i), 1, Some(&value(i))).unwrap();
        }
        b.finish().unwrap();
        let src = Arc::new(FileSource::open(&path).unwrap());
        let t = Table::open(src, file, Some(cache.clone())).unwrap();
        // The data (as the cache holds it: decoded, decompressed) is several times the
        // budget, so eviction must happen.
        let p = t.properties();
        assert!(p.raw_key_bytes + p.raw_value_bytes > 2 * budget as u64);
        tables.push(t);
    }
    let tables = Arc::new(tables);
    let threads: Vec<_> = (0..4u64)
        .map(|seed| {
            let tables = tables.clone();
            let cache = cache.clone();
            thread::spawn(move || {
                let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                for round in 0..3000u64 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Half the lookups go to a small hot set, half anywhere.
                    let i = if round % 2 == 0 { x % 64 } else { x % n };
                    let t = &tables[(i % 2) as usize];
                    assert_eq!(t.get(&key(i), 5).unwrap(), Some((1, Some(value(i)))));
                    assert_eq!(t.get(&key(i), 0).unwrap(), None);
                    let s = cache.stats();
                    assert!(s.used_bytes <= s.capacity_bytes, "{s:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = cache.stats();
    assert!(s.used_bytes <= budget as u64, "{s:?}");
    assert!(s.hits > 0 && s.misses > 0, "{s:?}");
    assert!(s.entries > 10, "{s:?}");
    // The hot set stays cached: reading it again is mostly hits.
    let before = cache.stats();
    for i in 0..64 {
        tables[(i % 2) as usize].get(&key(i), 5).unwrap();
    }
    let after = cache.stats();
    assert!(
        after.hits - before.hits > after.misses - before.misses,
        "{before:?} {after:?}"
    );
}
