//! Opening a database directory: the manifest first, then the block files it lists,
//! then the log after the position the files cover.
//!
//! 1. Read `CURRENT` and the manifest it names. Without `CURRENT`, the directory must
//!    still hold the whole log (segment 1 onwards): a log that starts later, or block
//!    files without any log, mean the manifest was lost, and opening fails with
//!    `Corruption` without touching any file.
//! 2. Remove log segments below the manifest's log number (a crash between a manifest
//!    install and their removal); a gap between the log number and the oldest segment
//!    left is `Corruption`.
//! 3. Open every listed block file (missing, wrong size or damaged metadata is
//!    `Corruption` naming the file).
//! 4. Remove block files the manifest does not list and unfinished temporary ones
//!    (outputs of an interrupted flush or compaction, inputs of a compaction whose
//!    removal a crash interrupted).
//! 5. Replay the remaining segments into a fresh memtable, skipping records at or
//!    below the manifest's flushed timestamp.
//!
//! A read-only open does the same without removing or repairing anything.

use std::path::Path;
use std::sync::Arc;

use super::batch::BatchOp;
use super::cache::BlockCache;
use super::files::{FsDir, is_not_found, parse_temp_table_file_name};
use super::io::FileSystem;
use super::manifest::{Manifest, ManifestState};
use super::memtable::Memtable;
use super::notice::notice;
use super::sstable::{parse_table_file_name, table_file_name};
use super::state::open_table_file;
use super::version::LiveFile;
use super::wal::segment::{parse_segment_name, segment_name};
use super::wal::{self, RecoverOptions, Recovered};
use crate::error::{Error, Result};

/// What opening a directory found.
pub(crate) struct Opened {
    /// The directory's manifest.
    pub(crate) manifest: Manifest<FsDir>,
    /// The installed state (the default when none was ever installed).
    pub(crate) state: ManifestState,
    /// The listed block files, open, per level.
    pub(crate) levels: Vec<Vec<Arc<LiveFile>>>,
    /// The memtable holding the replayed log.
    pub(crate) mem: Arc<Memtable>,
    /// What the log replay found.
    pub(crate) recovered: Recovered,
    /// The newest commit timestamp: the larger of the log's last one and the manifest's
    /// flushed timestamp.
    pub(crate) last_ts: u64,
    /// The number the next log segment gets.
    pub(crate) next_seq: u64,
    /// The next unused block file number.
    pub(crate) next_file: u64,
}

/// Opens the manifest, block files and log of `dir` (see the module documentation).
pub(crate) fn open_dir(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    read_only: bool,
    memtable_budget: usize,
    cache: &Arc<BlockCache>,
) -> Result<Opened> {
    let names = fs.list(dir)?;
    let mut segs: Vec<u64> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
    segs.sort_unstable();
    let tables_on_disk: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_table_file_name(n))
        .collect();
    let (manifest, installed) = Manifest::open(FsDir::new(Arc::clone(fs), dir))?;
    let state = match installed {
        Some(state) => state,
        None => {
            if let Some(&first) = segs.first()
                && first > 1
            {
                return Err(Error::Corruption(format!(
                    "{} has no CURRENT file, but its log starts at {} (earlier segments \
                     were removed after their data went to block files): the manifest is \
                     lost; refusing to open, and no file was changed",
                    dir.display(),
                    segment_name(first)
                )));
            }
            if segs.is_empty() && !tables_on_disk.is_empty() {
                return Err(Error::Corruption(format!(
                    "{} holds block files but neither a CURRENT file nor a log: the manifest \
                     is lost; refusing to open, and no file was changed",
                    dir.display()
                )));
            }
            ManifestState::default()
        }
    };
    let log_number = state.log_number.max(1);
    if let Some(&first) = segs.iter().find(|&&s| s >= log_number)
        && first != log_number
        && state.log_number > 0
    {
        return Err(Error::Corruption(format!(
            "the manifest of {} needs the log from {}, but the oldest segment is {}",
            dir.display(),
            segment_name(log_number),
            segment_name(first)
        )));
    }
    if !read_only {
        let mut removed = false;
        for &seq in segs.iter().filter(|&&s| s < log_number) {
            remove_leftover(fs, &dir.join(segment_name(seq)));
            removed = true;
        }
        if removed {
            fs.sync_dir(dir)?;
        }
    }

    let mut levels = Vec::with_capacity(state.levels.len());
    for files in &state.levels {
        let mut level = Vec::with_capacity(files.len());
        for meta in files {
            let path = dir.join(table_file_name(meta.id));
            let table = open_table_file(&**fs, &path, meta, cache)?;
            level.push(Arc::new(LiveFile::new(
                meta.clone(),
                table,
                path,
                Arc::clone(fs),
            )));
        }
        levels.push(level);
    }

    let listed = |id: u64| state.levels.iter().flatten().any(|f| f.id == id);
    let mut next_file = state.next_file_number.max(1);
    let mut removed = false;
    for name in &names {
        let (id, leftover) = match (
            parse_table_file_name(name),
            parse_temp_table_file_name(name),
        ) {
            (Some(id), _) => (id, !listed(id)),
            (None, Some(id)) => (id, true),
            (None, None) => continue,
        };
        next_file = next_file.max(id.saturating_add(1));
        if leftover && !read_only {
            remove_leftover(fs, &dir.join(name));
            removed = true;
        }
    }
    if removed {
        fs.sync_dir(dir)?;
    }

    let mut replay = Replay::new(memtable_budget);
    let opts = RecoverOptions {
        repair: !read_only,
        min_seq: log_number,
        after_ts: state.flushed_ts,
        quiet: false,
    };
    let recovered = wal::recover(&**fs, dir, &opts, &mut |ts, ops| {
        replay.add(ts, ops);
        Ok(())
    })?;
    let mem = replay.finish();
    // The log's timestamps are consecutive and continue across segments, so the next
    // commit follows the log's last one (or the flushed timestamp, when the log holds no
    // record after it).
    let last_ts = recovered.report.last_ts.max(state.flushed_ts);
    let next_seq = recovered.next_seq.max(log_number);
    Ok(Opened {
        manifest,
        state,
        levels,
        mem,
        recovered,
        last_ts,
        next_seq,
        next_file,
    })
}

