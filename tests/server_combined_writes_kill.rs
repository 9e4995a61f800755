//! Fifty clients write at once (puts, deletes, path puts, batches), so the event loop
//! combines their one-shot writes into shared commits; SIGKILL the server mid-stream,
//! restart it, and find every acknowledged write and no acknowledged delete undone.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{Acked, kill_while_writing};
use sochdb::backend::Backend;
use sochdb::ipc::client::{Client, ClientOptions};
use sochdb::storage::BatchOp;

const CLIENTS: usize = 50;

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
    kill_while_writing(dir.path(), CLIENTS, 2000, client);
}
