//! Write batches: puts and deletes applied atomically under one commit timestamp, their
//! size limits, and their encoding in a log record (see `docs/storage.md`).

use crate::error::{Error, Result};

/// Largest key, in bytes (the empty key is a valid key).
pub const MAX_KEY_LEN: usize = 65_535;
/// Largest value, in bytes (15 MiB: a value plus its key always fits one protocol frame).
pub const MAX_VALUE_LEN: usize = 15 * 1024 * 1024;
/// Largest write batch, in bytes of keys and values together.
pub const MAX_BATCH_BYTES: usize = 256 * 1024 * 1024;
/// Most operations in one write batch.
pub const MAX_BATCH_OPS: usize = 1 << 24;

/// Operation code of a put in the batch encoding.
const OP_PUT: u8 = 1;
/// Operation code of a delete in the batch encoding.
const OP_DELETE: u8 = 2;
/// Encoded bytes of one operation besides its key and value: code, key length, value
/// length.
pub(crate) const OP_OVERHEAD: usize = 1 + 4 + 4;

/// One operation of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Store `value` under `key` (an empty value is a value).
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Delete `key` (a tombstone).
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl BatchOp {
    /// The key the operation touches.
    pub fn key(&self) -> &[u8] {
        match self {
            BatchOp::Put { key, .. } | BatchOp::Delete { key } => key,
        }
    }

    /// The value a put stores, or `None` for a delete.
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            BatchOp::Put { value, .. } => Some(value),
            BatchOp::Delete { .. } => None,
        }
    }
}

/// Puts and deletes applied atomically under one commit timestamp. Later operations on
/// the same key win.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The operations, in order.
    ops: Vec<BatchOp>,
    /// Bytes of keys and values.
    bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// A batch of `ops`, checking every limit.
    pub fn from_ops(ops: &[BatchOp]) -> Result<WriteBatch> {
        let mut batch = WriteBatch::new();
        for op in ops {
            match op {
                BatchOp::Put { key, value } => batch.put(key, value)?,
                BatchOp::Delete { key } => batch.delete(key)?,
            }
        }
        Ok(batch)
    }

    /// Adds a put, checking the size limits.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        self.reserve(key.len() + value.len())?;
        self.ops.push(BatchOp::Put {
            key: key.to_vec(),
            value: value.to_vec(),
        });
        Ok(())
    }

    /// Adds a delete, checking the size limit.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        check_key(key)?;
        self.reserve(key.len())?;
        self.ops.push(BatchOp::Delete { key: key.to_vec() });
        Ok(())
    }

    fn reserve(&mut self, n: usize) -> Result<()> {
        if self.ops.len() >= MAX_BATCH_OPS {
            return Err(Error::TooLarge(format!(
                "write batch already holds the maximum of {MAX_BATCH_OPS} operations"
            )));
        }
        let total = self.bytes.saturating_add(n);
        if total > MAX_BATCH_BYTES {
            return Err(Error::TooLarge(format!(
                "write batch of {total} bytes exceeds the maximum of {MAX_BATCH_BYTES}"
            )));
        }
        self.bytes = total;
        Ok(())
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of keys and values in the batch.
    pub fn byte_size(&self) -> usize {
        self.bytes
    }

    /// Removes every operation.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.bytes = 0;
    }
}

/// Checks a key against [`MAX_KEY_LEN`].
pub fn check_key(key: &[u8]) -> Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(Error::TooLarge(format!(
            "key of {} bytes exceeds the maximum of {MAX_KEY_LEN}",
            key.len()
        )));
    }
    Ok(())
}

/// Checks a value against [`MAX_VALUE_LEN`].
pub fn check_value(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::TooLarge(format!(
            "value of {} bytes exceeds the maximum of {MAX_VALUE_LEN}",
            value.len()
        )));
    }
    Ok(())
}

/// Checks `ops` against every limit, as adding them to a [`WriteBatch`] one by one
/// would; returns the bytes of their keys and values.
pub fn check_ops(ops: &[BatchOp]) -> Result<usize> {
    if ops.len() > MAX_BATCH_OPS {
        return Err(Error::TooLarge(format!(
            "write batch of {} operations exceeds the maximum of {MAX_BATCH_OPS}",
            ops.len()
        )));
    }
    let mut bytes = 0usize;
    for op in ops {
        check_key(op.key())?;
        let v = op.value().unwrap_or_default();
        check_value(v)?;
        bytes = bytes.saturating_add(op.key().len() + v.len());
    }
    if bytes > MAX_BATCH_BYTES {
        return Err(Error::TooLarge(format!(
            "write batch of {bytes} bytes exceeds the maximum of {MAX_BATCH_BYTES}"
        )));
    }
    Ok(bytes)
}

/// Encodes `ops`, whose keys and values take `bytes` bytes (the part of a batch record
/// after the commit timestamp): `count: u32`, then per operation `code: u8`,
/// `key_len: u32`, key, and for a put `value_len: u32`, value. Integers are
/// little-endian. The operations must be within the limits ([`check_ops`]).
pub(crate) fn encode_ops(ops: &[BatchOp], bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + bytes + ops.len() * OP_OVERHEAD);
    // A batch holds at most MAX_BATCH_OPS (< 2^32) operations, keys and values are
    // bounded well below 2^32, so the `as u32` casts below are exact.
    out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for op in ops {
        match op {
            BatchOp::Put { key, value } => {
                out.push(OP_PUT);
                out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(value);
            }
            BatchOp::Delete { key } => {
                out.push(OP_DELETE);
                out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                out.extend_from_slice(key);
            }
        }
    }
    out
}

