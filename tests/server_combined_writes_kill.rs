//! Fifty clients write at once (puts, deletes, path puts, batches), so the event loop
//! combines their one-shot writes into shared commits; SIGKILL the server mid-stream,
//! restart it, and find every acknowledged write and no acknowledged delete undone.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::ServeProc;
use parking_lot::Mutex;
use sochdb::backend::Backend;
use sochdb::ipc::client::{Client, ClientOptions};
use sochdb::storage::BatchOp;

const CLIENTS: usize = 50;

/// What one client saw acknowledged.
#[derive(Default)]
struct Acked {
    /// Keys whose write was acknowledged, with the value.
    puts: Vec<(String, String)>,
    /// Keys whose delete was acknowledged.
    deletes: Vec<String>,
}

fn client(
    socket: std::path::PathBuf,
    t: usize,
    stop: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
) -> Acked {
    let mut acked = Acked::default();
    let Ok(c) = Client::connect(&socket, ClientOptions::default()) else {
        return acked;
    };
    for i in 0..10_000 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let k = format!("c{t}/{i:05}");
        let v = format!("v{t}.{i}");
        let ok = match i % 4 {
            0 | 1 => c.put(None, k.as_bytes(), v.as_bytes()).is_ok(),
            2 => c.put_path(None, &k, v.as_bytes()).is_ok(),
            _ => {
                // A batch: a put that stays and a key written then deleted.
                let d = format!("d{t}/{i:05}");
                let r = c.write_batch(&[
                    BatchOp::Put {
                        key: k.clone().into_bytes(),
                        value: v.clone().into_bytes(),
                    },
                    BatchOp::Put {
                        key: d.clone().into_bytes(),
                        value: b"doomed".to_vec(),
                    },
                ]);
                let ok = r.is_ok() && c.delete(None, d.as_bytes()).is_ok();
                if ok {
                    acked.deletes.push(d);
                }
                ok
            }
        };
        if !ok {
            break;
        }
        acked.puts.push((k, v));
        ops.fetch_add(1, Ordering::Relaxed);
    }
    acked
}

#[test]
fn fifty_clients_combined_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProc::start(dir.path(), &["--quiet"]);
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let results = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let (socket, stop, ops, results) = (
                server.socket.clone(),
                Arc::clone(&stop),
                Arc::clone(&ops),
                Arc::clone(&results),
            );
            std::thread::spawn(move || {
                let a = client(socket, t, stop, ops);
                results.lock().push(a);
            })
        })
        .collect();
    for _ in 0..2000 {
        if ops.load(Ordering::Relaxed) >= 2000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    server.signal(libc::SIGKILL);
    let (status, _) = server.wait();
    assert!(!status.success());
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(
        ops.load(Ordering::Relaxed) > 0,
        "nothing acknowledged before the kill"
    );

    let server = ServeProc::start(dir.path(), &["--quiet"]);
    let c = Client::connect(&server.socket, ClientOptions::default()).unwrap();
    let results = results.lock();
    assert_eq!(results.len(), CLIENTS);
    let mut checked = 0;
    for a in results.iter() {
        for (k, v) in &a.puts {
            assert_eq!(
                c.get(None, k.as_bytes()).unwrap().as_deref(),
                Some(v.as_bytes()),
                "acknowledged write of {k} lost"
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
