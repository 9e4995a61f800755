//! Compaction: the leveled policy as pure functions of the level layout, the write
//! throttle, and the runner that merges input files into new ones.
//!
//! Layout: level 0 holds files flushed from memtables, newest first, whose key ranges
//! may overlap. Levels 1 and deeper each hold files with disjoint key ranges, in key
//! order; level `i` (i >= 1) aims at `level1_bytes * level_ratio^(i-1)` bytes. A user
//! key's versions are never split across two files of a level, so for any key every
//! version in a shallower level is newer than every version in a deeper one (a point
//! lookup may stop at the first level holding a version at or below its read
//! timestamp).
//!
//! Policy ([`pick_compaction`]): level 0 is compacted (all of it, with the overlapping
//! level-1 files) once it holds `l0_trigger` files; a deeper level is compacted once it
//! exceeds its target, one file at a time (the file whose overlap with the next level is
//! the smallest fraction of its size), into the next level; a file that overlaps nothing
//! in the next level moves down without being rewritten. When no level needs work, a
//! file in the bottom of the tree whose versions are all at or below the safe timestamp
//! and which holds tombstones or stale versions is rewritten in place, so deleted and
//! overwritten data gives its space back. `docs/storage-blocks.md` gives the
//! amplification figures.

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
    /// A bottom file holds tombstones or stale versions no reader needs.
    Cleanup,
}

/// One compaction to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionJob {
    /// The level the inputs come from.
    pub level: usize,
    /// The level the outputs go to (`level + 1`, or `level` for a cleanup).
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

/// Target bytes of `level` (level 0 is governed by file count and has none).
pub fn target_bytes(level: usize, opts: &CompactionOptions) -> u64 {
    if level == 0 {
        return 0;
    }
    let mut t = opts.level1_bytes.max(1);
    for _ in 1..level {
        t = t.saturating_mul(opts.level_ratio.max(2));
    }
    t
}

/// Bytes of the files of one level.
pub fn level_bytes(files: &[FileMeta]) -> u64 {
    files.iter().map(|f| f.size).sum()
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

/// How urgently each level needs compaction: level 0 by file count over the trigger,
/// other levels by bytes over their target. The last level scores 0 (it has nowhere to
/// go).
pub fn level_scores(levels: &[Vec<FileMeta>], opts: &CompactionOptions) -> Vec<f64> {
    let last = opts.num_levels.max(2) - 1;
    (0..last)
        .map(|level| {
            let files = levels.get(level).map_or(&[][..], Vec::as_slice);
            if level == 0 {
                files.len() as f64 / opts.l0_trigger.max(1) as f64
            } else {
                level_bytes(files) as f64 / target_bytes(level, opts) as f64
            }
        })
        .collect()
}

/// The next compaction to run for the layout `levels` (index = level), or `None` when
/// nothing needs doing. `safe_ts` is the oldest timestamp any reader still needs.
pub fn pick_compaction(
    levels: &[Vec<FileMeta>],
    safe_ts: u64,
    opts: &CompactionOptions,
) -> Option<CompactionJob> {
    let scores = level_scores(levels, opts);
    let best = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s >= 1.0)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(l, _)| l);
    if let Some(level) = best {
        return Some(if level == 0 {
            pick_level0(levels)
        } else {
            pick_level(levels, level)
        });
    }
    pick_cleanup(levels, safe_ts, opts)
}

fn empty() -> Vec<FileMeta> {
    Vec::new()
}

fn pick_level0(levels: &[Vec<FileMeta>]) -> CompactionJob {
    let mut inputs = levels.first().cloned().unwrap_or_default();
    inputs.sort_by_key(|f| std::cmp::Reverse(f.id));
    let (min, max) = key_range(inputs.iter());
    let next = levels.get(1).map_or(&[][..], Vec::as_slice);
    let next_inputs: Vec<FileMeta> = overlapping(next, &min, &max).into_iter().cloned().collect();
    let (lo, hi) = key_range(inputs.iter().chain(&next_inputs));
    CompactionJob {
        level: 0,
        output_level: 1,
        bottom: !overlaps_deeper(levels, 1, &lo, &hi),
        inputs,
        next_inputs,
        trivial_move: false,
        reason: CompactionReason::Level0,
    }
}

