//! Compaction: the leveled policy as pure functions of the level layout, the write
//! throttle, and the runner that merges input files into new ones.
//!
//! Layout: level 0 holds files flushed from memtables, newest first, whose key ranges
//! may overlap. Levels 1 and deeper each hold files with disjoint key ranges, in key
//! order. A user key's versions are never split across two files of a level, and data
//! only moves down, so for any key every version in a shallower level is newer than
//! every version in a deeper one (a point lookup may stop at the first level holding a
//! version at or below its read timestamp).
//!
//! Level sizes are set from the bottom up ([`level_targets`]): the last level's target
//! is its actual size, each level above has a tenth (`level_ratio`) of the one below,
//! and level 0 compacts into the shallowest level whose target is still worth having
//! (the base level). The last level thus holds about 90% of the data.
//!
//! Policy ([`pick_compaction`]): level 0 is compacted (all of it, with the overlapping
//! files of the level below) once it holds `l0_trigger` files; a deeper level over its
//! target is compacted one file at a time (the file whose overlap with the next level is
//! the smallest fraction of its size) into the next level; a file that overlaps nothing
//! below moves down without being rewritten. When no level needs work, a file that is
//! at least half tombstones is pushed down (level 0 as a whole), and a file at the bottom of the tree whose
//! versions are all at or below the safe timestamp and which holds tombstones or stale
//! versions is rewritten in place, so deleted and overwritten data gives its space
//! back. `docs/storage.md` gives the amplification figures.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::storage::entry::EntryIter;
use crate::storage::manifest::FileMeta;
use crate::storage::merge::{FilterStats, MergeIter, filter_versions};
use crate::storage::sstable::{ConcatIter, FileSink, Table, TableBuilder, TableOptions};

/// Tuning of the compaction policy and the write throttle.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionOptions {
    /// Number of levels, level 0 included (default 7).
    pub num_levels: usize,
    /// Level-0 file count that starts a level-0 compaction (default 4).
    pub l0_trigger: usize,
    /// Level-0 file count at which writers start to slow down (default 8).
    pub l0_slowdown: usize,
    /// Level-0 file count at which the slowdown is at its strongest (default 20).
    pub l0_max_slowdown: usize,
    /// Target bytes of level 1 (default 256 MiB).
    pub level1_bytes: u64,
    /// Each level's target is this many times the previous one's (default 10).
    pub level_ratio: u64,
    /// Compaction output files are cut at a key boundary past this size (default 64 MiB).
    pub target_file_size: u64,
    /// Pending compaction bytes at which writers start to slow down (default 64 GiB).
    pub pending_slowdown_bytes: u64,
    /// Pending compaction bytes at which the slowdown is at its strongest (default
    /// 256 GiB).
    pub pending_max_slowdown_bytes: u64,
    /// Longest delay imposed on one commit (default 100 ms): writers slow down, they
    /// never stop.
    pub max_write_delay: Duration,
    /// Bytes per second a writer is held to at the strongest slowdown (default 16 MiB/s),
    /// on top of a 1 ms delay per commit.
    pub slow_write_rate: u64,
    /// Layout of the files written.
    pub table: TableOptions,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        CompactionOptions {
            num_levels: 7,
            l0_trigger: 4,
            l0_slowdown: 8,
            l0_max_slowdown: 20,
            level1_bytes: 256 << 20,
            level_ratio: 10,
            target_file_size: 64 << 20,
            pending_slowdown_bytes: 64 << 30,
            pending_max_slowdown_bytes: 256 << 30,
            max_write_delay: Duration::from_millis(100),
            slow_write_rate: 16 << 20,
            table: TableOptions::default(),
        }
    }
}

/// Why a compaction was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionReason {
    /// Level 0 reached its file-count trigger.
    Level0,
    /// A level exceeded its target size.
    LevelSize,
    /// A file above the last level (level 0 included) is at least half tombstones.
    Deletions,
    /// A bottom file holds tombstones or stale versions no reader needs.
    Cleanup,
    /// A full compaction asked for by the caller ([`pick_full`], [`pick_full_cleanup`]).
    Manual,
}

