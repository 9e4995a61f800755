//! Little-endian field codecs shared by every payload: a bounds-checked [`Reader`],
//! writing helpers, and the encodings of values, schemas, query requests and scans.
//!
//! Decoding never trusts a count to size an allocation: every element read consumes at
//! least one payload byte, so no vector outgrows the payload it came from.

use crate::backend::{
    ColumnDef, ColumnType, Filter, FilterOp, QueryRequest, ScanOptions, ScanRange, TableSchema,
    Value,
};
use crate::error::{Error, Result};

/// A bounds-checked cursor over one payload. Every error names the payload, the field
/// and the byte offset.
#[derive(Debug)]
pub struct Reader<'a> {
    /// The payload.
    buf: &'a [u8],
    /// Offset of the next unread byte.
    pos: usize,
    /// What the payload is (`"PUT request"`), for messages.
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, described as `what` in errors.
    pub fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, pos: 0, what }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A malformed-payload error at the current offset.
    pub fn error(&self, detail: impl std::fmt::Display) -> Error {
        Error::Protocol(format!(
            "malformed {} payload at byte {}: {detail}",
            self.what, self.pos
        ))
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.error(format_args!(
                "{field} needs {n} bytes but only {} remain",
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let b = self.bytes(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// A `u8`.
    pub fn u8(&mut self, field: &str) -> Result<u8> {
        Ok(self.array::<1>(field)?[0])
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self, field: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self, field: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self, field: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A boolean byte (0 or 1).
    pub fn bool(&mut self, field: &str) -> Result<bool> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.error(format_args!("{field} must be 0 or 1, not {b}"))),
        }
    }

    /// Bytes preceded by a `u16` length.
    pub fn bytes16(&mut self, field: &str) -> Result<&'a [u8]> {
        let n = self.u16(field)? as usize;
        self.bytes(n, field)
    }

    /// Bytes preceded by a `u32` length.
    pub fn bytes32(&mut self, field: &str) -> Result<&'a [u8]> {
        let n = self.u32(field)? as usize;
        self.bytes(n, field)
    }

    /// UTF-8 text preceded by a `u16` length.
    pub fn str16(&mut self, field: &str) -> Result<&'a str> {
        let b = self.bytes16(field)?;
        self.utf8(b, field)
    }

    /// UTF-8 text preceded by a `u32` length.
    pub fn str32(&mut self, field: &str) -> Result<&'a str> {
        let b = self.bytes32(field)?;
        self.utf8(b, field)
    }

    /// Every remaining byte.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Every remaining byte, as UTF-8 text.
    pub fn rest_str(&mut self, field: &str) -> Result<&'a str> {
        let start = self.pos;
        let b = self.rest();
        std::str::from_utf8(b).map_err(|e| {
            Error::Protocol(format!(
                "malformed {} payload at byte {}: {field} is not valid UTF-8",
                self.what,
                start + e.valid_up_to()
            ))
        })
    }

    fn utf8(&self, b: &'a [u8], field: &str) -> Result<&'a str> {
        std::str::from_utf8(b).map_err(|e| {
            Error::Protocol(format!(
                "malformed {} payload at byte {}: {field} is not valid UTF-8",
                self.what,
                self.pos - b.len() + e.valid_up_to()
            ))
        })
    }

    /// Fails when bytes are left over.
    pub fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(self.error(format_args!(
                "{} unexpected trailing bytes",
                self.remaining()
            )));
        }
        Ok(())
    }

    /// A count that bounds a list whose elements take at least `min_elem` bytes each:
    /// a count the remaining bytes cannot hold is malformed.
    pub fn count(&mut self, n: usize, min_elem: usize, field: &str) -> Result<usize> {
        if n.saturating_mul(min_elem.max(1)) > self.remaining() {
            return Err(self.error(format_args!(
                "{field} announces {n} entries but only {} bytes remain",
                self.remaining()
            )));
        }
        Ok(n)
    }
}

/// Appends a `u16`.
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `u32`.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `u64`.
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends bytes preceded by a `u16` length; `TooLarge` over 65 535 bytes.
pub fn put_bytes16(out: &mut Vec<u8>, b: &[u8], field: &str) -> Result<()> {
    let n = u16::try_from(b.len()).map_err(|_| {
        Error::TooLarge(format!(
            "{field} of {} bytes exceeds the protocol's 65535",
            b.len()
        ))
    })?;
    put_u16(out, n);
    out.extend_from_slice(b);
    Ok(())
}

