//! Queries: a request struct in, a result out as typed rows, TOON text or JSON text.

use std::ffi::{CString, c_char};

use super::args;
use super::buf::sochdb_buf;
use super::db::sochdb_db;
use super::error::{c_message, sochdb_error};
use super::guard::{guard_ok, guard_void};
use super::handle::{self, Handle};
use super::status::sochdb_status;
use super::txn::{Scope, sochdb_txn};
use super::value::{self, OwnedValues, sochdb_value};
use crate::backend::{Filter, FilterOp, QueryRequest, QueryResult};
use crate::error::{Error, Result};

/// Filter comparison `=`.
pub const SOCHDB_OP_EQ: u32 = 0;
/// Filter comparison `!=`.
pub const SOCHDB_OP_NE: u32 = 1;
/// Filter comparison `<`.
pub const SOCHDB_OP_LT: u32 = 2;
/// Filter comparison `<=`.
pub const SOCHDB_OP_LE: u32 = 3;
/// Filter comparison `>`.
pub const SOCHDB_OP_GT: u32 = 4;
/// Filter comparison `>=`.
pub const SOCHDB_OP_GE: u32 = 5;

/// One condition of a query: `column op value`. Conditions are joined with AND.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sochdb_filter {
    /// Column compared (NUL-terminated UTF-8).
    pub column: *const c_char,
    /// One of `SOCHDB_OP_*`.
    pub op: u32,
    /// Value compared with.
    pub value: sochdb_value,
}

/// A query over a table, or over path-shaped keys under a path (`docs/1/title` and
/// `docs/1/body` form row `docs/1` with columns `title` and `body`).
///
/// Every pointer is only borrowed during `sochdb_query`. Zero-initialize it, then set
/// `source` and what is needed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sochdb_query_request {
    /// Table name or path (NUL-terminated UTF-8).
    pub source: *const c_char,
    /// Columns wanted, in order; `column_count` 0 means all (declared order for a
    /// table, sorted for paths).
    pub columns: *const *const c_char,
    /// Number of `columns`.
    pub column_count: usize,
    /// Conditions, joined with AND (may be NULL when `filter_count` is 0).
    pub filters: *const sochdb_filter,
    /// Number of `filters`.
    pub filter_count: usize,
    /// At most this many rows (0: no limit).
    pub limit: u64,
    /// Rows skipped before the first returned.
    pub offset: u64,
}

/// The result of `sochdb_query`: rows in key order, columns in the requested order.
///
/// Ownership: every pointer belongs to the result; free it with `sochdb_result_free`,
/// which resets it to all zeros (freeing twice is harmless). `owner` is the library's
/// bookkeeping; do not change it. The result is immutable: safe to read from any thread.
#[repr(C)]
#[derive(Debug)]
pub struct sochdb_result {
    /// The table or path the rows came from (NUL-terminated).
    pub name: *const c_char,
    /// Column names (NUL-terminated), `column_count` of them.
    pub columns: *const *const c_char,
    /// Number of columns.
    pub column_count: usize,
    /// The values, row after row: value `c` of row `r` is `values[r * column_count + c]`.
    pub values: *const sochdb_value,
    /// Number of rows.
    pub row_count: usize,
    /// The library object that owns everything above.
    pub owner: *mut sochdb_result_data,
}

impl sochdb_result {
    const EMPTY: sochdb_result = sochdb_result {
        name: std::ptr::null(),
        columns: std::ptr::null(),
        column_count: 0,
        values: std::ptr::null(),
        row_count: 0,
        owner: std::ptr::null_mut(),
    };
}

/// The storage behind a `sochdb_result` (opaque).
pub struct sochdb_result_data {
    _opaque: [u8; 0],
}

/// What a result's owner handle points to.
pub struct ResultObj {
    /// The result as the backend returned it (for rendering).
    result: QueryResult,
    /// The name, NUL-terminated.
    name: CString,
    /// Column names, NUL-terminated (kept alive for `column_ptrs`).
    _columns: Vec<CString>,
    /// Pointers to `columns`, the array the caller reads.
    column_ptrs: Vec<*const c_char>,
    /// Every value, row-major.
    values: OwnedValues,
}