/// One compaction to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionJob {
    /// The level the inputs come from.
    pub level: usize,
    /// The level the outputs go to: the base level (or a shallower non-empty one) for
    /// level 0, `level + 1` when pushing down, `level` for a cleanup.
    pub output_level: usize,
    /// Input files of `level`: newest first at level 0, key order otherwise.
    pub inputs: Vec<FileMeta>,
    /// Files of `output_level` that overlap the inputs, in key order.
    pub next_inputs: Vec<FileMeta>,
    /// True when no deeper file overlaps the inputs' key range, so tombstones at or
    /// below the safe timestamp can be dropped.
    pub bottom: bool,
    /// True when the one input can move to `output_level` without being rewritten.
    pub trivial_move: bool,
    /// Why it was picked.
    pub reason: CompactionReason,
}

impl CompactionJob {
    /// Bytes of all input files.
    pub fn input_bytes(&self) -> u64 {
        self.inputs
            .iter()
            .chain(&self.next_inputs)
            .map(|f| f.size)
            .sum()
    }

    /// Every input file.
    pub fn all_inputs(&self) -> impl Iterator<Item = &FileMeta> {
        self.inputs.iter().chain(&self.next_inputs)
    }

    /// Smallest and largest user key over all inputs.
    pub fn key_range(&self) -> (Vec<u8>, Vec<u8>) {
        key_range(self.all_inputs())
    }
}

fn key_range<'a>(files: impl Iterator<Item = &'a FileMeta>) -> (Vec<u8>, Vec<u8>) {
    let mut range: Option<(&[u8], &[u8])> = None;
    for f in files {
        range = Some(match range {
            None => (&f.min_key, &f.max_key),
            Some((lo, hi)) => (lo.min(&f.min_key), hi.max(&f.max_key)),
        });
    }
    range.map_or((Vec::new(), Vec::new()), |(lo, hi)| {
        (lo.to_vec(), hi.to_vec())
    })
}

/// Bytes of the files of one level.
pub fn level_bytes(files: &[FileMeta]) -> u64 {
    files.iter().map(|f| f.size).sum()
}

fn files_at(levels: &[Vec<FileMeta>], level: usize) -> &[FileMeta] {
    levels.get(level).map_or(&[][..], Vec::as_slice)
}

fn overlapping<'a>(files: &'a [FileMeta], min: &[u8], max: &[u8]) -> Vec<&'a FileMeta> {
    files.iter().filter(|f| f.overlaps(min, max)).collect()
}

fn overlaps_deeper(levels: &[Vec<FileMeta>], below: usize, min: &[u8], max: &[u8]) -> bool {
    levels
        .iter()
        .skip(below + 1)
        .any(|files| files.iter().any(|f| f.overlaps(min, max)))
}

/// Where level-0 files go and how large each level should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelTargets {
    /// The shallowest level (>= 1) meant to hold data; levels between 1 and it stay
    /// empty while the tree is small.
    pub base_level: usize,
    /// Target bytes per level (index = level); 0 for level 0 and for levels above the
    /// base level.
    pub target: Vec<u64>,
}

/// Level targets computed from the bottom up: the last level's target is its actual
/// size (at least `level1_bytes`), each level above it gets `1 / level_ratio` of the
/// one below, and the base level is the shallowest level whose target still exceeds
/// `level1_bytes / level_ratio`. So the last level always holds about
/// `1 - 1/level_ratio` of the data, which bounds space amplification, and a small tree
/// does not pay for passing data through empty levels.
pub fn level_targets(levels: &[Vec<FileMeta>], opts: &CompactionOptions) -> LevelTargets {
    let n = opts.num_levels.max(2);
    let last = n - 1;
    let ratio = opts.level_ratio.max(2);
    let base_bytes = opts.level1_bytes.max(1);
    let mut target = vec![0u64; n];
    target[last] = level_bytes(files_at(levels, last)).max(base_bytes);
    let mut base = last;
    while base > 1 && target[base] > base_bytes {
        target[base - 1] = target[base] / ratio;
        base -= 1;
    }
    LevelTargets {
        base_level: base,
        target,
    }
}

/// The level level-0 compactions write to: the base level, or a shallower level that
/// still holds data (so newer data never lands below older data).
fn level0_output(levels: &[Vec<FileMeta>], targets: &LevelTargets) -> usize {
    (1..targets.base_level)
        .find(|&l| !files_at(levels, l).is_empty())
        .unwrap_or(targets.base_level)
}

