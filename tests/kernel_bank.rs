//! Concurrent bank transfers: the total never changes, and read-only transactions (and
//! scans inside them) always see a consistent total.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sochdb::backend::{Backend, Isolation, ScanOptions, ScanRange, TxnOptions};
use sochdb::kernel::{Database, DbOptions};

const ACCOUNTS: u64 = 10;
const START: i64 = 1000;
const WRITERS: u64 = 6;
const READERS: u64 = 2;
const TRANSFERS: u64 = 150;

fn key(i: u64) -> Vec<u8> {
    format!("acct/{i:02}").into_bytes()
}

fn int(v: &[u8]) -> i64 {
    std::str::from_utf8(v).unwrap().parse().unwrap()
}

fn total_by_scan(db: &Database, txn: u64) -> (i64, usize) {
    let mut c = db
        .scan(
            Some(txn),
            &ScanOptions {
                range: ScanRange::Prefix(b"acct/".to_vec()),
                reverse: false,
                limit: None,
            },
        )
        .unwrap();
    let (mut sum, mut n) = (0, 0);
    while let Some((_, v)) = c.next_entry().unwrap() {
        sum += int(&v);
        n += 1;
    }
    (sum, n)
}

fn run(iso: Isolation) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), DbOptions::default()).unwrap();
    for i in 0..ACCOUNTS {
        db.put(None, &key(i), START.to_string().as_bytes()).unwrap();
    }
    let expected = START * ACCOUNTS as i64;
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        handles.push(std::thread::spawn(move || {
            let mut seed = w * 7919 + 1;
            for n in 0..TRANSFERS {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let from = (seed >> 33) % ACCOUNTS;
                let to = (from + 1 + (seed >> 17) % (ACCOUNTS - 1)) % ACCOUNTS;
                let amount = (n % 17) as i64 + 1;
                let opts = TxnOptions {
                    isolation: Some(iso),
                    read_only: false,
                };
                db.run_in_txn(opts, 1000, |t| {
                    let a = int(&db.get(Some(t), &key(from))?.unwrap());
                    let b = int(&db.get(Some(t), &key(to))?.unwrap());
                    db.put(Some(t), &key(from), (a - amount).to_string().as_bytes())?;
                    db.put(Some(t), &key(to), (b + amount).to_string().as_bytes())?;
                    Ok(())
                })
                .unwrap();
            }
        }));
    }
    let mut readers = Vec::new();
    for r in 0..READERS {
        let db = db.clone();
        let stop = Arc::clone(&stop);
        readers.push(std::thread::spawn(move || {
            let mut checks = 0u64;
            // Bounded: at least 50 checks, then until the writers are done, at most 20 000.
            while checks < 50 || (!stop.load(Ordering::Acquire) && checks < 20_000) {
                let t = db
                    .begin(TxnOptions {
                        isolation: Some(iso),
                        read_only: true,
                    })
                    .unwrap();
                if (checks + r) % 2 == 0 {
                    let (sum, n) = total_by_scan(&db, t);
                    assert_eq!(n as u64, ACCOUNTS);
                    assert_eq!(sum, expected, "scan saw an inconsistent total");
                } else {
                    let sum: i64 = (0..ACCOUNTS)
                        .map(|i| int(&db.get(Some(t), &key(i)).unwrap().unwrap()))
                        .sum();
                    assert_eq!(sum, expected, "gets saw an inconsistent total");
                }
                db.commit(t).unwrap();
                checks += 1;
            }
            checks
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() >= 50);
    }
    let t = db.begin(TxnOptions::default()).unwrap();
    assert_eq!(total_by_scan(&db, t), (expected, ACCOUNTS as usize));
    db.abort(t).unwrap();
    let stats = db.stats().unwrap();
    let committed = stats["txns_committed"].as_u64().unwrap();
    assert!(committed >= WRITERS * TRANSFERS, "{stats:?}");
    assert_eq!(stats["txns_open"].as_u64(), Some(0));
    // With no transaction open, the conflict table was pruned to nothing.
    assert_eq!(
        stats["conflict_tracked_keys"].as_u64(),
        Some(0),
        "{stats:?}"
    );
}

#[test]
fn transfers_keep_the_total_serializable() {
    run(Isolation::Serializable);
}

#[test]
fn transfers_keep_the_total_snapshot() {
    run(Isolation::Snapshot);
}
