//! Tables and rows: create, list, describe and drop tables; insert, upsert, update, get
//! and delete rows with typed values.

use std::ffi::c_char;

use super::args;
use super::buf::sochdb_buf;
use super::db::{self, sochdb_db};
use super::error::sochdb_error;
use super::guard::{guard, guard_ok, guard_void};
use super::handle::{self, Handle};
use super::status::{SOCHDB_NOT_FOUND, SOCHDB_OK, sochdb_status};
use super::txn::{Scope, sochdb_txn};
use super::value::{self, OwnedValues, sochdb_column, sochdb_field, sochdb_value};
use crate::backend::{ColumnDef, RowWriteMode, TableSchema, Value};
use crate::error::Result;

/// A row read by `sochdb_row_get`: one value per declared column, in declared order
/// (`sochdb_table_describe` gives the names).
///
/// Ownership: the values belong to the row; free it with `sochdb_row_free`, which resets
/// it to all zeros (freeing twice is harmless). `owner` is the library's bookkeeping; do
/// not change it.
#[repr(C)]
#[derive(Debug)]
pub struct sochdb_row {
    /// The values (NULL when `count` is 0).
    pub values: *const sochdb_value,
    /// Number of values.
    pub count: usize,
    /// The library object that owns the values.
    pub owner: *mut sochdb_row_data,
}

impl sochdb_row {
    const EMPTY: sochdb_row = sochdb_row {
        values: std::ptr::null(),
        count: 0,
        owner: std::ptr::null_mut(),
    };
}

/// The storage behind a `sochdb_row` (opaque).
pub struct sochdb_row_data {
    _opaque: [u8; 0],
}

/// What a row's owner handle points to.
pub struct RowObj {
    /// The values and their bytes, kept alive for the caller's views.
    _values: OwnedValues,
}

impl Handle for RowObj {
    const KIND: &'static str = "sochdb_row_data";
    type C = sochdb_row_data;
}

/// Creates a table with `column_count` columns.
///
/// Ownership: `name` and `columns` are only borrowed. Errors:
/// `SOCHDB_ALREADY_EXISTS`, `SOCHDB_INVALID_ARGUMENT` (NULL arguments, no columns, an
/// empty or duplicate column name, an unknown type code, `nullable` not 0 or 1),
/// `SOCHDB_CLOSED`, `SOCHDB_READ_ONLY`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_table_create(
    db: *mut sochdb_db,
    name: *const c_char,
    columns: *const sochdb_column,
    column_count: usize,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_table_create", err, || {
        let name = args::string(name, "table name")?;
        let cols = args::array(columns, column_count, "columns")?;
        let mut defs = Vec::with_capacity(cols.len());
        for (i, c) in cols.iter().enumerate() {
            let col = args::string(c.name, &format!("name of column {i}"))?;
            let what = format!("column {col}");
            defs.push(ColumnDef {
                name: col.to_string(),
                ty: value::column_type(c.kind, &what)?,
                nullable: args::boolean(c.nullable, &format!("{what}: nullable"))?,
            });
        }
        let schema = TableSchema {
            name: name.to_string(),
            columns: defs,
        };
        db::get(db)?.backend()?.create_table(&schema)
    })
}

/// Drops a table and all its rows. Errors: `SOCHDB_NOT_FOUND` (no such table, with an
/// error object), `SOCHDB_INVALID_ARGUMENT`, `SOCHDB_CLOSED`, `SOCHDB_READ_ONLY`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_table_drop(
    db: *mut sochdb_db,
    name: *const c_char,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_table_drop", err, || {
        let name = args::string(name, "table name")?;
        db::get(db)?.backend()?.drop_table(name)
    })
}