/// Appends bytes preceded by a `u32` length; `TooLarge` over `u32::MAX` bytes.
pub fn put_bytes32(out: &mut Vec<u8>, b: &[u8], field: &str) -> Result<()> {
    let n = u32::try_from(b.len())
        .map_err(|_| Error::TooLarge(format!("{field} of {} bytes", b.len())))?;
    put_u32(out, n);
    out.extend_from_slice(b);
    Ok(())
}

/// A `u16` count of a list, or `TooLarge`.
pub fn count16(n: usize, field: &str) -> Result<u16> {
    u16::try_from(n)
        .map_err(|_| Error::TooLarge(format!("{field}: {n} entries exceed the protocol's 65535")))
}

/// A `u32` count of a list, or `TooLarge`.
pub fn count32(n: usize, field: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::TooLarge(format!("{field}: {n} entries")))
}

/// Value tags: `0` null, `1` Int64, `2` UInt64, `3` Float64, `4` Text, `5` Binary,
/// `6` Bool (the column type code plus one).
pub mod tag {
    /// Null (no body).
    pub const NULL: u8 = 0;
    /// `i64` (8 bytes).
    pub const INT64: u8 = 1;
    /// `u64` (8 bytes).
    pub const UINT64: u8 = 2;
    /// `f64` bits (8 bytes).
    pub const FLOAT64: u8 = 3;
    /// `u32` length, UTF-8 bytes.
    pub const TEXT: u8 = 4;
    /// `u32` length, bytes.
    pub const BINARY: u8 = 5;
    /// One byte, 0 or 1.
    pub const BOOL: u8 = 6;
}

/// Appends a typed value: a tag byte, then its body.
pub fn put_value(out: &mut Vec<u8>, v: &Value) -> Result<()> {
    match v {
        Value::Null => out.push(tag::NULL),
        Value::Int64(i) => {
            out.push(tag::INT64);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::UInt64(u) => {
            out.push(tag::UINT64);
            put_u64(out, *u);
        }
        Value::Float64(f) => {
            out.push(tag::FLOAT64);
            put_u64(out, f.to_bits());
        }
        Value::Text(s) => {
            out.push(tag::TEXT);
            put_bytes32(out, s.as_bytes(), "text value")?;
        }
        Value::Binary(b) => {
            out.push(tag::BINARY);
            put_bytes32(out, b, "binary value")?;
        }
        Value::Bool(b) => {
            out.push(tag::BOOL);
            out.push(u8::from(*b));
        }
    }
    Ok(())
}

/// Reads a typed value written by [`put_value`].
pub fn get_value(r: &mut Reader<'_>) -> Result<Value> {
    Ok(match r.u8("value tag")? {
        tag::NULL => Value::Null,
        tag::INT64 => Value::Int64(r.u64("Int64 value")? as i64),
        tag::UINT64 => Value::UInt64(r.u64("UInt64 value")?),
        tag::FLOAT64 => Value::Float64(f64::from_bits(r.u64("Float64 value")?)),
        tag::TEXT => Value::Text(r.str32("Text value")?.to_string()),
        tag::BINARY => Value::Binary(r.bytes32("Binary value")?.to_vec()),
        tag::BOOL => Value::Bool(r.bool("Bool value")?),
        t => return Err(r.error(format_args!("unknown value tag {t}"))),
    })
}

/// Appends a schema: `u16 name_len`, name, `u16 column_count`, then per column
/// `u16 len`, name, `u8 type`, `u8 nullable` (the CREATE_TABLE layout).
pub fn put_schema(out: &mut Vec<u8>, s: &TableSchema) -> Result<()> {
    put_bytes16(out, s.name.as_bytes(), "table name")?;
    put_u16(out, count16(s.columns.len(), "columns")?);
    for c in &s.columns {
        put_bytes16(out, c.name.as_bytes(), "column name")?;
        out.push(c.ty as u8);
        out.push(u8::from(c.nullable));
    }
    Ok(())
}

/// Reads a schema written by [`put_schema`].
pub fn get_schema(r: &mut Reader<'_>) -> Result<TableSchema> {
    let name = r.str16("table name")?.to_string();
    let n = r.u16("column count")? as usize;
    let n = r.count(n, 4, "column list")?;
    let mut columns = Vec::with_capacity(n);
    for _ in 0..n {
        let cname = r.str16("column name")?.to_string();
        let code = r.u8("column type")?;
        let ty = ColumnType::from_code(code)
            .map_err(|_| r.error(format_args!("unknown column type code {code}")))?;
        let nullable = r.bool("column nullable flag")?;
        columns.push(ColumnDef {
            name: cname,
            ty,
            nullable,
        });
    }
    Ok(TableSchema { name, columns })
}

/// Appends a list of names: `u16 count`, then per name `u16 len` + UTF-8.
pub fn put_names16(out: &mut Vec<u8>, names: &[String], field: &str) -> Result<()> {
    put_u16(out, count16(names.len(), field)?);
    for n in names {
        put_bytes16(out, n.as_bytes(), field)?;
    }
    Ok(())
}

/// Reads a list written by [`put_names16`].
pub fn get_names16(r: &mut Reader<'_>, field: &str) -> Result<Vec<String>> {
    let n = r.u16(field)? as usize;
    let n = r.count(n, 2, field)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(r.str16(field)?.to_string());
    }
    Ok(v)
}

