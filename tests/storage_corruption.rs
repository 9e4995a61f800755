//! Damaged logs: a flipped byte with valid records after it is corruption (naming the
//! file and the offset); a cut tail is a torn tail (cut off, earlier commits kept);
//! damage in a segment that is not the newest is corruption; a second open is refused.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use sochdb::Status;
use sochdb::storage::wal::record::{self, Parsed};
use sochdb::storage::wal::segment;
use sochdb::storage::{Engine, EngineOptions, WriteBatch};

fn commit_n(dir: &Path, from: u32, n: u32, opts: &EngineOptions) {
    let e = Engine::open(dir, opts.clone()).unwrap();
    for i in from..from + n {
        let mut b = WriteBatch::new();
        b.put(&i.to_be_bytes(), format!("value {i}").as_bytes())
            .unwrap();
        e.commit(&b).unwrap();
    }
    e.close().unwrap();
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .collect();
    v.sort();
    v
}

/// Offsets of the records in a segment.
fn record_offsets(data: &[u8]) -> Vec<usize> {
    let mut pos = segment::HEADER_LEN;
    let mut out = Vec::new();
    while let Parsed::Record { len, .. } = record::parse(&data[pos..]) {
        out.push(pos);
        pos += len;
    }
    out
}

/// Where the last record of a segment ends (the zeroes written ahead follow).
fn records_end(data: &[u8]) -> usize {
    let mut pos = segment::HEADER_LEN;
    while let Parsed::Record { len, .. } = record::parse(&data[pos..]) {
        pos += len;
    }
    pos
}

fn keys(e: &Engine) -> Vec<u32> {
    e.iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, false)
        .unwrap()
        .map(|r| u32::from_be_bytes(r.unwrap().0.try_into().unwrap()))
        .collect()
}

#[test]
fn flipped_byte_followed_by_valid_records_is_corruption_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions::default();
    commit_n(dir.path(), 0, 20, &opts);
    let seg = segments(dir.path())
        .into_iter()
        .find(|p| std::fs::metadata(p).unwrap().len() > 100)
        .unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    let offsets = record_offsets(&data);
    assert_eq!(offsets.len(), 20);
    let victim = offsets[10];
    data[victim + 12] ^= 0x01; // inside the payload of record 10
    std::fs::write(&seg, &data).unwrap();
    let err = Engine::open(dir.path(), opts.clone())
        .err()
        .expect("open must fail");
    assert_eq!(err.status(), Status::Corruption, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&seg.file_name().unwrap().to_string_lossy().to_string()),
        "{msg}"
    );
    assert!(msg.contains(&format!("offset {victim}")), "{msg}");
    // Nothing was cut: the file is as damaged as before.
    assert_eq!(std::fs::read(&seg).unwrap(), data);
}

#[test]
fn cut_tail_is_torn_and_earlier_commits_survive() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions::default();
    commit_n(dir.path(), 0, 10, &opts);
    let seg = segments(dir.path()).pop().unwrap();
    let data = std::fs::read(&seg).unwrap();
    let last = *record_offsets(&data).last().unwrap();
    assert!(
        data[records_end(&data)..].iter().all(|&b| b == 0) && data.len() > records_end(&data),
        "zeroes are written ahead of the records"
    );
    let cut_to = records_end(&data) - 3;
    std::fs::write(&seg, &data[..cut_to]).unwrap();

    // A read-only open reports the torn tail but changes nothing.
    let ro = EngineOptions {
        read_only: true,
        ..opts.clone()
    };
    let e = Engine::open(dir.path(), ro).unwrap();
    assert!(e.recovery_report().torn_tail.is_some());
    assert_eq!(keys(&e), (0..9).collect::<Vec<_>>());
    drop(e);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), cut_to as u64);

    let e = Engine::open(dir.path(), opts.clone()).unwrap();
    let torn = e
        .recovery_report()
        .torn_tail
        .clone()
        .expect("torn tail reported");
    assert_eq!(torn.file, seg);
    assert_eq!(torn.offset, last as u64);
    assert_eq!(torn.bytes, (cut_to - last) as u64);
    assert_eq!(keys(&e), (0..9).collect::<Vec<_>>());
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        last as u64,
        "tail cut off"
    );
    e.close().unwrap();
    drop(e);

    // A record torn over the zeroes written ahead (its first bytes reached the disk,
    // the rest did not) is a torn tail too, and the zeroes after it change nothing.
    commit_n(dir.path(), 100, 3, &opts);
    let seg = segments(dir.path()).pop().unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    let last = *record_offsets(&data).last().unwrap();
    let end = records_end(&data);
    for b in &mut data[last + 5..end] {
        *b = 0;
    }
    std::fs::write(&seg, &data).unwrap();
    let e = Engine::open(dir.path(), opts.clone()).unwrap();
    let torn = e.recovery_report().torn_tail.clone().expect("torn tail");
    assert_eq!(torn.offset, last as u64);
    let mut want: Vec<u32> = (0..9).collect();
    want.extend([100, 101]);
    assert_eq!(keys(&e), want);
    e.close().unwrap();
    drop(e);

    // A record whose write never happened leaves only zeroes: the segment simply ends
    // before it (no torn tail: nothing was half written).
    commit_n(dir.path(), 200, 3, &opts);
    let seg = segments(dir.path()).pop().unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    let last = *record_offsets(&data).last().unwrap();
    for b in &mut data[last..] {
        *b = 0;
    }
    std::fs::write(&seg, &data).unwrap();
    let e = Engine::open(dir.path(), opts.clone()).unwrap();
    assert!(e.recovery_report().torn_tail.is_none());
    want.extend([200, 201]);
    assert_eq!(keys(&e), want);
    let before = e.visible_ts();
    let mut b = WriteBatch::new();
    b.put(b"after", b"").unwrap();
    assert!(e.commit(&b).unwrap() > before);
    drop(e);
    let e = Engine::open(dir.path(), opts).unwrap();
    assert!(
        e.recovery_report().torn_tail.is_none(),
        "the repair was durable"
    );
}

