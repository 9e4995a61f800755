//! Typed cell values across the boundary: `sochdb_value` in, and owned arrays of them
//! out (rows and query results).

use std::ffi::c_char;

use super::args;
use crate::backend::{ColumnType, Value};
use crate::error::{Error, Result};

/// Type code `Int64` (signed 64-bit integer, field `int64`).
pub const SOCHDB_TYPE_INT64: u32 = 0;
/// Type code `UInt64` (unsigned 64-bit integer, field `uint64`).
pub const SOCHDB_TYPE_UINT64: u32 = 1;
/// Type code `Float64` (field `float64`).
pub const SOCHDB_TYPE_FLOAT64: u32 = 2;
/// Type code `Text` (UTF-8 in `data`/`len`).
pub const SOCHDB_TYPE_TEXT: u32 = 3;
/// Type code `Binary` (bytes in `data`/`len`).
pub const SOCHDB_TYPE_BINARY: u32 = 4;
/// Type code `Bool` (field `boolean`, 0 or 1).
pub const SOCHDB_TYPE_BOOL: u32 = 5;
/// Type code of a null value (values only; not a column type).
pub const SOCHDB_TYPE_NULL: u32 = 6;

/// A typed value: `kind` (one of `SOCHDB_TYPE_*`) says which field holds it.
///
/// As input (row writes, query filters) the bytes of text and binary values are only
/// borrowed during the call; `kind` is validated, text must be UTF-8, and `boolean` must
/// be 0 or 1. As output (rows, query results) every pointer belongs to the object the
/// value came from, and text is followed by a NUL byte that `len` does not count.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sochdb_value {
    /// One of `SOCHDB_TYPE_*`.
    pub kind: u32,
    /// `SOCHDB_TYPE_BOOL`: 0 or 1.
    pub boolean: u32,
    /// `SOCHDB_TYPE_INT64`.
    pub int64: i64,
    /// `SOCHDB_TYPE_UINT64`.
    pub uint64: u64,
    /// `SOCHDB_TYPE_FLOAT64`.
    pub float64: f64,
    /// `SOCHDB_TYPE_TEXT` and `SOCHDB_TYPE_BINARY`: the bytes (may be NULL when `len` is
    /// 0).
    pub data: *const u8,
    /// `SOCHDB_TYPE_TEXT` and `SOCHDB_TYPE_BINARY`: number of bytes.
    pub len: usize,
}

impl sochdb_value {
    /// A value of `kind` with every field zero.
    fn zero(kind: u32) -> sochdb_value {
        sochdb_value {
            kind,
            boolean: 0,
            int64: 0,
            uint64: 0,
            float64: 0.0,
            data: std::ptr::null(),
            len: 0,
        }
    }
}

/// One column of a table definition for `sochdb_table_create`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sochdb_column {
    /// Column name: non-empty NUL-terminated UTF-8, unique in the table.
    pub name: *const c_char,
    /// One of `SOCHDB_TYPE_INT64` ... `SOCHDB_TYPE_BOOL`.
    pub kind: u32,
    /// 1 if the column accepts null, 0 if not.
    pub nullable: u32,
}

/// A column name and a value, for row writes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sochdb_field {
    /// Column name (NUL-terminated UTF-8).
    pub name: *const c_char,
    /// The value (`SOCHDB_TYPE_NULL` for null).
    pub value: sochdb_value,
}

/// Decodes a column type code.
pub(crate) fn column_type(code: u32, what: &str) -> Result<ColumnType> {
    u8::try_from(code)
        .ok()
        .filter(|c| *c <= SOCHDB_TYPE_BOOL as u8)
        .map(ColumnType::from_code)
        .unwrap_or_else(|| {
            Err(Error::InvalidArgument(format!(
                "{what}: type {code} is not a column type (SOCHDB_TYPE_INT64 .. SOCHDB_TYPE_BOOL)"
            )))
        })
}

