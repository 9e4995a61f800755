//! The server's counters and the STATS_RESP object built from them and the backend's
//! own figures.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use super::Shared;
use crate::error::Result;

/// Figures a server keeps, all since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections admitted.
    pub connections_total: AtomicU64,
    /// Connections open now.
    pub connections_active: AtomicU64,
    /// Connections refused (limit reached or uid not allowed).
    pub connections_refused: AtomicU64,
    /// Request frames received.
    pub requests_total: AtomicU64,
    /// Requests answered with success.
    pub requests_success: AtomicU64,
    /// Requests answered with an error.
    pub requests_error: AtomicU64,
    /// Bytes read from clients.
    pub bytes_received: AtomicU64,
    /// Bytes written to clients.
    pub bytes_sent: AtomicU64,
    /// Transactions open on all connections now.
    pub active_transactions: AtomicU64,
    /// Transactions aborted because their connection ended.
    pub transactions_aborted_on_disconnect: AtomicU64,
    /// Connections closed for a broken frame (too long, or cut inside).
    pub broken_frames: AtomicU64,
    /// Connections closed for idleness.
    pub idle_timeouts: AtomicU64,
    /// Commits of combined one-shot writes: each carries every one-shot write the
    /// event loops gathered since the previous one began, from any number of
    /// connections.
    pub write_commits: AtomicU64,
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// The backend's figure named by the first of `names` present as an unsigned integer:
/// the kernel reports `memtable_bytes` and `log_bytes`; a backend that is itself a
/// socket client reports the `_size_bytes` names of its server. A backend reporting
/// neither gives 0.
fn backend_figure(db: &Map<String, Value>, names: &[&str]) -> Option<u64> {
    names
        .iter()
        .find_map(|n| db.get(*n).and_then(Value::as_u64))
}

/// The STATS_RESP object: the version 1 keys first, then more server figures, then the
/// backend's own figures (every one when `all_backend_figures`, else only those that
/// are unsigned integers, as version 1 clients expect of every value).
pub(crate) fn stats_object(
    shared: &Shared,
    all_backend_figures: bool,
) -> Result<Map<String, Value>> {
    let c = &shared.counters;
    let db = shared.backend.stats()?;
    let memtable = backend_figure(&db, &["memtable_size_bytes", "memtable_bytes"]).unwrap_or(0);
    let wal = backend_figure(&db, &["wal_size_bytes", "log_bytes"]).unwrap_or(0);
    let mut m = Map::new();
    let mut put = |k: &str, v: u64| {
        m.insert(k.to_string(), Value::from(v));
    };
    put("connections_total", get(&c.connections_total));
    put("connections_active", get(&c.connections_active));
    put("requests_total", get(&c.requests_total));
    put("requests_success", get(&c.requests_success));
    put("requests_error", get(&c.requests_error));
    put("bytes_received", get(&c.bytes_received));
    put("bytes_sent", get(&c.bytes_sent));
    put("uptime_secs", shared.started.elapsed().as_secs());
    put("memtable_size_bytes", memtable);
    put("wal_size_bytes", wal);
    put("active_transactions", get(&c.active_transactions));
    put("connections_refused", get(&c.connections_refused));
    put(
        "transactions_aborted_on_disconnect",
        get(&c.transactions_aborted_on_disconnect),
    );
    put("broken_frames", get(&c.broken_frames));
    put("idle_timeouts", get(&c.idle_timeouts));
    put("write_commits", get(&c.write_commits));
    put("max_connections", shared.opts.max_connections as u64);
    let per_loop = shared
        .loop_connections
        .iter()
        .map(|n| n.load(Ordering::Relaxed) as u64);
    put("event_loops", shared.loop_connections.len() as u64);
    put("loop_connections_min", per_loop.clone().min().unwrap_or(0));
    put("loop_connections_max", per_loop.max().unwrap_or(0));
    for (k, v) in db {
        if m.contains_key(&k) || !(all_backend_figures || v.as_u64().is_some()) {
            continue;
        }
        m.insert(k, v);
    }
    Ok(m)
}