// SAFETY: the raw pointers in `column_ptrs` point into `columns`, which the struct owns
// and never changes after construction.
unsafe impl Send for ResultObj {}
// SAFETY: as above; the struct is immutable after construction.
unsafe impl Sync for ResultObj {}

impl Handle for ResultObj {
    const KIND: &'static str = "sochdb_result_data";
    type C = sochdb_result_data;
}

impl ResultObj {
    /// Copies a backend result into caller-readable form.
    fn new(result: QueryResult) -> Result<ResultObj> {
        let width = result.columns.len();
        if let Some((i, row)) = result
            .rows
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != width)
        {
            return Err(Error::Internal(format!(
                "query result row {i} has {} values for {width} columns",
                row.len()
            )));
        }
        let flat: Vec<_> = result.rows.iter().flatten().cloned().collect();
        let columns: Vec<CString> = result.columns.iter().map(|c| c_message(c)).collect();
        let column_ptrs = columns.iter().map(|c| c.as_ptr()).collect();
        Ok(ResultObj {
            name: c_message(&result.name),
            _columns: columns,
            column_ptrs,
            values: OwnedValues::new(&flat),
            result,
        })
    }

    /// The caller's view of the result, owned by handle `owner`.
    fn view(&self, owner: *mut sochdb_result_data) -> sochdb_result {
        let values = self.values.values();
        sochdb_result {
            name: self.name.as_ptr(),
            columns: if self.column_ptrs.is_empty() {
                std::ptr::null()
            } else {
                self.column_ptrs.as_ptr()
            },
            column_count: self.column_ptrs.len(),
            values: if values.is_empty() {
                std::ptr::null()
            } else {
                values.as_ptr()
            },
            row_count: self.result.rows.len(),
            owner,
        }
    }
}

/// Decodes a filter comparison.
fn filter_op(code: u32, what: &str) -> Result<FilterOp> {
    Ok(match code {
        SOCHDB_OP_EQ => FilterOp::Eq,
        SOCHDB_OP_NE => FilterOp::Ne,
        SOCHDB_OP_LT => FilterOp::Lt,
        SOCHDB_OP_LE => FilterOp::Le,
        SOCHDB_OP_GT => FilterOp::Gt,
        SOCHDB_OP_GE => FilterOp::Ge,
        other => {
            return Err(Error::InvalidArgument(format!(
                "{what}: comparison {other} is not one of SOCHDB_OP_*"
            )));
        }
    })
}

/// Reads and validates the caller's request.
fn request(q: *const sochdb_query_request) -> Result<QueryRequest> {
    let q = args::array(q, 1, "query")?
        .first()
        .copied()
        .ok_or_else(|| Error::InvalidArgument("query is NULL".into()))?;
    let source = args::string(q.source, "query source")?.to_string();
    let mut columns = Vec::with_capacity(q.column_count.min(1024));
    for (i, c) in args::array(q.columns, q.column_count, "query columns")?
        .iter()
        .enumerate()
    {
        columns.push(args::string(*c, &format!("query column {i}"))?.to_string());
    }
    let mut filters = Vec::with_capacity(q.filter_count.min(1024));
    for (i, f) in args::array(q.filters, q.filter_count, "query filters")?
        .iter()
        .enumerate()
    {
        let column = args::string(f.column, &format!("column of filter {i}"))?;
        let what = format!("filter on column {column}");
        filters.push(Filter {
            column: column.to_string(),
            op: filter_op(f.op, &what)?,
            value: value::read(&f.value, &what)?,
        });
    }
    Ok(QueryRequest {
        source,
        columns,
        filters,
        limit: (q.limit != 0).then_some(q.limit),
        offset: q.offset,
    })
}