fn pick_level(levels: &[Vec<FileMeta>], level: usize) -> CompactionJob {
    let files = &levels[level];
    let next = levels.get(level + 1).map_or(&[][..], Vec::as_slice);
    let overlap_ratio = |f: &FileMeta| {
        let o: u64 = overlapping(next, &f.min_key, &f.max_key)
            .iter()
            .map(|g| g.size)
            .sum();
        o as f64 / f.size.max(1) as f64
    };
    let chosen = files
        .iter()
        .min_by(|a, b| {
            overlap_ratio(a)
                .total_cmp(&overlap_ratio(b))
                .then(a.id.cmp(&b.id))
        })
        .cloned();
    let inputs: Vec<FileMeta> = chosen.into_iter().collect();
    let (min, max) = key_range(inputs.iter());
    let next_inputs: Vec<FileMeta> = overlapping(next, &min, &max).into_iter().cloned().collect();
    let (lo, hi) = key_range(inputs.iter().chain(&next_inputs));
    CompactionJob {
        level,
        output_level: level + 1,
        bottom: !overlaps_deeper(levels, level + 1, &lo, &hi),
        trivial_move: next_inputs.is_empty() && inputs.len() == 1,
        inputs,
        next_inputs,
        reason: CompactionReason::LevelSize,
    }
}

fn pick_cleanup(
    levels: &[Vec<FileMeta>],
    safe_ts: u64,
    opts: &CompactionOptions,
) -> Option<CompactionJob> {
    let mut best: Option<(u64, &FileMeta)> = None;
    for (level, files) in levels.iter().enumerate().take(opts.num_levels).skip(1) {
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
        next_inputs: empty(),
        bottom: true,
        trivial_move: false,
        reason: CompactionReason::Cleanup,
    })
}