/// The names of all tables, sorted, as a JSON array of strings (`["orders","users"]`).
///
/// Ownership: free `*json` with `sochdb_buf_free`. Errors: `SOCHDB_INVALID_ARGUMENT`,
/// `SOCHDB_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_table_list(
    db: *mut sochdb_db,
    json: *mut sochdb_buf,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(json, sochdb_buf::EMPTY);
    guard_ok("sochdb_table_list", err, || {
        let out = args::out(json, "json")?;
        let names = db::get(db)?.backend()?.list_tables()?;
        args::set(
            out,
            sochdb_buf::from_text(serde_json::json!(names).to_string()),
        );
        Ok(())
    })
}

/// A table's schema as a JSON object:
/// `{"name":"users","columns":[{"name":"id","type":"Int64","nullable":false},...]}`
/// (type names: Int64, UInt64, Float64, Text, Binary, Bool).
///
/// Ownership: free `*json` with `sochdb_buf_free`. Errors: `SOCHDB_NOT_FOUND` (no such
/// table), `SOCHDB_INVALID_ARGUMENT`, `SOCHDB_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_table_describe(
    db: *mut sochdb_db,
    name: *const c_char,
    json: *mut sochdb_buf,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(json, sochdb_buf::EMPTY);
    guard_ok("sochdb_table_describe", err, || {
        let out = args::out(json, "json")?;
        let name = args::string(name, "table name")?;
        let schema = db::get(db)?.backend()?.describe_table(name)?;
        args::set(out, sochdb_buf::from_text(schema_json(&schema).to_string()));
        Ok(())
    })
}

/// The JSON form of a schema.
pub(crate) fn schema_json(schema: &TableSchema) -> serde_json::Value {
    let cols: Vec<serde_json::Value> = schema
        .columns
        .iter()
        .map(|c| serde_json::json!({"name": c.name, "type": c.ty.name(), "nullable": c.nullable}))
        .collect();
    serde_json::json!({"name": schema.name, "columns": cols})
}

/// Reads the caller's fields into named values.
fn fields(ptr: *const sochdb_field, n: usize) -> Result<Vec<(String, Value)>> {
    let fs = args::array(ptr, n, "fields")?;
    let mut out = Vec::with_capacity(fs.len());
    for (i, f) in fs.iter().enumerate() {
        let name = args::string(f.name, &format!("name of field {i}"))?;
        let v = value::read(&f.value, &format!("column {name}"))?;
        out.push((name.to_string(), v));
    }
    Ok(out)
}

/// The shared body of insert, upsert and update.
#[allow(clippy::too_many_arguments)]
fn write_row(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    table: *const c_char,
    row_id: Option<u64>,
    fs: *const sochdb_field,
    n: usize,
    mode: RowWriteMode,
    out_id: *mut u64,
) -> Result<()> {
    let table = args::string(table, "table name")?;
    let values = fields(fs, n)?;
    let id = Scope::resolve(db, txn)?.run(|b, t| b.write_row(t, table, row_id, &values, mode))?;
    args::set(out_id, id);
    Ok(())
}

/// Reads an optional row id.
fn opt_id(row_id: *const u64) -> Result<Option<u64>> {
    if row_id.is_null() {
        return Ok(None);
    }
    Ok(args::array(row_id, 1, "row_id")?.first().copied())
}

/// Inserts a row. `row_id` NULL assigns the next id; `*out_row_id` (may be NULL)
/// receives the row's id. Columns not named in `fields` are null. `txn` may be NULL (the
/// insert commits on its own) or a transaction of `db`.
///
/// Ownership: everything is borrowed. Errors: `SOCHDB_ALREADY_EXISTS` (the id is taken),
/// `SOCHDB_NOT_FOUND` (no such table), `SOCHDB_INVALID_ARGUMENT` (an unknown column, a
/// value of the wrong type, a null in a non-nullable column, bad type codes; the message
/// names the column), `SOCHDB_CLOSED`, `SOCHDB_READ_ONLY`, `SOCHDB_CONFLICT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_row_insert(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    table: *const c_char,
    row_id: *const u64,
    fields: *const sochdb_field,
    field_count: usize,
    out_row_id: *mut u64,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(out_row_id, 0);
    guard_ok("sochdb_row_insert", err, || {
        let id = opt_id(row_id)?;
        write_row(
            db,
            txn,
            table,
            id,
            fields,
            field_count,
            RowWriteMode::Insert,
            out_row_id,
        )
    })
}