/// Runs a query. `txn` may be NULL (the latest committed state) or a transaction of
/// `db`. `*result` receives the rows; render them with `sochdb_result_toon` or
/// `sochdb_result_json`.
///
/// Ownership: free `*result` with `sochdb_result_free` (it is all zeros after a
/// failure); the request is only borrowed. Errors: `SOCHDB_NOT_FOUND` (no such table or
/// path), `SOCHDB_INVALID_ARGUMENT` (NULL or bad fields, an unknown column, a bad
/// comparison code or value type), `SOCHDB_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_query(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    query: *const sochdb_query_request,
    result: *mut sochdb_result,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(result, sochdb_result::EMPTY);
    guard_ok("sochdb_query", err, || {
        let out = args::out(result, "result")?;
        let req = request(query)?;
        let res = Scope::resolve(db, txn)?.run(|b, t| b.query(t, &req))?;
        let obj = std::sync::Arc::new(ResultObj::new(res)?);
        let owner = handle::register_arc(std::sync::Arc::clone(&obj));
        args::set(out, obj.view(owner));
        Ok(())
    })
}

/// The object behind a result the caller passes back.
fn result_obj(result: *const sochdb_result) -> Result<std::sync::Arc<ResultObj>> {
    let r = args::array(result, 1, "result")?
        .first()
        .map(|r| r.owner)
        .ok_or_else(|| Error::InvalidArgument("result is NULL".into()))?;
    handle::get::<ResultObj>(r)
}

/// Renders a result as TOON text: one field named after the source holding a tabular
/// array (`users[2]{id,name}:` then one line per row), as the TOON specification (version
/// 4) writes it; an empty result is `name: []`. Binary cells are standard base64
/// strings; NaN and infinities are `null`.
///
/// Ownership: free `*toon` with `sochdb_buf_free` (NUL-terminated text); the result is
/// only read. Errors: `SOCHDB_INVALID_ARGUMENT` (NULL, or a result already freed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_result_toon(
    result: *const sochdb_result,
    toon: *mut sochdb_buf,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(toon, sochdb_buf::EMPTY);
    guard_ok("sochdb_result_toon", err, || {
        let out = args::out(toon, "toon")?;
        let obj = result_obj(result)?;
        args::set(out, sochdb_buf::from_text(obj.result.to_toon()));
        Ok(())
    })
}

/// Renders a result as JSON text: an array of objects, one per row, keyed by column
/// name, carrying the same data as the TOON text (binary cells as base64 strings).
///
/// Ownership and errors: as `sochdb_result_toon`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_result_json(
    result: *const sochdb_result,
    json: *mut sochdb_buf,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(json, sochdb_buf::EMPTY);
    guard_ok("sochdb_result_json", err, || {
        let out = args::out(json, "json")?;
        let obj = result_obj(result)?;
        args::set(out, sochdb_buf::from_text(obj.result.to_json()));
        Ok(())
    })
}

