//! The state an open engine shares between its handles and its background threads, and
//! the changes made to it: freezing the memtable, writing new block files, installing
//! a flush or a compaction (manifest first, then the in-memory version), trimming the
//! log.
//!
//! Locks, outermost first: the commit lock (in `commit.rs`), the compaction lock (one
//! compaction at a time), the manifest lock (every change of the file set and the
//! manifest install that records it), the version lock (held only to clone or replace
//! the current `Arc<Version>`), the signal and progress locks (to wake threads). A
//! thread never takes an outer lock while holding an inner one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use super::cache::BlockCache;
use super::commit::Pipeline;
use super::compaction::{CompactionJob, CompactionOutput, NewFile, apply};
use super::files::FsDir;
use super::files::{FsSink, FsSource, is_not_found, temp_table_file_name};
use super::io::FileSystem;
use super::manifest::{FileMeta, Manifest, ManifestState};
use super::memtable::Memtable;
use super::notice::notice;
use super::options::EngineOptions;
use super::sstable::{Table, table_file_name};
use super::version::{Frozen, LiveFile, Version, metas_of};
use super::wal::WalCounters;
use crate::error::{Error, Result};

/// Counters of background work since open.
#[derive(Debug, Default)]
pub(crate) struct BgCounters {
    /// Memtables flushed.
    pub(crate) flushes: AtomicU64,
    /// Bytes of block files written by flushes.
    pub(crate) flush_bytes: AtomicU64,
    /// Compactions run (trivial moves included).
    pub(crate) compactions: AtomicU64,
    /// Bytes of input files read by compactions.
    pub(crate) compaction_read: AtomicU64,
    /// Bytes of block files written by compactions.
    pub(crate) compaction_written: AtomicU64,
    /// Microseconds writers were delayed by the compaction throttle.
    pub(crate) delay_micros: AtomicU64,
    /// Commits that waited for a flush because the memtables were full.
    pub(crate) stalls: AtomicU64,
}

/// What wakes the background threads.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    /// Set at close: the threads finish what they are doing and exit.
    pub(crate) stop: bool,
    /// Set when the file layout changed, so compaction may be due.
    pub(crate) compact: bool,
}

/// The manifest and what the engine keeps of the installed state.
pub(crate) struct ManifestCore {
    /// The manifest of the directory.
    pub(crate) manifest: Manifest<FsDir>,
    /// The lowest log segment the installed state needs.
    pub(crate) log_number: u64,
}

/// The state shared by the engine's handles and background threads.
pub(crate) struct Shared {
    /// The database directory.
    pub(crate) dir: PathBuf,
    /// Options fixed at open.
    pub(crate) opts: EngineOptions,
    /// The file layer.
    pub(crate) fs: Arc<dyn FileSystem>,
    /// Timestamps, group commit, visibility.
    pub(crate) pipeline: Arc<Pipeline>,
    /// Log counters and the list of live segments.
    pub(crate) counters: Arc<WalCounters>,
    /// The current memtables and files.
    pub(crate) version: RwLock<Arc<Version>>,
    /// The block cache shared by every open file.
    pub(crate) cache: Arc<BlockCache>,
    /// The manifest; held for every change of the file set.
    pub(crate) manifest: Mutex<ManifestCore>,
    /// Every commit at or below this is in the block files (as installed).
    pub(crate) flushed_ts: AtomicU64,
    /// The next unused block file number.
    pub(crate) next_file: AtomicU64,
    /// The oldest timestamp a reader still needs.
    pub(crate) safe_ts: AtomicU64,
    /// Set once closed: every call fails with `Closed`.
    pub(crate) closed: AtomicBool,
    /// Set at close: compaction output writes fail, abandoning the compaction.
    pub(crate) cancel: Arc<AtomicBool>,
    /// Wake-up reasons of the background threads.
    pub(crate) signals: Mutex<Signals>,
    /// Wakes the flush thread.
    pub(crate) flush_cv: Condvar,
    /// Wakes the compaction thread.
    pub(crate) compact_cv: Condvar,
    /// Bumped after every flush install or background failure.
    pub(crate) progress: Mutex<u64>,
    /// Signalled with `progress`.
    pub(crate) progress_cv: Condvar,
    /// Held while a compaction runs: one at a time.
    pub(crate) compaction_lock: Mutex<()>,
    /// Background work counters.
    pub(crate) bg: BgCounters,
    /// The last background failure, for the statistics.
    pub(crate) bg_error: Mutex<Option<String>>,
}

