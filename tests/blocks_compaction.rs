//! Merging and compaction against a model: what any reader at a timestamp at or above
//! the safe timestamp sees is unchanged by compaction, and after overwriting and
//! deleting, compaction gives the space back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use sochdb::storage::compaction::{
    CompactionOptions, NewFile, apply, pick_compaction, run_compaction, write_files,
};
use sochdb::storage::entry::{Entry, EntryIter, VecIter, cmp_internal, read_all};
use sochdb::storage::manifest::{FileMeta, ManifestState};
use sochdb::storage::merge::{LiveIter, MergeIter, filter_versions};
use sochdb::storage::sstable::{
    Compression, ConcatIter, FileSink, FileSource, Table, TableOptions,
};

/// A key and timestamp ordered as block files order them.
type InternalKey = (Vec<u8>, std::cmp::Reverse<u64>);

/// Versions per key, newest first.
type Model = BTreeMap<Vec<u8>, Vec<(u64, Option<Vec<u8>>)>>;

fn visible(model: &Model, key: &[u8], read_ts: u64) -> Option<(u64, Option<Vec<u8>>)> {
    model
        .get(key)?
        .iter()
        .find(|(ts, _)| *ts <= read_ts)
        .cloned()
}

fn to_model(entries: &[Entry]) -> Model {
    let mut m = Model::new();
    for e in entries {
        m.entry(e.key.clone())
            .or_default()
            .push((e.ts, e.value.clone()));
    }
    m
}

fn source_strategy() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![&b"a"[..], b"b", b"c", b"d", b"e"]),
            1u64..30,
            prop::option::weighted(0.7, prop::collection::vec(any::<u8>(), 0..4)),
        ),
        0..40,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .map(|(k, t, v)| Entry::new(k.to_vec(), t, v))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn merge_then_filter_preserves_every_read_at_or_above_safe_ts(
        sources in prop::collection::vec(source_strategy(), 1..5),
        safe_ts in 0u64..32,
        bottom in any::<bool>(),
        reverse_probe in any::<bool>(),
        seeks in prop::collection::vec((prop::sample::select(vec![&b"a"[..], b"b", b"c", b"d", b"e", b"f"]), 0u64..32), 1..4),
        moves in prop::collection::vec(any::<bool>(), 0..24),
    ) {
        // The model of the merge: first (newest) source wins each (key, ts).
        let mut union: BTreeMap<InternalKey, Option<Vec<u8>>> = BTreeMap::new();
        for s in &sources {
            for e in VecIter::new(s.clone()).collect_all() {
                union.entry((e.key.clone(), std::cmp::Reverse(e.ts))).or_insert(e.value.clone());
            }
        }
        let merged_model: Vec<Entry> =
            union.into_iter().map(|((k, t), v)| Entry::new(k, t.0, v)).collect();
        let mk = || MergeIter::new(
            sources.iter().map(|s| Box::new(VecIter::new(s.clone())) as Box<dyn EntryIter>).collect(),
        );
        let mut merge = mk();
        prop_assert_eq!(&read_all(&mut merge).unwrap(), &merged_model);
        if reverse_probe {
            let mut back = Vec::new();
            merge.seek_to_last().unwrap();
            while merge.valid() {
                back.push(Entry::new(merge.key(), merge.ts(), merge.value().map(<[u8]>::to_vec)));
                merge.prev().unwrap();
            }
            back.reverse();
            prop_assert_eq!(&back, &merged_model);
        }

        // Seeks, then moves that switch direction at random, against the model.
        for (key, ts) in &seeks {
            let at = |m: &MergeIter| m.valid().then(|| Entry::new(m.key(), m.ts(), m.value().map(<[u8]>::to_vec)));
            let mut pos = merged_model.partition_point(|e| cmp_internal(&e.key, e.ts, key, *ts).is_lt());
            merge.seek(key, *ts).unwrap();
            prop_assert_eq!(at(&merge), merged_model.get(pos).cloned());
            for &forward in &moves {
                if pos >= merged_model.len() { break; }
                if forward { merge.next().unwrap(); pos += 1; } else { merge.prev().unwrap(); pos = pos.wrapping_sub(1); }
                prop_assert_eq!(at(&merge), merged_model.get(pos).cloned());
            }
        }

        let mut out = Vec::new();
        let stats = filter_versions(&mut mk(), safe_ts, bottom, &mut |k, ts, v| {
            out.push(Entry::new(k, ts, v.map(<[u8]>::to_vec)));
            Ok(())
        }).unwrap();
        prop_assert_eq!(stats.input_entries as usize, merged_model.len());
        prop_assert_eq!(stats.output_entries as usize, out.len());
        prop_assert!(out.windows(2).all(|w| cmp_internal(&w[0].key, w[0].ts, &w[1].key, w[1].ts).is_lt()));

        let before = to_model(&merged_model);
        let after = to_model(&out);
        for (key, versions) in &after {
            // At most one version at or below safe_ts survives per key.
            prop_assert!(versions.iter().filter(|(t, _)| *t <= safe_ts).count() <= 1);
            if bottom {
                prop_assert!(!versions.iter().any(|(t, v)| *t <= safe_ts && v.is_none()), "{:?}", key);
            }
        }
        for key in before.keys() {
            for read_ts in safe_ts..=31 {
                let b = visible(&before, key, read_ts);
                let a = visible(&after, key, read_ts);
                if bottom {
                    // Tombstones may vanish: only the live values must agree.
                    prop_assert_eq!(b.and_then(|x| x.1), a.and_then(|x| x.1), "{:?}@{}", key, read_ts);
                } else {
                    prop_assert_eq!(b, a, "{:?}@{}", key, read_ts);
                }
            }
        }
    }
}