/// Builds the memtable of the replayed log. Records come in timestamp order, their keys
/// in random order; inserting them so is a chain of cache misses in the skip list. So
/// entries are gathered in chunks of a quarter of the memtable budget, sorted by key,
/// and inserted in key order, where each insert finds its path still in cache.
struct Replay {
    /// The memtable being built.
    mem: Arc<Memtable>,
    /// Entries not yet inserted: key, timestamp, value (`None` for a tombstone).
    pending: Vec<(Vec<u8>, u64, Option<Vec<u8>>)>,
    /// Bytes of keys and values in `pending`.
    bytes: usize,
    /// Bytes at which `pending` is inserted.
    chunk: usize,
}

impl Replay {
    fn new(memtable_budget: usize) -> Replay {
        Replay {
            mem: Arc::new(Memtable::new()),
            pending: Vec::new(),
            bytes: 0,
            chunk: (memtable_budget / 4).max(1 << 20),
        }
    }

    /// Adds the operations of one batch committed at `ts`.
    fn add(&mut self, ts: u64, ops: Vec<BatchOp>) {
        // Last first: of two operations on one key in a batch, the later one wins, and
        // the sort below is stable and the memtable keeps the first of equal entries.
        for op in ops.into_iter().rev() {
            let (key, value) = match op {
                BatchOp::Put { key, value } => (key, Some(value)),
                BatchOp::Delete { key } => (key, None),
            };
            self.bytes += key.len() + value.as_ref().map_or(0, Vec::len) + 32;
            self.pending.push((key, ts, value));
        }
        if self.bytes >= self.chunk {
            self.drain();
        }
    }

    /// Inserts the pending entries in internal order.
    fn drain(&mut self) {
        self.pending
            .sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
        let mut w = self.mem.writer();
        for (key, ts, value) in self.pending.drain(..) {
            w.insert(&key, ts, value.as_deref());
        }
        self.bytes = 0;
    }

    /// The memtable with every entry added.
    fn finish(mut self) -> Arc<Memtable> {
        self.drain();
        self.mem
    }
}

/// Removes a file left over by an interrupted flush, compaction or log trim (best
/// effort: a failure is reported and the file is ignored).
fn remove_leftover(fs: &Arc<dyn FileSystem>, path: &Path) {
    if let Err(e) = fs.remove(path)
        && !is_not_found(&e)
    {
        notice(&format!(
            "removing the leftover file {}: {e}",
            path.display()
        ));
    }
}
