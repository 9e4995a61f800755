//! Manifest recovery: after a crash in the middle of an install, reopening finds the
//! last completely installed manifest, whatever half-written files were left behind.

use std::fs;

use sochdb::Status;
use sochdb::storage::manifest::{
    CURRENT, CURRENT_TMP, DirFs, FileMeta, Manifest, ManifestFs, ManifestState, encode_current,
    manifest_name,
};

fn state(generation: u64) -> ManifestState {
    let file = |id: u64, level: usize, min: String, max: String| FileMeta {
        id,
        level,
        size: 4096 * id,
        min_key: min.into_bytes(),
        max_key: max.into_bytes(),
        min_ts: id,
        max_ts: id * 3,
        entry_count: 10 * id,
        key_count: 5 * id,
        tombstone_count: id % 3,
    };
    let l1 = (0..generation)
        .map(|i| file(10 + i, 1, format!("k{i:04}a"), format!("k{i:04}z")))
        .collect();
    ManifestState {
        next_file_number: 1000 + generation,
        last_commit_ts: 77 * generation,
        log_number: 500 + generation,
        flushed_ts: 70 * generation,
        levels: vec![vec![file(900 + generation, 0, "a".into(), "z".into())], l1],
    }
}

#[test]
fn half_written_install_leaves_the_previous_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let fs_ = DirFs::new(dir.path());
    let (mut m, st) = Manifest::open(fs_.clone()).unwrap();
    assert_eq!(st, None);
    m.install(&state(1)).unwrap();
    m.install(&state(2)).unwrap();

    // A crash while writing the next manifest: half of it on disk, CURRENT untouched.
    let next = state(3).encode();
    fs::write(dir.path().join(manifest_name(3)), &next[..next.len() / 2]).unwrap();
    let (_, st) = Manifest::open(fs_.clone()).unwrap();
    assert_eq!(st, Some(state(2)));

    // A crash while writing the new pointer: half of CURRENT.tmp.
    fs::write(dir.path().join(manifest_name(3)), &next).unwrap();
    fs::write(dir.path().join(CURRENT_TMP), &encode_current(3)[..20]).unwrap();
    let (_, st) = Manifest::open(fs_.clone()).unwrap();
    assert_eq!(st, Some(state(2)));

    // A crash just before the rename: a complete CURRENT.tmp is still not installed.
    fs::write(dir.path().join(CURRENT_TMP), encode_current(3)).unwrap();
    let (mut m, st) = Manifest::open(fs_.clone()).unwrap();
    assert_eq!(st, Some(state(2)));

    // The next install does not reuse the leftover's number and cleans up.
    m.install(&state(4)).unwrap();
    assert!(m.current_number() > 3);
    let (_, st) = Manifest::open(fs_.clone()).unwrap();
    assert_eq!(st, Some(state(4)));
    let mut names = fs_.list().unwrap();
    names.sort();
    assert_eq!(
        names,
        vec![CURRENT.to_string(), manifest_name(m.current_number())]
    );
}

#[test]
fn a_first_install_that_never_completed_means_no_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = state(1).encode();
    fs::write(dir.path().join(manifest_name(1)), &bytes[..bytes.len() - 3]).unwrap();
    let (mut m, st) = Manifest::open(DirFs::new(dir.path())).unwrap();
    assert_eq!(st, None);
    m.install(&state(1)).unwrap();
    assert_eq!(m.current_number(), 2);
    assert_eq!(
        Manifest::open(DirFs::new(dir.path())).unwrap().1,
        Some(state(1))
    );
}

#[test]
fn damaged_pointer_or_manifest_is_corruption_not_an_older_state() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, _) = Manifest::open(DirFs::new(dir.path())).unwrap();
    m.install(&state(1)).unwrap();
    m.install(&state(2)).unwrap();
    let name = manifest_name(m.current_number());
    let path = dir.path().join(&name);
    let good = fs::read(&path).unwrap();
    for at in [0, 13, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        fs::write(&path, &bad).unwrap();
        let err = Manifest::open(DirFs::new(dir.path())).err().unwrap();
        assert_eq!(err.status(), Status::Corruption);
        assert!(err.to_string().contains(&name), "{err}");
    }
    fs::write(&path, &good).unwrap();
    fs::write(dir.path().join(CURRENT), b"MANIFEST-00000000000000000001\n").unwrap();
    let err = Manifest::open(DirFs::new(dir.path())).err().unwrap();
    assert_eq!(err.status(), Status::Corruption);
}