trait CollectAll {
    fn collect_all(self) -> Vec<Entry>;
}

impl CollectAll for VecIter {
    fn collect_all(mut self) -> Vec<Entry> {
        read_all(&mut self).unwrap()
    }
}

/// A real file that skips the sync: nothing here survives a crash, and fsyncs of many
/// tiny files would only slow the test down.
struct NoSync(std::fs::File);

impl FileSink for NoSync {
    fn write_all(&mut self, buf: &[u8]) -> sochdb::Result<()> {
        std::io::Write::write_all(&mut self.0, buf).map_err(|e| sochdb::Error::io("write", e))
    }
    fn sync(&mut self) -> sochdb::Result<()> {
        Ok(())
    }
}

/// A tree of real block files driven by the compaction policy.
struct Tree {
    dir: PathBuf,
    opts: CompactionOptions,
    levels: Vec<Vec<FileMeta>>,
    tables: BTreeMap<u64, Arc<Table>>,
    next_id: u64,
    bytes_flushed: u64,
    bytes_compacted: u64,
}

fn table_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:06}.sst"))
}

impl Tree {
    fn new(dir: &Path, opts: CompactionOptions) -> Tree {
        Tree {
            dir: dir.to_path_buf(),
            opts,
            levels: vec![Vec::new()],
            tables: BTreeMap::new(),
            next_id: 1,
            bytes_flushed: 0,
            bytes_compacted: 0,
        }
    }

    fn new_file(&mut self) -> NewFile {
        let id = self.next_id;
        self.next_id += 1;
        let path = table_path(&self.dir, id);
        NewFile {
            id,
            name: path.display().to_string(),
            sink: Box::new(NoSync(std::fs::File::create(&path).unwrap())),
        }
    }

    fn open(&mut self, f: &FileMeta) -> Arc<Table> {
        let path = table_path(&self.dir, f.id);
        self.tables
            .entry(f.id)
            .or_insert_with(|| {
                Table::open(Arc::new(FileSource::open(&path).unwrap()), f.id, None).unwrap()
            })
            .clone()
    }