impl Shared {
    /// The current version.
    pub(crate) fn current(&self) -> Arc<Version> {
        Arc::clone(&self.version.read())
    }

    /// The oldest timestamp a reader still needs.
    pub(crate) fn safe_ts(&self) -> u64 {
        self.safe_ts.load(Ordering::Acquire)
    }

    /// True once close has begun.
    pub(crate) fn stopping(&self) -> bool {
        self.signals.lock().stop
    }

    /// Freezes the active memtable as covering every commit up to `covers_ts` and
    /// installs an empty one. Must run under the commit lock, so no commit is inserting
    /// into the memtable being frozen.
    pub(crate) fn freeze_locked(&self, covers_ts: u64) {
        {
            let mut w = self.version.write();
            let frozen = Arc::new(Frozen {
                mem: Arc::clone(&w.mem),
                covers_ts,
            });
            let list: Vec<Arc<Frozen>> = std::iter::once(frozen)
                .chain(w.frozen.iter().cloned())
                .collect();
            let next = w.with_memtables(Arc::new(Memtable::new()), list);
            *w = Arc::new(next);
        }
        let _g = self.signals.lock();
        self.flush_cv.notify_all();
    }

    /// Asks the compaction thread to look for work.
    pub(crate) fn wake_compactor(&self) {
        let mut g = self.signals.lock();
        g.compact = true;
        self.compact_cv.notify_all();
    }

    /// Wakes everyone waiting for flush progress.
    pub(crate) fn bump_progress(&self) {
        let mut g = self.progress.lock();
        *g += 1;
        self.progress_cv.notify_all();
    }

    /// Records a background failure that leaves the engine read-only: on standard
    /// error, in the statistics, and in the commit pipeline.
    pub(crate) fn fail_background(&self, what: &str, e: &Error) {
        notice(&format!(
            "{what} failed in {}: {e}; the database is read-only until reopened",
            self.dir.display()
        ));
        *self.bg_error.lock() = Some(format!("{what}: {e}"));
        self.pipeline.fail(e);
        self.bump_progress();
    }

    /// A new output file for a flush or compaction: a fresh number, created under its
    /// temporary name; its number is pushed to `created` so a failure can remove it.
    /// Compaction outputs (`cancellable`) fail as soon as close begins.
    pub(crate) fn new_output(&self, created: &mut Vec<u64>, cancellable: bool) -> Result<NewFile> {
        let id = self.next_file.fetch_add(1, Ordering::AcqRel);
        let path = self.dir.join(temp_table_file_name(id));
        let file = self.fs.create(&path)?;
        created.push(id);
        let name = path.display().to_string();
        let cancel = cancellable.then(|| Arc::clone(&self.cancel));
        Ok(NewFile {
            id,
            name: name.clone(),
            sink: Box::new(FsSink::new(file, name, cancel)),
        })
    }

    /// Gives the finished outputs their final names and opens them.
    pub(crate) fn finish_outputs(&self, files: &[FileMeta]) -> Result<Vec<Arc<LiveFile>>> {
        let mut out = Vec::with_capacity(files.len());
        for meta in files {
            let tmp = self.dir.join(temp_table_file_name(meta.id));
            let path = self.table_path(meta.id);
            self.fs.rename(&tmp, &path)?;
            out.push(self.open_table(meta.clone(), path)?);
        }
        Ok(out)
    }

    /// Removes outputs of a failed flush or compaction (best effort: leftovers are
    /// unlisted and removed at the next open).
    pub(crate) fn discard_outputs(&self, ids: &[u64]) {
        for &id in ids {
            for path in [self.dir.join(temp_table_file_name(id)), self.table_path(id)] {
                if let Err(e) = self.fs.remove(&path)
                    && !is_not_found(&e)
                {
                    notice(&format!("removing the unfinished block file: {e}"));
                }
            }
        }
    }

