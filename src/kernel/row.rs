//! The row codec: a row's values in schema order, without column names.
//!
//! Layout (see `docs/transactions.md`):
//!
//! ```text
//! u8      format version (1)
//! varint  column count (must equal the schema's)
//! bytes   null bitmap, ceil(count / 8) bytes; bit i (byte i / 8, bit i % 8, least
//!         significant first) set means column i is null; unused bits are zero
//! then, for each non-null column in schema order:
//!   Int64    zigzag LEB128 varint
//!   UInt64   LEB128 varint
//!   Float64  8 bytes, IEEE 754 bits, little-endian
//!   Bool     1 byte, 0 or 1
//!   Text     varint length, then that many bytes of UTF-8
//!   Binary   varint length, then that many bytes
//! ```
//!
//! Decoding checks everything (version, count, bitmap, nulls in non-nullable columns,
//! varint overflow, lengths, UTF-8, trailing bytes) and reports a `Corruption` error that
//! names the table and row id.

use crate::backend::{ColumnDef, ColumnType, TableSchema, Value};
use crate::error::{Error, Result};

/// The row format version written by this code.
pub const ROW_FORMAT: u8 = 1;

/// Appends `v` as an LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A checked reader over a byte slice; every failure is described by a short reason.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    /// Current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Reads `n` bytes.
    pub fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "truncated: needs {n} bytes at offset {} of {}",
                    self.pos,
                    self.bytes.len()
                )
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16_be(&mut self) -> std::result::Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a big-endian u64.
    pub fn u64_be(&mut self) -> std::result::Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Reads an LEB128 varint of at most 10 bytes that fits in a u64.
    pub fn varint(&mut self) -> std::result::Result<u64, String> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            let low = u64::from(b & 0x7F);
            if shift == 63 && low > 1 {
                return Err(format!("varint at offset {start} overflows 64 bits"));
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("varint at offset {start} is longer than 10 bytes"))
    }
}

/// Checks a value for a column and returns it in the column's type. Integers convert
/// between Int64 and UInt64 when the value fits; every other mismatch is an error that
/// names the column.
pub fn coerce(table: &str, col: &ColumnDef, v: &Value) -> Result<Value> {
    let mismatch = || {
        Error::InvalidArgument(format!(
            "table {table:?} column {:?} has type {} and cannot hold {}",
            col.name,
            col.ty.name(),
            value_kind(v)
        ))
    };
    Ok(match (col.ty, v) {
        (_, Value::Null) => {
            if col.nullable {
                Value::Null
            } else {
                return Err(Error::InvalidArgument(format!(
                    "table {table:?} column {:?} is not nullable and cannot hold null",
                    col.name
                )));
            }
        }
        (ColumnType::Int64, Value::Int64(i)) => Value::Int64(*i),
        (ColumnType::Int64, Value::UInt64(u)) => Value::Int64(i64::try_from(*u).map_err(|_| {
            Error::InvalidArgument(format!(
                "table {table:?} column {:?} has type Int64 and cannot hold {u}",
                col.name
            ))
        })?),
        (ColumnType::UInt64, Value::UInt64(u)) => Value::UInt64(*u),
        (ColumnType::UInt64, Value::Int64(i)) => {
            Value::UInt64(u64::try_from(*i).map_err(|_| {
                Error::InvalidArgument(format!(
                    "table {table:?} column {:?} has type UInt64 and cannot hold {i}",
                    col.name
                ))
            })?)
        }
        (ColumnType::Float64, Value::Float64(f)) => Value::Float64(*f),
        (ColumnType::Text, Value::Text(s)) => Value::Text(s.clone()),
        (ColumnType::Binary, Value::Binary(b)) => Value::Binary(b.clone()),
        (ColumnType::Bool, Value::Bool(b)) => Value::Bool(*b),
        _ => return Err(mismatch()),
    })
}

/// A short name of a value's kind for messages (`"Text"`, `"null"`).
pub fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Int64(_) => "Int64",
        Value::UInt64(_) => "UInt64",
        Value::Float64(_) => "Float64",
        Value::Text(_) => "Text",
        Value::Binary(_) => "Binary",
        Value::Bool(_) => "Bool",
    }
}

