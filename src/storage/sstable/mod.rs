//! Block files: immutable, sorted files of versioned entries.
//!
//! ```text
//! data block 0 | t | crc | ... | index | t | crc | filter | t | crc | props | t | crc | footer
//! ```
//!
//! - [`block`]: data blocks with key prefix compression and restart points.
//! - [`compression`]: whether a block is stored as it is or compressed (its type byte).
//! - [`index`]: the last key of every data block and where it lies.
//! - the filter block is a [`crate::storage::bloom`] filter over the distinct user keys.
//! - [`props`]: counts, key and timestamp ranges.
//! - [`footer`]: where the three metadata blocks are, a magic number and a version.
//!
//! Every block is stored as it is or compressed ([`compression`]), followed by a type
//! byte `t` that says which and a CRC32 (`crc32fast`, little-endian) of both, checked on
//! every read before anything is decompressed; the footer carries its own. Files of
//! format version 1 (no type byte, nothing compressed) are still read. A damaged file is reported as
//! [`crate::Error::Corruption`] naming the file and the block offset; decoding is
//! bounds-checked throughout and never returns wrong data or panics.
//! `docs/storage.md` describes the format byte by byte.

pub mod block;
pub mod builder;
pub mod compression;
pub mod file;
pub mod footer;
pub mod index;
pub mod iter;
pub mod props;
pub mod reader;

/// The name of block file number `id`: 20 decimal digits and `.sst`.
pub fn table_file_name(id: u64) -> String {
    format!("{id:020}.sst")
}

