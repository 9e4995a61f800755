//! Log record framing.
//!
//! ```text
//! offset  size  field
//! 0       4     crc32 (IEEE, crc32fast) of bytes 4 .. 9+len, little-endian
//! 4       4     len: bytes of payload, little-endian
//! 8       1     type (1 = batch; 0 is never written, so zeroed space never parses)
//! 9       len   payload
//! ```
//!
//! A batch record's payload is `commit_ts: u64 LE` followed by the batch operations
//! (`batch::encode_ops`).

use crc32fast::Hasher;

use crate::storage::batch::{MAX_BATCH_BYTES, MAX_BATCH_OPS, OP_OVERHEAD};

/// Bytes before a record's payload.
pub const HEADER_LEN: usize = 9;
/// Record type of a write batch.
pub const TYPE_BATCH: u8 = 1;
/// Largest payload a valid record can have (a maximal batch).
pub const MAX_PAYLOAD: usize = 8 + 4 + MAX_BATCH_BYTES + MAX_BATCH_OPS * OP_OVERHEAD;

/// The body of a batch record, encoded and checksummed before a timestamp is known.
pub struct PreparedBatch {
    /// `batch::encode_ops` of the batch.
    pub ops: Vec<u8>,
    /// CRC32 state over `ops` alone, combined with the header's when framed.
    pub ops_crc: Hasher,
}

impl PreparedBatch {
    /// Prepares encoded operations; `None` when they exceed the largest record.
    pub fn new(ops: Vec<u8>) -> Option<PreparedBatch> {
        if ops.len() + 8 > MAX_PAYLOAD {
            return None;
        }
        let mut ops_crc = Hasher::new();
        ops_crc.update(&ops);
        Some(PreparedBatch { ops, ops_crc })
    }

    /// Bytes of the framed record.
    pub fn framed_len(&self) -> usize {
        HEADER_LEN + 8 + self.ops.len()
    }

    /// Appends the framed batch record for commit timestamp `ts` to `out`.
    pub fn frame(&self, ts: u64, out: &mut Vec<u8>) {
        // `new` bounds the payload below MAX_PAYLOAD < 2^32, so the cast is exact.
        let len = (8 + self.ops.len()) as u32;
        let mut head = [0u8; HEADER_LEN - 4 + 8];
        head[0..4].copy_from_slice(&len.to_le_bytes());
        head[4] = TYPE_BATCH;
        head[5..13].copy_from_slice(&ts.to_le_bytes());
        let mut crc = Hasher::new();
        crc.update(&head);
        crc.combine(&self.ops_crc);
        out.reserve(self.framed_len());
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(&self.ops);
    }
}

/// What is found at an offset of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole record with a good checksum.
    Record {
        /// Its type.
        rtype: u8,
        /// Its payload.
        payload: &'a [u8],
        /// Bytes it takes, header included.
        len: usize,
    },
    /// The bytes end before the record does.
    Incomplete,
    /// The bytes are not a valid record; the text says why.
    Bad(String),
}