/// Frees a result and resets `*result` to all zeros. NULL, an all-zero result and a
/// result already freed are ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_result_free(result: *mut sochdb_result) {
    guard_void("sochdb_result_free", || {
        if result.is_null() || !result.is_aligned() {
            return Ok(());
        }
        // SAFETY: a non-NULL `result` points to a `sochdb_result` the caller owns.
        let r = unsafe { result.replace(sochdb_result::EMPTY) };
        handle::release_owner::<ResultObj>(r.owner)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Value;
    use crate::ffi::db::sochdb_close;
    use crate::ffi::status::{SOCHDB_INVALID_ARGUMENT, SOCHDB_NOT_FOUND, SOCHDB_OK};
    use crate::ffi::table::{sochdb_row_insert, sochdb_table_create};
    use crate::ffi::testing::{call, db};
    use crate::ffi::value::{SOCHDB_TYPE_INT64, SOCHDB_TYPE_TEXT, sochdb_column, sochdb_field};
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};

    fn blank() -> sochdb_query_request {
        sochdb_query_request {
            source: null(),
            columns: null(),
            column_count: 0,
            filters: null(),
            filter_count: 0,
            limit: 0,
            offset: 0,
        }
    }

    #[test]
    fn requests_are_validated() {
        let name = c"users";
        let cols = [c"a".as_ptr(), c"b".as_ptr()];
        let v = sochdb_value {
            kind: SOCHDB_TYPE_INT64,
            boolean: 0,
            int64: 3,
            uint64: 0,
            float64: 0.0,
            data: null(),
            len: 0,
        };
        let filters = [sochdb_filter {
            column: c"a".as_ptr(),
            op: SOCHDB_OP_GE,
            value: v,
        }];
        let q = sochdb_query_request {
            source: name.as_ptr(),
            columns: cols.as_ptr(),
            column_count: 2,
            filters: filters.as_ptr(),
            filter_count: 1,
            limit: 5,
            offset: 1,
        };
        let r = request(&q).unwrap();
        assert_eq!(r.columns, ["a", "b"]);
        assert_eq!(r.filters[0].op, FilterOp::Ge);
        assert_eq!(r.filters[0].value, Value::Int64(3));
        assert_eq!((r.limit, r.offset), (Some(5), 1));
        assert!(request(null()).is_err());
        assert!(request(&blank()).is_err());
        let bad = [sochdb_filter {
            op: 6,
            ..filters[0]
        }];
        let e = request(&sochdb_query_request {
            filters: bad.as_ptr(),
            ..q
        })
        .unwrap_err();
        assert!(e.to_string().contains("filter on column a"), "{e}");
        let e = request(&sochdb_query_request {
            column_count: 3,
            columns: null(),
            ..q
        })
        .unwrap_err();
        assert!(e.to_string().contains("query columns"), "{e}");
    }

    #[test]
    fn results_are_typed_rows() {
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
        // SAFETY: valid pointers for every call; the result is read before it is freed.
        unsafe {
            sochdb_table_create(d, c"t".as_ptr(), cols.as_ptr(), 2, null_mut());
            for (i, n) in [(1i64, "x"), (2, "y")] {
                let fields = [
                    sochdb_field {
                        name: c"id".as_ptr(),
                        value: sochdb_value {
                            kind: SOCHDB_TYPE_INT64,
                            boolean: 0,
                            int64: i,
                            uint64: 0,
                            float64: 0.0,
                            data: null(),
                            len: 0,
                        },
                    },
                    sochdb_field {
                        name: c"name".as_ptr(),
                        value: sochdb_value {
                            kind: SOCHDB_TYPE_TEXT,
                            boolean: 0,
                            int64: 0,
                            uint64: 0,
                            float64: 0.0,
                            data: n.as_ptr(),
                            len: 1,
                        },
                    },
                ];
                sochdb_row_insert(
                    d,
                    null_mut(),
                    c"t".as_ptr(),
                    null(),
                    fields.as_ptr(),
                    2,
                    null_mut(),
                    null_mut(),
                );
            }
            let q = sochdb_query_request {
                source: c"t".as_ptr(),
                ..blank()
            };
            let mut r = sochdb_result::EMPTY;
            assert_eq!(
                sochdb_query(d, null_mut(), &q, &mut r, null_mut()),
                SOCHDB_OK
            );
            assert_eq!((r.row_count, r.column_count), (2, 2));
            assert_eq!(CStr::from_ptr(r.name).to_str().unwrap(), "t");
            assert_eq!(CStr::from_ptr(*r.columns.add(1)).to_str().unwrap(), "name");
            let vals = std::slice::from_raw_parts(r.values, 4);
            assert_eq!(vals[2].int64, 2);
            assert_eq!(CStr::from_ptr(vals[3].data.cast()).to_str().unwrap(), "y");
            assert!(result_obj(&r).is_ok());
            sochdb_result_free(&mut r);
            assert!(r.owner.is_null());
            sochdb_result_free(&mut r);
            sochdb_result_free(null_mut());

            let q = sochdb_query_request {
                source: c"nope".as_ptr(),
                ..blank()
            };
            let (st, _) = call(|e| sochdb_query(d, null_mut(), &q, &mut r, e));
            assert_eq!(st, SOCHDB_NOT_FOUND);
            assert!(r.owner.is_null());
            let (st, _) = call(|e| sochdb_query(d, null_mut(), &q, null_mut(), e));
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
            sochdb_close(d, null_mut());
        }
    }
}
