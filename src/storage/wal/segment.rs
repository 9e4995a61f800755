//! Log segment files: their names and their header.
//!
//! A segment is named `wal-NNNNNN.log`, its number in decimal, zero-padded to at least
//! six digits; numbers start at 1 and have no gaps. It starts with a 36-byte header:
//!
//! ```text
//! offset  size  field
//! 0       8     magic "SOCHWAL\0"
//! 8       4     format version, little-endian (1)
//! 12      4     flags, little-endian (0; others are refused)
//! 16      8     segment number, little-endian (equals the number in the name)
//! 24      8     base timestamp: the newest commit timestamp before this segment
//! 32      4     crc32 of bytes 0..32, little-endian
//! ```
//!
//! Records (see `record.rs`) follow the header back to back up to the end of the file.

/// Bytes of a segment header.
pub const HEADER_LEN: usize = 36;
/// The magic number at the start of every segment.
pub const MAGIC: [u8; 8] = *b"SOCHWAL\0";
/// The segment format version this code writes and reads.
pub const VERSION: u32 = 1;

/// The file name of segment `seq`.
pub fn segment_name(seq: u64) -> String {
    format!("wal-{seq:06}.log")
}

/// The number of a segment file name, or `None` when `name` is not one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq: u64 = digits.parse().ok()?;
    (segment_name(seq) == name && seq > 0).then_some(seq)
}

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment number.
    pub seq: u64,
    /// The newest commit timestamp before this segment.
    pub base_ts: u64,
}

/// The header of segment `seq` whose first record follows commit `base_ts`.
pub fn encode_header(seq: u64, base_ts: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    h[24..32].copy_from_slice(&base_ts.to_le_bytes());
    let crc = crc32fast::hash(&h[0..32]);
    h[32..36].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Why a header did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes.
    Incomplete,
    /// Wrong magic, version, flags or checksum; the text says which.
    Bad(String),
}

/// Decodes the header at the start of `buf`.
pub fn decode_header(buf: &[u8]) -> Result<SegmentHeader, HeaderError> {
    let Some(h) = buf.first_chunk::<HEADER_LEN>() else {
        return Err(HeaderError::Incomplete);
    };
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let stored = u32_at(32);
    let computed = crc32fast::hash(&h[0..32]);
    if stored != computed {
        return Err(HeaderError::Bad(format!(
            "segment header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        )));
    }
    if h[0..8] != MAGIC {
        return Err(HeaderError::Bad("not a log segment (bad magic)".into()));
    }
    let version = u32_at(8);
    if version != VERSION {
        return Err(HeaderError::Bad(format!(
            "log segment format version {version} is not supported (this build reads {VERSION})"
        )));
    }
    let flags = u32_at(12);
    if flags != 0 {
        return Err(HeaderError::Bad(format!(
            "unknown segment flags {flags:#x}"
        )));
    }
    Ok(SegmentHeader {
        seq: u64_at(16),
        base_ts: u64_at(24),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(1), "wal-000001.log");
        assert_eq!(segment_name(12_345_678), "wal-12345678.log");
        for seq in [1, 999_999, 1_000_000, u64::MAX] {
            assert_eq!(parse_segment_name(&segment_name(seq)), Some(seq));
        }
        for bad in [
            "wal-1.log",
            "wal-000000.log",
            "wal-0000001.log",
            "wal-00000a.log",
            "x.log",
            "wal-000001.log.tmp",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_round_trip_and_damage() {
        let h = encode_header(3, 77);
        assert_eq!(
            decode_header(&h),
            Ok(SegmentHeader {
                seq: 3,
                base_ts: 77
            })
        );
        assert_eq!(decode_header(&h[..35]), Err(HeaderError::Incomplete));
        for i in 0..HEADER_LEN {
            let mut bad = h;
            bad[i] ^= 1;
            assert!(
                matches!(decode_header(&bad), Err(HeaderError::Bad(_))),
                "byte {i}"
            );
        }
    }
}