/// Parses the record at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    if buf.len() < HEADER_LEN {
        return Parsed::Incomplete;
    }
    let stored = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    let rtype = buf[8];
    if rtype != TYPE_BATCH {
        return Parsed::Bad(format!("unknown record type {rtype}"));
    }
    if len > MAX_PAYLOAD {
        return Parsed::Bad(format!(
            "record length {len} exceeds the maximum {MAX_PAYLOAD}"
        ));
    }
    let Some(total) = HEADER_LEN.checked_add(len) else {
        return Parsed::Bad(format!("record length {len} overflows"));
    };
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    let computed = crc32fast::hash(&buf[4..total]);
    if computed != stored {
        return Parsed::Bad(format!(
            "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    Parsed::Record {
        rtype,
        payload: &buf[HEADER_LEN..total],
        len: total,
    }
}

/// Splits a batch payload into its commit timestamp and encoded operations.
pub fn split_batch(payload: &[u8]) -> Option<(u64, &[u8])> {
    let (ts, ops) = payload.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*ts), ops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::{WriteBatch, decode_ops, encode_ops};

    fn framed(ts: u64, batch: &WriteBatch) -> Vec<u8> {
        let mut out = Vec::new();
        PreparedBatch::new(encode_ops(batch.ops(), batch.byte_size()))
            .unwrap()
            .frame(ts, &mut out);
        out
    }

    #[test]
    fn record_round_trip() {
        let mut b = WriteBatch::new();
        b.put(b"alpha", b"1").unwrap();
        b.delete(b"beta").unwrap();
        let rec = framed(42, &b);
        assert_eq!(
            rec.len(),
            PreparedBatch::new(encode_ops(b.ops(), b.byte_size()))
                .unwrap()
                .framed_len()
        );
        match parse(&rec) {
            Parsed::Record {
                rtype,
                payload,
                len,
            } => {
                assert_eq!(rtype, TYPE_BATCH);
                assert_eq!(len, rec.len());
                let (ts, ops) = split_batch(payload).unwrap();
                assert_eq!(ts, 42);
                assert_eq!(decode_ops(ops).unwrap(), b.ops());
            }
            other => panic!("{other:?}"),
        }
        // The checksum is the same as one computed in a single pass.
        assert_eq!(
            u32::from_le_bytes(rec[0..4].try_into().unwrap()),
            crc32fast::hash(&rec[4..])
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Parsed::Record { payload, .. } = parse(&bytes) {
                if let Some((_, ops)) = split_batch(payload) {
                    let _ = decode_ops(ops);
                }
            }
            let _ = decode_ops(&bytes);
        }

        #[test]
        fn framed_batches_round_trip(ops in proptest::collection::vec((proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20), proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20))), 0..10), ts in proptest::prelude::any::<u64>()) {
            let mut b = WriteBatch::new();
            for (k, v) in &ops {
                match v {
                    Some(v) => b.put(k, v).unwrap(),
                    None => b.delete(k).unwrap(),
                }
            }
            let rec = framed(ts, &b);
            match parse(&rec) {
                Parsed::Record { payload, len, .. } => {
                    proptest::prop_assert_eq!(len, rec.len());
                    let (got_ts, got_ops) = split_batch(payload).unwrap();
                    proptest::prop_assert_eq!(got_ts, ts);
                    proptest::prop_assert_eq!(decode_ops(got_ops).unwrap(), b.ops());
                }
                other => proptest::prop_assert!(false, "{:?}", other),
            }
        }
    }

    #[test]
    fn documented_example_matches() {
        // docs/storage.md, "Batch record payload": put("ab", "x") at timestamp 5.
        let mut b = WriteBatch::new();
        b.put(b"ab", b"x").unwrap();
        let want: Vec<u8> = [
            &[0x76, 0xbb, 0x0a, 0x08, 0x18, 0, 0, 0, 1][..],
            &[5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
            &[1, 2, 0, 0, 0, b'a', b'b', 1, 0, 0, 0, b'x'],
        ]
        .concat();
        assert_eq!(framed(5, &b), want);
    }

    #[test]
    fn torn_and_corrupt_records_are_detected() {
        let mut b = WriteBatch::new();
        b.put(b"key", b"value").unwrap();
        let rec = framed(7, &b);
        for cut in 0..rec.len() {
            assert_eq!(parse(&rec[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        for i in 0..rec.len() {
            let mut bad = rec.clone();
            bad[i] ^= 0x40;
            match parse(&bad) {
                Parsed::Bad(_) | Parsed::Incomplete => {}
                Parsed::Record { .. } => panic!("flip at byte {i} went unnoticed"),
            }
        }
        assert!(
            matches!(parse(&[0u8; 64]), Parsed::Bad(_)),
            "zeroes never parse"
        );
    }
}
