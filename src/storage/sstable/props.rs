//! The properties block: figures about a block file, known without reading its data.
//!
//! ```text
//! entry_count      u64 LE   versions stored
//! key_count        u64 LE   distinct user keys
//! tombstone_count  u64 LE   versions that are tombstones
//! min_ts           u64 LE   smallest timestamp
//! max_ts           u64 LE   largest timestamp
//! raw_key_bytes    u64 LE   sum of key lengths over all versions
//! raw_value_bytes  u64 LE   sum of value lengths over all versions
//! data_blocks      u64 LE   number of data blocks (= index entries)
//! min_key_len      u16 LE, min_key [u8; min_key_len]   first user key
//! max_key_len      u16 LE, max_key [u8; max_key_len]   last user key
//! ```

use crate::storage::coding::{DecodeError, Reader, put_u16, put_u64};

/// Figures about one block file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// Versions stored.
    pub entry_count: u64,
    /// Distinct user keys.
    pub key_count: u64,
    /// Versions that are tombstones.
    pub tombstone_count: u64,
    /// Smallest timestamp.
    pub min_ts: u64,
    /// Largest timestamp.
    pub max_ts: u64,
    /// Sum of key lengths over all versions.
    pub raw_key_bytes: u64,
    /// Sum of value lengths over all versions.
    pub raw_value_bytes: u64,
    /// Number of data blocks.
    pub data_blocks: u64,
    /// First user key.
    pub min_key: Vec<u8>,
    /// Last user key.
    pub max_key: Vec<u8>,
}

impl Properties {
    /// Encodes the properties block contents.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(68 + self.min_key.len() + self.max_key.len());
        for v in [
            self.entry_count,
            self.key_count,
            self.tombstone_count,
            self.min_ts,
            self.max_ts,
            self.raw_key_bytes,
            self.raw_value_bytes,
            self.data_blocks,
        ] {
            put_u64(&mut out, v);
        }
        for k in [&self.min_key, &self.max_key] {
            put_u16(&mut out, k.len() as u16);
            out.extend_from_slice(k);
        }
        out
    }

    /// Decodes the properties block contents and checks their consistency.
    pub fn decode(bytes: &[u8]) -> Result<Properties, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut p = Properties {
            entry_count: r.u64()?,
            key_count: r.u64()?,
            tombstone_count: r.u64()?,
            min_ts: r.u64()?,
            max_ts: r.u64()?,
            raw_key_bytes: r.u64()?,
            raw_value_bytes: r.u64()?,
            data_blocks: r.u64()?,
            ..Properties::default()
        };
        let len = usize::from(r.u16()?);
        p.min_key = r.bytes(len)?.to_vec();
        let len = usize::from(r.u16()?);
        p.max_key = r.bytes(len)?.to_vec();
        if r.remaining() != 0 {
            return Err(DecodeError("trailing bytes after the properties"));
        }
        let consistent = p.entry_count >= 1
            && p.key_count >= 1
            && p.key_count <= p.entry_count
            && p.tombstone_count <= p.entry_count
            && p.min_ts <= p.max_ts
            && p.min_key <= p.max_key
            && p.data_blocks >= 1;
        if !consistent {
            return Err(DecodeError("properties are inconsistent"));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_consistency() {
        let p = Properties {
            entry_count: 10,
            key_count: 4,
            tombstone_count: 2,
            min_ts: 3,
            max_ts: 9,
            raw_key_bytes: 40,
            raw_value_bytes: 800,
            data_blocks: 1,
            min_key: b"a".to_vec(),
            max_key: b"d".to_vec(),
        };
        let enc = p.encode();
        assert_eq!(Properties::decode(&enc), Ok(p.clone()));
        assert!(Properties::decode(&enc[..enc.len() - 1]).is_err());
        let bad = Properties {
            key_count: 11,
            ..p.clone()
        };
        assert!(Properties::decode(&bad.encode()).is_err());
        let bad = Properties {
            min_key: b"z".to_vec(),
            ..p
        };
        assert!(Properties::decode(&bad.encode()).is_err());
    }
}