/// How urgently each level but the last needs compaction (>= 1 means now): level 0 by
/// file count over `l0_trigger`; a level above the base level that holds data must be
/// drained (score above 1); other levels by bytes over their target.
pub fn level_scores(levels: &[Vec<FileMeta>], opts: &CompactionOptions) -> Vec<f64> {
    let targets = level_targets(levels, opts);
    let last = targets.target.len() - 1;
    (0..last)
        .map(|level| {
            let files = files_at(levels, level);
            let bytes = level_bytes(files) as f64;
            if level == 0 {
                files.len() as f64 / opts.l0_trigger.max(1) as f64
            } else if level < targets.base_level {
                if files.is_empty() {
                    0.0
                } else {
                    1.0 + bytes / opts.level1_bytes.max(1) as f64
                }
            } else {
                bytes / targets.target[level].max(1) as f64
            }
        })
        .collect()
}

/// The next compaction to run for the layout `levels` (index = level), or `None` when
/// nothing needs doing. `safe_ts` is the oldest timestamp any reader still needs.
///
/// In order: the level with the highest score at or above 1; else level 0 if one of
/// its files is at least half tombstones, or such a file of a deeper level above the
/// last (pushed down so the tombstones meet and drop what they delete); else a cleanup
/// of a bottom file.
pub fn pick_compaction(
    levels: &[Vec<FileMeta>],
    safe_ts: u64,
    opts: &CompactionOptions,
) -> Option<CompactionJob> {
    let targets = level_targets(levels, opts);
    let scores = level_scores(levels, opts);
    let best = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s >= 1.0)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(l, _)| l);
    if let Some(level) = best {
        if level == 0 {
            return Some(pick_level0(levels, level0_output(levels, &targets)));
        }
        let next = files_at(levels, level + 1);
        let overlap_ratio = |f: &FileMeta| {
            let o: u64 = overlapping(next, &f.min_key, &f.max_key)
                .iter()
                .map(|g| g.size)
                .sum();
            o as f64 / f.size.max(1) as f64
        };
        let chosen = files_at(levels, level).iter().min_by(|a, b| {
            overlap_ratio(a)
                .total_cmp(&overlap_ratio(b))
                .then(a.id.cmp(&b.id))
        })?;
        return Some(push_down(levels, chosen, CompactionReason::LevelSize));
    }
    let last = targets.target.len() - 1;
    let tombstone_heavy =
        |f: &FileMeta| f.tombstone_count > 0 && f.tombstone_count * 2 >= f.entry_count;
    if files_at(levels, 0).iter().any(tombstone_heavy) {
        return Some(pick_level0(levels, level0_output(levels, &targets)));
    }
    let deletions = levels
        .iter()
        .take(last)
        .skip(1)
        .flatten()
        .filter(|f| tombstone_heavy(f))
        .max_by_key(|f| (f.tombstone_count, std::cmp::Reverse(f.id)));
    if let Some(f) = deletions {
        return Some(push_down(levels, f, CompactionReason::Deletions));
    }
    pick_cleanup(levels, safe_ts, last)
}

fn pick_level0(levels: &[Vec<FileMeta>], output_level: usize) -> CompactionJob {
    let mut inputs = files_at(levels, 0).to_vec();
    inputs.sort_by_key(|f| std::cmp::Reverse(f.id));
    let (min, max) = key_range(inputs.iter());
    let next_inputs: Vec<FileMeta> = overlapping(files_at(levels, output_level), &min, &max)
        .into_iter()
        .cloned()
        .collect();
    let (lo, hi) = key_range(inputs.iter().chain(&next_inputs));
    CompactionJob {
        level: 0,
        output_level,
        bottom: !overlaps_deeper(levels, output_level, &lo, &hi),
        inputs,
        next_inputs,
        trivial_move: false,
        reason: CompactionReason::Level0,
    }
}

/// Merges one file of level `f.level` with the overlapping files of the next level.
fn push_down(levels: &[Vec<FileMeta>], f: &FileMeta, reason: CompactionReason) -> CompactionJob {
    let level = f.level;
    let next_inputs: Vec<FileMeta> =
        overlapping(files_at(levels, level + 1), &f.min_key, &f.max_key)
            .into_iter()
            .cloned()
            .collect();
    let inputs = vec![f.clone()];
    let (lo, hi) = key_range(inputs.iter().chain(&next_inputs));
    CompactionJob {
        level,
        output_level: level + 1,
        bottom: !overlaps_deeper(levels, level + 1, &lo, &hi),
        trivial_move: next_inputs.is_empty(),
        inputs,
        next_inputs,
        reason,
    }
}

