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
//! commit and visibility), [`memtable`] (the in-memory sorted versions), [`sstable`]
//! (block files), [`bloom`], [`cache`] (the block cache), [`manifest`], [`merge`],
//! [`compaction`] (policy and runner), `version` (the current memtables and files),
//! `flush` and `compactor` (the background threads), `open` (opening a directory),
//! `verify` ([`verify`]), `iter` (reads over ranges). See `docs/storage.md` for the
//! on-disk formats and the commit, flush, compaction and recovery protocols.

mod arena;
mod batch;
pub mod bloom;
pub mod cache;
pub mod coding;
mod commit;
pub mod compaction;
mod compactor;
pub mod entry;
mod files;
mod flush;
pub mod io;
mod iter;
pub mod manifest;
pub mod memtable;
pub mod merge;
mod notice;
mod open;
mod options;
pub mod sstable;
mod state;
mod verify;
mod version;
pub mod wal;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

pub use self::batch::{
    BatchOp, MAX_BATCH_BYTES, MAX_BATCH_OPS, MAX_KEY_LEN, MAX_VALUE_LEN, WriteBatch, check_key,
    check_value,
};
pub use self::files::{parse_temp_table_file_name, temp_table_file_name};
pub use self::iter::EngineIter;
pub use self::options::{Durability, EngineOptions};
pub use self::verify::{VerifyReport, verify};
pub use self::wal::{RecoveryReport, TornTail};

use self::cache::BlockCache;
use self::commit::Pipeline;
use self::compaction::delay_for;
use self::io::{DirLock, FileSystem, OsFs};
use self::manifest::MAX_LEVELS;
use self::notice::notice;
use self::state::{BgCounters, ManifestCore, Shared, Signals};
use self::version::Version;
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
    /// write or sync, flush or manifest install).
    pub read_only: bool,
    /// Frozen memtables waiting to be flushed.
    pub frozen_memtables: u64,
    /// Block files per level (index = level).
    pub level_files: Vec<u64>,
    /// Bytes of block files per level (index = level).
    pub level_bytes: Vec<u64>,
    /// Block cache lookups that found their block, since open.
    pub cache_hits: u64,
    /// Block cache lookups that did not, since open.
    pub cache_misses: u64,
    /// Bytes the block cache holds now.
    pub cache_bytes: u64,
    /// Memory held for the open block files' indexes and Bloom filters.
    pub index_filter_bytes: u64,
    /// Bytes appended to the log since open.
    pub wal_bytes_written: u64,
    /// Memtables flushed since open.
    pub flushes: u64,
    /// Bytes of block files written by flushes since open.
    pub flush_bytes_written: u64,
    /// Compactions run since open (moves of a file to the next level included).
    pub compactions: u64,
    /// Bytes of block files read by compactions since open.
    pub compaction_bytes_read: u64,
    /// Bytes of block files written by compactions since open. Write amplification
    /// is `(wal_bytes_written + flush_bytes_written + compaction_bytes_written)`
    /// over the bytes of keys and values committed.
    pub compaction_bytes_written: u64,
    /// About how many bytes compaction has to rewrite to bring every level within its
    /// target (the write throttle slows writers as this grows).
    pub pending_compaction_bytes: u64,
    /// An estimate of the live keys: values stored minus tombstones, over the memtables
    /// and files (a key overwritten but not yet compacted counts once per version).
    pub live_keys_estimate: u64,
    /// Microseconds writers were delayed by the write throttle since open.
    pub write_delay_micros: u64,
    /// Commits that waited for a flush because the memtables were full, since open.
    pub write_stalls: u64,
    /// The newest commit timestamp the block files hold (the log replays from there).
    pub flushed_ts: u64,
    /// The last background failure (flush, compaction), if any.
    pub background_error: Option<String>,
}

