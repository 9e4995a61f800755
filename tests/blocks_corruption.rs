//! Every single-byte change anywhere in a block file, compressed or not, is reported as
//! corruption naming the file, when it is opened or when the damaged block is read, and
//! never yields wrong data.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use sochdb::Status;
use sochdb::storage::entry::{Entry, EntryIter};
use sochdb::storage::sstable::{Compression, FileSource, Table, TableBuilder, TableOptions};

/// The file's entries; `long` values (runs of one byte) make blocks that compress.
fn entries(long: bool) -> Vec<Entry> {
    let stretch = if long { 6 } else { 1 };
    let mut out = Vec::new();
    for i in 0..40u64 {
        let key = format!("k{:03}", i * 7).into_bytes();
        out.push(Entry::new(
            key.clone(),
            20 + i,
            Some(vec![i as u8; (i % 9) as usize * stretch]),
        ));
        if i % 4 == 0 {
            out.push(Entry::new(key, 10, None));
        }
    }
    out
}

/// Reads everything the file holds: every key by point lookup, then full scans both
/// ways. Returns the first error, after checking that whatever was returned before it
/// is right.
fn read_all(t: &Arc<Table>, es: &[Entry]) -> Result<(), sochdb::Error> {
    for e in es {
        let got = t.get(&e.key, e.ts)?;
        assert_eq!(
            got,
            Some((e.ts, e.value.clone())),
            "wrong data for {:?}",
            e.key
        );
    }
    let mut it = t.iter();
    it.seek_to_first()?;
    let mut i = 0;
    while it.valid() {
        let got = Entry::new(it.key(), it.ts(), it.value().map(<[u8]>::to_vec));
        assert_eq!(Some(&got), es.get(i), "wrong entry {i} scanning forward");
        i += 1;
        it.next()?;
    }
    assert_eq!(i, es.len(), "forward scan ended early without an error");
    it.seek_to_last()?;
    while it.valid() {
        i -= 1;
        assert_eq!(
            it.key(),
            es[i].key.as_slice(),
            "wrong entry {i} scanning backward"
        );
        it.prev()?;
    }
    t.verify()?;
    Ok(())
}

#[test]
fn every_byte_flip_is_detected() {
    flip_every_byte(Compression::None);
}

#[test]
fn every_byte_flip_in_a_compressed_file_is_detected() {
    flip_every_byte(Compression::Snappy);
}

/// Writes a small file of several blocks with `compression`, then flips every byte of
/// it in turn (three ways) and reads everything after each flip.
fn flip_every_byte(compression: Compression) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000009.sst");
    let name = path.display().to_string();
    let es = entries(compression == Compression::Snappy);
    let opts = TableOptions {
        block_size: 64,
        restart_interval: 4,
        bloom_bits_per_key: 10,
        compression,
    };
    let mut b = TableBuilder::new(std::fs::File::create(&path).unwrap(), name.clone(), opts);
    for e in &es {
        b.add(&e.key, e.ts, e.value.as_deref()).unwrap();
    }
    let (_, summary) = b.finish().unwrap();
    let len = summary.file_size;
    assert!(
        len > 500 && len < 8000,
        "a small file of several blocks: {len}"
    );

    let clean = Table::open(Arc::new(FileSource::open(&path).unwrap()), 9, None).unwrap();
    assert!(clean.block_count() >= 5);
    read_all(&clean, &es).unwrap();
    let compressed = clean.verify().unwrap().compressed_blocks;
    match compression {
        Compression::None => assert_eq!(compressed, 0),
        Compression::Snappy => assert!(compressed >= 3, "{compressed} compressed blocks"),
    }

    let rw = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let (mut on_open, mut on_read) = (0, 0);
    for offset in 0..len {
        let mut orig = [0u8; 1];
        rw.read_exact_at(&mut orig, offset).unwrap();
        for mask in [0x01u8, 0x80, 0xff] {
            rw.write_all_at(&[orig[0] ^ mask], offset).unwrap();
            let src = Arc::new(FileSource::open(&path).unwrap());
            let err = match Table::open(src, 9, None) {
                Err(e) => {
                    on_open += 1;
                    e
                }
                Ok(t) => {
                    on_read += 1;
                    read_all(&t, &es)
                        .expect_err(&format!("flip {mask:#x} at offset {offset} went unnoticed"))
                }
            };
            assert_eq!(err.status(), Status::Corruption, "offset {offset}: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&name),
                "offset {offset}: message lacks the file: {msg}"
            );
            assert!(msg.contains("offset"), "message lacks the offset: {msg}");
        }
        rw.write_all_at(&orig, offset).unwrap();
    }
    eprintln!("flips caught on open: {on_open}, on read: {on_read}");
    assert!(on_open > 0 && on_read > 0, "open {on_open}, read {on_read}");
    read_all(&clean, &es).unwrap();
}