/// A file with no deeper overlap, all of whose versions are at or below `safe_ts`, that
/// holds tombstones or several versions of a key: rewriting it in place drops them all
/// (and the rewritten file no longer qualifies, so this never repeats).
fn pick_cleanup(levels: &[Vec<FileMeta>], safe_ts: u64, last: usize) -> Option<CompactionJob> {
    let mut best: Option<(u64, &FileMeta)> = None;
    for (level, files) in levels.iter().enumerate().take(last + 1).skip(1) {
        for f in files {
            let garbage = f.tombstone_count + (f.entry_count - f.key_count.min(f.entry_count));
            let eligible = garbage > 0
                && f.max_ts <= safe_ts
                && !overlaps_deeper(levels, level, &f.min_key, &f.max_key);
            if eligible && best.is_none_or(|(g, _)| garbage > g) {
                best = Some((garbage, f));
            }
        }
    }
    let (_, f) = best?;
    Some(CompactionJob {
        level: f.level,
        output_level: f.level,
        inputs: vec![f.clone()],
        next_inputs: Vec::new(),
        bottom: true,
        trivial_move: false,
        reason: CompactionReason::Cleanup,
    })
}

/// The next step of a full compaction, which moves every file to the last level:
/// level 0, whole, into the level it compacts into; then the shallowest other level
/// above the last that holds files, whole, into the next one (always rewritten, so the
/// compaction filter drops what it can on the way). `None` once every file is in the
/// last level.
pub fn pick_full(levels: &[Vec<FileMeta>], opts: &CompactionOptions) -> Option<CompactionJob> {
    let targets = level_targets(levels, opts);
    let last = targets.target.len() - 1;
    if !files_at(levels, 0).is_empty() {
        let mut job = pick_level0(levels, level0_output(levels, &targets));
        job.reason = CompactionReason::Manual;
        return Some(job);
    }
    let level = (1..last).find(|&l| !files_at(levels, l).is_empty())?;
    let inputs = files_at(levels, level).to_vec();
    let (lo, hi) = key_range(inputs.iter());
    let next_inputs: Vec<FileMeta> = overlapping(files_at(levels, level + 1), &lo, &hi)
        .into_iter()
        .cloned()
        .collect();
    let (lo, hi) = key_range(inputs.iter().chain(&next_inputs));
    Some(CompactionJob {
        level,
        output_level: level + 1,
        bottom: !overlaps_deeper(levels, level + 1, &lo, &hi),
        trivial_move: false,
        inputs,
        next_inputs,
        reason: CompactionReason::Manual,
    })
}

/// The last step of a full compaction: rewrites in place every file of the last level
/// that holds a tombstone or several versions of a key and a version at or below
/// `safe_ts` (so the filter may drop something). `None` when no file qualifies.
pub fn pick_full_cleanup(
    levels: &[Vec<FileMeta>],
    safe_ts: u64,
    opts: &CompactionOptions,
) -> Option<CompactionJob> {
    let last = level_targets(levels, opts).target.len() - 1;
    let inputs: Vec<FileMeta> = files_at(levels, last)
        .iter()
        .filter(|f| (f.tombstone_count > 0 || f.entry_count > f.key_count) && f.min_ts <= safe_ts)
        .cloned()
        .collect();
    if inputs.is_empty() {
        return None;
    }
    Some(CompactionJob {
        level: last,
        output_level: last,
        inputs,
        next_inputs: Vec::new(),
        bottom: true,
        trivial_move: false,
        reason: CompactionReason::Manual,
    })
}

/// About how many bytes compaction must rewrite to bring every level within its
/// target: once level 0 reaches its trigger, its bytes plus those of the level it
/// compacts into; then for each level over its target (levels above the base level
/// have a target of 0), the excess plus the bytes of the next level it will be merged
/// with (at most `level_ratio` times the excess). A level's excess is carried into the
/// next level.
pub fn pending_compaction_bytes(levels: &[Vec<FileMeta>], opts: &CompactionOptions) -> u64 {
    let targets = level_targets(levels, opts);
    let n = targets.target.len();
    let last = n - 1;
    let mut carry = vec![0u64; n];
    let mut pending = 0u64;
    let l0 = files_at(levels, 0);
    if l0.len() >= opts.l0_trigger {
        let out = level0_output(levels, &targets);
        carry[out] = level_bytes(l0);
        pending = level_bytes(l0).saturating_add(level_bytes(files_at(levels, out)));
    }
    for i in 1..last {
        let size = level_bytes(files_at(levels, i)).saturating_add(carry[i]);
        let target = if i < targets.base_level {
            0
        } else {
            targets.target[i]
        };
        let Some(excess) = size.checked_sub(target).filter(|e| *e > 0) else {
            continue;
        };
        let next = level_bytes(files_at(levels, i + 1));
        pending = pending
            .saturating_add(excess)
            .saturating_add(next.min(excess.saturating_mul(opts.level_ratio)));
        carry[i + 1] = carry[i + 1].saturating_add(excess);
    }
    pending
}

