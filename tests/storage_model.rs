//! The engine against a model: random batches (puts, empty values, deletes), reads at
//! old timestamps, range scans both ways, and reopens at random points. The engine must
//! always agree with a `BTreeMap` of versions.

mod model;

use std::collections::BTreeMap;
use std::ops::Bound;

use model::Model;
use proptest::prelude::*;
use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch};

#[derive(Debug, Clone)]
enum Step {
    Commit(Vec<(Vec<u8>, Option<Vec<u8>>)>, u8),
    Get(Vec<u8>, u8),
    Scan(Option<Vec<u8>>, Option<Vec<u8>>, bool, bool, u8),
    Reopen,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b'b', 0xff]), 0..3)
}

fn step() -> impl Strategy<Value = Step> {
    let op = (
        key(),
        prop::option::weighted(0.75, prop::collection::vec(any::<u8>(), 0..4)),
    );
    prop_oneof![
        5 => (prop::collection::vec(op, 0..5), 0u8..4).prop_map(|(ops, d)| Step::Commit(ops, d)),
        3 => (key(), any::<u8>()).prop_map(|(k, back)| Step::Get(k, back)),
        3 => (prop::option::of(key()), prop::option::of(key()), any::<bool>(), any::<bool>(), any::<u8>())
            .prop_map(|(s, e, incl, rev, back)| Step::Scan(s, e, incl, rev, back)),
        1 => Just(Step::Reopen),
    ]
}

fn open(dir: &std::path::Path) -> Engine {
    let opts = EngineOptions {
        wal_segment_size: 300,
        durability: Durability::None,
        ..EngineOptions::default()
    };
    Engine::open(dir, opts).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_model(steps in prop::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = open(dir.path());
        let mut model = Model::new();
        let mut last_ts = 0u64;
        for step in steps {
            match step {
                Step::Commit(ops, d) => {
                    let mut batch = WriteBatch::new();
                    for (k, v) in &ops {
                        match v {
                            Some(v) => batch.put(k, v).unwrap(),
                            None => batch.delete(k).unwrap(),
                        }
                    }
                    let durability = [Durability::Sync, Durability::Buffered, Durability::None, Durability::None][d as usize % 4];
                    let ts = engine.commit_with(&batch, Some(durability), &mut |_| Ok(())).unwrap();
                    prop_assert!(ts > last_ts);
                    last_ts = ts;
                    // Later operations on the same key win.
                    let mut last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
                    for (k, v) in ops {
                        last.insert(k, v);
                    }
                    for (k, v) in last {
                        model.entry(k).or_default().push((ts, v));
                    }
                    prop_assert_eq!(engine.visible_ts(), ts);
                }
                Step::Get(k, back) => {
                    let ts = last_ts.saturating_sub(u64::from(back % 8));
                    prop_assert_eq!(engine.get(&k, ts).unwrap(), model::get(&model, &k, ts), "key {:?} at {}", k, ts);
                    let latest = model.get(&k).and_then(|v| v.last()).map(|(t, _)| *t);
                    prop_assert_eq!(engine.latest_ts(&k).unwrap(), latest);
                }
                Step::Scan(s, e, incl, rev, back) => {
                    let ts = last_ts.saturating_sub(u64::from(back % 8));
                    let start = match s { Some(s) if incl => Bound::Included(s), Some(s) => Bound::Excluded(s), None => Bound::Unbounded };
                    let end = match e { Some(e) if incl => Bound::Excluded(e), Some(e) => Bound::Included(e), None => Bound::Unbounded };
                    let got: Vec<_> = engine.iter(start.clone(), end.clone(), ts, rev).unwrap().map(Result::unwrap).collect();
                    prop_assert_eq!(got, model::scan(&model, &start, &end, ts, rev));
                }
                Step::Reopen => {
                    drop(engine);
                    engine = open(dir.path());
                    prop_assert_eq!(engine.visible_ts(), last_ts);
                }
            }
        }
        // A final reopen agrees at every timestamp.
        drop(engine);
        let engine = open(dir.path());
        for ts in 0..=last_ts {
            let got: Vec<_> = engine.iter(Bound::Unbounded, Bound::Unbounded, ts, false).unwrap().map(Result::unwrap).collect();
            prop_assert_eq!(got, model::scan(&model, &Bound::Unbounded, &Bound::Unbounded, ts, false));
        }
    }
}