/// Appends a query request: `u16 source_len`, source, column names (`u16 count`, then
/// `u16 len` + name each), `u16 filter_count`, then per filter `u16 len`, column,
/// `u8 op`, value; `u8 has_limit`, `u64 limit`, `u64 offset`.
pub fn put_query(out: &mut Vec<u8>, q: &QueryRequest) -> Result<()> {
    put_bytes16(out, q.source.as_bytes(), "query source")?;
    put_names16(out, &q.columns, "query columns")?;
    put_u16(out, count16(q.filters.len(), "query filters")?);
    for f in &q.filters {
        put_bytes16(out, f.column.as_bytes(), "filter column")?;
        out.push(f.op as u8);
        put_value(out, &f.value)?;
    }
    out.push(u8::from(q.limit.is_some()));
    put_u64(out, q.limit.unwrap_or(0));
    put_u64(out, q.offset);
    Ok(())
}

/// Reads a query request written by [`put_query`].
pub fn get_query(r: &mut Reader<'_>) -> Result<QueryRequest> {
    let source = r.str16("query source")?.to_string();
    let columns = get_names16(r, "query columns")?;
    let n = r.u16("filter count")? as usize;
    let n = r.count(n, 4, "filter list")?;
    let mut filters = Vec::with_capacity(n);
    for _ in 0..n {
        let column = r.str16("filter column")?.to_string();
        let op = match r.u8("filter operator")? {
            0 => FilterOp::Eq,
            1 => FilterOp::Ne,
            2 => FilterOp::Lt,
            3 => FilterOp::Le,
            4 => FilterOp::Gt,
            5 => FilterOp::Ge,
            o => return Err(r.error(format_args!("unknown filter operator {o}"))),
        };
        let value = get_value(r)?;
        filters.push(Filter { column, op, value });
    }
    let has_limit = r.bool("has_limit flag")?;
    let limit = r.u64("limit")?;
    let offset = r.u64("offset")?;
    Ok(QueryRequest {
        source,
        columns,
        filters,
        limit: has_limit.then_some(limit),
        offset,
    })
}

/// Scan flags byte of SCAN_OPEN.
pub mod scan_flag {
    /// Descending key order.
    pub const REVERSE: u8 = 1;
    /// The `limit` field applies.
    pub const HAS_LIMIT: u8 = 2;
    /// The range has an end bound (kind 1 only).
    pub const HAS_END: u8 = 4;
}

/// What a SCAN_OPEN covers: kind `0` a key prefix, `1` a key range, `2` a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanTarget {
    /// Keys: a prefix or a range.
    Keys(ScanOptions),
    /// The path-shaped keys under a path (segment-aware), with order and limit.
    Path {
        /// The path, segments joined with `/`.
        path: String,
        /// Descending order.
        reverse: bool,
        /// At most this many entries.
        limit: Option<u64>,
    },
}

/// Appends a scan target: `u8 kind`, `u8 flags`, `u64 limit`, `u32 len` + start (prefix,
/// range start, or path), then `u32 len` + end when [`scan_flag::HAS_END`] is set.
pub fn put_scan(out: &mut Vec<u8>, t: &ScanTarget) -> Result<()> {
    let (kind, reverse, limit, first, end): (u8, bool, Option<u64>, &[u8], Option<&[u8]>) = match t
    {
        ScanTarget::Keys(o) => match &o.range {
            ScanRange::Prefix(p) => (0, o.reverse, o.limit, p, None),
            ScanRange::Range { start, end } => (1, o.reverse, o.limit, start, end.as_deref()),
        },
        ScanTarget::Path {
            path,
            reverse,
            limit,
        } => (2, *reverse, *limit, path.as_bytes(), None),
    };
    let mut flags = 0;
    if reverse {
        flags |= scan_flag::REVERSE;
    }
    if limit.is_some() {
        flags |= scan_flag::HAS_LIMIT;
    }
    if end.is_some() {
        flags |= scan_flag::HAS_END;
    }
    out.push(kind);
    out.push(flags);
    put_u64(out, limit.unwrap_or(0));
    put_bytes32(out, first, "scan start")?;
    if let Some(e) = end {
        put_bytes32(out, e, "scan end")?;
    }
    Ok(())
}

