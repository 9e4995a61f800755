//! The block file, manifest and pointer decoders on hostile input: random bytes and
//! valid files with random damage never panic, never allocate beyond the input, and
//! fail only with a corruption error. Compressed blocks are also damaged behind a
//! recomputed CRC, so that the decompressor itself meets the damage.

use std::sync::Arc;

use proptest::prelude::*;
use sochdb::Status;
use sochdb::storage::entry::EntryIter;
use sochdb::storage::manifest::{FileMeta, ManifestState, decode_current};
use sochdb::storage::sstable::compression::{BLOCK_SNAPPY, block_contents};
use sochdb::storage::sstable::footer::BlockHandle;
use sochdb::storage::sstable::index::decode_index;
use sochdb::storage::sstable::{MemSource, Table, TableBuilder, TableOptions};

fn valid_file() -> Vec<u8> {
    let opts = TableOptions {
        block_size: 96,
        restart_interval: 3,
        bloom_bits_per_key: 10,
        ..TableOptions::default()
    };
    let mut b = TableBuilder::new(Vec::new(), "fuzz", opts);
    for i in 0..60u64 {
        let key = format!("key{:03}", i / 2).into_bytes();
        let value = (i % 5 != 0).then(|| vec![i as u8; (i % 13) as usize]);
        b.add(&key, 100 - i % 2, value.as_deref()).unwrap();
    }
    b.finish().unwrap().0
}

/// Every block of `valid_file()` with its stored bytes and type byte at
/// `[offset, offset + len)` and its CRC after them: the data blocks (from the index),
/// then the index itself.
fn blocks_of(file: &[u8]) -> Vec<BlockHandle> {
    let t = Table::open(Arc::new(MemSource::new("valid", file.to_vec())), 1, None).unwrap();
    let ix = t.footer().index;
    let (start, end) = (ix.offset as usize, (ix.offset + ix.len) as usize);
    let contents = block_contents(file[end - 1], file[start..end - 1].to_vec()).unwrap();
    let mut out: Vec<BlockHandle> = decode_index(&contents, ix.offset)
        .unwrap()
        .into_iter()
        .map(|e| e.handle)
        .collect();
    out.push(ix);
    out
}

fn valid_manifest() -> Vec<u8> {
    let f = |id: u64, level: usize, min: &str, max: &str| FileMeta {
        id,
        level,
        size: 100,
        min_key: min.into(),
        max_key: max.into(),
        min_ts: 1,
        max_ts: 2,
        entry_count: 3,
        key_count: 2,
        tombstone_count: 1,
    };
    ManifestState {
        next_file_number: 10,
        last_commit_ts: 9,
        log_number: 3,
        flushed_ts: 8,
        levels: vec![
            vec![f(4, 0, "a", "q")],
            vec![f(1, 1, "a", "c"), f(2, 1, "d", "e")],
        ],
    }
    .encode()
}

/// Opens and reads everything; any error must be corruption.
fn exercise(bytes: Vec<u8>) {
    let check = |r: sochdb::Result<()>| {
        if let Err(e) = r {
            assert_eq!(e.status(), Status::Corruption, "{e}");
        }
    };
    let t = match Table::open(Arc::new(MemSource::new("fuzz", bytes)), 1, None) {
        Ok(t) => t,
        Err(e) => return check(Err(e)),
    };
    let mut it = t.iter();
    check((|| {
        it.seek_to_first()?;
        let mut n = 0;
        while it.valid() && n < 10_000 {
            it.next()?;
            n += 1;
        }
        it.seek_to_last()?;
        while it.valid() && n < 20_000 {
            it.prev()?;
            n += 1;
        }
        it.seek(b"key010", 50)?;
        t.get(b"key020", 200)?;
        t.verify()?;
        Ok(())
    })());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_compressed_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(out) = block_contents(BLOCK_SNAPPY, bytes.clone()) {
            prop_assert!(out.len() <= 22 * bytes.len());
        }
    }

    #[test]
    fn damage_behind_valid_crcs_never_panics(
        block in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = valid_file();
        let blocks = blocks_of(&bytes);
        prop_assert!(blocks.iter().filter(|h| bytes[(h.offset + h.len) as usize - 1] == BLOCK_SNAPPY).count() >= 3);
        let h = blocks[block.index(blocks.len())];
        let (start, end) = (h.offset as usize, (h.offset + h.len) as usize);
        for (at, v) in &edits {
            bytes[start + at.index(end - start)] = *v;
        }
        let crc = crc32fast::hash(&bytes[start..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_le_bytes());
        exercise(bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        exercise(bytes.clone());
        let _ = ManifestState::decode(&bytes);
        let _ = decode_current(&bytes);
    }

    #[test]
    fn damaged_valid_files_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        for mut bytes in [valid_file(), valid_manifest()] {
            for (at, v) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *v;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            let _ = ManifestState::decode(&bytes);
            exercise(bytes);
        }
    }
}
