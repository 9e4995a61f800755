//! The key layout: which bytes in the engine's one keyspace belong to users and which to
//! the kernel's own data (catalog, rows, markers).
//!
//! Every key that starts with [`SYSTEM_PREFIX`] (`0xFF`) is a system key; every other key
//! is a user key. Users may not write, read or scan system keys, and scans of the user
//! keyspace stop before `0xFF`. UTF-8 text never contains the byte `0xFF`, so every path
//! is a user key. The layout, byte by byte, is in `docs/transactions.md`.

use std::ops::Bound;

use crate::backend::ScanRange;
use crate::error::{Error, Result};
use crate::storage::check_key;

/// First byte of every system key.
pub const SYSTEM_PREFIX: u8 = 0xFF;
/// Second byte of a catalog entry key: `FF 01 <table name>`.
pub const TAG_CATALOG: u8 = 0x01;
/// Second byte of a row key: `FF 02 <table id: u64 BE> <row id: u64 BE>`.
pub const TAG_ROW: u8 = 0x02;
/// Second byte of the next-table-id counter key: `FF 03`.
pub const TAG_NEXT_TABLE_ID: u8 = 0x03;
/// Second byte of a drop-in-progress marker: `FF 04 <table id: u64 BE>`.
pub const TAG_DROPPING: u8 = 0x04;

/// A range of keys as a pair of bounds.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Renders a key for an error message: text when it is printable UTF-8, hex otherwise.
pub fn display_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if !s.chars().any(char::is_control) => format!("{s:?}"),
        _ => {
            let mut out = String::with_capacity(2 + key.len() * 2);
            out.push_str("0x");
            for b in key {
                out.push_str(&format!("{b:02x}"));
            }
            out
        }
    }
}

/// Checks a key a user reads or writes: within the length limit and outside the system
/// range.
pub fn check_user_key(key: &[u8]) -> Result<()> {
    check_key(key)?;
    if key.first() == Some(&SYSTEM_PREFIX) {
        return Err(Error::InvalidArgument(format!(
            "key {} starts with byte 0xFF, which is reserved for system data",
            display_key(key)
        )));
    }
    Ok(())
}

