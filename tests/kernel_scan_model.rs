//! Scans inside a transaction against a model: committed data overlaid with the
//! transaction's own puts and deletes, over random ranges, both directions, with limits.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sochdb::backend::{Backend, ScanOptions, ScanRange, TxnOptions};
use sochdb::kernel::{Database, DbOptions};

/// Key-value pairs in scan order.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..24, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        (0u8..24).prop_map(Op::Delete),
    ]
}

fn key(k: u8) -> Vec<u8> {
    // Two-level keys so that prefixes of several lengths select something.
    vec![b'a' + k / 6, b'0' + k % 6]
}

fn apply(model: &mut BTreeMap<Vec<u8>, Vec<u8>>, op: &Op) {
    match op {
        Op::Put(k, v) => {
            model.insert(key(*k), vec![*v]);
        }
        Op::Delete(k) => {
            model.remove(&key(*k));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn scans_match_the_model(
        committed in proptest::collection::vec(op(), 0..40),
        own in proptest::collection::vec(op(), 0..20),
        scans in proptest::collection::vec((any::<bool>(), 0u8..30, 0u8..30, any::<bool>(), proptest::option::of(0u64..8)), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), DbOptions::default()).unwrap();
        let mut model = BTreeMap::new();
        for o in &committed {
            match o {
                Op::Put(k, v) => db.put(None, &key(*k), &[*v]).unwrap(),
                Op::Delete(k) => db.delete(None, &key(*k)).unwrap(),
            }
            apply(&mut model, o);
        }
        let t = db.begin(TxnOptions::default()).unwrap();
        for o in &own {
            match o {
                Op::Put(k, v) => db.put(Some(t), &key(*k), &[*v]).unwrap(),
                Op::Delete(k) => db.delete(Some(t), &key(*k)).unwrap(),
            }
            apply(&mut model, o);
        }
        for (is_prefix, a, b, reverse, limit) in scans {
            let (range, expected): (ScanRange, Entries) = if is_prefix {
                // Prefix of length 0, 1 or 2.
                let p = key(a % 24)[..(b % 3) as usize].to_vec();
                let e = model.iter().filter(|(k, _)| k.starts_with(&p)).map(|(k, v)| (k.clone(), v.clone())).collect();
                (ScanRange::Prefix(p), e)
            } else {
                let start = key(a % 24);
                let end = if b >= 24 { None } else { Some(key(b)) };
                let e = model
                    .iter()
                    .filter(|(k, _)| **k >= start && end.as_ref().is_none_or(|e| *k < e))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (ScanRange::Range { start, end }, e)
            };
            let mut expected = expected;
            if reverse {
                expected.reverse();
            }
            if let Some(l) = limit {
                expected.truncate(l as usize);
            }
            let mut c = db.scan(Some(t), &ScanOptions { range, reverse, limit }).unwrap();
            let mut got = Vec::new();
            while let Some(kv) = c.next_entry().unwrap() {
                got.push(kv);
            }
            prop_assert_eq!(got, expected);
        }
        db.abort(t).unwrap();
    }
}