/// How strongly writers should be slowed, from 0 (not at all) to 1 (the strongest
/// slowdown): grows linearly with the level-0 file count between `l0_slowdown` and
/// `l0_max_slowdown` (already above 0 at `l0_slowdown` files), and with pending
/// compaction bytes between
/// `pending_slowdown_bytes` and `pending_max_slowdown_bytes`; the larger of the two.
pub fn slowdown_factor(levels: &[Vec<FileMeta>], opts: &CompactionOptions) -> f64 {
    let l0 = levels.first().map_or(0, Vec::len);
    let by_l0 = if l0 < opts.l0_slowdown {
        0.0
    } else {
        let steps = opts.l0_max_slowdown.saturating_sub(opts.l0_slowdown) + 1;
        ((l0 - opts.l0_slowdown + 1) as f64 / steps as f64).min(1.0)
    };
    let pending = pending_compaction_bytes(levels, opts);
    let by_pending = if pending < opts.pending_slowdown_bytes {
        0.0
    } else {
        let span = opts
            .pending_max_slowdown_bytes
            .saturating_sub(opts.pending_slowdown_bytes)
            .max(1);
        ((pending - opts.pending_slowdown_bytes) as f64 / span as f64).clamp(0.0, 1.0)
    };
    by_l0.max(by_pending)
}

/// The delay to impose on a commit of `batch_bytes` bytes: 0 while the factor is 0,
/// otherwise `factor * (1 ms + batch_bytes / slow_write_rate)`, never more than
/// `max_write_delay`. A commit is only ever delayed, never refused.
pub fn write_delay(
    levels: &[Vec<FileMeta>],
    batch_bytes: u64,
    opts: &CompactionOptions,
) -> Duration {
    delay_for(slowdown_factor(levels, opts), batch_bytes, opts)
}

/// [`write_delay`] for a [`slowdown_factor`] already computed (the engine computes it
/// once per change of the layout, not per commit).
pub fn delay_for(factor: f64, batch_bytes: u64, opts: &CompactionOptions) -> Duration {
    if factor <= 0.0 {
        return Duration::ZERO;
    }
    let per_byte = batch_bytes as f64 / opts.slow_write_rate.max(1) as f64;
    let secs = factor * (0.001 + per_byte);
    Duration::from_secs_f64(secs.min(opts.max_write_delay.as_secs_f64()))
}

/// The layout after `job` ran and produced `outputs`: inputs removed, outputs added to
/// the output level (kept in key order; level 0 keeps its newest-first order).
pub fn apply(
    levels: &[Vec<FileMeta>],
    job: &CompactionJob,
    outputs: &[FileMeta],
) -> Vec<Vec<FileMeta>> {
    let gone: std::collections::HashSet<u64> = job.all_inputs().map(|f| f.id).collect();
    let mut out: Vec<Vec<FileMeta>> = levels
        .iter()
        .map(|files| {
            files
                .iter()
                .filter(|f| !gone.contains(&f.id))
                .cloned()
                .collect()
        })
        .collect();
    if out.len() <= job.output_level {
        out.resize_with(job.output_level + 1, Vec::new);
    }
    let target = &mut out[job.output_level];
    target.extend(outputs.iter().cloned().map(|mut f| {
        f.level = job.output_level;
        f
    }));
    if job.output_level > 0 {
        target.sort_by(|a, b| a.min_key.cmp(&b.min_key));
    }
    out
}

/// A new output file handed out by the caller: its number, name (for messages) and
/// where to write it.
pub struct NewFile {
    /// The file number.
    pub id: u64,
    /// The file's name, for messages.
    pub name: String,
    /// Where to write it.
    pub sink: Box<dyn FileSink>,
}

/// What a compaction (or a flush) wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionOutput {
    /// The files written, in key order, each synced.
    pub files: Vec<FileMeta>,
    /// What the compaction filter kept and dropped.
    pub stats: FilterStats,
    /// Bytes of input files read.
    pub bytes_read: u64,
    /// Bytes of output files written.
    pub bytes_written: u64,
}

