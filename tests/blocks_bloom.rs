//! The Bloom filter of a block file: lookups for absent keys are rejected by the filter
//! at least 98% of the time at 10 bits per key, and present keys always pass.

use std::sync::Arc;

use sochdb::storage::sstable::{MemSource, Table, TableBuilder, TableOptions};

#[test]
fn false_positive_rate_below_two_percent() {
    let n = 50_000u64;
    let mut b = TableBuilder::new(Vec::new(), "bloom", TableOptions::default());
    for i in 0..n {
        // Several versions per key: the filter counts each key once.
        let key = format!("user/{:010}", i * 2).into_bytes();
        b.add(&key, 2, Some(b"v")).unwrap();
        b.add(&key, 1, None).unwrap();
    }
    let (bytes, summary) = b.finish().unwrap();
    assert_eq!(summary.props.key_count, n);
    let t = Table::open(Arc::new(MemSource::new("bloom", bytes)), 1, None).unwrap();
    for i in 0..n {
        assert!(t.may_contain(format!("user/{:010}", i * 2).as_bytes()));
    }
    let probes = 200_000u64;
    let fp = (0..probes)
        .filter(|i| t.may_contain(format!("user/{:010}", i * 2 + 1).as_bytes()))
        .count();
    let rate = fp as f64 / probes as f64;
    eprintln!(
        "bloom false-positive rate at 10 bits/key: {:.3}%",
        rate * 100.0
    );
    assert!(rate < 0.02, "false-positive rate {rate}");
    assert!(rate > 0.0, "a 10 bits/key filter has some false positives");
}