/// Reads a scan target written by [`put_scan`].
pub fn get_scan(r: &mut Reader<'_>) -> Result<ScanTarget> {
    let kind = r.u8("scan kind")?;
    let flags = r.u8("scan flags")?;
    if flags & !(scan_flag::REVERSE | scan_flag::HAS_LIMIT | scan_flag::HAS_END) != 0 {
        return Err(r.error(format_args!("unknown scan flags 0x{flags:02x}")));
    }
    let limit = r.u64("scan limit")?;
    let limit = (flags & scan_flag::HAS_LIMIT != 0).then_some(limit);
    let reverse = flags & scan_flag::REVERSE != 0;
    let has_end = flags & scan_flag::HAS_END != 0;
    if has_end && kind != 1 {
        return Err(r.error("only a range scan (kind 1) has an end bound"));
    }
    let first = r.bytes32("scan start")?;
    Ok(match kind {
        0 => ScanTarget::Keys(ScanOptions {
            range: ScanRange::Prefix(first.to_vec()),
            reverse,
            limit,
        }),
        1 => {
            let end = if has_end {
                Some(r.bytes32("scan end")?.to_vec())
            } else {
                None
            };
            ScanTarget::Keys(ScanOptions {
                range: ScanRange::Range {
                    start: first.to_vec(),
                    end,
                },
                reverse,
                limit,
            })
        }
        2 => ScanTarget::Path {
            path: std::str::from_utf8(first)
                .map_err(|_| r.error("scan path is not valid UTF-8"))?
                .to_string(),
            reverse,
            limit,
        },
        k => return Err(r.error(format_args!("unknown scan kind {k}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let vals = [
            Value::Null,
            Value::Int64(-5),
            Value::UInt64(u64::MAX),
            Value::Float64(-0.25),
            Value::Text("héllo".into()),
            Value::Binary(vec![0, 255]),
            Value::Bool(true),
        ];
        let mut out = Vec::new();
        for v in &vals {
            put_value(&mut out, v).unwrap();
        }
        let mut r = Reader::new(&out, "test");
        for v in &vals {
            assert_eq!(&get_value(&mut r).unwrap(), v);
        }
        r.finish().unwrap();
    }

    #[test]
    fn query_and_scan_round_trip() {
        let q = QueryRequest {
            source: "users".into(),
            columns: vec!["id".into(), "name".into()],
            filters: vec![Filter {
                column: "age".into(),
                op: FilterOp::Ge,
                value: Value::Int64(18),
            }],
            limit: Some(10),
            offset: 3,
        };
        let mut out = Vec::new();
        put_query(&mut out, &q).unwrap();
        let mut r = Reader::new(&out, "test");
        assert_eq!(get_query(&mut r).unwrap(), q);
        r.finish().unwrap();

        for t in [
            ScanTarget::Keys(ScanOptions {
                range: ScanRange::Prefix(b"a".to_vec()),
                reverse: true,
                limit: None,
            }),
            ScanTarget::Keys(ScanOptions {
                range: ScanRange::Range {
                    start: b"a".to_vec(),
                    end: Some(b"b".to_vec()),
                },
                reverse: false,
                limit: Some(7),
            }),
            ScanTarget::Keys(ScanOptions {
                range: ScanRange::Range {
                    start: vec![],
                    end: None,
                },
                reverse: false,
                limit: Some(0),
            }),
            ScanTarget::Path {
                path: "users/alice".into(),
                reverse: false,
                limit: None,
            },
        ] {
            let mut out = Vec::new();
            put_scan(&mut out, &t).unwrap();
            let mut r = Reader::new(&out, "test");
            assert_eq!(get_scan(&mut r).unwrap(), t);
            r.finish().unwrap();
        }
    }

    #[test]
    fn truncation_and_bad_utf8_are_errors_with_offsets() {
        let mut r = Reader::new(&[3, 0, b'a'], "X request");
        let e = r.str16("name").unwrap_err().to_string();
        assert!(e.contains("X request") && e.contains("name"), "{e}");
        let mut r = Reader::new(&[2, 0, 0xff, 0xfe], "X request");
        assert!(r.str16("name").is_err());
        let mut r = Reader::new(&[0xff, 0xff, 0], "X request");
        let n = r.u16("count").unwrap() as usize;
        assert!(r.count(n, 2, "list").is_err());
    }
}
