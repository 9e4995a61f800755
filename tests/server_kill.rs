//! SIGKILL `sochdb serve` while clients write, restart it, and find every acknowledged
//! write and no acknowledged delete undone.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::ServeProc;
use parking_lot::Mutex;
use sochdb::backend::{Backend, TxnOptions};
use sochdb::ipc::client::{Client, ClientOptions};

/// What one writer saw acknowledged.
#[derive(Default)]
struct Acked {
    /// Keys whose put was acknowledged, with the value.
    puts: Vec<(String, String)>,
    /// Keys whose delete was acknowledged.
    deletes: Vec<String>,
}

fn writer(
    socket: std::path::PathBuf,
    t: usize,
    stop: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
) -> Acked {
    let mut acked = Acked::default();
    let Ok(c) = Client::connect(&socket, ClientOptions::default()) else {
        return acked;
    };
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let k = format!("w{t}/{i:06}");
        let v = format!("value {t} {i}");
        if c.put(None, k.as_bytes(), v.as_bytes()).is_err() {
            break;
        }
        acked.puts.push((k, v));
        if i % 3 == 0 {
            let d = format!("d{t}/{i:06}");
            if c.put(None, d.as_bytes(), b"doomed").is_err()
                || c.delete(None, d.as_bytes()).is_err()
            {
                break;
            }
            acked.deletes.push(d);
        }
        if i % 5 == 0 {
            // A transaction of two keys: both or neither.
            let a = format!("t{t}/{i:06}/a");
            let b = format!("t{t}/{i:06}/b");
            let r = (|| {
                let txn = c.begin(TxnOptions::default())?;
                c.put(Some(txn), a.as_bytes(), b"1")?;
                c.put(Some(txn), b.as_bytes(), b"2")?;
                c.commit(txn)
            })();
            if r.is_err() {
                break;
            }
            acked.puts.push((a, "1".into()));
            acked.puts.push((b, "2".into()));
        }
        ops.fetch_add(1, Ordering::Relaxed);
    }
    acked
}

#[test]
fn sigkill_under_concurrent_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProc::start(dir.path(), &["--quiet"]);
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let results = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (socket, stop, ops, results) = (
                server.socket.clone(),
                Arc::clone(&stop),
                Arc::clone(&ops),
                Arc::clone(&results),
            );
            std::thread::spawn(move || {
                let a = writer(socket, t, stop, ops);
                results.lock().push(a);
            })
        })
        .collect();
    // Let the writers get going, then kill the server in the middle of their work.
    for _ in 0..2000 {
        if ops.load(Ordering::Relaxed) >= 400 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    server.signal(libc::SIGKILL);
    let (status, _) = server.wait();
    assert!(!status.success());
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        ops.load(Ordering::Relaxed) > 0,
        "no write was acknowledged before the kill"
    );
    // The dead server left its socket file behind; a new server replaces it.
    assert!(dir.path().join("sochdb.sock").exists());
    let server = ServeProc::start(dir.path(), &["--quiet"]);
    let c = Client::connect(&server.socket, ClientOptions::default()).unwrap();
    let results = results.lock();
    let mut checked = 0;
    for a in results.iter() {
        for (k, v) in &a.puts {
            assert_eq!(
                c.get(None, k.as_bytes()).unwrap().as_deref(),
                Some(v.as_bytes()),
                "acknowledged put of {k} lost"
            );
            checked += 1;
        }
        for k in &a.deletes {
            assert_eq!(
                c.get(None, k.as_bytes()).unwrap(),
                None,
                "deleted {k} came back"
            );
        }
    }
    assert!(checked > 0);
    c.close().unwrap();
    server.signal(libc::SIGTERM);
    let (status, err) = server.wait();
    assert!(status.success(), "{status}: {err}");
}