/// Encodes a row whose values were checked with [`coerce`], one per column in order.
pub fn encode(schema: &TableSchema, values: &[Value]) -> Result<Vec<u8>> {
    let n = schema.columns.len();
    if values.len() != n {
        return Err(Error::Internal(format!(
            "row for table {:?} has {} values for {n} columns",
            schema.name,
            values.len()
        )));
    }
    let mut out = Vec::with_capacity(2 + n.div_ceil(8) + n * 4);
    out.push(ROW_FORMAT);
    put_varint(&mut out, n as u64);
    let bitmap_at = out.len();
    out.resize(bitmap_at + n.div_ceil(8), 0);
    for (i, (col, v)) in schema.columns.iter().zip(values).enumerate() {
        match (col.ty, v) {
            (_, Value::Null) => out[bitmap_at + i / 8] |= 1 << (i % 8),
            (ColumnType::Int64, Value::Int64(x)) => {
                put_varint(&mut out, ((x << 1) ^ (x >> 63)) as u64)
            }
            (ColumnType::UInt64, Value::UInt64(x)) => put_varint(&mut out, *x),
            (ColumnType::Float64, Value::Float64(x)) => {
                out.extend_from_slice(&x.to_bits().to_le_bytes())
            }
            (ColumnType::Bool, Value::Bool(x)) => out.push(u8::from(*x)),
            (ColumnType::Text, Value::Text(s)) => {
                put_varint(&mut out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            (ColumnType::Binary, Value::Binary(b)) => {
                put_varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
            (ty, v) => {
                return Err(Error::Internal(format!(
                    "table {:?} column {:?} of type {} given unchecked {}",
                    schema.name,
                    col.name,
                    ty.name(),
                    value_kind(v)
                )));
            }
        }
    }
    Ok(out)
}

/// Decodes a row, checking it fully; errors name the table and the row id.
pub fn decode(schema: &TableSchema, row_id: u64, bytes: &[u8]) -> Result<Vec<Value>> {
    decode_inner(schema, bytes).map_err(|why| {
        Error::Corruption(format!(
            "table {:?} row {row_id}: stored row of {} bytes is damaged: {why}",
            schema.name,
            bytes.len()
        ))
    })
}

fn decode_inner(schema: &TableSchema, bytes: &[u8]) -> std::result::Result<Vec<Value>, String> {
    let mut r = Reader::new(bytes);
    let version = r.u8()?;
    if version != ROW_FORMAT {
        return Err(format!("unknown row format version {version}"));
    }
    let n = schema.columns.len();
    let count = r.varint()?;
    if count != n as u64 {
        return Err(format!("holds {count} columns, the schema has {n}"));
    }
    let bitmap = r.take(n.div_ceil(8))?;
    if n % 8 != 0 {
        let last = bitmap[bitmap.len() - 1];
        if last >> (n % 8) != 0 {
            return Err("null bitmap has bits set past the last column".into());
        }
    }
    let mut values = Vec::with_capacity(n);
    for (i, col) in schema.columns.iter().enumerate() {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            if !col.nullable {
                return Err(format!("null in non-nullable column {:?}", col.name));
            }
            values.push(Value::Null);
            continue;
        }
        let at = r.pos();
        let v = match col.ty {
            ColumnType::Int64 => {
                let z = r.varint()?;
                Value::Int64(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            ColumnType::UInt64 => Value::UInt64(r.varint()?),
            ColumnType::Float64 => {
                let b = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Float64(f64::from_bits(u64::from_le_bytes(a)))
            }
            ColumnType::Bool => match r.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                other => {
                    return Err(format!(
                        "column {:?}: bool byte {other} at offset {at}",
                        col.name
                    ));
                }
            },
            ColumnType::Text => {
                let len = usize::try_from(r.varint()?).map_err(|_| "length overflow")?;
                let b = r.take(len)?;
                let s = std::str::from_utf8(b).map_err(|e| {
                    format!(
                        "column {:?}: text at offset {at} is not UTF-8: {e}",
                        col.name
                    )
                })?;
                Value::Text(s.to_owned())
            }
            ColumnType::Binary => {
                let len = usize::try_from(r.varint()?).map_err(|_| "length overflow")?;
                Value::Binary(r.take(len)?.to_vec())
            }
        };
        values.push(v);
    }
    if !r.is_empty() {
        return Err(format!(
            "{} trailing bytes after the last column",
            bytes.len() - r.pos()
        ));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        let col = |name: &str, ty, nullable| ColumnDef {
            name: name.into(),
            ty,
            nullable,
        };
        TableSchema {
            name: "t".into(),
            columns: vec![
                col("i", ColumnType::Int64, false),
                col("u", ColumnType::UInt64, true),
                col("f", ColumnType::Float64, true),
                col("s", ColumnType::Text, true),
                col("b", ColumnType::Binary, true),
                col("o", ColumnType::Bool, true),
                col("i2", ColumnType::Int64, true),
                col("s2", ColumnType::Text, false),
                col("u2", ColumnType::UInt64, true),
            ],
        }
    }

    fn sample() -> Vec<Value> {
        vec![
            Value::Int64(-5),
            Value::UInt64(u64::MAX),
            Value::Float64(0.1),
            Value::Text("héllo".into()),
            Value::Binary(vec![0, 255]),
            Value::Bool(true),
            Value::Null,
            Value::Text(String::new()),
            Value::Null,
        ]
    }

    #[test]
    fn round_trip() {
        let s = schema();
        let bytes = encode(&s, &sample()).unwrap();
        assert_eq!(decode(&s, 1, &bytes).unwrap(), sample());
    }

    #[test]
    fn truncation_and_trailing_bytes_are_corruption() {
        let s = schema();
        let bytes = encode(&s, &sample()).unwrap();
        for cut in 0..bytes.len() {
            let e = decode(&s, 7, &bytes[..cut]).unwrap_err();
            assert!(matches!(e, Error::Corruption(_)), "{e}");
            assert!(e.to_string().contains("table \"t\" row 7"), "{e}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&s, 7, &long).is_err());
    }

    #[test]
    fn coerce_checks_types_and_nulls() {
        let s = schema();
        let e = coerce("t", &s.columns[0], &Value::Null).unwrap_err();
        assert!(e.to_string().contains("\"i\""), "{e}");
        let e = coerce("t", &s.columns[3], &Value::Int64(1)).unwrap_err();
        assert!(e.to_string().contains("\"s\""), "{e}");
        assert_eq!(
            coerce("t", &s.columns[1], &Value::Int64(3)).unwrap(),
            Value::UInt64(3)
        );
        assert!(coerce("t", &s.columns[1], &Value::Int64(-3)).is_err());
        assert!(coerce("t", &s.columns[0], &Value::UInt64(u64::MAX)).is_err());
    }

    #[test]
    fn varint_extremes() {
        for v in [0, 1, 127, 128, u64::MAX / 2, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut r = Reader::new(&b);
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.is_empty());
        }
        let mut r = Reader::new(&[0xFF; 10]);
        assert!(r.varint().is_err());
        let mut r = Reader::new(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]);
        assert!(r.varint().is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&schema(), 3, &bytes);
        }

        #[test]
        fn flipped_bytes_never_panic(pos in 0usize..64, bit in 0u8..8) {
            let s = schema();
            let mut bytes = encode(&s, &sample()).unwrap();
            let pos = pos % bytes.len();
            bytes[pos] ^= 1 << bit;
            let _ = decode(&s, 3, &bytes);
        }

        #[test]
        fn ints_round_trip(i in any::<i64>(), u in any::<u64>(), f in any::<f64>()) {
            let s = schema();
            let mut vals = sample();
            vals[0] = Value::Int64(i);
            vals[1] = Value::UInt64(u);
            vals[2] = Value::Float64(f);
            let back = decode(&s, 1, &encode(&s, &vals).unwrap()).unwrap();
            prop_assert_eq!(&back[0], &vals[0]);
            prop_assert_eq!(&back[1], &vals[1]);
            match (&back[2], f) {
                (Value::Float64(g), f) => prop_assert_eq!(g.to_bits(), f.to_bits()),
                _ => prop_assert!(false),
            }
        }
    }
}
