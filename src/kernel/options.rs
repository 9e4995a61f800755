//! Options of a [`Database`](super::Database), fixed at open.

use std::time::Duration;

use crate::backend::Isolation;
use crate::storage::EngineOptions;

/// Options of a database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Options of the storage engine underneath.
    pub engine: EngineOptions,
    /// Isolation of transactions that do not choose one (default serializable).
    pub default_isolation: Isolation,
    /// A transaction older than this is aborted: its next operation (or commit) fails
    /// with `Timeout`, and an idle one is reaped so its snapshot stops holding back
    /// garbage collection and conflict-tracking memory (default 10 minutes).
    pub max_txn_age: Duration,
    /// Most bytes of keys and values a transaction may buffer as writes; a write past
    /// it fails with `TooLarge` and the transaction stays usable (default 64 MiB).
    pub max_txn_write_bytes: usize,
    /// Most bytes of keys a serializable transaction may record as reads and scanned
    /// ranges; a read past it fails with `TooLarge` (default 64 MiB).
    pub max_txn_read_bytes: usize,
    /// Most transactions open at once; `begin` past it fails with `Busy`
    /// (default 100 000).
    pub max_open_txns: usize,
    /// Times a one-shot operation (a row write, a DDL statement, ...) is retried on
    /// conflict before the conflict is returned (default 16).
    pub internal_retries: u32,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            engine: EngineOptions::default(),
            default_isolation: Isolation::Serializable,
            max_txn_age: Duration::from_secs(600),
            max_txn_write_bytes: 64 * 1024 * 1024,
            max_txn_read_bytes: 64 * 1024 * 1024,
            max_open_txns: 100_000,
            internal_retries: 16,
        }
    }
}