/// Writes the entries of `src` (positioned by this function) that survive the
/// compaction filter at `safe_ts` into new files for `level`, cutting a file at the
/// first key boundary after `target_file_size` bytes. Each file comes from
/// `new_output`, is synced when complete, and is listed in the result. Used for
/// flushes (a memtable source, level 0, `bottom = false`) and by [`run_compaction`].
/// On error, files already handed out are garbage the caller deletes.
pub fn write_files(
    src: &mut dyn EntryIter,
    level: usize,
    bottom: bool,
    safe_ts: u64,
    opts: &CompactionOptions,
    new_output: &mut dyn FnMut() -> Result<NewFile>,
) -> Result<CompactionOutput> {
    let mut files = Vec::new();
    let mut cur: Option<(u64, TableBuilder<Box<dyn FileSink>>)> = None;
    let finish = |(id, b): (u64, TableBuilder<Box<dyn FileSink>>), files: &mut Vec<FileMeta>| {
        let (_, summary) = b.finish()?;
        files.push(FileMeta::from_summary(id, level, &summary));
        Ok::<(), crate::Error>(())
    };
    let stats = filter_versions(src, safe_ts, bottom, &mut |k, ts, v| {
        let cut = cur.as_ref().is_some_and(|(_, b)| {
            b.estimated_size() >= opts.target_file_size && b.last_key() != Some(k)
        });
        if cut && let Some(done) = cur.take() {
            finish(done, &mut files)?;
        }
        let (_, builder) = match &mut cur {
            Some(c) => c,
            None => {
                let nf = new_output()?;
                cur.insert((nf.id, TableBuilder::new(nf.sink, nf.name, opts.table)))
            }
        };
        builder.add(k, ts, v)
    })?;
    if let Some(done) = cur.take() {
        finish(done, &mut files)?;
    }
    let bytes_written = files.iter().map(|f| f.size).sum();
    Ok(CompactionOutput {
        files,
        stats,
        bytes_read: 0,
        bytes_written,
    })
}