/// Decodes what [`encode_ops`] produced. The error says what is wrong and where (offset
/// within `buf`). Never allocates more than `buf` justifies.
pub(crate) fn decode_ops(buf: &[u8]) -> std::result::Result<Vec<BatchOp>, String> {
    let mut r = Reader { buf, pos: 0 };
    let count = r.u32()? as usize;
    // Every operation takes at least 5 bytes: refuse counts the buffer cannot hold.
    if count > buf.len() / 5 {
        return Err(format!(
            "batch claims {count} operations in {} bytes",
            buf.len()
        ));
    }
    let mut ops = Vec::with_capacity(count);
    for i in 0..count {
        let at = r.pos;
        let code = r.u8()?;
        let key_len = r.u32()? as usize;
        if key_len > MAX_KEY_LEN {
            return Err(format!(
                "operation {i} at byte {at}: key length {key_len} exceeds {MAX_KEY_LEN}"
            ));
        }
        let key = r.bytes(key_len)?.to_vec();
        match code {
            OP_PUT => {
                let value_len = r.u32()? as usize;
                if value_len > MAX_VALUE_LEN {
                    return Err(format!(
                        "operation {i} at byte {at}: value length {value_len} exceeds \
                         {MAX_VALUE_LEN}"
                    ));
                }
                let value = r.bytes(value_len)?.to_vec();
                ops.push(BatchOp::Put { key, value });
            }
            OP_DELETE => ops.push(BatchOp::Delete { key }),
            other => {
                return Err(format!(
                    "operation {i} at byte {at}: unknown operation code {other}"
                ));
            }
        }
    }
    if r.pos != buf.len() {
        return Err(format!(
            "{} unexpected bytes after the last operation",
            buf.len() - r.pos
        ));
    }
    Ok(ops)
}

/// A bounds-checked cursor over a byte slice.
struct Reader<'a> {
    /// The bytes.
    buf: &'a [u8],
    /// The next byte to read.
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "{n} bytes needed at byte {} but only {} remain",
                    self.pos,
                    self.buf.len() - self.pos
                )
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip() {
        let mut b = WriteBatch::new();
        b.put(b"k1", b"v1").unwrap();
        b.put(b"", b"").unwrap();
        b.delete(b"k2").unwrap();
        b.put(&[0xff; 300], &[7; 1000]).unwrap();
        let enc = encode_ops(b.ops(), b.byte_size());
        assert_eq!(decode_ops(&enc).unwrap(), b.ops());
        assert_eq!(decode_ops(&encode_ops(&[], 0)).unwrap(), vec![]);
    }

    #[test]
    fn decode_rejects_damage_without_panicking() {
        let mut b = WriteBatch::new();
        b.put(b"key", b"value").unwrap();
        b.delete(b"gone").unwrap();
        let enc = encode_ops(b.ops(), b.byte_size());
        for cut in 0..enc.len() {
            assert!(decode_ops(&enc[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = enc.clone();
        extra.push(0);
        assert!(decode_ops(&extra).is_err());
        let mut bad_code = enc.clone();
        bad_code[4] = 9;
        assert!(
            decode_ops(&bad_code)
                .unwrap_err()
                .contains("unknown operation")
        );
        let huge_count = u32::MAX.to_le_bytes();
        assert!(decode_ops(&huge_count).is_err());
    }

    #[test]
    fn limits_are_enforced() {
        let mut b = WriteBatch::new();
        let err = b.put(&vec![0; MAX_KEY_LEN + 1], b"").unwrap_err();
        assert_eq!(err.status(), crate::Status::TooLarge);
        let err = b.put(b"k", &vec![0; MAX_VALUE_LEN + 1]).unwrap_err();
        assert_eq!(err.status(), crate::Status::TooLarge);
        assert!(b.is_empty());
        b.put(&vec![0; MAX_KEY_LEN], b"").unwrap();
        assert_eq!(b.byte_size(), MAX_KEY_LEN);
    }

    #[test]
    fn check_ops_agrees_with_building_a_batch() {
        let ok = vec![
            BatchOp::Put {
                key: b"ab".to_vec(),
                value: b"xyz".to_vec(),
            },
            BatchOp::Delete { key: vec![] },
        ];
        assert_eq!(
            check_ops(&ok).unwrap(),
            WriteBatch::from_ops(&ok).unwrap().byte_size()
        );
        for bad in [
            BatchOp::Delete {
                key: vec![0; MAX_KEY_LEN + 1],
            },
            BatchOp::Put {
                key: vec![],
                value: vec![0; MAX_VALUE_LEN + 1],
            },
        ] {
            let err = check_ops(std::slice::from_ref(&bad)).unwrap_err();
            assert_eq!(err.status(), crate::Status::TooLarge);
            assert!(WriteBatch::from_ops(&[bad]).is_err());
        }
        // 18 values of 15 MiB pass one by one but not together (zeroed allocations,
        // never touched: no memory is used for them).
        let big: Vec<BatchOp> = (0..18u8)
            .map(|i| BatchOp::Put {
                key: vec![i],
                value: vec![0; MAX_VALUE_LEN],
            })
            .collect();
        let err = check_ops(&big).unwrap_err();
        assert!(err.to_string().contains("exceeds the maximum"), "{err}");
    }
}