/// The engine bounds a user scan covers: the requested range clipped to the user keyspace
/// (everything below `0xFF`).
pub fn user_scan_bounds(range: &ScanRange) -> Result<KeyRange> {
    let system_start = vec![SYSTEM_PREFIX];
    match range {
        ScanRange::Prefix(prefix) => {
            check_user_key(prefix)?;
            let end = match prefix_end(prefix) {
                Some(end) if end < system_start => Bound::Excluded(end),
                _ => Bound::Excluded(system_start),
            };
            Ok((Bound::Included(prefix.clone()), end))
        }
        ScanRange::Range { start, end } => {
            check_user_key(start)?;
            let end = match end {
                Some(end) if *end < system_start => {
                    check_key(end)?;
                    Bound::Excluded(end.clone())
                }
                _ => Bound::Excluded(system_start),
            };
            Ok((Bound::Included(start.clone()), end))
        }
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` when no
/// such key exists (the prefix is empty or all `0xFF`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The key of a table's catalog entry.
pub fn catalog_key(table: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + table.len());
    k.push(SYSTEM_PREFIX);
    k.push(TAG_CATALOG);
    k.extend_from_slice(table.as_bytes());
    k
}

/// Bounds covering every catalog entry.
pub fn catalog_bounds() -> KeyRange {
    (
        Bound::Included(vec![SYSTEM_PREFIX, TAG_CATALOG]),
        Bound::Excluded(vec![SYSTEM_PREFIX, TAG_CATALOG + 1]),
    )
}

/// The table name a catalog key names, if the key is a catalog key.
pub fn table_of_catalog_key(key: &[u8]) -> Option<&[u8]> {
    match key {
        [SYSTEM_PREFIX, TAG_CATALOG, name @ ..] => Some(name),
        _ => None,
    }
}

/// The key of a row.
pub fn row_key(table_id: u64, row_id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(18);
    k.push(SYSTEM_PREFIX);
    k.push(TAG_ROW);
    k.extend_from_slice(&table_id.to_be_bytes());
    k.extend_from_slice(&row_id.to_be_bytes());
    k
}

/// Bounds covering every row of a table, in row id order.
pub fn row_bounds(table_id: u64) -> KeyRange {
    let mut start = vec![SYSTEM_PREFIX, TAG_ROW];
    start.extend_from_slice(&table_id.to_be_bytes());
    let end = prefix_end(&start).unwrap_or_else(|| vec![SYSTEM_PREFIX, TAG_ROW + 1]);
    (Bound::Included(start), Bound::Excluded(end))
}

/// The row id of a row key of `table_id`, or `None` when the key is not one.
pub fn row_id_of_key(table_id: u64, key: &[u8]) -> Option<u64> {
    match key {
        [SYSTEM_PREFIX, TAG_ROW, rest @ ..] if rest.len() == 16 => {
            let (tid, rid) = rest.split_at(8);
            let tid = u64::from_be_bytes(tid.try_into().ok()?);
            if tid != table_id {
                return None;
            }
            Some(u64::from_be_bytes(rid.try_into().ok()?))
        }
        _ => None,
    }
}

/// The key of the next-table-id counter.
pub fn next_table_id_key() -> Vec<u8> {
    vec![SYSTEM_PREFIX, TAG_NEXT_TABLE_ID]
}

/// The key of the marker left while a dropped table's rows are being removed.
pub fn dropping_key(table_id: u64) -> Vec<u8> {
    let mut k = vec![SYSTEM_PREFIX, TAG_DROPPING];
    k.extend_from_slice(&table_id.to_be_bytes());
    k
}

/// Bounds covering every drop marker.
pub fn dropping_bounds() -> KeyRange {
    (
        Bound::Included(vec![SYSTEM_PREFIX, TAG_DROPPING]),
        Bound::Excluded(vec![SYSTEM_PREFIX, TAG_DROPPING + 1]),
    )
}

/// The table id of a drop marker key.
pub fn table_id_of_dropping_key(key: &[u8]) -> Option<u64> {
    match key {
        [SYSTEM_PREFIX, TAG_DROPPING, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// Borrows a pair of owned bounds as slice bounds.
pub fn as_slice_bounds<'a>(
    lo: &'a Bound<Vec<u8>>,
    hi: &'a Bound<Vec<u8>>,
) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    let one = |b: &'a Bound<Vec<u8>>| match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (one(lo), one(hi))
}

/// False for an inverted or empty-exclusive range (which holds no key, and on which
/// `BTreeMap::range` would panic).
pub fn range_is_valid(r: &(Bound<&[u8]>, Bound<&[u8]>)) -> bool {
    match (r.0, r.1) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a < b,
        _ => true,
    }
}

/// True when `key` lies within `(lo, hi)`.
pub fn in_bounds(key: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let above = match lo {
        Bound::Included(l) => key >= l.as_slice(),
        Bound::Excluded(l) => key > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(h) => key <= h.as_slice(),
        Bound::Excluded(h) => key < h.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_keys_sort_numerically() {
        assert!(row_key(1, 2) < row_key(1, 10));
        assert!(row_key(1, u64::MAX) < row_key(2, 0));
        assert_eq!(row_id_of_key(7, &row_key(7, 42)), Some(42));
        assert_eq!(row_id_of_key(8, &row_key(7, 42)), None);
        let (lo, hi) = row_bounds(7);
        assert!(in_bounds(&row_key(7, 0), &lo, &hi));
        assert!(in_bounds(&row_key(7, u64::MAX), &lo, &hi));
        assert!(!in_bounds(&row_key(8, 0), &lo, &hi));
        assert!(!in_bounds(&row_key(6, u64::MAX), &lo, &hi));
    }

    #[test]
    fn user_keys_exclude_the_system_range() {
        assert!(check_user_key(b"").is_ok());
        assert!(check_user_key(&[0xFE, 0xFF]).is_ok());
        let err = check_user_key(&[0xFF, 1]).unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
        let (lo, hi) = user_scan_bounds(&ScanRange::Prefix(vec![])).unwrap();
        assert_eq!(lo, Bound::Included(vec![]));
        assert_eq!(hi, Bound::Excluded(vec![0xFF]));
        let (_, hi) = user_scan_bounds(&ScanRange::Prefix(vec![0xFE])).unwrap();
        assert_eq!(hi, Bound::Excluded(vec![0xFF]));
        let (_, hi) = user_scan_bounds(&ScanRange::Prefix(b"ab".to_vec())).unwrap();
        assert_eq!(hi, Bound::Excluded(b"ac".to_vec()));
        let (_, hi) = user_scan_bounds(&ScanRange::Range {
            start: b"a".to_vec(),
            end: Some(vec![0xFF, 0xFF]),
        })
        .unwrap();
        assert_eq!(hi, Bound::Excluded(vec![0xFF]));
        assert!(
            user_scan_bounds(&ScanRange::Range {
                start: vec![0xFF],
                end: None
            })
            .is_err()
        );
    }

    #[test]
    fn prefix_end_handles_ff() {
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn catalog_and_marker_keys_round_trip() {
        assert_eq!(table_of_catalog_key(&catalog_key("t")), Some(&b"t"[..]));
        assert_eq!(table_id_of_dropping_key(&dropping_key(9)), Some(9));
        assert_eq!(display_key(b"ab"), "\"ab\"");
        assert_eq!(display_key(&[0xFF, 1]), "0xff01");
    }
}