/// Runs `job`: opens its inputs with `open`, merges them (newest first) through the
/// compaction filter at `safe_ts`, and writes the output files via [`write_files`].
/// A trivial move writes nothing and returns the input with its new level.
pub fn run_compaction(
    job: &CompactionJob,
    open: &mut dyn FnMut(&FileMeta) -> Result<Arc<Table>>,
    safe_ts: u64,
    opts: &CompactionOptions,
    new_output: &mut dyn FnMut() -> Result<NewFile>,
) -> Result<CompactionOutput> {
    if job.trivial_move {
        let files = job
            .inputs
            .iter()
            .cloned()
            .map(|mut f| {
                f.level = job.output_level;
                f
            })
            .collect();
        return Ok(CompactionOutput {
            files,
            ..CompactionOutput::default()
        });
    }
    let mut sources: Vec<Box<dyn EntryIter>> = Vec::new();
    if job.level == 0 {
        let mut l0 = job.inputs.clone();
        l0.sort_by_key(|f| std::cmp::Reverse(f.id));
        for f in &l0 {
            sources.push(Box::new(open(f)?.iter_no_fill()));
        }
    } else {
        let tables = job
            .inputs
            .iter()
            .map(&mut *open)
            .collect::<Result<Vec<_>>>()?;
        sources.push(Box::new(ConcatIter::new(tables, false)));
    }
    if !job.next_inputs.is_empty() {
        let tables = job
            .next_inputs
            .iter()
            .map(&mut *open)
            .collect::<Result<Vec<_>>>()?;
        sources.push(Box::new(ConcatIter::new(tables, false)));
    }
    let mut merged = MergeIter::new(sources);
    let mut out = write_files(
        &mut merged,
        job.output_level,
        job.bottom,
        safe_ts,
        opts,
        new_output,
    )?;
    out.bytes_read = job.input_bytes();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    fn f(id: u64, level: usize, min: &str, max: &str, size: u64) -> FileMeta {
        FileMeta {
            id,
            level,
            size,
            min_key: min.as_bytes().to_vec(),
            max_key: max.as_bytes().to_vec(),
            min_ts: 1,
            max_ts: 10,
            entry_count: 10,
            key_count: 10,
            tombstone_count: 0,
        }
    }

    fn opts() -> CompactionOptions {
        CompactionOptions {
            num_levels: 4,
            level1_bytes: 10 * MB,
            ..CompactionOptions::default()
        }
    }

    fn big_last_level() -> Vec<FileMeta> {
        vec![f(50, 3, "a", "z", 150 * MB)]
    }

    #[test]
    fn a_full_compaction_moves_every_level_down_then_cleans_the_last() {
        let o = opts();
        let mut levels = vec![
            vec![f(9, 0, "c", "d", MB)],
            vec![],
            vec![f(5, 2, "a", "f", 2 * MB), f(6, 2, "x", "y", MB)],
            big_last_level(),
        ];
        let mut steps = Vec::new();
        while let Some(job) = pick_full(&levels, &o) {
            assert_eq!(job.reason, CompactionReason::Manual);
            assert!(!job.trivial_move);
            steps.push((
                job.level,
                job.output_level,
                job.inputs.len(),
                job.next_inputs.len(),
            ));
            let out: Vec<FileMeta> = job
                .all_inputs()
                .enumerate()
                .map(|(i, m)| FileMeta {
                    id: 100 + steps.len() as u64 * 10 + i as u64,
                    ..m.clone()
                })
                .collect();
            levels = apply(&levels, &job, &out);
            assert!(steps.len() < 10);
        }
        // Level 0 into the base level 1, then level 1 into 2 (meeting file 5), then
        // level 2 whole into 3.
        assert_eq!(steps, vec![(0, 1, 1, 0), (1, 2, 1, 1), (2, 3, 3, 1)]);
        assert!(levels.iter().take(3).all(Vec::is_empty));
        // Nothing droppable: no cleanup.
        assert_eq!(pick_full_cleanup(&levels, 100, &o), None);
        levels[3][0].tombstone_count = 1;
        levels[3][1].entry_count = 20;
        let job = pick_full_cleanup(&levels, 100, &o).unwrap();
        assert_eq!((job.level, job.output_level, job.inputs.len()), (3, 3, 2));
        assert!(job.bottom);
        // Every version above the safe timestamp: nothing the filter could drop.
        assert_eq!(pick_full_cleanup(&levels, 0, &o), None);
    }

    #[test]
    fn targets_are_set_from_the_bottom_up() {
        let o = opts();
        let t = level_targets(&[], &o);
        assert_eq!(
            t.base_level, 3,
            "a small tree compacts level 0 straight to the last level"
        );
        let levels = vec![vec![], vec![], vec![], big_last_level()];
        let t = level_targets(&levels, &o);
        assert_eq!(t.base_level, 1);
        assert_eq!(t.target[1..], [150 * MB / 100, 15 * MB, 150 * MB]);
        let levels = vec![vec![], vec![], vec![], vec![f(50, 3, "a", "z", 50 * MB)]];
        assert_eq!(level_targets(&levels, &o).base_level, 2);
    }

    #[test]
    fn level0_compacts_into_the_base_level_at_its_trigger() {
        let o = opts();
        let mut levels = vec![
            vec![
                f(9, 0, "c", "e", MB),
                f(8, 0, "a", "d", MB),
                f(7, 0, "d", "f", MB),
            ],
            vec![],
            vec![],
            vec![
                f(1, 3, "a", "b", MB),
                f(3, 3, "e", "e", MB),
                f(2, 3, "g", "h", MB),
            ],
        ];
        assert_eq!(pick_compaction(&levels, 0, &o), None);
        levels[0].insert(0, f(10, 0, "b", "c", MB));
        let job = pick_compaction(&levels, 0, &o).unwrap();
        assert_eq!(job.reason, CompactionReason::Level0);
        assert_eq!(job.output_level, 3);
        assert_eq!(
            job.inputs.iter().map(|f| f.id).collect::<Vec<_>>(),
            [10, 9, 8, 7]
        );
        assert_eq!(
            job.next_inputs.iter().map(|f| f.id).collect::<Vec<_>>(),
            [1, 3]
        );
        assert!(job.bottom);
        let after = apply(&levels, &job, &[f(11, 3, "a", "f", 4 * MB)]);
        assert!(after[0].is_empty());
        assert_eq!(after[3].iter().map(|f| f.id).collect::<Vec<_>>(), [11, 2]);
        // Data left above the base level receives level 0 (newer data never lands
        // below older data), and is drained first.
        levels[2].push(f(4, 2, "b", "b", MB));
        assert_eq!(level0_output(&levels, &level_targets(&levels, &o)), 2);
        let job = pick_compaction(&levels, 0, &o).unwrap();
        assert_eq!((job.level, job.output_level), (2, 3));
    }

    #[test]
    fn oversized_level_picks_least_overlap_and_moves_when_free() {
        let o = opts();
        let levels = vec![
            vec![],
            vec![f(1, 1, "a", "c", MB), f(2, 1, "d", "f", MB)],
            vec![f(3, 2, "a", "b", 5 * MB)],
            big_last_level(),
        ];
        let job = pick_compaction(&levels, 0, &o).unwrap();
        assert_eq!(job.reason, CompactionReason::LevelSize);
        assert_eq!(job.inputs[0].id, 2);
        assert!(job.trivial_move && job.next_inputs.is_empty());
        assert!(!job.bottom, "the last level overlaps");
        let after = apply(&levels, &job, &job.inputs);
        assert_eq!(after[1].len(), 1);
        assert_eq!(after[2].iter().map(|f| f.id).collect::<Vec<_>>(), [3, 2]);
        assert!(after[2].iter().all(|f| f.level == 2));
        assert_eq!(pick_compaction(&after, 0, &o), None);
    }

    #[test]
    fn tombstone_heavy_files_are_pushed_down() {
        let o = opts();
        let mut dead = f(5, 2, "c", "d", MB);
        dead.tombstone_count = 6;
        let levels = vec![vec![], vec![], vec![dead], big_last_level()];
        let job = pick_compaction(&levels, 0, &o).unwrap();
        assert_eq!(job.reason, CompactionReason::Deletions);
        assert_eq!((job.level, job.output_level), (2, 3));
        assert_eq!(job.next_inputs[0].id, 50);
        assert!(job.bottom);
    }

    #[test]
    fn cleanup_only_when_everything_is_below_safe_ts() {
        let o = opts();
        let mut dirty = f(5, 3, "a", "z", 150 * MB);
        dirty.tombstone_count = 3;
        let levels = vec![vec![], vec![], vec![], vec![dirty.clone()]];
        assert_eq!(
            pick_compaction(&levels, 9, &o),
            None,
            "max_ts above safe_ts"
        );
        let job = pick_compaction(&levels, 10, &o).unwrap();
        assert_eq!(job.reason, CompactionReason::Cleanup);
        assert_eq!((job.level, job.output_level, job.bottom), (3, 3, true));
        // A dirty file with deeper overlap is not a bottom file.
        dirty.level = 2;
        dirty.size = MB;
        let levels = vec![vec![], vec![], vec![dirty], big_last_level()];
        assert_eq!(pick_compaction(&levels, 10, &o), None);
    }

    #[test]
    fn pending_bytes_and_throttle() {
        let o = opts();
        let calm = vec![
            vec![f(1, 0, "a", "b", MB)],
            vec![],
            vec![],
            big_last_level(),
        ];
        assert_eq!(pending_compaction_bytes(&calm, &o), 0);
        assert_eq!(write_delay(&calm, 1000, &o), Duration::ZERO);
        let busy = vec![
            (0..4).map(|i| f(10 + i, 0, "a", "b", MB)).collect(),
            vec![f(2, 1, "a", "z", 20 * MB)],
            vec![],
            big_last_level(),
        ];
        // Level 0 (4 MiB) merges with level 1 (20 MiB); level 1 then exceeds its
        // target t1 and passes the excess to level 2, which exceeds t2 and merges with
        // the last level (at most 10 times the excess).
        let (t1, t2) = (150 * MB / 100, 15 * MB);
        let e1 = 24 * MB - t1;
        let e2 = e1 - t2;
        assert_eq!(
            pending_compaction_bytes(&busy, &o),
            4 * MB + 20 * MB + e1 + e2 + (10 * e2).min(150 * MB)
        );
        let mut prev = Duration::ZERO;
        for n in 0..40u64 {
            let levels = vec![(0..n).map(|i| f(100 + i, 0, "a", "b", MB)).collect()];
            let d = write_delay(&levels, 4096, &o);
            assert!(d >= prev, "delay never shrinks as level 0 grows");
            assert!(d <= o.max_write_delay);
            assert_eq!(d.is_zero(), (n as usize) < o.l0_slowdown, "n = {n}");
            prev = d;
        }
        let huge = vec![(0..100).map(|i| f(100 + i, 0, "a", "b", MB)).collect()];
        assert_eq!(write_delay(&huge, u64::MAX / 2, &o), o.max_write_delay);
    }
}
