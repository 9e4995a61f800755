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
//! Parts: [`io`] (the file layer), [`wal`] (log segments and recovery), `commit` (group
//! commit and visibility), [`memtable`] (the in-memory sorted versions), `iter` (reads
//! over ranges). See `docs/storage.md` for the on-disk formats and the commit and
//! recovery protocol.

mod batch;
pub mod bloom;
pub mod cache;
pub mod coding;
mod commit;
pub mod compaction;
pub mod entry;
pub mod io;
mod iter;
pub mod manifest;
pub mod memtable;
pub mod merge;
mod notice;
mod options;
pub mod sstable;
pub mod wal;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

pub use self::batch::{
    BatchOp, MAX_BATCH_BYTES, MAX_BATCH_OPS, MAX_KEY_LEN, MAX_VALUE_LEN, WriteBatch, check_key,
    check_value,
};
pub use self::iter::EngineIter;
pub use self::options::{Durability, EngineOptions};
pub use self::wal::{RecoveryReport, TornTail};

use self::commit::Pipeline;
use self::io::{DirLock, FileSystem, OsFs};
use self::memtable::Memtable;
use self::notice::notice;
use self::wal::WalCounters;
use self::wal::record::PreparedBatch;
use crate::error::{Error, Result};

/// Figures about the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Bytes held by the active and frozen memtables.
    pub memtable_bytes: u64,
    /// Bytes of live log segments.
    pub wal_bytes: u64,
    /// The newest commit timestamp visible to reads.
    pub last_commit_ts: u64,
    /// Commits applied since open.
    pub commits: u64,
    /// Log syncs performed since open.
    pub syncs: u64,
    /// Log writes (one per commit group) performed since open.
    pub wal_writes: u64,
    /// Entries (versions and tombstones) in the memtables.
    pub memtable_entries: u64,
    /// True when the engine refuses commits (opened read-only, or after a failed log
    /// write or sync).
    pub read_only: bool,
}

/// The background thread that syncs [`Durability::Buffered`] commits.
struct Syncer {
    /// The thread.
    handle: JoinHandle<()>,
    /// Set to stop it; the condvar wakes it.
    stop: Arc<(Mutex<bool>, Condvar)>,
}

/// The shared state of an open engine.
struct Inner {
    /// The database directory.
    dir: PathBuf,
    /// Options fixed at open.
    opts: EngineOptions,
    /// The memtable receiving commits (reads clone the `Arc`).
    mem: RwLock<Arc<Memtable>>,
    /// Timestamps, group commit, visibility (shared with the syncer thread, which
    /// holds nothing else, so dropping the last engine handle closes synchronously).
    pipeline: Arc<Pipeline>,
    /// Log counters.
    counters: Arc<WalCounters>,
    /// The oldest timestamp a reader still needs.
    safe_ts: AtomicU64,
    /// Set once closed: every call fails with `Closed`.
    closed: AtomicBool,
    /// The directory lock, released at close.
    lock: Mutex<Option<Box<dyn DirLock>>>,
    /// The background syncer, stopped at close.
    syncer: Mutex<Option<Syncer>>,
    /// What recovery found at open.
    recovery: RecoveryReport,
}

/// An open engine. Cloning is cheap and shares the same engine.
#[derive(Clone)]
pub struct Engine {
    /// The shared state.
    inner: Arc<Inner>,
}

impl Engine {
    /// Opens (creating if needed) the engine in `dir`.
    pub fn open(dir: &Path, opts: EngineOptions) -> Result<Engine> {
        Engine::open_with_fs(dir, opts, Arc::new(OsFs::new()))
    }