#[test]
fn damage_in_an_older_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions::default();
    commit_n(dir.path(), 0, 5, &opts);
    commit_n(dir.path(), 5, 5, &opts);
    let segs = segments(dir.path());
    assert!(segs.len() >= 2);
    // The segment of the first open is no longer the newest: a cut tail there is damage.
    let old = &segs[0];
    let end = records_end(&std::fs::read(old).unwrap()) as u64;
    let f = std::fs::OpenOptions::new().write(true).open(old).unwrap();
    f.set_len(end - 2).unwrap();
    drop(f);
    let err = Engine::open(dir.path(), opts.clone())
        .err()
        .expect("open must fail");
    assert_eq!(err.status(), Status::Corruption, "{err}");
    assert!(
        err.to_string()
            .contains(&old.file_name().unwrap().to_string_lossy().to_string()),
        "{err}"
    );

    // A missing segment in the middle is corruption too.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        commit_n(dir.path(), i * 5, 5, &opts);
    }
    let segs = segments(dir.path());
    std::fs::remove_file(&segs[1]).unwrap();
    let err = Engine::open(dir.path(), opts)
        .err()
        .expect("open must fail");
    assert_eq!(err.status(), Status::Corruption, "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn second_open_of_the_same_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    let err = Engine::open(dir.path(), EngineOptions::default())
        .err()
        .expect("second open must fail");
    assert_eq!(err.status(), Status::Locked);
    assert!(err.to_string().contains("sochdb serve"), "{err}");
    e.close().unwrap();
    Engine::open(dir.path(), EngineOptions::default()).unwrap();
}

#[test]
fn segment_cut_short_while_being_created_is_removed_and_numbers_stay_consecutive() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions::default();
    commit_n(dir.path(), 0, 3, &opts);
    let newest = segments(dir.path()).pop().unwrap();
    let name = newest.file_name().unwrap().to_string_lossy().to_string();
    let seq: u64 = name[4..name.len() - 4].parse().unwrap();
    for partial in [0usize, 10] {
        // A crash right after creating the next segment, before its header was whole.
        let next = dir.path().join(format!("wal-{:06}.log", seq + 1));
        std::fs::write(&next, vec![0u8; partial]).unwrap();
        let e = Engine::open(dir.path(), opts.clone()).unwrap();
        let torn = e.recovery_report().torn_tail.clone().expect("reported");
        assert_eq!(torn.file, next);
        assert_eq!(keys(&e), vec![0, 1, 2]);
        e.close().unwrap();
        drop(e);
        // The reopened engine took the removed segment's number: no gap.
        let e = Engine::open(dir.path(), opts.clone()).unwrap();
        assert!(e.recovery_report().torn_tail.is_none());
        assert_eq!(keys(&e), vec![0, 1, 2]);
        e.close().unwrap();
        // Leave the directory as the loop expects: the newest segment is `seq + 2`
        // now, so remove it to start the next case from the same state.
        let newest = segments(dir.path()).pop().unwrap();
        assert_eq!(newest, dir.path().join(format!("wal-{:06}.log", seq + 2)));
        std::fs::remove_file(&newest).unwrap();
        std::fs::remove_file(dir.path().join(format!("wal-{:06}.log", seq + 1))).unwrap();
    }
}

mod damage_model {
    use super::*;
    use proptest::prelude::*;
    use sochdb::storage::Durability;

    const COMMITS: u32 = 24;

    fn opts() -> EngineOptions {
        EngineOptions {
            durability: Durability::None,
            wal_segment_size: 300,
            ..EngineOptions::default()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever bits flip or however a segment is cut, opening either fails with
        /// `Corruption` or shows exactly the first `m` commits for some `m`, and all of
        /// them unless the damage was at the very end of the log: never wrong data.
        #[test]
        fn damaged_logs_open_to_a_prefix_or_fail(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0u8..8), 0..3),
            cut in prop::option::of((any::<prop::sample::Index>(), any::<prop::sample::Index>())),
        ) {
            let dir = tempfile::tempdir().unwrap();
            commit_n(dir.path(), 0, COMMITS, &opts());
            let segs = segments(dir.path());
            for (seg, at, bit) in &flips {
                let path = &segs[seg.index(segs.len())];
                let mut data = std::fs::read(path).unwrap();
                if data.is_empty() {
                    continue;
                }
                let i = at.index(data.len());
                data[i] ^= 1 << bit;
                std::fs::write(path, &data).unwrap();
            }
            if let Some((seg, at)) = &cut {
                let path = &segs[seg.index(segs.len())];
                let len = std::fs::metadata(path).unwrap().len() as usize;
                let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                f.set_len(at.index(len + 1) as u64).unwrap();
            }
            match Engine::open(dir.path(), opts()) {
                Err(e) => prop_assert_eq!(e.status(), Status::Corruption, "{}", e),
                Ok(e) => {
                    let got = keys(&e);
                    let m = got.len() as u32;
                    prop_assert_eq!(&got, &(0..m).collect::<Vec<_>>());
                    for k in 0..m {
                        let v = e.get(&k.to_be_bytes(), u64::MAX).unwrap().unwrap();
                        prop_assert_eq!(v, format!("value {k}").into_bytes());
                    }
                    if flips.is_empty() && cut.is_none() {
                        prop_assert_eq!(m, COMMITS);
                    }
                }
            }
        }
    }
}
