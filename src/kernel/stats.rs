//! Transaction counters and the `stats()` JSON object.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value as Json, json};

use crate::storage::EngineStats;

/// Counters of transaction outcomes. Explicit transactions and one-shot writes (a put,
/// delete, batch, row write or table change without a transaction) are counted; reads
/// outside a transaction are not.
#[derive(Debug, Default)]
pub struct TxnCounters {
    /// Transactions begun.
    pub begun: AtomicU64,
    /// Transactions committed (read-only ones included).
    pub committed: AtomicU64,
    /// Transactions aborted by the caller, or reaped for exceeding their age.
    pub aborted: AtomicU64,
    /// Commits refused with `Conflict`.
    pub conflicted: AtomicU64,
    /// Transactions aborted for exceeding `max_txn_age` (also counted in `aborted`).
    pub expired: AtomicU64,
}

impl TxnCounters {
    /// Adds one to a counter.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Figures gathered from the kernel for [`render`].
pub struct KernelFigures {
    /// Open transactions.
    pub open_txns: usize,
    /// Oldest snapshot any open transaction holds, if any.
    pub oldest_snapshot: Option<u64>,
    /// Key records the conflict table holds.
    pub conflict_keys: usize,
    /// Seconds since open.
    pub uptime_secs: f64,
}

/// Files and bytes under the database directory (every file the engine keeps).
pub fn dir_usage(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

/// The `stats()` object.
///
/// `live_keys_estimate` is the engine's estimate (values stored minus tombstones, see
/// [`EngineStats::live_keys_estimate`]); `cache_hit_ratio` is `null` before the first
/// block cache lookup; every other figure is measured.
pub fn render(
    c: &TxnCounters,
    k: &KernelFigures,
    e: &EngineStats,
    files: (u64, u64),
) -> Map<String, Json> {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut m = Map::new();
    m.insert("txns_begun".into(), json!(load(&c.begun)));
    m.insert("txns_committed".into(), json!(load(&c.committed)));
    m.insert("txns_aborted".into(), json!(load(&c.aborted)));
    m.insert("txns_conflicted".into(), json!(load(&c.conflicted)));
    m.insert("txns_expired".into(), json!(load(&c.expired)));
    m.insert("txns_open".into(), json!(k.open_txns));
    m.insert("oldest_snapshot".into(), json!(k.oldest_snapshot));
    m.insert("conflict_tracked_keys".into(), json!(k.conflict_keys));
    m.insert("live_keys_estimate".into(), json!(e.live_keys_estimate));
    m.insert("memtable_bytes".into(), json!(e.memtable_bytes));
    m.insert("log_bytes".into(), json!(e.wal_bytes));
    m.insert("file_count".into(), json!(files.0));
    m.insert("file_bytes".into(), json!(files.1));
    m.insert("cache_hit_ratio".into(), json!(e.cache_hit_ratio()));
    m.insert("last_commit_ts".into(), json!(e.last_commit_ts));
    m.insert("engine_commits".into(), json!(e.commits));
    m.insert("log_syncs".into(), json!(e.syncs));
    m.insert("compactions".into(), json!(e.compactions));
    m.insert(
        "compaction_bytes_read".into(),
        json!(e.compaction_bytes_read),
    );
    m.insert(
        "compaction_bytes_written".into(),
        json!(e.compaction_bytes_written),
    );
    m.insert("uptime_secs".into(), json!(k.uptime_secs));
    m
}
