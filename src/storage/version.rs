//! The current set of memtables and block files, as one immutable [`Version`] that the
//! engine swaps atomically (an `Arc` behind a lock held only to clone or replace it).
//!
//! A reader clones the `Arc` of the current version and reads from it without any
//! lock: memtables newest first, then level-0 files newest first, then one file per
//! deeper level. Whatever it holds stays valid: a block file that compaction removed
//! from the manifest is deleted only when the last version listing it is dropped
//! ([`LiveFile`]), so an open iterator keeps reading the files it started with.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::bloom::bloom_hash;
use super::compaction::{CompactionOptions, pending_compaction_bytes, slowdown_factor};
use super::entry::{EntryIter, cmp_internal, cmp_keys};
use super::io::FileSystem;
use super::manifest::FileMeta;
use super::memtable::{MemCursor, Memtable};
use super::notice::notice;
use super::sstable::{ConcatIter, Table};
use crate::error::Result;

/// A frozen memtable: it receives no more commits and waits to be flushed.
pub(crate) struct Frozen {
    /// The memtable.
    pub(crate) mem: Arc<Memtable>,
    /// The newest commit timestamp when it was frozen: once it is flushed (and every
    /// older frozen memtable), the block files hold every commit at or below this.
    pub(crate) covers_ts: u64,
}

/// A block file listed in the manifest, open for reading.
pub(crate) struct LiveFile {
    /// What the manifest records about it (its `level` is set by its position).
    pub(crate) meta: FileMeta,
    /// The open file.
    pub(crate) table: Arc<Table>,
    /// Memory held for its index and filter.
    pub(crate) memory_bytes: u64,
    /// Set once no installed manifest lists it: the file is removed when the last
    /// version holding it is dropped.
    obsolete: AtomicBool,
    /// Its path.
    path: PathBuf,
    /// The file layer, to remove it.
    fs: Arc<dyn FileSystem>,
}

impl LiveFile {
    /// A file listed (or about to be listed) in the manifest.
    pub(crate) fn new(
        meta: FileMeta,
        table: Arc<Table>,
        path: PathBuf,
        fs: Arc<dyn FileSystem>,
    ) -> LiveFile {
        LiveFile {
            meta,
            memory_bytes: table.memory_bytes() as u64,
            table,
            obsolete: AtomicBool::new(false),
            path,
            fs,
        }
    }

    /// Marks the file for removal once no version holds it.
    pub(crate) fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }
}

impl Drop for LiveFile {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            // Best effort: a file left behind is unlisted and is removed at the next
            // open.
            if let Err(e) = self.fs.remove(&self.path) {
                notice(&format!(
                    "removing the compacted block file {}: {e}",
                    self.path.display()
                ));
            }
        }
    }
}

/// One immutable state of the engine's data: what a read sees.
pub(crate) struct Version {
    /// The memtable receiving commits.
    pub(crate) mem: Arc<Memtable>,
    /// Frozen memtables waiting to be flushed, newest first.
    pub(crate) frozen: Vec<Arc<Frozen>>,
    /// Block files per level: level 0 newest first, deeper levels in key order.
    pub(crate) levels: Vec<Vec<Arc<LiveFile>>>,
    /// How strongly writers are slowed for this layout (0 to 1).
    pub(crate) slowdown: f64,
    /// Bytes compaction has to rewrite to bring every level within its target.
    pub(crate) pending_compaction_bytes: u64,
    /// The files as sorted runs for iterators, newest first: the level-0 runs of
    /// [`disjoint_runs`], then one run per non-empty deeper level.
    runs: Vec<Arc<[Arc<Table>]>>,
}

impl Version {
    /// A version of these memtables and files; the throttle figures are computed here.
    pub(crate) fn new(
        mem: Arc<Memtable>,
        frozen: Vec<Arc<Frozen>>,
        levels: Vec<Vec<Arc<LiveFile>>>,
        opts: &CompactionOptions,
    ) -> Version {
        let metas = metas_of(&levels);
        Version {
            mem,
            frozen,
            slowdown: slowdown_factor(&metas, opts),
            pending_compaction_bytes: pending_compaction_bytes(&metas, opts),
            runs: sorted_runs(&levels),
            levels,
        }
    }

    /// The same files with other memtables (the throttle figures are kept).
    pub(crate) fn with_memtables(&self, mem: Arc<Memtable>, frozen: Vec<Arc<Frozen>>) -> Version {
        Version {
            mem,
            frozen,
            levels: self.levels.clone(),
            slowdown: self.slowdown,
            pending_compaction_bytes: self.pending_compaction_bytes,
            runs: self.runs.clone(),
        }
    }