    /// Flushes a memtable's worth of entries into one level-0 file.
    fn flush(&mut self, memtable: Vec<Entry>) {
        let mut src = VecIter::new(memtable);
        let opts = self.opts.clone();
        let out = write_files(&mut src, 0, false, 0, &opts, &mut || Ok(self.new_file())).unwrap();
        self.bytes_flushed += out.bytes_written;
        for f in out.files.into_iter().rev() {
            self.levels[0].insert(0, f);
        }
    }

    /// Runs compactions until the policy has nothing to do.
    fn compact(&mut self, safe_ts: u64) -> usize {
        let mut runs = 0;
        while let Some(job) = pick_compaction(&self.levels, safe_ts, &self.opts) {
            runs += 1;
            assert!(runs < 500, "compaction does not converge");
            let opts = self.opts.clone();
            let mut opened: BTreeMap<u64, Arc<Table>> = BTreeMap::new();
            for f in job.all_inputs() {
                opened.insert(f.id, self.open(f));
            }
            let mut next_id = self.next_id;
            let dir = self.dir.clone();
            let out = run_compaction(
                &job,
                &mut |f| Ok(opened[&f.id].clone()),
                safe_ts,
                &opts,
                &mut || {
                    let id = next_id;
                    next_id += 1;
                    let path = table_path(&dir, id);
                    Ok(NewFile {
                        id,
                        name: path.display().to_string(),
                        sink: Box::new(NoSync(std::fs::File::create(&path).unwrap())),
                    })
                },
            )
            .unwrap();
            self.next_id = next_id;
            self.bytes_compacted += out.bytes_written;
            self.levels = apply(&self.levels, &job, &out.files);
            if !job.trivial_move {
                for f in job.all_inputs() {
                    self.tables.remove(&f.id);
                    std::fs::remove_file(table_path(&self.dir, f.id)).unwrap();
                }
            }
            let state = ManifestState {
                next_file_number: self.next_id,
                levels: self.levels.clone(),
                ..ManifestState::default()
            };
            state.validate().unwrap();
        }
        runs
    }

    /// Every version in the tree, merged newest source first.
    fn merged(&mut self) -> MergeIter {
        let levels = self.levels.clone();
        let mut sources: Vec<Box<dyn EntryIter>> = Vec::new();
        for f in &levels[0] {
            sources.push(Box::new(self.open(f).iter()));
        }
        for files in levels.iter().skip(1) {
            let tables = files.iter().map(|f| self.open(f)).collect();
            sources.push(Box::new(ConcatIter::new(tables, true)));
        }
        MergeIter::new(sources)
    }