    /// The path of block file `id`.
    pub(crate) fn table_path(&self, id: u64) -> PathBuf {
        self.dir.join(table_file_name(id))
    }

    /// Opens block file `meta.id` at `path` with the block cache.
    pub(crate) fn open_table(&self, meta: FileMeta, path: PathBuf) -> Result<Arc<LiveFile>> {
        let table = open_table_file(&*self.fs, &path, &meta, &self.cache)?;
        Ok(Arc::new(LiveFile::new(
            meta,
            table,
            path,
            Arc::clone(&self.fs),
        )))
    }

    /// The lowest log segment still needed once the block files hold every commit at
    /// or below `flushed_ts`: the first segment whose successor starts after it (its
    /// successor's base timestamp is above `flushed_ts`), or the newest segment.
    pub(crate) fn log_number_for(&self, flushed_ts: u64) -> u64 {
        let segs = self.counters.segments.lock();
        segs.windows(2)
            .find(|w| w[1].base_ts > flushed_ts)
            .map(|w| w[0].seq)
            .or_else(|| segs.last().map(|s| s.seq))
            .unwrap_or(1)
    }

    /// Writes and installs a manifest for `levels`, covering the log up to
    /// `flushed_ts` from segment `log_number` on.
    fn write_manifest(
        &self,
        core: &mut ManifestCore,
        levels: &[Vec<Arc<LiveFile>>],
        flushed_ts: u64,
        log_number: u64,
    ) -> Result<()> {
        let state = ManifestState {
            next_file_number: self.next_file.load(Ordering::Acquire),
            last_commit_ts: self.pipeline.visible_ts().max(flushed_ts),
            log_number,
            flushed_ts,
            levels: metas_of(levels),
        };
        core.manifest.install(&state)?;
        core.log_number = log_number;
        Ok(())
    }

    /// Installs a flush: `files` (the frozen memtable's contents) become the newest
    /// level-0 files, the manifest records that the block files hold every commit up
    /// to `frozen.covers_ts`, the frozen memtable leaves the version, and the log
    /// segments now covered are removed.
    pub(crate) fn install_flush(
        &self,
        frozen: &Arc<Frozen>,
        files: Vec<Arc<LiveFile>>,
    ) -> Result<()> {
        let mut core = self.manifest.lock();
        let cur = self.current();
        let mut levels = cur.levels.clone();
        if levels.is_empty() {
            levels.push(Vec::new());
        }
        levels[0].splice(0..0, files);
        let flushed_ts = frozen.covers_ts;
        let log_number = self.log_number_for(flushed_ts);
        self.write_manifest(&mut core, &levels, flushed_ts, log_number)?;
        let fresh = Version::new(
            Arc::clone(&cur.mem),
            Vec::new(),
            levels,
            &self.opts.compaction,
        );
        {
            let mut w = self.version.write();
            let frozen_now = w
                .frozen
                .iter()
                .filter(|f| !Arc::ptr_eq(f, frozen))
                .cloned()
                .collect();
            *w = Arc::new(fresh.with_memtables(Arc::clone(&w.mem), frozen_now));
        }
        self.flushed_ts.store(flushed_ts, Ordering::Release);
        drop(core);
        self.trim_log(log_number);
        Ok(())
    }