    /// Opens the engine in `dir`, doing every file operation through `fs`.
    ///
    /// Takes the directory lock, replays the log (cutting a torn tail off the newest
    /// segment, failing with `Corruption` on any other damage), starts a new log
    /// segment and the background syncer.
    pub fn open_with_fs(
        dir: &Path,
        opts: EngineOptions,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Engine> {
        if opts.wal_segment_size == 0 {
            return Err(Error::InvalidArgument(
                "wal_segment_size must be at least 1 byte".into(),
            ));
        }
        if opts.buffered_sync_interval.is_zero() {
            return Err(Error::InvalidArgument(
                "buffered_sync_interval must be longer than zero".into(),
            ));
        }
        if !opts.read_only {
            fs.create_dir_all(dir)?;
        }
        let lock = fs.lock(dir)?;
        let mem = Arc::new(Memtable::new());
        let recovered = wal::recover(&*fs, dir, !opts.read_only, &mut |ts, ops| {
            mem.apply(ts, ops);
            Ok(())
        })?;
        let last_ts = recovered.report.last_ts;
        let counters = Arc::new(WalCounters::default());
        counters.bytes.store(recovered.wal_bytes, Ordering::Relaxed);
        let writer = if opts.read_only {
            None
        } else {
            Some(wal::WalWriter::create(
                Arc::clone(&fs),
                dir,
                recovered.next_seq,
                last_ts,
                opts.wal_segment_size,
                Arc::clone(&counters),
            )?)
        };
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            opts,
            mem: RwLock::new(mem),
            pipeline: Arc::new(Pipeline::new(last_ts, writer)),
            counters,
            safe_ts: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            lock: Mutex::new(Some(lock)),
            syncer: Mutex::new(None),
            recovery: recovered.report,
        });
        if !inner.opts.read_only {
            let syncer = start_syncer(
                Arc::clone(&inner.pipeline),
                inner.dir.clone(),
                inner.opts.buffered_sync_interval,
            )
            .map_err(|e| Error::io("starting the background log syncer", e))?;
            *inner.syncer.lock() = Some(syncer);
        }
        Ok(Engine { inner })
    }

    /// The directory the engine lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options the engine was opened with.
    pub fn options(&self) -> &EngineOptions {
        &self.inner.opts
    }

    /// What recovery found when the engine was opened (segments, records, torn tail).
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// Commits `batch` with the database's default durability; returns its timestamp.
    pub fn commit(&self, batch: &WriteBatch) -> Result<u64> {
        self.commit_with(batch, None, &mut |_| Ok(()))
    }

    /// Commits `batch` atomically under a new timestamp and returns it.
    ///
    /// `validate` runs once, with the timestamp about to be assigned, while no other
    /// commit can be assigned one; an error from it aborts the commit and leaves no
    /// trace. It may read the engine (`get`, `latest_ts`, `iter`) but must not commit. When this returns `Ok(ts)`, the batch is durable per `durability` (or the
    /// engine default) and visible to reads at `ts` or later.
    ///
    /// Errors: `ReadOnly` when opened read-only or after a failed log write or sync;
    /// `Io` when the log write or sync of this commit fails (the commit is then not
    /// acknowledged and the engine becomes read-only); `Closed` after [`Engine::close`];
    /// `TooLarge` for a batch beyond the limits; whatever `validate` returns.
    pub fn commit_with(
        &self,
        batch: &WriteBatch,
        durability: Option<Durability>,
        validate: &mut dyn FnMut(u64) -> Result<()>,
    ) -> Result<u64> {
        if self.inner.opts.read_only {
            return Err(Error::ReadOnly("the engine was opened read-only".into()));
        }
        self.check_open()?;
        let prepared = PreparedBatch::new(batch::encode_ops(batch)).ok_or_else(|| {
            Error::TooLarge(format!(
                "write batch of {} operations and {} bytes exceeds the largest log record",
                batch.len(),
                batch.byte_size()
            ))
        })?;
        // `apply` runs under the commit lock: it inserts into the memtable that is
        // current at that moment.
        self.inner.pipeline.commit(
            &prepared,
            durability.unwrap_or(self.inner.opts.durability),
            validate,
            &mut |ts| self.inner.mem.read().apply(ts, batch.ops()),
        )
    }

    /// Every commit with a timestamp at or below this is visible to reads.
    pub fn visible_ts(&self) -> u64 {
        self.inner.pipeline.visible_ts()
    }

    /// The value of `key` as of `read_ts`: the newest version at or below it, or `None`
    /// when there is none or it is a tombstone. A `read_ts` above [`Engine::visible_ts`]
    /// reads at the visible timestamp (commits in flight are never half seen).
    pub fn get(&self, key: &[u8], read_ts: u64) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        let read_ts = read_ts.min(self.visible_ts());
        let mem = Arc::clone(&self.inner.mem.read());
        Ok(mem.get(key, read_ts).flatten().map(<[u8]>::to_vec))
    }

    /// The commit timestamp of the newest version of `key` (tombstones included), if any.
    /// This includes commits that are applied but not yet visible, so a conflict check
    /// never misses a write that is about to become visible.
    pub fn latest_ts(&self, key: &[u8]) -> Result<Option<u64>> {
        self.check_open()?;
        let mem = Arc::clone(&self.inner.mem.read());
        Ok(mem.latest_ts(key))
    }

    /// Iterates the live keys in `[start, end)` bounds as of `read_ts`, in ascending key
    /// order, or descending when `reverse`. Streams: memory does not grow with the range.
    /// A `read_ts` above [`Engine::visible_ts`] reads at the visible timestamp.
    pub fn iter(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        read_ts: u64,
        reverse: bool,
    ) -> Result<EngineIter> {
        self.check_open()?;
        let read_ts = read_ts.min(self.visible_ts());
        let mem = Arc::clone(&self.inner.mem.read());
        Ok(EngineIter::new(mem.cursor(), start, end, read_ts, reverse))
    }

    /// Tells the engine the oldest timestamp a reader still needs; versions that only
    /// readers below it could see may be dropped.
    pub fn set_safe_ts(&self, ts: u64) {
        self.inner.safe_ts.fetch_max(ts, Ordering::AcqRel);
    }

    /// The oldest timestamp a reader still needs, as last set.
    pub fn safe_ts(&self) -> u64 {
        self.inner.safe_ts.load(Ordering::Acquire)
    }

    /// Makes every commit so far durable, whatever its durability mode. (With block
    /// files, it also flushes the memtable and trims the log.)
    pub fn checkpoint(&self) -> Result<()> {
        self.check_open()?;
        if self.inner.opts.read_only {
            return Ok(());
        }
        self.inner.pipeline.sync_all()
    }

    /// Current figures.
    pub fn stats(&self) -> EngineStats {
        let mem = Arc::clone(&self.inner.mem.read());
        EngineStats {
            memtable_bytes: mem.approximate_bytes() as u64,
            wal_bytes: self.inner.counters.bytes.load(Ordering::Relaxed),
            last_commit_ts: self.visible_ts(),
            commits: self.inner.pipeline.commits(),
            syncs: self.inner.counters.syncs.load(Ordering::Relaxed),
            wal_writes: self.inner.counters.writes.load(Ordering::Relaxed),
            memtable_entries: mem.len() as u64,
            read_only: self.is_read_only(),
        }
    }

    /// True when commits are refused: opened read-only, or a log write or sync failed
    /// (reopen to write again).
    pub fn is_read_only(&self) -> bool {
        self.inner.opts.read_only || self.inner.pipeline.failed()
    }

    /// Syncs every commit, stops the background syncer and releases the directory lock.
    /// Later calls on this engine (and its clones) fail with `Closed`; closing twice is
    /// a no-op. Dropping the last clone closes too, reporting errors on standard error.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed(format!(
                "the database in {} is closed",
                self.inner.dir.display()
            )));
        }
        Ok(())
    }
}

