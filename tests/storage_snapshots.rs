//! Old snapshots across compaction: reads at a timestamp the safe timestamp still
//! protects see exactly the data of that moment after every later overwrite, delete,
//! flush and compaction; an iterator opened before the compactions keeps reading the
//! files it started with, which are removed only once it is dropped.

use std::ops::Bound;
use std::path::Path;

use sochdb::storage::compaction::CompactionOptions;
use sochdb::storage::sstable::TableOptions;
use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch};

const KEYS: u32 = 1500;

fn options() -> EngineOptions {
    EngineOptions {
        durability: Durability::None,
        memtable_budget: 16 * 1024,
        compaction: CompactionOptions {
            num_levels: 4,
            l0_trigger: 2,
            level1_bytes: 64 * 1024,
            level_ratio: 4,
            target_file_size: 32 * 1024,
            table: TableOptions {
                block_size: 1024,
                ..TableOptions::default()
            },
            ..CompactionOptions::default()
        },
        ..EngineOptions::default()
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("k{i:06}").into_bytes()
}

fn write_round(e: &Engine, round: u32) {
    for i in 0..KEYS {
        let mut b = WriteBatch::new();
        if round == 9 && i % 2 == 0 {
            b.delete(&key(i)).unwrap();
        } else {
            b.put(&key(i), format!("r{round}-{i}").as_bytes()).unwrap();
        }
        e.commit(&b).unwrap();
    }
}

fn block_files_on_disk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sst")
        })
        .count()
}

fn scan(e: &Engine, ts: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    e.iter(Bound::Unbounded, Bound::Unbounded, ts, false)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn reads_at_a_protected_snapshot_survive_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), options()).unwrap();
    write_round(&e, 0);
    let snap = e.visible_ts();
    // A reader holds `snap`: nothing it can see may go.
    e.set_safe_ts(snap);
    let want: Vec<_> = (0..KEYS)
        .map(|i| (key(i), format!("r0-{i}").into_bytes()))
        .collect();
    let mut held = e
        .iter(Bound::Unbounded, Bound::Unbounded, snap, false)
        .unwrap();
    let first = held.next().unwrap().unwrap();
    assert_eq!(first, want[0]);

    for round in 1..10 {
        write_round(&e, round);
        // Mid-way, the snapshot still reads right.
        for i in (0..KEYS).step_by(97) {
            assert_eq!(
                e.get(&key(i), snap).unwrap(),
                Some(format!("r0-{i}").into_bytes())
            );
        }
    }
    e.checkpoint().unwrap();
    let ran = e.compact().unwrap();
    let stats = e.stats();
    assert!(
        stats.flushes > 10 && stats.compactions + ran > 3,
        "{stats:?}"
    );
    assert_eq!(scan(&e, snap), want, "scan at the protected snapshot");
    for i in 0..KEYS {
        assert_eq!(
            e.get(&key(i), snap).unwrap(),
            Some(format!("r0-{i}").into_bytes())
        );
    }

    // The iterator opened before all of it reads on, from files compaction replaced.
    let listed: u64 = e.stats().level_files.iter().sum();
    assert!(
        block_files_on_disk(dir.path()) as u64 > listed,
        "the held iterator keeps replaced files on disk"
    );
    let rest: Vec<_> = held.map(Result::unwrap).collect();
    assert_eq!(rest, want[1..].to_vec());
    // Dropped (consumed): its files are gone.
    assert_eq!(block_files_on_disk(dir.path()) as u64, listed);

    // Once no reader needs the snapshot, compaction drops what only it could see.
    let before = e.stats().level_bytes.iter().sum::<u64>();
    e.set_safe_ts(e.visible_ts());
    e.compact().unwrap();
    let after = e.stats().level_bytes.iter().sum::<u64>();
    assert!(
        after * 3 < before,
        "old versions were not dropped: {before} -> {after} bytes"
    );
    let latest = scan(&e, u64::MAX);
    assert_eq!(latest.len(), KEYS as usize / 2);
    assert_eq!(latest[0], (key(1), b"r9-1".to_vec()));
}
