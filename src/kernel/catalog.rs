//! The catalog: table schemas stored in the database itself.
//!
//! One entry per table, under the key `FF 01 <table name>`; its value:
//!
//! ```text
//! u8      catalog format version (1)
//! u64 BE  table id (never reused; row keys carry it)
//! u16 BE  column count (1 ..= MAX_COLUMNS)
//! per column:
//!   u16 BE  name length, then the name (UTF-8)
//!   u8      type code (ColumnType: 0 Int64, 1 UInt64, 2 Float64, 3 Text, 4 Binary, 5 Bool)
//!   u8      flags: bit 0 = nullable; other bits zero
//! ```
//!
//! The next table id lives under `FF 03` as a u64 BE.

use std::collections::HashSet;

use crate::backend::{ColumnDef, ColumnType, TableSchema};
use crate::error::{Error, Result};
use crate::kernel::row::Reader;

/// Catalog entry format version written by this code.
pub const CATALOG_FORMAT: u8 = 1;
/// Most columns a table may have.
pub const MAX_COLUMNS: usize = 4096;
/// Longest table or column name, in bytes.
pub const MAX_NAME_LEN: usize = 1024;

/// A table as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// The id in the table's row keys.
    pub id: u64,
    /// Its schema.
    pub schema: TableSchema,
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidArgument(format!("{what} name is empty")));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "{what} name of {} bytes exceeds the maximum of {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "{what} name {name:?} contains a control character"
        )));
    }
    Ok(())
}

/// Checks a table name (non-empty, at most [`MAX_NAME_LEN`] bytes, no control characters).
pub fn check_table_name(name: &str) -> Result<()> {
    check_name("table", name)
}

/// Checks a schema before it is created: a valid table name, 1 to [`MAX_COLUMNS`]
/// columns with valid, unique names.
pub fn check_schema(schema: &TableSchema) -> Result<()> {
    check_table_name(&schema.name)?;
    if schema.columns.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "table {:?} has no columns",
            schema.name
        )));
    }
    if schema.columns.len() > MAX_COLUMNS {
        return Err(Error::InvalidArgument(format!(
            "table {:?} has {} columns, more than the maximum of {MAX_COLUMNS}",
            schema.name,
            schema.columns.len()
        )));
    }
    let mut seen = HashSet::new();
    for col in &schema.columns {
        check_name(&format!("table {:?} column", schema.name), &col.name)?;
        if !seen.insert(col.name.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "table {:?} declares column {:?} twice",
                schema.name, col.name
            )));
        }
    }
    Ok(())
}

/// Encodes a catalog entry.
pub fn encode(info: &TableInfo) -> Vec<u8> {
    let mut out = vec![CATALOG_FORMAT];
    out.extend_from_slice(&info.id.to_be_bytes());
    out.extend_from_slice(&(info.schema.columns.len() as u16).to_be_bytes());
    for col in &info.schema.columns {
        out.extend_from_slice(&(col.name.len() as u16).to_be_bytes());
        out.extend_from_slice(col.name.as_bytes());
        out.push(col.ty as u8);
        out.push(u8::from(col.nullable));
    }
    out
}

/// Decodes a catalog entry for table `name`, checking it fully.
pub fn decode(name: &str, bytes: &[u8]) -> Result<TableInfo> {
    decode_inner(name, bytes).map_err(|why| {
        Error::Corruption(format!(
            "catalog entry of table {name:?} ({} bytes) is damaged: {why}",
            bytes.len()
        ))
    })
}

fn decode_inner(name: &str, bytes: &[u8]) -> std::result::Result<TableInfo, String> {
    let mut r = Reader::new(bytes);
    let version = r.u8()?;
    if version != CATALOG_FORMAT {
        return Err(format!("unknown catalog format version {version}"));
    }
    let id = r.u64_be()?;
    let count = usize::from(r.u16_be()?);
    if count == 0 || count > MAX_COLUMNS {
        return Err(format!("column count {count} out of range"));
    }
    let mut columns = Vec::with_capacity(count);
    for i in 0..count {
        let len = usize::from(r.u16_be()?);
        let raw = r.take(len)?;
        let col_name = std::str::from_utf8(raw)
            .map_err(|e| format!("column {i} name is not UTF-8: {e}"))?
            .to_owned();
        let code = r.u8()?;
        let ty = ColumnType::from_code(code).map_err(|e| format!("column {i}: {e}"))?;
        let flags = r.u8()?;
        if flags > 1 {
            return Err(format!("column {i} has unknown flags {flags:#x}"));
        }
        columns.push(ColumnDef {
            name: col_name,
            ty,
            nullable: flags == 1,
        });
    }
    if !r.is_empty() {
        return Err(format!("{} trailing bytes", bytes.len() - r.pos()));
    }
    let schema = TableSchema {
        name: name.to_owned(),
        columns,
    };
    check_schema(&schema).map_err(|e| e.to_string())?;
    Ok(TableInfo { id, schema })
}

/// Decodes the next-table-id counter (absent means 1).
pub fn decode_next_table_id(bytes: Option<&[u8]>) -> Result<u64> {
    match bytes {
        None => Ok(1),
        Some(b) => match <[u8; 8]>::try_from(b) {
            Ok(a) => Ok(u64::from_be_bytes(a)),
            Err(_) => Err(Error::Corruption(format!(
                "next-table-id counter has {} bytes, expected 8",
                b.len()
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn info() -> TableInfo {
        TableInfo {
            id: 42,
            schema: TableSchema {
                name: "users".into(),
                columns: vec![
                    ColumnDef {
                        name: "id".into(),
                        ty: ColumnType::UInt64,
                        nullable: false,
                    },
                    ColumnDef {
                        name: "näme".into(),
                        ty: ColumnType::Text,
                        nullable: true,
                    },
                ],
            },
        }
    }

    #[test]
    fn round_trip_and_truncation() {
        let bytes = encode(&info());
        assert_eq!(decode("users", &bytes).unwrap(), info());
        for cut in 0..bytes.len() {
            assert!(matches!(
                decode("users", &bytes[..cut]),
                Err(Error::Corruption(_))
            ));
        }
    }

    #[test]
    fn schema_checks() {
        let mut s = info().schema;
        s.columns.push(s.columns[0].clone());
        assert!(check_schema(&s).unwrap_err().to_string().contains("twice"));
        s.columns.clear();
        assert!(check_schema(&s).is_err());
        assert!(check_table_name("").is_err());
        assert!(check_table_name("a\nb").is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode("t", &bytes);
        }
    }
}