/// The file number in a block file's name, if it is one.
pub fn parse_table_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".sst")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub use builder::{TableBuilder, TableOptions, TableSummary};
pub use compression::Compression;
pub use file::{BlockSource, FileSink, FileSource, MemSource};
pub use iter::{ConcatIter, TableIter};
pub use props::Properties;
pub use reader::{Table, VerifySummary};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Status;
    use crate::storage::cache::BlockCache;
    use crate::storage::entry::{Entry, EntryIter, read_all};

    fn entries(n: usize) -> Vec<Entry> {
        let mut out = Vec::new();
        for i in 0..n {
            let key = format!("key{:06}", i).into_bytes();
            for v in 0..(i % 3 + 1) {
                let ts = 1000 - v as u64 * 10 - (i as u64 % 7);
                let value = ((i + v) % 5 != 0).then(|| vec![(i % 251) as u8; i % 300]);
                out.push(Entry::new(key.clone(), ts, value));
            }
        }
        out
    }

    fn build(es: &[Entry], opts: TableOptions) -> Vec<u8> {
        let mut b = TableBuilder::new(Vec::new(), "mem", opts);
        for e in es {
            b.add(&e.key, e.ts, e.value.as_deref()).unwrap();
        }
        let (bytes, summary) = b.finish().unwrap();
        assert_eq!(summary.file_size, bytes.len() as u64);
        assert_eq!(summary.props.entry_count, es.len() as u64);
        bytes
    }

    fn open(bytes: Vec<u8>, cache: Option<Arc<BlockCache>>) -> Arc<Table> {
        Table::open(Arc::new(MemSource::new("mem", bytes)), 7, cache).unwrap()
    }

    #[test]
    fn build_open_get_iterate_verify() {
        let es = entries(2000);
        let opts = TableOptions {
            block_size: 512,
            ..TableOptions::default()
        };
        let cache = Arc::new(BlockCache::new(1 << 20));
        let t = open(build(&es, opts), Some(cache.clone()));
        assert!(t.block_count() > 10);
        assert_eq!(read_all(&mut t.iter()).unwrap(), es);
        let mut it = t.iter();
        it.seek_to_last().unwrap();
        let mut back = Vec::new();
        while it.valid() {
            back.push(Entry::new(
                it.key(),
                it.ts(),
                it.value().map(<[u8]>::to_vec),
            ));
            it.prev().unwrap();
        }
        back.reverse();
        assert_eq!(back, es);
        for e in es.iter().step_by(7) {
            assert_eq!(t.get(&e.key, e.ts).unwrap(), Some((e.ts, e.value.clone())));
            assert_eq!(
                t.get(&e.key, u64::MAX).unwrap().map(|(ts, _)| ts >= e.ts),
                Some(true)
            );
        }
        assert_eq!(t.get(b"key000001", 0).unwrap(), None);
        assert_eq!(t.get(b"nope", u64::MAX).unwrap(), None);
        assert_eq!(t.get(b"key0000005", u64::MAX).unwrap(), None);
        let v = t.verify().unwrap();
        assert_eq!(v.entries, es.len() as u64);
        assert!(cache.stats().hits > 0);
        let p = t.properties();
        assert_eq!(p.min_key, b"key000000");
        assert_eq!(p.max_key, b"key001999");
        assert_eq!(p.key_count, 2000);
        assert_eq!(
            p.tombstone_count,
            es.iter().filter(|e| e.value.is_none()).count() as u64
        );
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(table_file_name(42), "00000000000000000042.sst");
        assert_eq!(parse_table_file_name(&table_file_name(42)), Some(42));
        assert_eq!(
            parse_table_file_name(&table_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_table_file_name("42.sst"), None);
        assert_eq!(parse_table_file_name("0000000000000000004x.sst"), None);
        assert_eq!(parse_table_file_name("99999999999999999999.sst"), None);
        assert_eq!(parse_table_file_name("00000000000000000042.log"), None);
    }

    #[test]
    fn builder_rejects_disorder_and_empty_files() {
        let mut b = TableBuilder::new(Vec::new(), "mem", TableOptions::default());
        b.add(b"b", 5, Some(b"x")).unwrap();
        assert_eq!(
            b.add(b"b", 5, None).unwrap_err().status(),
            Status::InvalidArgument
        );
        assert_eq!(
            b.add(b"b", 6, None).unwrap_err().status(),
            Status::InvalidArgument
        );
        assert_eq!(
            b.add(b"a", 1, None).unwrap_err().status(),
            Status::InvalidArgument
        );
        b.add(b"b", 4, None).unwrap();
        let long = vec![0u8; crate::storage::MAX_KEY_LEN + 1];
        assert_eq!(
            b.add(&long, 1, None).unwrap_err().status(),
            Status::TooLarge
        );
        let empty = TableBuilder::new(Vec::new(), "mem", TableOptions::default());
        assert_eq!(
            empty.finish().unwrap_err().status(),
            Status::InvalidArgument
        );
    }

    #[test]
    fn large_values_and_keys_span_their_own_blocks() {
        let big = vec![7u8; 300_000];
        let key = vec![b'k'; crate::storage::MAX_KEY_LEN];
        let es = vec![
            Entry::new(b"a".to_vec(), 3, Some(big.clone())),
            Entry::new(b"b".to_vec(), 2, Some(Vec::new())),
            Entry::new(key.clone(), 1, None),
        ];
        let t = open(build(&es, TableOptions::default()), None);
        assert_eq!(t.get(b"a", 9).unwrap(), Some((3, Some(big))));
        assert_eq!(t.get(b"b", 9).unwrap(), Some((2, Some(Vec::new()))));
        assert_eq!(t.get(&key, 9).unwrap(), Some((1, None)));
        assert_eq!(read_all(&mut t.iter()).unwrap(), es);
    }

    #[test]
    fn truncated_and_foreign_files_are_corruption() {
        let bytes = build(&entries(50), TableOptions::default());
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            let src = Arc::new(MemSource::new("cut", bytes[..cut].to_vec()));
            let err = Table::open(src, 1, None).err().unwrap();
            assert_eq!(err.status(), Status::Corruption, "cut at {cut}");
            assert!(err.to_string().contains("cut"), "{err}");
        }
        let mut longer = bytes.clone();
        longer.insert(0, 0);
        let src = Arc::new(MemSource::new("longer", longer));
        assert_eq!(
            Table::open(src, 1, None).err().unwrap().status(),
            Status::Corruption
        );
    }

    #[test]
    fn concat_iter_walks_files_in_order_both_ways() {
        let es = entries(300);
        let parts: Vec<Arc<Table>> = es
            .chunk_by(|a, b| a.key == b.key)
            .collect::<Vec<_>>()
            .chunks(37)
            .rev()
            .map(|groups| {
                let part: Vec<Entry> = groups.iter().flat_map(|g| g.iter().cloned()).collect();
                open(build(&part, TableOptions::default()), None)
            })
            .collect();
        let mut it = ConcatIter::new(parts, false);
        assert_eq!(read_all(&mut it).unwrap(), es);
        it.seek_to_last().unwrap();
        let mut n = 0;
        while it.valid() {
            n += 1;
            it.prev().unwrap();
        }
        assert_eq!(n, es.len());
        let target = &es[500];
        it.seek(&target.key, target.ts).unwrap();
        assert_eq!((it.key(), it.ts()), (target.key.as_slice(), target.ts));
        it.seek_for_prev(&target.key, 0).unwrap();
        assert_eq!(it.key(), target.key.as_slice());
        it.seek(b"zzz", 0).unwrap();
        assert!(!it.valid());
    }
}
