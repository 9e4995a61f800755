//! SIGKILL `sochdb serve` while clients write, restart it, and find every acknowledged
//! write and no acknowledged delete undone.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{Acked, kill_while_writing};
use sochdb::backend::{Backend, TxnOptions};
use sochdb::ipc::client::{Client, ClientOptions};

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
    kill_while_writing(dir.path(), 4, 400, writer);
}