/// Reads a caller's value; `what` names it in errors (`"column email"`).
pub(crate) fn read(v: &sochdb_value, what: &str) -> Result<Value> {
    Ok(match v.kind {
        SOCHDB_TYPE_NULL => Value::Null,
        SOCHDB_TYPE_INT64 => Value::Int64(v.int64),
        SOCHDB_TYPE_UINT64 => Value::UInt64(v.uint64),
        SOCHDB_TYPE_FLOAT64 => Value::Float64(v.float64),
        SOCHDB_TYPE_BOOL => Value::Bool(args::boolean(v.boolean, &format!("{what}: boolean"))?),
        SOCHDB_TYPE_TEXT => {
            let b = args::bytes(v.data, v.len, what)?;
            let s = std::str::from_utf8(b).map_err(|e| {
                Error::InvalidArgument(format!("{what}: text is not valid UTF-8: {e}"))
            })?;
            Value::Text(s.to_string())
        }
        SOCHDB_TYPE_BINARY => Value::Binary(args::bytes(v.data, v.len, what)?.to_vec()),
        other => {
            return Err(Error::InvalidArgument(format!(
                "{what}: value type {other} is not one of SOCHDB_TYPE_*"
            )));
        }
    })
}

/// Values owned by the library and viewed by the caller: an array of `sochdb_value`
/// whose text and binary bytes live in one arena.
pub(crate) struct OwnedValues {
    /// The values the caller reads; their pointers point into `arena`.
    values: Vec<sochdb_value>,
    /// Text (each followed by a NUL) and binary bytes; never reallocated after build.
    _arena: Vec<u8>,
}

// SAFETY: the raw pointers in `values` point into `_arena`, which the struct owns and
// never mutates after construction; sharing or sending it is as safe as sharing the
// bytes themselves.
unsafe impl Send for OwnedValues {}
// SAFETY: as above; the struct is immutable after construction.
unsafe impl Sync for OwnedValues {}

impl OwnedValues {
    /// Copies `values` into library-owned storage.
    pub(crate) fn new(values: &[Value]) -> OwnedValues {
        let size: usize = values
            .iter()
            .map(|v| match v {
                Value::Text(s) => s.len() + 1,
                Value::Binary(b) => b.len(),
                _ => 0,
            })
            .sum();
        let mut arena = Vec::with_capacity(size);
        let mut out = Vec::with_capacity(values.len());
        let mut spans = Vec::with_capacity(values.len());
        for v in values {
            let start = arena.len();
            let c = match v {
                Value::Null => sochdb_value::zero(SOCHDB_TYPE_NULL),
                Value::Int64(i) => sochdb_value {
                    int64: *i,
                    ..sochdb_value::zero(SOCHDB_TYPE_INT64)
                },
                Value::UInt64(u) => sochdb_value {
                    uint64: *u,
                    ..sochdb_value::zero(SOCHDB_TYPE_UINT64)
                },
                Value::Float64(f) => sochdb_value {
                    float64: *f,
                    ..sochdb_value::zero(SOCHDB_TYPE_FLOAT64)
                },
                Value::Bool(b) => sochdb_value {
                    boolean: u32::from(*b),
                    ..sochdb_value::zero(SOCHDB_TYPE_BOOL)
                },
                Value::Text(s) => {
                    arena.extend_from_slice(s.as_bytes());
                    arena.push(0);
                    sochdb_value {
                        len: s.len(),
                        ..sochdb_value::zero(SOCHDB_TYPE_TEXT)
                    }
                }
                Value::Binary(b) => {
                    arena.extend_from_slice(b);
                    sochdb_value {
                        len: b.len(),
                        ..sochdb_value::zero(SOCHDB_TYPE_BINARY)
                    }
                }
            };
            spans.push(start);
            out.push(c);
        }
        // The arena is complete and will not move again: point the values into it.
        let base = arena.as_ptr();
        for (c, start) in out.iter_mut().zip(spans) {
            if matches!(c.kind, SOCHDB_TYPE_TEXT | SOCHDB_TYPE_BINARY)
                && (c.len > 0 || c.kind == SOCHDB_TYPE_TEXT)
            {
                // SAFETY: `start` is an offset of bytes pushed into `arena` above.
                c.data = unsafe { base.add(start) };
            }
        }
        OwnedValues {
            values: out,
            _arena: arena,
        }
    }