    fn live(&mut self, read_ts: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
        use std::ops::Bound::Unbounded;
        LiveIter::new(self.merged(), read_ts, Unbounded, Unbounded, false)
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn disk_bytes(&self) -> u64 {
        self.levels.iter().flatten().map(|f| f.size).sum()
    }
}

fn model_live(model: &Model, read_ts: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .keys()
        .filter_map(|k| {
            visible(model, k, read_ts)
                .and_then(|(_, v)| v)
                .map(|v| (k.clone(), v))
        })
        .collect()
}

fn small_opts() -> CompactionOptions {
    CompactionOptions {
        num_levels: 5,
        l0_trigger: 3,
        level1_bytes: 16 * 1024,
        level_ratio: 4,
        target_file_size: 8 * 1024,
        // Uncompressed: the policy picks compactions by file sizes, and these values
        // (runs of one byte) would compress to almost nothing.
        table: TableOptions {
            block_size: 512,
            compression: Compression::None,
            ..TableOptions::default()
        },
        ..CompactionOptions::default()
    }
}

#[test]
fn reads_at_or_above_safe_ts_survive_a_tree_of_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let mut tree = Tree::new(dir.path(), small_opts());
    let mut model = Model::new();
    let mut ts = 0u64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut total_runs = 0;
    let mut safe_ts = 0;
    let mut deepest_levels = 0;
    for round in 0..30u64 {
        let mut memtable = Vec::new();
        for _ in 0..150 {
            ts += 1;
            let key = format!("key{:04}", rand(400)).into_bytes();
            let value = (rand(5) != 0).then(|| vec![(ts % 251) as u8; 20 + rand(60) as usize]);
            model
                .entry(key.clone())
                .or_default()
                .insert(0, (ts, value.clone()));
            memtable.push(Entry::new(key, ts, value));
        }
        tree.flush(memtable);
        // Readers hold snapshots a little behind the newest commit; the oldest one
        // only moves forward.
        safe_ts = safe_ts.max(ts.saturating_sub(rand(300)));
        total_runs += tree.compact(safe_ts);
        deepest_levels =
            deepest_levels.max(tree.levels.iter().skip(1).filter(|l| !l.is_empty()).count());
        for read_ts in [safe_ts, (safe_ts + ts) / 2, ts] {
            assert_eq!(
                tree.live(read_ts),
                model_live(&model, read_ts),
                "round {round} read_ts {read_ts}"
            );
        }
        // The model forgets what no reader may ask for any more.
        for versions in model.values_mut() {
            if let Some(i) = versions.iter().position(|(t, _)| *t <= safe_ts) {
                versions.truncate(i + 1);
            }
        }
    }
    assert!(total_runs > 10, "the policy ran compactions: {total_runs}");
    assert!(
        deepest_levels >= 2,
        "data spread over several levels: {deepest_levels}"
    );
}

#[test]
fn overwrite_five_times_delete_half_and_the_space_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let opts = CompactionOptions {
        level_ratio: 10,
        ..small_opts()
    };
    let mut tree = Tree::new(dir.path(), opts);
    let keys = 4000u64;
    let value_len = 100;
    let mut ts = 0u64;
    let mut memtable = Vec::new();
    let flush_every = |tree: &mut Tree, memtable: &mut Vec<Entry>, ts: u64| {
        if memtable.len() >= 400 {
            tree.flush(std::mem::take(memtable));
            tree.compact(ts);
        }
    };
    for pass in 0..5u64 {
        for i in 0..keys {
            ts += 1;
            let key = format!("key{:06}", (i * 7919) % keys).into_bytes();
            memtable.push(Entry::new(key, ts, Some(vec![pass as u8; value_len])));
            flush_every(&mut tree, &mut memtable, ts);
        }
    }
    let written = keys * 5 * (9 + value_len as u64);
    for i in (0..keys).step_by(2) {
        ts += 1;
        memtable.push(Entry::new(format!("key{:06}", i).into_bytes(), ts, None));
        flush_every(&mut tree, &mut memtable, ts);
    }
    tree.flush(std::mem::take(&mut memtable));
    tree.compact(ts);
    let live = tree.live(ts);
    assert_eq!(live.len() as u64, keys / 2);
    assert!(live.iter().all(|(_, v)| v == &vec![4u8; value_len]));
    let live_bytes: u64 = live.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    let disk = tree.disk_bytes();
    for (l, files) in tree.levels.iter().enumerate() {
        let b: u64 = files.iter().map(|f| f.size).sum();
        let e: u64 = files.iter().map(|f| f.entry_count).sum();
        let k: u64 = files.iter().map(|f| f.key_count).sum();
        let t: u64 = files.iter().map(|f| f.tombstone_count).sum();
        eprintln!(
            "L{l}: {} files {b} B {e} entries {k} keys {t} tombstones",
            files.len()
        );
    }
    let amp = (tree.bytes_flushed + tree.bytes_compacted) as f64 / tree.bytes_flushed as f64;
    eprintln!(
        "written {written} B of keys+values, live {live_bytes} B, on disk {disk} B \
         ({:.2}x live), write amplification from compaction {amp:.2}x",
        disk as f64 / live_bytes as f64
    );
    assert!(
        disk < live_bytes * 13 / 10,
        "files hold {disk} bytes for {live_bytes} live bytes"
    );
}