impl Inner {
    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let syncer = self.syncer.lock().take();
        if let Some(s) = syncer {
            *s.stop.0.lock() = true;
            s.stop.1.notify_all();
            // The syncer stops between rounds; a panic in it has been reported already.
            let _ = s.handle.join();
        }
        let result = self.pipeline.close();
        self.lock.lock().take();
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            notice(&format!(
                "closing the database in {}: {e}",
                self.dir.display()
            ));
        }
    }
}

/// Starts the thread that syncs the log every `interval` while something is unsynced.
fn start_syncer(
    pipeline: Arc<Pipeline>,
    dir: PathBuf,
    interval: Duration,
) -> std::io::Result<Syncer> {
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let flag = Arc::clone(&stop);
    let handle = std::thread::Builder::new()
        .name("sochdb-log-sync".into())
        .spawn(move || {
            let (lock, cond) = &*flag;
            let mut stopped = lock.lock();
            while !*stopped {
                cond.wait_for(&mut stopped, interval);
                if *stopped {
                    break;
                }
                MutexGuard::unlocked(&mut stopped, || sync_round(&pipeline, &dir));
            }
        })?;
    Ok(Syncer { handle, stop })
}

/// One round of the syncer.
fn sync_round(pipeline: &Pipeline, dir: &Path) {
    if pipeline.has_unsynced() {
        if let Err(e) = pipeline.sync_all() {
            notice(&format!(
                "background sync of the log in {} failed: {e}; the database is read-only \
                 until reopened",
                dir.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests;