    /// The values.
    pub(crate) fn values(&self) -> &[sochdb_value] {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Status;

    #[test]
    fn reads_every_type_and_rejects_bad_input() {
        let text = b"h\xc3\xa9";
        let cases = [
            (
                sochdb_value {
                    int64: -5,
                    ..sochdb_value::zero(SOCHDB_TYPE_INT64)
                },
                Value::Int64(-5),
            ),
            (
                sochdb_value {
                    uint64: 7,
                    ..sochdb_value::zero(SOCHDB_TYPE_UINT64)
                },
                Value::UInt64(7),
            ),
            (
                sochdb_value {
                    float64: 1.5,
                    ..sochdb_value::zero(SOCHDB_TYPE_FLOAT64)
                },
                Value::Float64(1.5),
            ),
            (
                sochdb_value {
                    boolean: 1,
                    ..sochdb_value::zero(SOCHDB_TYPE_BOOL)
                },
                Value::Bool(true),
            ),
            (
                sochdb_value {
                    data: text.as_ptr(),
                    len: 3,
                    ..sochdb_value::zero(SOCHDB_TYPE_TEXT)
                },
                Value::Text("hé".into()),
            ),
            (
                sochdb_value {
                    data: text.as_ptr(),
                    len: 2,
                    ..sochdb_value::zero(SOCHDB_TYPE_BINARY)
                },
                Value::Binary(vec![b'h', 0xc3]),
            ),
            (
                sochdb_value::zero(SOCHDB_TYPE_TEXT),
                Value::Text(String::new()),
            ),
            (sochdb_value::zero(SOCHDB_TYPE_NULL), Value::Null),
        ];
        for (c, v) in cases {
            assert_eq!(read(&c, "x").unwrap(), v);
        }
        let bad = [
            sochdb_value::zero(7),
            sochdb_value {
                boolean: 2,
                ..sochdb_value::zero(SOCHDB_TYPE_BOOL)
            },
            sochdb_value {
                data: text.as_ptr(),
                len: 2,
                ..sochdb_value::zero(SOCHDB_TYPE_TEXT)
            },
            sochdb_value {
                len: 2,
                ..sochdb_value::zero(SOCHDB_TYPE_BINARY)
            },
        ];
        for c in bad {
            let e = read(&c, "column c").unwrap_err();
            assert_eq!(e.status(), Status::InvalidArgument);
            assert!(e.to_string().contains("column c"), "{e}");
        }
    }

    #[test]
    fn column_types_are_validated() {
        assert_eq!(column_type(3, "c").unwrap(), ColumnType::Text);
        assert!(column_type(SOCHDB_TYPE_NULL, "c").is_err());
        assert!(column_type(256 + 3, "c").is_err());
    }

    #[test]
    fn owned_values_round_trip() {
        let vals = vec![
            Value::Text("ab".into()),
            Value::Null,
            Value::Binary(vec![]),
            Value::Binary(vec![1, 2]),
            Value::Text(String::new()),
            Value::Int64(-1),
        ];
        let o = OwnedValues::new(&vals);
        let back: Vec<Value> = o.values().iter().map(|v| read(v, "v").unwrap()).collect();
        assert_eq!(back, vals);
        // SAFETY: text values are NUL-terminated inside the arena.
        assert_eq!(unsafe { *o.values()[0].data.add(2) }, 0);
        assert!(o.values()[2].data.is_null());
        assert!(!o.values()[4].data.is_null());
    }
}