impl EngineStats {
    /// Block cache hits over lookups, or `None` before the first lookup.
    pub fn cache_hit_ratio(&self) -> Option<f64> {
        let total = self.cache_hits + self.cache_misses;
        (total > 0).then(|| self.cache_hits as f64 / total as f64)
    }
}

/// The background thread that syncs [`Durability::Buffered`] commits.
struct Syncer {
    /// The thread.
    handle: JoinHandle<()>,
    /// Set to stop it; the condvar wakes it.
    stop: Arc<(Mutex<bool>, Condvar)>,
}

/// What an open engine owns beyond the shared state: the lock and the threads.
struct Inner {
    /// State shared with the background threads.
    shared: Arc<Shared>,
    /// The directory lock, released at close.
    lock: Mutex<Option<Box<dyn DirLock>>>,
    /// The background syncer, stopped at close.
    syncer: Mutex<Option<Syncer>>,
    /// The flush and compaction threads, stopped at close.
    workers: Mutex<Vec<JoinHandle<()>>>,
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
    /// Takes the directory lock, reads the manifest and opens the block files it lists,
    /// removes leftovers of interrupted flushes and compactions, replays the log after
    /// the position the block files cover (cutting a torn tail off the newest segment,
    /// failing with `Corruption` on any other damage), starts a new log segment and the
    /// background syncer, flush and compaction threads. `docs/storage.md` gives the
    /// whole protocol.
    pub fn open_with_fs(
        dir: &Path,
        opts: EngineOptions,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Engine> {
        check_options(&opts)?;
        if !opts.read_only {
            fs.create_dir_all(dir)?;
        }
        let lock = fs.lock(dir)?;
        let cache = Arc::new(BlockCache::new(opts.cache_budget));
        let opened = open::open_dir(&fs, dir, opts.read_only, opts.memtable_budget, &cache)?;
        let counters = Arc::new(WalCounters::default());
        counters
            .bytes
            .store(opened.recovered.wal_bytes, Ordering::Relaxed);
        *counters.segments.lock() = opened.recovered.segments.clone();
        let writer = if opts.read_only {
            None
        } else {
            Some(wal::WalWriter::create(
                Arc::clone(&fs),
                dir,
                opened.next_seq,
                opened.last_ts,
                opts.wal_segment_size,
                Arc::clone(&counters),
            )?)
        };
        let version = Version::new(
            Arc::clone(&opened.mem),
            Vec::new(),
            opened.levels,
            &opts.compaction,
        );
        let read_only = opts.read_only;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            fs,
            pipeline: Arc::new(Pipeline::new(opened.last_ts, writer)),
            counters,
            version: RwLock::new(Arc::new(version)),
            cache,
            manifest: Mutex::new(ManifestCore {
                manifest: opened.manifest,
                log_number: opened.state.log_number.max(1),
            }),
            flushed_ts: AtomicU64::new(opened.state.flushed_ts),
            next_file: AtomicU64::new(opened.next_file),
            safe_ts: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            cancel: Arc::new(AtomicBool::new(false)),
            signals: Mutex::new(Signals::default()),
            flush_cv: Condvar::new(),
            compact_cv: Condvar::new(),
            progress: Mutex::new(0),
            progress_cv: Condvar::new(),
            compaction_lock: Mutex::new(()),
            bg: BgCounters::default(),
            bg_error: Mutex::new(None),
            opts,
        });
        let inner = Arc::new(Inner {
            shared: Arc::clone(&shared),
            lock: Mutex::new(Some(lock)),
            syncer: Mutex::new(None),
            workers: Mutex::new(Vec::new()),
            recovery: opened.recovered.report,
        });
        if !read_only {
            let syncer = start_syncer(
                Arc::clone(&shared.pipeline),
                shared.dir.clone(),
                shared.opts.buffered_sync_interval,
            )
            .map_err(|e| Error::io("starting the background log syncer", e))?;
            *inner.syncer.lock() = Some(syncer);
            let flusher = flush::start(Arc::clone(&shared))
                .map_err(|e| Error::io("starting the background flush thread", e))?;
            inner.workers.lock().push(flusher);
            let compactor = compactor::start(Arc::clone(&shared))
                .map_err(|e| Error::io("starting the background compaction thread", e))?;
            inner.workers.lock().push(compactor);
            // The layout read from the manifest may already call for compaction.
            shared.wake_compactor();
            // A large replayed memtable goes to a level-0 file in the background: reads
            // of its keys then use a block index, a filter and the block cache instead of
            // a skip list built by the replay, and the next open replays less.
            if shared.current().mem.approximate_bytes() >= shared.opts.memtable_budget / 4 {
                shared.pipeline.exclusive(|last_ts| {
                    shared.freeze_locked(last_ts);
                    ((), true)
                })?;
            }
        }
        Ok(Engine { inner })
    }

    /// The directory the engine lives in.
    pub fn dir(&self) -> &Path {
        &self.inner.shared.dir
    }

    /// The options the engine was opened with.
    pub fn options(&self) -> &EngineOptions {
        &self.inner.shared.opts
    }

    /// What recovery found when the engine was opened (segments, records replayed and
    /// skipped, torn tail).
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
    /// Before the commit, the write throttle may delay it (at most
    /// `compaction.max_write_delay`) when compaction falls behind, and it waits for a
    /// flush when the active memtable is full while another one is still being
    /// flushed.
    ///
    /// Errors: `ReadOnly` when opened read-only or after a failed log write or sync
    /// (or a failed flush or manifest install); `Io` when the log write or sync of this
    /// commit fails (the commit is then not acknowledged and the engine becomes
    /// read-only); `Closed` after [`Engine::close`]; `TooLarge` for a batch beyond the
    /// limits; whatever `validate` returns.
    pub fn commit_with(
        &self,
        batch: &WriteBatch,
        durability: Option<Durability>,
        validate: &mut dyn FnMut(u64) -> Result<()>,
    ) -> Result<u64> {
        self.commit_checked(batch.ops(), batch.byte_size(), durability, validate)
    }

    /// [`Engine::commit_with`] for operations not held in a [`WriteBatch`]: they are
    /// checked against the batch limits (`TooLarge`) and committed as one batch, without
    /// being copied first.
    pub fn commit_ops(
        &self,
        ops: &[BatchOp],
        durability: Option<Durability>,
        validate: &mut dyn FnMut(u64) -> Result<()>,
    ) -> Result<u64> {
        let bytes = batch::check_ops(ops)?;
        self.commit_checked(ops, bytes, durability, validate)
    }

    /// Commits `ops`, within the batch limits, whose keys and values take `bytes`.
    fn commit_checked(
        &self,
        ops: &[BatchOp],
        bytes: usize,
        durability: Option<Durability>,
        validate: &mut dyn FnMut(u64) -> Result<()>,
    ) -> Result<u64> {
        let sh = &self.inner.shared;
        if sh.opts.read_only {
            return Err(Error::ReadOnly("the engine was opened read-only".into()));
        }
        self.check_open()?;
        let prepared = PreparedBatch::new(batch::encode_ops(ops, bytes)).ok_or_else(|| {
            Error::TooLarge(format!(
                "write batch of {} operations and {bytes} bytes exceeds the largest log record",
                ops.len(),
            ))
        })?;
        self.throttle(bytes as u64);
        let budget = sh.opts.memtable_budget;
        // `apply` runs under the commit lock: it inserts into the memtable that is
        // current at that moment, and freezes it once full (if none is being flushed).
        sh.pipeline.commit(
            &prepared,
            durability.unwrap_or(sh.opts.durability),
            validate,
            &mut |ts| {
                let full = {
                    let v = sh.version.read();
                    v.mem.apply(ts, ops);
                    v.mem.approximate_bytes() >= budget && v.frozen.is_empty()
                };
                if full {
                    sh.freeze_locked(ts);
                }
                full
            },
        )
    }

    /// Delays a commit of `bytes` as the write throttle asks, and waits while the
    /// memtables are full (the active one at its budget while another is flushed).
    fn throttle(&self, bytes: u64) {
        let sh = &self.inner.shared;
        let v = sh.current();
        if v.slowdown > 0.0 {
            let d = delay_for(v.slowdown, bytes, &sh.opts.compaction);
            if !d.is_zero() {
                std::thread::sleep(d);
                sh.bg
                    .delay_micros
                    .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
            }
        }
        let budget = sh.opts.memtable_budget;
        let full = |v: &Version| v.mem.approximate_bytes() >= budget && !v.frozen.is_empty();
        if !full(&v) {
            return;
        }
        drop(v);
        sh.bg.stalls.fetch_add(1, Ordering::Relaxed);
        let mut g = sh.progress.lock();
        while full(&sh.current()) && !sh.closed.load(Ordering::Acquire) && !sh.pipeline.failed() {
            sh.progress_cv.wait_for(&mut g, Duration::from_millis(50));
        }
    }

    /// Every commit with a timestamp at or below this is visible to reads.
    pub fn visible_ts(&self) -> u64 {
        self.inner.shared.pipeline.visible_ts()
    }

    /// Waits until the commit at `ts` (and every one below it) is visible, for at most
    /// `timeout`. Returns whether it is; returns at once with `false` when no commit at
    /// `ts` has been assigned, or the engine failed or closed.
    pub fn wait_visible(&self, ts: u64, timeout: Duration) -> bool {
        self.inner.shared.pipeline.wait_visible(ts, timeout)
    }

    /// The value of `key` as of `read_ts`: the newest version at or below it, or `None`
    /// when there is none or it is a tombstone. A `read_ts` above [`Engine::visible_ts`]
    /// reads at the visible timestamp (commits in flight are never half seen).
    ///
    /// Reads the memtables, then the level-0 files newest first, then the one file of
    /// each deeper level whose key range holds the key (Bloom filters skip files that
    /// do not hold it). A damaged block is `Corruption` naming the file and offset.
    pub fn get(&self, key: &[u8], read_ts: u64) -> Result<Option<Vec<u8>>> {
        self.check_open()?;
        let read_ts = read_ts.min(self.visible_ts());
        let v = self.inner.shared.current();
        Ok(v.get(key, read_ts)?.flatten())
    }

    /// The commit timestamp of the newest stored version of `key` (tombstones
    /// included), if any. This includes commits that are applied but not yet visible,
    /// so a conflict check never misses a write that is about to become visible. A
    /// tombstone at or below the safe timestamp may have been dropped by compaction
    /// with everything it deleted; then there is no version left and this is `None`.
    pub fn latest_ts(&self, key: &[u8]) -> Result<Option<u64>> {
        self.check_open()?;
        self.inner.shared.current().latest_ts(key)
    }

    /// Iterates the live keys in `[start, end)` bounds as of `read_ts`, in ascending key
    /// order, or descending when `reverse`. Streams: memory does not grow with the range.
    /// A `read_ts` above [`Engine::visible_ts`] reads at the visible timestamp.
    ///
    /// The iterator merges the memtables and block files of the moment it was made and
    /// keeps them (files included) until it is dropped, whatever flushes and
    /// compactions do meanwhile.
    pub fn iter(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        read_ts: u64,
        reverse: bool,
    ) -> Result<EngineIter> {
        self.check_open()?;
        let read_ts = read_ts.min(self.visible_ts());
        let v = self.inner.shared.current();
        Ok(EngineIter::new(v, start, end, read_ts, reverse))
    }

    /// Tells the engine the oldest timestamp a reader still needs; versions that only
    /// readers below it could see may be dropped by flushes and compactions.
    pub fn set_safe_ts(&self, ts: u64) {
        self.inner.shared.safe_ts.fetch_max(ts, Ordering::AcqRel);
    }

    /// The oldest timestamp a reader still needs, as last set.
    pub fn safe_ts(&self) -> u64 {
        self.inner.shared.safe_ts()
    }

    /// Makes every commit so far durable and moves it into block files: freezes the
    /// memtable, waits until it (and any memtable frozen before) is flushed and the
    /// manifest installed, and trims the log. After it returns, reopening replays no
    /// commit made before it.
    pub fn checkpoint(&self) -> Result<()> {
        self.check_open()?;
        let sh = &self.inner.shared;
        if sh.opts.read_only {
            return Ok(());
        }
        let target = sh.pipeline.exclusive(|last_ts| {
            let v = sh.current();
            let covered = v
                .frozen
                .first()
                .map_or(sh.flushed_ts.load(Ordering::Acquire), |f| f.covers_ts);
            if last_ts > covered {
                sh.freeze_locked(last_ts);
                (last_ts, true)
            } else {
                (covered, false)
            }
        })?;
        sh.wait_flushed(target)?;
        sh.pipeline.sync_all()
    }

    /// Runs compactions in the calling thread until none is due at the current safe
    /// timestamp (the background thread does the same on its own; this is for tools,
    /// tests and benchmarks that want a settled layout). Returns how many ran.
    pub fn compact(&self) -> Result<u64> {
        self.check_open()?;
        let sh = &self.inner.shared;
        if sh.opts.read_only {
            return Ok(0);
        }
        let mut n = 0;
        while compactor::compact_once(sh)? {
            n += 1;
        }
        Ok(n)
    }

    /// Compacts everything into the last level (like a manual full compaction): level 0
    /// into the level below, then each level whole into the next, every file
    /// rewritten, then the last level's files that hold versions the safe timestamp
    /// lets go rewritten once more. Afterwards the files hold one version per key (plus
    /// those newer than the safe timestamp) and no tombstone at or below it. Runs in the
    /// calling thread, one compaction at a time with the background thread; data
    /// flushed meanwhile may stay in the upper levels. Returns how many compactions ran.
    pub fn compact_all(&self) -> Result<u64> {
        self.check_open()?;
        let sh = &self.inner.shared;
        if sh.opts.read_only {
            return Ok(0);
        }
        compactor::compact_all(sh)
    }

    /// Current figures.
    pub fn stats(&self) -> EngineStats {
        let sh = &self.inner.shared;
        let v = sh.current();
        let cache = sh.cache.stats();
        let (mut values, mut tombstones) = (v.memtable_entries(), 0u64);
        let mut index_filter = 0u64;
        for f in v.levels.iter().flatten() {
            values += f.meta.entry_count - f.meta.tombstone_count.min(f.meta.entry_count);
            tombstones += f.meta.tombstone_count;
            index_filter += f.memory_bytes;
        }
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EngineStats {
            memtable_bytes: v.memtable_bytes(),
            wal_bytes: load(&sh.counters.bytes),
            last_commit_ts: self.visible_ts(),
            commits: sh.pipeline.commits(),
            syncs: load(&sh.counters.syncs),
            wal_writes: load(&sh.counters.writes),
            memtable_entries: v.memtable_entries(),
            read_only: self.is_read_only(),
            frozen_memtables: v.frozen.len() as u64,
            level_files: v.levels.iter().map(|l| l.len() as u64).collect(),
            level_bytes: v
                .levels
                .iter()
                .map(|l| l.iter().map(|f| f.meta.size).sum())
                .collect(),
            cache_hits: cache.hits,
            cache_misses: cache.misses,
            cache_bytes: cache.used_bytes,
            index_filter_bytes: index_filter,
            wal_bytes_written: load(&sh.counters.appended),
            flushes: load(&sh.bg.flushes),
            flush_bytes_written: load(&sh.bg.flush_bytes),
            compactions: load(&sh.bg.compactions),
            compaction_bytes_read: load(&sh.bg.compaction_read),
            compaction_bytes_written: load(&sh.bg.compaction_written),
            pending_compaction_bytes: v.pending_compaction_bytes,
            live_keys_estimate: values.saturating_sub(tombstones),
            write_delay_micros: load(&sh.bg.delay_micros),
            write_stalls: load(&sh.bg.stalls),
            flushed_ts: sh.flushed_ts.load(Ordering::Acquire),
            background_error: sh.bg_error.lock().clone(),
        }
    }

    /// True when commits are refused: opened read-only, or a log write or sync, a
    /// flush or a manifest install failed (reopen to write again).
    pub fn is_read_only(&self) -> bool {
        self.inner.shared.opts.read_only || self.inner.shared.pipeline.failed()
    }

    /// Syncs every commit, stops the background threads (a flush in progress is
    /// finished, a compaction in progress abandoned and its outputs removed) and
    /// releases the directory lock. Frozen memtables not yet flushed stay in the log,
    /// which the next open replays. Later calls on this engine (and its clones) fail
    /// with `Closed`; closing twice is a no-op. Dropping the last clone closes too,
    /// reporting errors on standard error.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed(format!(
                "the database in {} is closed",
                self.inner.shared.dir.display()
            )));
        }
        Ok(())
    }
}