/// Inserts or replaces a row (a replaced row takes exactly the given fields; the others
/// become null). Arguments and errors as `sochdb_row_insert`, without
/// `SOCHDB_ALREADY_EXISTS`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_row_upsert(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    table: *const c_char,
    row_id: *const u64,
    fields: *const sochdb_field,
    field_count: usize,
    out_row_id: *mut u64,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(out_row_id, 0);
    guard_ok("sochdb_row_upsert", err, || {
        let id = opt_id(row_id)?;
        write_row(
            db,
            txn,
            table,
            id,
            fields,
            field_count,
            RowWriteMode::Upsert,
            out_row_id,
        )
    })
}

/// Changes the named columns of an existing row, leaving the others as they are.
/// Errors: as `sochdb_row_insert`, and `SOCHDB_NOT_FOUND` (with an error object) when
/// the row does not exist.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_row_update(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    table: *const c_char,
    row_id: u64,
    fields: *const sochdb_field,
    field_count: usize,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_row_update", err, || {
        write_row(
            db,
            txn,
            table,
            Some(row_id),
            fields,
            field_count,
            RowWriteMode::Update,
            std::ptr::null_mut(),
        )
    })
}

/// Reads a row into `*row`. An absent row returns `SOCHDB_NOT_FOUND` with no error
/// object (a missing table is `SOCHDB_NOT_FOUND` with one).
///
/// Ownership: free `*row` with `sochdb_row_free` (it is all zeros after a failure).
/// Errors: `SOCHDB_INVALID_ARGUMENT`, `SOCHDB_CLOSED`, `SOCHDB_CORRUPTION` (a damaged
/// row).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_row_get(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    table: *const c_char,
    row_id: u64,
    row: *mut sochdb_row,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(row, sochdb_row::EMPTY);
    guard("sochdb_row_get", err, || {
        let out = args::out(row, "row")?;
        let table = args::string(table, "table name")?;
        let values = Scope::resolve(db, txn)?.run(|b, t| b.get_row(t, table, row_id))?;
        let Some(values) = values else {
            return Ok(SOCHDB_NOT_FOUND);
        };
        let owned = OwnedValues::new(&values);
        let (ptr, count) = (owned.values().as_ptr(), owned.values().len());
        let owner = handle::register(RowObj { _values: owned });
        args::set(
            out,
            sochdb_row {
                values: if count == 0 { std::ptr::null() } else { ptr },
                count,
                owner,
            },
        );
        Ok(SOCHDB_OK)
    })
}

/// Deletes a row; `*existed` (may be NULL) tells whether it was there (deleting an
/// absent row is not an error). Errors: `SOCHDB_NOT_FOUND` (no such table),
/// `SOCHDB_INVALID_ARGUMENT`, `SOCHDB_CLOSED`, `SOCHDB_READ_ONLY`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_row_delete(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    table: *const c_char,
    row_id: u64,
    existed: *mut bool,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(existed, false);
    guard_ok("sochdb_row_delete", err, || {
        let table = args::string(table, "table name")?;
        let was = Scope::resolve(db, txn)?.run(|b, t| b.delete_row(t, table, row_id))?;
        args::set(existed, was);
        Ok(())
    })
}