    /// The manifest's view of the files, each with its level set by its position.
    pub(crate) fn metas(&self) -> Vec<Vec<FileMeta>> {
        metas_of(&self.levels)
    }

    /// The file numbered `id`, if this version lists it.
    pub(crate) fn file(&self, id: u64) -> Option<&Arc<LiveFile>> {
        self.levels.iter().flatten().find(|f| f.meta.id == id)
    }

    /// The memtables, newest first.
    pub(crate) fn memtables(&self) -> impl Iterator<Item = &Arc<Memtable>> {
        std::iter::once(&self.mem).chain(self.frozen.iter().map(|f| &f.mem))
    }

    /// The files that may hold `key`, newest first: every level-0 file whose range
    /// holds it, then at most one per deeper level.
    fn files_for<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = &'a Arc<LiveFile>> + 'a {
        use std::cmp::Ordering::{Greater, Less};
        let holds = move |f: &&Arc<LiveFile>| {
            cmp_keys(&f.meta.min_key, key) != Greater && cmp_keys(&f.meta.max_key, key) != Less
        };
        let l0 = self.levels.first().into_iter().flatten();
        let deeper = self.levels.iter().skip(1).filter_map(move |files| {
            let i = files.partition_point(|f| cmp_keys(&f.meta.max_key, key) == Less);
            files.get(i).filter(holds)
        });
        l0.filter(holds).chain(deeper)
    }