/// Refuses options the engine cannot work with.
fn check_options(opts: &EngineOptions) -> Result<()> {
    let bad = |what: &str| Err(Error::InvalidArgument(what.to_string()));
    let c = &opts.compaction;
    if opts.wal_segment_size == 0 {
        return bad("wal_segment_size must be at least 1 byte");
    }
    if opts.buffered_sync_interval.is_zero() {
        return bad("buffered_sync_interval must be longer than zero");
    }
    if opts.memtable_budget == 0 {
        return bad("memtable_budget must be at least 1 byte");
    }
    if !(2..=MAX_LEVELS).contains(&c.num_levels) {
        return Err(Error::InvalidArgument(format!(
            "compaction.num_levels must be between 2 and {MAX_LEVELS}"
        )));
    }
    if c.l0_trigger == 0 || c.level_ratio < 2 || c.level1_bytes == 0 || c.target_file_size == 0 {
        return bad(
            "compaction options: l0_trigger, level1_bytes and target_file_size must be at \
             least 1, level_ratio at least 2",
        );
    }
    if c.table.block_size == 0 || c.table.restart_interval == 0 {
        return bad("compaction.table: block_size and restart_interval must be at least 1");
    }
    Ok(())
}

impl Inner {
    fn close(&self) -> Result<()> {
        let sh = &self.shared;
        if sh.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let syncer = self.syncer.lock().take();
        if let Some(s) = syncer {
            *s.stop.0.lock() = true;
            s.stop.1.notify_all();
            // The syncer stops between rounds; a panic in it has been reported already.
            let _ = s.handle.join();
        }
        {
            let mut g = sh.signals.lock();
            g.stop = true;
            sh.cancel.store(true, Ordering::Release);
            sh.flush_cv.notify_all();
            sh.compact_cv.notify_all();
        }
        sh.bump_progress();
        let started = Instant::now();
        for w in self.workers.lock().drain(..) {
            // A panic in a worker has been reported already.
            let _ = w.join();
        }
        // A compaction running in a caller's thread (`compact`, `compact_all`) fails
        // at its next output write and starts no further step: wait for it to finish
        // before the log and the directory lock go.
        drop(sh.compaction_lock.lock());
        let waited = started.elapsed();
        if waited > Duration::from_secs(5) {
            notice(&format!(
                "closing {}: background work took {waited:?} to stop",
                sh.dir.display()
            ));
        }
        let result = sh.pipeline.close();
        self.lock.lock().take();
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            notice(&format!(
                "closing the database in {}: {e}",
                self.shared.dir.display()
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
