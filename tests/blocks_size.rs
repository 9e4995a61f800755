//! On-disk size of block files for the benchmark's shape (16-byte keys, 100-byte
//! values): bytes per entry and open-file memory, printed with `--nocapture`.

use std::sync::Arc;

use sochdb::storage::sstable::{Compression, MemSource, Table, TableBuilder, TableOptions};

/// The format's own overhead: without compression, which would shrink these identical
/// values to almost nothing.
fn measure(label: &str, keys: &[Vec<u8>]) -> f64 {
    let opts = TableOptions {
        compression: Compression::None,
        ..TableOptions::default()
    };
    let mut b = TableBuilder::new(Vec::new(), label, opts);
    let value = vec![0x5au8; 100];
    for (i, k) in keys.iter().enumerate() {
        b.add(k, 1_000_000 + i as u64, Some(&value)).unwrap();
    }
    let (bytes, summary) = b.finish().unwrap();
    let n = keys.len() as f64;
    let per_entry = summary.file_size as f64 / n;
    let t = Table::open(Arc::new(MemSource::new(label, bytes)), 1, None).unwrap();
    let verified = t.verify().unwrap();
    assert_eq!(verified.entries, keys.len() as u64);
    eprintln!(
        "{label}: {} entries, {} bytes, {per_entry:.1} bytes/entry (raw 116), {} blocks, \
         index+filter memory {:.2} bytes/entry",
        keys.len(),
        summary.file_size,
        t.block_count(),
        t.memory_bytes() as f64 / n
    );
    per_entry
}

#[test]
fn bytes_per_entry_for_16_byte_keys_and_100_byte_values() {
    let n = 100_000u64;
    let sequential: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("user{i:012}").into_bytes())
        .collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut random: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            let mut k = Vec::with_capacity(16);
            for _ in 0..2 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                k.extend_from_slice(&x.to_le_bytes());
            }
            k
        })
        .collect();
    random.sort();
    random.dedup();
    let seq = measure("sequential keys", &sequential);
    let rnd = measure("random keys", &random);
    // Raw key + value is 116 bytes; per-entry overhead (lengths, timestamp, restart
    // points, CRCs, index, filter) must stay small.
    assert!(seq < 120.0, "{seq}");
    assert!(rnd < 130.0, "{rnd}");
}