/// About how many bytes compaction must rewrite to bring every level within its
/// target: level 0's bytes plus the level-1 bytes they overlap (once level 0 reaches its
/// trigger), and for each deeper level over target, the excess plus the bytes of the
/// next level it will be merged with (at most `level_ratio` times the excess). The
/// excess of a level is carried into the next one.
pub fn pending_compaction_bytes(levels: &[Vec<FileMeta>], opts: &CompactionOptions) -> u64 {
    let level = |i: usize| levels.get(i).map_or(&[][..], Vec::as_slice);
    let last = opts.num_levels.max(2) - 1;
    let mut pending = 0u64;
    let mut carried = 0u64;
    if level(0).len() >= opts.l0_trigger {
        carried = level_bytes(level(0));
        pending = carried.saturating_add(level_bytes(level(1)));
    }
    for i in 1..last {
        let size = level_bytes(level(i)).saturating_add(carried);
        let target = target_bytes(i, opts);
        if size <= target {
            carried = 0;
            continue;
        }
        let excess = size - target;
        let next = level_bytes(level(i + 1));
        pending = pending
            .saturating_add(excess)
            .saturating_add(next.min(excess.saturating_mul(opts.level_ratio)));
        carried = excess;
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
    let factor = slowdown_factor(levels, opts);
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
            level1_bytes: 10 * MB,
            ..CompactionOptions::default()
        }
    }

    #[test]
    fn targets_grow_by_the_ratio() {
        let o = opts();
        assert_eq!(target_bytes(1, &o), 10 * MB);
        assert_eq!(target_bytes(3, &o), 1000 * MB);
    }

    #[test]
    fn level0_compacts_at_its_trigger_with_overlapping_level1() {
        let o = opts();
        let mut levels = vec![
            vec![
                f(9, 0, "c", "e", MB),
                f(8, 0, "a", "d", MB),
                f(7, 0, "d", "f", MB),
            ],
            vec![
                f(1, 1, "a", "b", MB),
                f(2, 1, "g", "h", MB),
                f(3, 1, "e", "e", MB),
            ],
            vec![f(4, 2, "x", "z", MB)],
        ];
        levels[1].sort_by(|a, b| a.min_key.cmp(&b.min_key));
        assert_eq!(pick_compaction(&levels, 0, &o), None);
        levels[0].insert(0, f(10, 0, "b", "c", MB));
        let job = pick_compaction(&levels, 0, &o).unwrap();
        assert_eq!(job.reason, CompactionReason::Level0);
        assert_eq!(
            job.inputs.iter().map(|f| f.id).collect::<Vec<_>>(),
            [10, 9, 8, 7]
        );
        assert_eq!(
            job.next_inputs.iter().map(|f| f.id).collect::<Vec<_>>(),
            [1, 3]
        );
        assert!(job.bottom);
        levels[2].push(f(5, 2, "b", "b", MB));
        levels[2].sort_by(|a, b| a.min_key.cmp(&b.min_key));
        assert!(!pick_compaction(&levels, 0, &o).unwrap().bottom);
    }

    #[test]
    fn oversized_level_picks_least_overlap_and_moves_when_free() {
        let o = opts();
        let levels = vec![
            vec![],
            vec![f(1, 1, "a", "c", 6 * MB), f(2, 1, "d", "f", 6 * MB)],
            vec![f(3, 2, "a", "b", 5 * MB)],
        ];
        let job = pick_compaction(&levels, 0, &o).unwrap();
        assert_eq!(job.reason, CompactionReason::LevelSize);
        assert_eq!(job.inputs[0].id, 2);
        assert!(job.trivial_move && job.next_inputs.is_empty());
        let after = apply(&levels, &job, &job.inputs);
        assert_eq!(after[1].len(), 1);
        assert_eq!(after[2].iter().map(|f| f.id).collect::<Vec<_>>(), [3, 2]);
        assert!(after[2].iter().all(|f| f.level == 2));
        assert_eq!(pick_compaction(&after, 0, &o), None);
    }

    #[test]
    fn cleanup_only_when_everything_is_below_safe_ts() {
        let o = opts();
        let mut dirty = f(5, 2, "a", "z", MB);
        dirty.tombstone_count = 3;
        let levels = vec![vec![], vec![f(1, 1, "a", "b", MB)], vec![dirty.clone()]];
        assert_eq!(
            pick_compaction(&levels, 9, &o),
            None,
            "max_ts above safe_ts"
        );
        let job = pick_compaction(&levels, 10, &o).unwrap();
        assert_eq!(job.reason, CompactionReason::Cleanup);
        assert_eq!((job.level, job.output_level, job.bottom), (2, 2, true));
        // A dirty file with deeper overlap is not a bottom file.
        let levels = vec![vec![], vec![dirty.clone()], vec![f(6, 2, "m", "n", MB)]];
        assert_eq!(pick_compaction(&levels, 10, &o), None);
    }

    #[test]
    fn pending_bytes_and_throttle() {
        let o = opts();
        let calm = vec![vec![f(1, 0, "a", "b", MB)], vec![f(2, 1, "a", "b", MB)]];
        assert_eq!(pending_compaction_bytes(&calm, &o), 0);
        assert_eq!(write_delay(&calm, 1000, &o), Duration::ZERO);
        let busy = vec![
            (0..4).map(|i| f(10 + i, 0, "a", "b", MB)).collect(),
            vec![f(2, 1, "a", "z", 20 * MB)],
            vec![f(3, 2, "a", "z", 30 * MB)],
        ];
        // L0: 4 MiB + 20 MiB of L1; L1 then holds 24 MiB, 14 over its target, merged
        // with all 30 MiB of L2.
        assert_eq!(pending_compaction_bytes(&busy, &o), (4 + 20 + 14 + 30) * MB);
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