    /// Installs a compaction: the inputs leave their levels, the outputs join theirs,
    /// in the manifest and then in the version; the inputs are removed from disk once
    /// no version holds them (a trivial move only relists its file).
    pub(crate) fn install_compaction(
        &self,
        job: &CompactionJob,
        out: &CompactionOutput,
        files: Vec<Arc<LiveFile>>,
    ) -> Result<()> {
        let mut core = self.manifest.lock();
        let cur = self.current();
        let metas = apply(&cur.metas(), job, &out.files);
        let lookup = |id: u64| {
            files
                .iter()
                .find(|f| f.meta.id == id)
                .or_else(|| cur.file(id))
                .cloned()
                .ok_or_else(|| {
                    Error::Internal(format!("compaction result names unknown file {id}"))
                })
        };
        let levels = metas
            .iter()
            .map(|lvl| lvl.iter().map(|m| lookup(m.id)).collect::<Result<Vec<_>>>())
            .collect::<Result<Vec<_>>>()?;
        let flushed_ts = self.flushed_ts.load(Ordering::Acquire);
        let log_number = core.log_number;
        self.write_manifest(&mut core, &levels, flushed_ts, log_number)?;
        let fresh = Version::new(
            Arc::clone(&cur.mem),
            Vec::new(),
            levels,
            &self.opts.compaction,
        );
        {
            let mut w = self.version.write();
            *w = Arc::new(fresh.with_memtables(Arc::clone(&w.mem), w.frozen.clone()));
        }
        if !job.trivial_move {
            for input in job.all_inputs() {
                if let Some(f) = cur.file(input.id) {
                    f.mark_obsolete();
                }
            }
        }
        Ok(())
    }

    /// Removes the log segments numbered below `log_number` (best effort: leftovers
    /// are removed at the next open, which ignores them).
    pub(crate) fn trim_log(&self, log_number: u64) {
        let doomed: Vec<_> = self
            .counters
            .segments
            .lock()
            .iter()
            .filter(|s| s.seq < log_number)
            .copied()
            .collect();
        if doomed.is_empty() {
            return;
        }
        let mut removed = Vec::new();
        for s in &doomed {
            let path = self.dir.join(super::wal::segment::segment_name(s.seq));
            match self.fs.remove(&path) {
                Ok(()) => removed.push(s.seq),
                Err(e) if is_not_found(&e) => removed.push(s.seq),
                Err(e) => {
                    notice(&format!("removing the flushed log segment: {e}"));
                    break;
                }
            }
        }
        if let Err(e) = self.fs.sync_dir(&self.dir) {
            notice(&format!(
                "syncing the directory after removing log segments: {e}"
            ));
        }
        let mut segs = self.counters.segments.lock();
        let freed: u64 = segs
            .iter()
            .filter(|s| removed.contains(&s.seq))
            .map(|s| s.bytes)
            .sum();
        segs.retain(|s| !removed.contains(&s.seq));
        drop(segs);
        let _ = self
            .counters
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some(b.saturating_sub(freed))
            });
    }

    /// Waits until the block files hold every commit at or below `ts`.
    pub(crate) fn wait_flushed(&self, ts: u64) -> Result<()> {
        let mut g = self.progress.lock();
        loop {
            if self.flushed_ts.load(Ordering::Acquire) >= ts {
                return Ok(());
            }
            if self.pipeline.failed() || self.stopping() {
                break;
            }
            self.progress_cv
                .wait_for(&mut g, Duration::from_millis(100));
        }
        drop(g);
        match self.pipeline.failure() {
            Some(f) => Err(Error::ReadOnly(format!(
                "the memtable cannot be flushed: a write failed earlier ({f}); reopen the \
                 database"
            ))),
            None => Err(Error::Closed(format!(
                "the database in {} closed before the flush finished",
                self.dir.display()
            ))),
        }
    }
}

/// Opens block file `path` listed as `meta`, checking that its size is the recorded one.
pub(crate) fn open_table_file(
    fs: &dyn FileSystem,
    path: &Path,
    meta: &FileMeta,
    cache: &Arc<BlockCache>,
) -> Result<Arc<Table>> {
    let source = FsSource::open(fs, path).map_err(|e| {
        if is_not_found(&e) {
            Error::Corruption(format!(
                "block file {} is listed in the manifest but missing",
                path.display()
            ))
        } else {
            e
        }
    })?;
    use super::sstable::BlockSource;
    if source.len() != meta.size {
        return Err(Error::Corruption(format!(
            "block file {}: {} bytes, but the manifest records {}",
            path.display(),
            source.len(),
            meta.size
        )));
    }
    Table::open(Arc::new(source), meta.id, Some(Arc::clone(cache)))
}
