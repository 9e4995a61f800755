//! Commits with `Durability::None` hand the log buffer to the operating system once it
//! holds about 1 MiB; a commit that is already visible when it does so must lead that
//! write itself rather than wait for itself (a regression: it used to hang).

use std::sync::mpsc;
use std::time::Duration;

use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch};

fn run_with_deadline(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    // A generous bound: the work takes milliseconds; only a hang comes near it.
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        panic!("{what} did not finish: a commit hangs");
    }
}

#[test]
fn none_commits_past_the_buffer_limit_do_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run_with_deadline("40 large None commits", move || {
        let opts = EngineOptions {
            durability: Durability::None,
            ..EngineOptions::default()
        };
        let engine = Engine::open(&path, opts).unwrap();
        let value = vec![7u8; 100 * 1024];
        for i in 0..40u32 {
            let mut b = WriteBatch::new();
            b.put(&i.to_be_bytes(), &value).unwrap();
            engine.commit(&b).unwrap();
        }
        engine.close().unwrap();
        let engine = Engine::open(&path, EngineOptions::default()).unwrap();
        let ts = engine.visible_ts();
        for i in 0..40u32 {
            assert_eq!(
                engine.get(&i.to_be_bytes(), ts).unwrap().as_deref(),
                Some(&value[..])
            );
        }
    });
}

#[test]
fn concurrent_none_and_sync_commits_do_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    run_with_deadline("mixed None and Sync commits", move || {
        let engine = Engine::open(&path, EngineOptions::default()).unwrap();
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let engine = engine.clone();
                std::thread::spawn(move || {
                    let value = vec![t; 64 * 1024];
                    for i in 0..30u32 {
                        let mut b = WriteBatch::new();
                        b.put(&[&[t][..], &i.to_be_bytes()].concat(), &value)
                            .unwrap();
                        let d = if t % 2 == 0 {
                            Durability::None
                        } else {
                            Durability::Sync
                        };
                        engine.commit_with(&b, Some(d), &mut |_| Ok(())).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        engine.close().unwrap();
    });
}