    /// The newest version of `key` at or below `read_ts`: `Some(Some(value))`,
    /// `Some(None)` for a tombstone, `None` when no source holds one.
    pub(crate) fn get(&self, key: &[u8], read_ts: u64) -> Result<Option<Option<Vec<u8>>>> {
        // One hash serves the memtables' key indexes and the files' Bloom filters.
        let hash = bloom_hash(key);
        for mem in self.memtables() {
            if let Some(v) = mem.get_hashed(key, hash, read_ts) {
                return Ok(Some(v.map(<[u8]>::to_vec)));
            }
        }
        for f in self.files_for(key) {
            if let Some((_, v)) = f.table.get_hashed(key, hash, read_ts)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The timestamp of the newest stored version of `key` (tombstones included).
    pub(crate) fn latest_ts(&self, key: &[u8]) -> Result<Option<u64>> {
        let hash = bloom_hash(key);
        for mem in self.memtables() {
            if let Some(ts) = mem.latest_ts_hashed(key, hash) {
                return Ok(Some(ts));
            }
        }
        for f in self.files_for(key) {
            if let Some((ts, _)) = f.table.get_hashed(key, hash, u64::MAX)? {
                return Ok(Some(ts));
            }
        }
        Ok(None)
    }

    /// One sorted source per memtable (newest first), per level-0 file (newest first)
    /// and per deeper level, for a merging iterator.
    pub(crate) fn sources(&self) -> Vec<Box<dyn EntryIter>> {
        let mut out: Vec<Box<dyn EntryIter>> = Vec::new();
        for mem in self.memtables() {
            out.push(Box::new(MemIter::new(mem.cursor())));
        }
        for run in &self.runs {
            match &run[..] {
                [one] => out.push(Box::new(one.iter())),
                _ => out.push(Box::new(ConcatIter::sorted(Arc::clone(run), true))),
            }
        }
        out
    }

    /// Bytes held by the memtables.
    pub(crate) fn memtable_bytes(&self) -> u64 {
        self.memtables().map(|m| m.approximate_bytes() as u64).sum()
    }

    /// Entries held by the memtables.
    pub(crate) fn memtable_entries(&self) -> u64 {
        self.memtables().map(|m| m.len() as u64).sum()
    }
}

/// The files of `levels` as sorted runs of disjoint files, newest first: the level-0
/// runs, then each non-empty deeper level (kept in key order).
fn sorted_runs(levels: &[Vec<Arc<LiveFile>>]) -> Vec<Arc<[Arc<Table>]>> {
    let mut runs: Vec<Arc<[Arc<Table>]>> = Vec::new();
    let mut levels = levels.iter();
    if let Some(l0) = levels.next() {
        runs.extend(disjoint_runs(l0).into_iter().map(Arc::from));
    }
    for files in levels.filter(|files| !files.is_empty()) {
        let mut tables: Vec<Arc<Table>> = files.iter().map(|f| Arc::clone(&f.table)).collect();
        tables.sort_by(|a, b| cmp_keys(&a.properties().min_key, &b.properties().min_key));
        runs.push(tables.into());
    }
    runs
}

/// Level-0 files grouped into runs of files whose key ranges do not meet, each run in
/// key order: a run reads as one sorted source that positions only the file holding
/// the target, so a seek opens one block per run instead of one per file. Files written
/// from keys in ascending order form a single run; overlapping files each start their
/// own. (Sources of a merge may come in any order: the only entries two sources can
/// share are copies of the same version.)
fn disjoint_runs(l0: &[Arc<LiveFile>]) -> Vec<Vec<Arc<Table>>> {
    let mut files: Vec<&Arc<LiveFile>> = l0.iter().collect();
    files.sort_by(|a, b| cmp_keys(&a.meta.min_key, &b.meta.min_key));
    // Each run with the largest key of its last file.
    let mut runs: Vec<(Vec<Arc<Table>>, &[u8])> = Vec::new();
    for f in files {
        let open = runs
            .iter_mut()
            .find(|(_, max)| cmp_keys(max, &f.meta.min_key) == std::cmp::Ordering::Less);
        match open {
            Some((run, max)) => {
                run.push(Arc::clone(&f.table));
                *max = &f.meta.max_key;
            }
            None => runs.push((vec![Arc::clone(&f.table)], &f.meta.max_key)),
        }
    }
    runs.into_iter().map(|(run, _)| run).collect()
}

/// The manifest's view of `levels`, each file's level set by its position.
pub(crate) fn metas_of(levels: &[Vec<Arc<LiveFile>>]) -> Vec<Vec<FileMeta>> {
    levels
        .iter()
        .enumerate()
        .map(|(level, files)| {
            files
                .iter()
                .map(|f| FileMeta {
                    level,
                    ..f.meta.clone()
                })
                .collect()
        })
        .collect()
}

/// A memtable cursor as a sorted source of entries.
pub(crate) struct MemIter {
    /// The cursor (it keeps its memtable alive).
    cursor: MemCursor,
}

impl MemIter {
    /// A source over the memtable of `cursor`.
    pub(crate) fn new(cursor: MemCursor) -> MemIter {
        MemIter { cursor }
    }
}

impl EntryIter for MemIter {
    fn valid(&self) -> bool {
        self.cursor.valid()
    }
    fn key(&self) -> &[u8] {
        self.cursor.entry().map_or(&[], |e| e.key)
    }
    fn ts(&self) -> u64 {
        self.cursor.entry().map_or(0, |e| e.ts)
    }
    fn value(&self) -> Option<&[u8]> {
        self.cursor.entry().and_then(|e| e.value)
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.cursor.seek_to_first();
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.cursor.seek_to_last();
        Ok(())
    }
    fn seek(&mut self, key: &[u8], ts: u64) -> Result<()> {
        // A target at or before the first entry is the first entry: no descent.
        self.cursor.seek_to_first();
        let at_or_before_first = self
            .cursor
            .entry()
            .is_none_or(|e| cmp_internal(key, ts, e.key, e.ts) != std::cmp::Ordering::Greater);
        if !at_or_before_first {
            self.cursor.seek(key, ts);
        }
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        self.cursor.next();
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        self.cursor.prev();
        Ok(())
    }
    fn seek_for_prev(&mut self, key: &[u8], ts: u64) -> Result<()> {
        // The last entry at or before (key, ts) is the last one before (key, ts - 1)
        // ... unless ts is 0, where it is the last entry before the next key.
        match ts.checked_sub(1) {
            Some(t) => self.cursor.seek_before(key, t),
            None => {
                let mut after = key.to_vec();
                after.push(0);
                self.cursor.seek_before(&after, u64::MAX);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::BatchOp;
    use crate::storage::entry::{Entry, VecIter};

    fn collect_back(it: &mut dyn EntryIter) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        it.seek_to_last().unwrap();
        while it.valid() {
            out.push((it.key().to_vec(), it.ts()));
            it.prev().unwrap();
        }
        out
    }

    /// A level-0 file of `entries` (in internal order), numbered `id`.
    fn l0_file(id: u64, entries: &[Entry]) -> Arc<LiveFile> {
        use crate::storage::sstable::{MemSource, TableBuilder, TableOptions};
        let mut b = TableBuilder::new(Vec::new(), "mem", TableOptions::default());
        for e in entries {
            b.add(&e.key, e.ts, e.value.as_deref()).unwrap();
        }
        let (bytes, summary) = b.finish().unwrap();
        let table = Table::open(Arc::new(MemSource::new("mem", bytes)), id, None).unwrap();
        let meta = FileMeta::from_summary(id, 0, &summary);
        let fs: Arc<dyn FileSystem> = Arc::new(crate::storage::io::OsFs::new());
        Arc::new(LiveFile::new(meta, table, PathBuf::from("unused"), fs))
    }

    #[test]
    fn level_zero_runs_merge_like_the_files_themselves() {
        let key = |i: u64| format!("k{i:04}").into_bytes();
        let ent = |i: u64, ts: u64| Entry::new(key(i), ts, Some(vec![i as u8, ts as u8]));
        // Disjoint ranges (as ascending writes make them), one file overlapping two of
        // them with newer versions, and one that touches a neighbour's last key.
        let files: Vec<Vec<Entry>> = vec![
            (20..30).map(|i| ent(i, 2)).collect(),
            (0..10).map(|i| ent(i, 1)).collect(),
            (10..20).map(|i| ent(i, 3)).collect(),
            (5..25).step_by(3).map(|i| ent(i, 9)).collect(),
            (29..35).map(|i| ent(i, 4)).collect(),
        ];
        let l0: Vec<Arc<LiveFile>> = files
            .iter()
            .enumerate()
            .map(|(n, es)| l0_file(n as u64 + 1, es))
            .collect();
        let runs = disjoint_runs(&l0);
        // Greedy by first key: the ascending files chain into one run; the overlapping
        // file starts a second, which the file touching a neighbour's last key joins.
        assert_eq!(runs.iter().map(Vec::len).collect::<Vec<_>>(), [3, 2]);
        assert_eq!(runs.iter().map(Vec::len).sum::<usize>(), l0.len());
        for run in &runs {
            for w in run.windows(2) {
                assert!(w[0].properties().max_key < w[1].properties().min_key);
            }
        }
        let version = Version::new(
            Arc::new(Memtable::new()),
            Vec::new(),
            vec![l0, Vec::new()],
            &CompactionOptions::default(),
        );
        let mut model: Vec<Entry> = files.concat();
        model.sort_by(|a, b| cmp_internal(&a.key, a.ts, &b.key, b.ts));
        let mut want = VecIter::new(model);
        let mut got = crate::storage::merge::MergeIter::new(version.sources());
        assert_eq!(collect_back(&mut got), collect_back(&mut want));
        for i in [0, 4, 5, 9, 10, 19, 20, 23, 29, 30, 34, 35] {
            for ts in [0, 2, 3, 5, 10] {
                want.seek(&key(i), ts).unwrap();
                got.seek(&key(i), ts).unwrap();
                let mut n = 0;
                while want.valid() && n < 12 {
                    assert_eq!((got.key(), got.ts()), (want.key(), want.ts()), "{i} @ {ts}");
                    want.next().unwrap();
                    got.next().unwrap();
                    n += 1;
                }
                assert_eq!(got.valid(), want.valid());
            }
        }
    }

    #[test]
    fn mem_iter_matches_a_sorted_vector() {
        let m = Arc::new(Memtable::new());
        let mut model = Vec::new();
        for i in 0u64..200 {
            let key = vec![(i % 13) as u8, (i % 5) as u8];
            let op = if i % 7 == 0 {
                BatchOp::Delete { key: key.clone() }
            } else {
                BatchOp::Put {
                    key: key.clone(),
                    value: i.to_le_bytes().to_vec(),
                }
            };
            model.push(Entry::new(key, i + 1, op.value().map(<[u8]>::to_vec)));
            m.apply(i + 1, &[op]);
        }
        let mut want = VecIter::new(model);
        let mut got = MemIter::new(m.cursor());
        assert_eq!(collect_back(&mut got), collect_back(&mut want));
        for key in [vec![], vec![3u8], vec![3u8, 2], vec![12u8, 4], vec![13u8]] {
            for ts in [0, 1, 50, 100, 201, u64::MAX] {
                want.seek(&key, ts).unwrap();
                got.seek(&key, ts).unwrap();
                assert_eq!(
                    (got.valid(), got.key(), got.ts()),
                    (want.valid(), want.key(), want.ts())
                );
                want.seek_for_prev(&key, ts).unwrap();
                got.seek_for_prev(&key, ts).unwrap();
                assert_eq!(
                    (got.valid(), got.key(), got.ts(), got.value()),
                    (want.valid(), want.key(), want.ts(), want.value()),
                    "seek_for_prev({key:?}, {ts})"
                );
            }
        }
    }
}
