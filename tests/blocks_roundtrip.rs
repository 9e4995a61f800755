//! Block files against a model: random versioned entries are written to a block file and
//! read back through point lookups at random read timestamps, cursors moving both ways
//! from random seeks, and the live read-level iterator with random bounds.

use std::cmp::Ordering;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use proptest::prelude::*;
use sochdb::storage::cache::BlockCache;
use sochdb::storage::entry::{Entry, EntryIter, cmp_internal};
use sochdb::storage::merge::LiveIter;
use sochdb::storage::sstable::{Compression, FileSource, Table, TableBuilder, TableOptions};

fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![b'a', b'b', b'c', 0u8, 0xff]),
        0..6,
    )
}

fn entries_strategy() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(
        (
            key_strategy(),
            1u64..40,
            prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..60)),
        ),
        1..300,
    )
    .prop_map(|raw| {
        let mut es: Vec<Entry> = raw
            .into_iter()
            .map(|(k, t, v)| Entry::new(k, t, v))
            .collect();
        es.sort_by(|a, b| cmp_internal(&a.key, a.ts, &b.key, b.ts));
        es.dedup_by(|b, a| a.key == b.key && a.ts == b.ts);
        es
    })
}

fn build(es: &[Entry], opts: TableOptions, cache: Option<Arc<BlockCache>>) -> Arc<Table> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000001.sst");
    let file = std::fs::File::create(&path).unwrap();
    let mut b = TableBuilder::new(file, path.display().to_string(), opts);
    for e in es {
        b.add(&e.key, e.ts, e.value.as_deref()).unwrap();
    }
    b.finish().unwrap();
    // The open file stays readable after the directory is removed.
    let src = FileSource::open(&path).unwrap();
    Table::open(Arc::new(src), 1, cache).unwrap()
}

fn model_get(es: &[Entry], key: &[u8], read_ts: u64) -> Option<(u64, Option<Vec<u8>>)> {
    es.iter()
        .find(|e| e.key == key && e.ts <= read_ts)
        .map(|e| (e.ts, e.value.clone()))
}

fn model_live(
    es: &[Entry],
    read_ts: u64,
    lo: &Bound<Vec<u8>>,
    hi: &Bound<Vec<u8>>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut last: Option<&[u8]> = None;
    for e in es {
        if last == Some(e.key.as_slice()) || e.ts > read_ts {
            continue;
        }
        last = Some(&e.key);
        if !(lo.clone(), hi.clone()).contains(&e.key) {
            continue;
        }
        if let Some(v) = &e.value {
            out.push((e.key.clone(), v.clone()));
        }
    }
    out
}

fn at(it: &dyn EntryIter) -> Option<Entry> {
    it.valid()
        .then(|| Entry::new(it.key(), it.ts(), it.value().map(<[u8]>::to_vec)))
}

fn bound_strategy() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        Just(Bound::Unbounded),
        key_strategy().prop_map(Bound::Included),
        key_strategy().prop_map(Bound::Excluded),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn block_file_matches_model(
        es in entries_strategy(),
        block_size in 32usize..1024,
        restart_interval in 1usize..8,
        cached in any::<bool>(),
        compress in any::<bool>(),
        probes in prop::collection::vec((key_strategy(), 0u64..45), 1..40),
        moves in prop::collection::vec(any::<bool>(), 0..30),
        ranges in prop::collection::vec((bound_strategy(), bound_strategy(), 0u64..45, any::<bool>()), 1..6),
    ) {
        let compression = if compress { Compression::Snappy } else { Compression::None };
        let opts = TableOptions { block_size, restart_interval, bloom_bits_per_key: 10, compression };
        let cache = cached.then(|| Arc::new(BlockCache::new(16 * 1024)));
        let t = build(&es, opts, cache);
        t.verify().unwrap();

        // Point lookups, including keys the file does not hold.
        for (k, ts) in &probes {
            prop_assert_eq!(t.get(k, *ts).unwrap(), model_get(&es, k, *ts));
        }
        for e in es.iter().step_by(3) {
            prop_assert_eq!(t.get(&e.key, e.ts).unwrap(), Some((e.ts, e.value.clone())));
        }

        // Full scans both ways.
        let mut it = t.iter();
        it.seek_to_first().unwrap();
        let mut fwd = Vec::new();
        while let Some(e) = at(&it) { fwd.push(e); it.next().unwrap(); }
        prop_assert_eq!(&fwd, &es);
        it.seek_to_last().unwrap();
        let mut back = Vec::new();
        while let Some(e) = at(&it) { back.push(e); it.prev().unwrap(); }
        back.reverse();
        prop_assert_eq!(&back, &es);

        // Seeks followed by random moves in both directions.
        for (k, ts) in &probes {
            let mut pos = es.partition_point(|e| cmp_internal(&e.key, e.ts, k, *ts) == Ordering::Less);
            it.seek(k, *ts).unwrap();
            prop_assert_eq!(at(&it), es.get(pos).cloned());
            if pos == es.len() { continue; }
            for &forward in &moves {
                if forward { it.next().unwrap(); pos += 1; } else { it.prev().unwrap(); pos = pos.wrapping_sub(1); }
                prop_assert_eq!(at(&it), es.get(pos).cloned());
                if pos >= es.len() { break; }
            }
            // seek_for_prev: last entry at or before the target.
            let before = es.partition_point(|e| cmp_internal(&e.key, e.ts, k, *ts) != Ordering::Greater);
            it.seek_for_prev(k, *ts).unwrap();
            prop_assert_eq!(at(&it), before.checked_sub(1).map(|i| es[i].clone()));
        }

        // Live pairs at a read timestamp, within bounds, both ways.
        for (lo, hi, read_ts, reverse) in ranges {
            let got: Vec<(Vec<u8>, Vec<u8>)> =
                LiveIter::new(t.iter(), read_ts, lo.clone(), hi.clone(), reverse)
                    .collect::<Result<_, _>>()
                    .unwrap();
            let mut want = model_live(&es, read_ts, &lo, &hi);
            if reverse { want.reverse(); }
            prop_assert_eq!(got, want);
        }
    }
}
