//! Options of an engine and the durability modes of commits.

use std::time::Duration;

use super::compaction::CompactionOptions;

/// How a commit reaches stable storage before it returns. The loss window of each mode
/// is in `docs/storage.md` ("Durability modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fdatasync` before the commit returns (the default). A crash loses nothing that
    /// was acknowledged.
    #[default]
    Sync,
    /// Written to the operating system before the commit returns, synced in the
    /// background within [`EngineOptions::buffered_sync_interval`]. An OS crash or power
    /// loss may lose that interval; a process crash loses nothing.
    Buffered,
    /// Kept in the engine's log buffer, written to the operating system when the buffer
    /// fills (or by the next sync), never synced per commit (bulk loads). A process
    /// crash may lose the unwritten buffer; recovery is still consistent (whole batches
    /// only, always a prefix of the commit order).
    None,
}

/// Options of an engine, fixed at open.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Default durability of commits.
    pub durability: Durability,
    /// Bytes a memtable may hold before it is frozen and flushed (default 64 MiB).
    pub memtable_budget: usize,
    /// Bytes of the block cache (default 128 MiB).
    pub cache_budget: usize,
    /// Longest delay before a [`Durability::Buffered`] commit is synced (default 100 ms).
    pub buffered_sync_interval: Duration,
    /// Size at which a log segment is closed and a new one started (default 64 MiB).
    pub wal_segment_size: u64,
    /// Open without writing anything; commits fail with `ReadOnly`.
    pub read_only: bool,
    /// Compaction policy, write throttle and block file layout.
    pub compaction: CompactionOptions,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            durability: Durability::Sync,
            memtable_budget: 64 * 1024 * 1024,
            cache_budget: 128 * 1024 * 1024,
            buffered_sync_interval: Duration::from_millis(100),
            wal_segment_size: 64 * 1024 * 1024,
            read_only: false,
            compaction: CompactionOptions::default(),
        }
    }
}