/// Frees a row's values and resets `*row` to all zeros. NULL, an all-zero row and a row
/// already freed are ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_row_free(row: *mut sochdb_row) {
    guard_void("sochdb_row_free", || {
        if row.is_null() || !row.is_aligned() {
            return Ok(());
        }
        // SAFETY: a non-NULL `row` points to a `sochdb_row` the caller owns.
        let r = unsafe { row.replace(sochdb_row::EMPTY) };
        handle::release_owner::<RowObj>(r.owner)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::db::sochdb_close;
    use crate::ffi::status::{SOCHDB_ALREADY_EXISTS, SOCHDB_INVALID_ARGUMENT};
    use crate::ffi::testing::{call, db, take_buf};
    use crate::ffi::value::{SOCHDB_TYPE_INT64, SOCHDB_TYPE_NULL, SOCHDB_TYPE_TEXT};
    use std::ptr::{null, null_mut};

    fn int(i: i64) -> sochdb_value {
        sochdb_value {
            kind: SOCHDB_TYPE_INT64,
            boolean: 0,
            int64: i,
            uint64: 0,
            float64: 0.0,
            data: null(),
            len: 0,
        }
    }

    fn text(s: &'static str) -> sochdb_value {
        sochdb_value {
            kind: SOCHDB_TYPE_TEXT,
            data: s.as_ptr(),
            len: s.len(),
            ..int(0)
        }
    }

    #[test]
    fn tables_and_rows_through_the_abi() {
        let d = db();
        let cols = [
            sochdb_column {
                name: c"id".as_ptr(),
                kind: SOCHDB_TYPE_INT64,
                nullable: 0,
            },
            sochdb_column {
                name: c"name".as_ptr(),
                kind: SOCHDB_TYPE_TEXT,
                nullable: 1,
            },
        ];
        // SAFETY: valid pointers for each call.
        unsafe {
            assert_eq!(
                sochdb_table_create(d, c"users".as_ptr(), cols.as_ptr(), 2, null_mut()),
                SOCHDB_OK
            );
            let (st, _) = call(|e| sochdb_table_create(d, c"users".as_ptr(), cols.as_ptr(), 2, e));
            assert_eq!(st, SOCHDB_ALREADY_EXISTS);
            let bad = [sochdb_column { kind: 9, ..cols[0] }];
            let (st, msg) = call(|e| sochdb_table_create(d, c"t".as_ptr(), bad.as_ptr(), 1, e));
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
            assert!(msg.contains("column id"), "{msg}");
            let bad = [sochdb_column {
                nullable: 5,
                ..cols[0]
            }];
            let (st, _) = call(|e| sochdb_table_create(d, c"t".as_ptr(), bad.as_ptr(), 1, e));
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);

            let mut j = sochdb_buf::EMPTY;
            sochdb_table_list(d, &mut j, null_mut());
            assert_eq!(take_buf(j), br#"["users"]"#);
            let mut j = sochdb_buf::EMPTY;
            sochdb_table_describe(d, c"users".as_ptr(), &mut j, null_mut());
            let v: serde_json::Value = serde_json::from_slice(&take_buf(j)).unwrap();
            assert_eq!(v["columns"][1]["type"], "Text");
            assert_eq!(v["columns"][0]["nullable"], false);

            let fields = [
                sochdb_field {
                    name: c"id".as_ptr(),
                    value: int(1),
                },
                sochdb_field {
                    name: c"name".as_ptr(),
                    value: text("ann"),
                },
            ];
            let mut id = 0;
            assert_eq!(
                sochdb_row_insert(
                    d,
                    null_mut(),
                    c"users".as_ptr(),
                    null(),
                    fields.as_ptr(),
                    2,
                    &mut id,
                    null_mut()
                ),
                SOCHDB_OK
            );
            assert_eq!(id, 1);
            let (st, _) = call(|e| {
                sochdb_row_insert(
                    d,
                    null_mut(),
                    c"users".as_ptr(),
                    &id,
                    fields.as_ptr(),
                    2,
                    null_mut(),
                    e,
                )
            });
            assert_eq!(st, SOCHDB_ALREADY_EXISTS);
            let upd = [sochdb_field {
                name: c"name".as_ptr(),
                value: sochdb_value {
                    kind: SOCHDB_TYPE_NULL,
                    ..int(0)
                },
            }];
            assert_eq!(
                sochdb_row_update(
                    d,
                    null_mut(),
                    c"users".as_ptr(),
                    1,
                    upd.as_ptr(),
                    1,
                    null_mut()
                ),
                SOCHDB_OK
            );
            let (st, msg) = call(|e| {
                sochdb_row_update(d, null_mut(), c"users".as_ptr(), 9, upd.as_ptr(), 1, e)
            });
            assert_eq!(st, SOCHDB_NOT_FOUND);
            assert!(!msg.is_empty());
            let bad = [sochdb_field {
                name: c"name".as_ptr(),
                value: sochdb_value { kind: 42, ..int(0) },
            }];
            let (st, msg) = call(|e| {
                sochdb_row_upsert(
                    d,
                    null_mut(),
                    c"users".as_ptr(),
                    null(),
                    bad.as_ptr(),
                    1,
                    null_mut(),
                    e,
                )
            });
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
            assert!(msg.contains("column name"), "{msg}");
            assert_eq!(
                sochdb_row_upsert(
                    d,
                    null_mut(),
                    c"users".as_ptr(),
                    null(),
                    fields.as_ptr(),
                    2,
                    &mut id,
                    null_mut()
                ),
                SOCHDB_OK
            );
            assert_eq!(id, 2);

            let mut row = sochdb_row::EMPTY;
            assert_eq!(
                sochdb_row_get(d, null_mut(), c"users".as_ptr(), 2, &mut row, null_mut()),
                SOCHDB_OK
            );
            assert_eq!(row.count, 2);
            let vals = std::slice::from_raw_parts(row.values, row.count);
            assert_eq!(vals[0].int64, 1);
            assert_eq!(
                std::ffi::CStr::from_ptr(vals[1].data.cast())
                    .to_str()
                    .unwrap(),
                "ann"
            );
            let mut copy = sochdb_row {
                values: row.values,
                count: row.count,
                owner: row.owner,
            };
            sochdb_row_free(&mut row);
            assert!(row.owner.is_null());
            sochdb_row_free(&mut copy);
            sochdb_row_get(d, null_mut(), c"users".as_ptr(), 1, &mut row, null_mut());
            assert_eq!(
                std::slice::from_raw_parts(row.values, row.count)[1].kind,
                SOCHDB_TYPE_NULL
            );
            sochdb_row_free(&mut row);

            let (st, msg) =
                call(|e| sochdb_row_get(d, null_mut(), c"users".as_ptr(), 77, &mut row, e));
            assert_eq!((st, msg.as_str()), (SOCHDB_NOT_FOUND, ""));
            let (st, msg) =
                call(|e| sochdb_row_get(d, null_mut(), c"nope".as_ptr(), 1, &mut row, e));
            assert_eq!(st, SOCHDB_NOT_FOUND);
            assert!(msg.contains("nope"), "{msg}");

            let mut existed = false;
            sochdb_row_delete(
                d,
                null_mut(),
                c"users".as_ptr(),
                1,
                &mut existed,
                null_mut(),
            );
            assert!(existed);
            sochdb_row_delete(
                d,
                null_mut(),
                c"users".as_ptr(),
                1,
                &mut existed,
                null_mut(),
            );
            assert!(!existed);
            assert_eq!(
                sochdb_table_drop(d, c"users".as_ptr(), null_mut()),
                SOCHDB_OK
            );
            assert_eq!(
                call(|e| sochdb_table_drop(d, c"users".as_ptr(), e)).0,
                SOCHDB_NOT_FOUND
            );
            assert_eq!(
                call(|e| sochdb_table_drop(d, null(), e)).0,
                SOCHDB_INVALID_ARGUMENT
            );
            sochdb_close(d, null_mut());
        }
    }
}
