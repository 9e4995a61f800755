//! Queries over a table, or over path-shaped keys under a path.
//!
//! - A source that names a table reads its rows in row id order; the columns are the
//!   requested ones, or every declared column in declared order.
//! - Any other source must be a valid path `P`; the keys `P/<row>/<field...>` form one
//!   row per distinct `<row>` segment, in key order, with a first column `_key` holding
//!   the row segment and one column per field (`<field...>` may hold further `/`). Field
//!   values are text when they are UTF-8, binary otherwise; missing fields are null.
//!   Keys with no field segment (`P/<row>` itself) are not part of any row.
//!
//! Filters are joined with AND and run before `offset` and `limit`. See `docs/query.md`
//! for comparison rules.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use crate::backend::{ColumnType, Filter, FilterOp, KvCursor, QueryRequest, QueryResult, Value};
use crate::error::{Error, Result};
use crate::kernel::catalog::TableInfo;
use crate::kernel::keys;
use crate::kernel::path;
use crate::kernel::row;
use crate::kernel::table;
use crate::kernel::txn::TxnState;
use crate::storage::Engine;

/// The pseudo-column of path queries holding each row's segment.
pub const PATH_KEY_COLUMN: &str = "_key";

/// Runs a query inside a transaction.
pub fn run(st: &mut TxnState, engine: &Engine, req: &QueryRequest) -> Result<QueryResult> {
    let mut seen = BTreeSet::new();
    for c in &req.columns {
        if !seen.insert(c.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "query of {:?} asks for column {c:?} twice",
                req.source
            )));
        }
    }
    match table::find(st, engine, &req.source)? {
        Some(info) => run_table(st, engine, &info, req),
        None => {
            if path::validate(&req.source).is_err() {
                return Err(Error::NotFound(format!(
                    "query source {:?} is neither a table nor a valid path",
                    req.source
                )));
            }
            run_path(st, engine, req)
        }
    }
}

/// Counts rows through offset and limit.
struct Window {
    skip: u64,
    left: Option<u64>,
}

impl Window {
    fn new(req: &QueryRequest) -> Window {
        Window {
            skip: req.offset,
            left: req.limit,
        }
    }

    fn full(&self) -> bool {
        self.left == Some(0)
    }

    /// True when a matching row is to be returned.
    fn admit(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        match self.left.as_mut() {
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
            None => true,
        }
    }
}

fn run_table(
    st: &mut TxnState,
    engine: &Engine,
    info: &TableInfo,
    req: &QueryRequest,
) -> Result<QueryResult> {
    let schema = &info.schema;
    let index_of = |name: &str| {
        schema
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                Error::InvalidArgument(format!("table {:?} has no column {name:?}", schema.name))
            })
    };
    let projection: Vec<usize> = if req.columns.is_empty() {
        (0..schema.columns.len()).collect()
    } else {
        req.columns
            .iter()
            .map(|c| index_of(c))
            .collect::<Result<_>>()?
    };
    let mut filters = Vec::with_capacity(req.filters.len());
    for f in &req.filters {
        let idx = index_of(&f.column)?;
        check_filter(&schema.name, schema.columns[idx].ty, f)?;
        filters.push((idx, f));
    }
    let mut out = QueryResult {
        name: schema.name.clone(),
        columns: projection
            .iter()
            .map(|i| schema.columns[*i].name.clone())
            .collect(),
        rows: Vec::new(),
    };
    let mut window = Window::new(req);
    if window.full() {
        return Ok(out);
    }
    let (lo, hi) = keys::row_bounds(info.id);
    let mut cursor = st.scan(engine, lo, hi, false, None)?;
    while let Some((k, v)) = cursor.next_entry()? {
        let rid = keys::row_id_of_key(info.id, &k).ok_or_else(|| {
            Error::Corruption(format!(
                "table {:?}: key {} in its row range is not a row key",
                schema.name,
                keys::display_key(&k)
            ))
        })?;
        let values = row::decode(schema, rid, &v)?;
        if !filters.iter().all(|(i, f)| matches(&values[*i], f)) {
            continue;
        }
        if window.admit() {
            out.rows
                .push(projection.iter().map(|i| values[*i].clone()).collect());
        }
        if window.full() {
            break;
        }
    }
    Ok(out)
}

/// Rejects a filter whose value can never be compared with the column's type.
fn check_filter(table: &str, ty: ColumnType, f: &Filter) -> Result<()> {
    let ok = match (&f.value, ty) {
        (Value::Null, _) => matches!(f.op, FilterOp::Eq | FilterOp::Ne),
        (
            Value::Int64(_) | Value::UInt64(_) | Value::Float64(_),
            ColumnType::Int64 | ColumnType::UInt64 | ColumnType::Float64,
        ) => true,
        (Value::Text(_), ColumnType::Text) => true,
        (Value::Binary(_), ColumnType::Binary) => true,
        (Value::Bool(_), ColumnType::Bool) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else if matches!(f.value, Value::Null) {
        Err(Error::InvalidArgument(format!(
            "filter on table {table:?} column {:?}: null compares only with = and !=",
            f.column
        )))
    } else {
        Err(Error::InvalidArgument(format!(
            "filter on table {table:?} column {:?} of type {} compares with a {} value",
            f.column,
            ty.name(),
            row::value_kind(&f.value)
        )))
    }
}

/// Whether a cell satisfies a filter. A null filter value with `=` matches null cells and
/// with `!=` non-null cells; a null cell matches no other comparison; values that cannot
/// be compared match nothing.
pub fn matches(cell: &Value, f: &Filter) -> bool {
    match (&f.value, cell) {
        (Value::Null, Value::Null) => f.op == FilterOp::Eq,
        (Value::Null, _) => f.op == FilterOp::Ne,
        (_, Value::Null) => false,
        (fv, cell) => match compare(cell, fv) {
            Some(ord) => match f.op {
                FilterOp::Eq => ord == Ordering::Equal,
                FilterOp::Ne => ord != Ordering::Equal,
                FilterOp::Lt => ord == Ordering::Less,
                FilterOp::Le => ord != Ordering::Greater,
                FilterOp::Gt => ord == Ordering::Greater,
                FilterOp::Ge => ord != Ordering::Less,
            },
            None => false,
        },
    }
}

/// Orders a cell against a filter value: numbers numerically across integer and float
/// types, text and bytes lexicographically by bytes, `false < true`; text cells against
/// numbers by the number the text spells (path queries), if any.
pub fn compare(cell: &Value, fv: &Value) -> Option<Ordering> {
    use Value::*;
    match (cell, fv) {
        (Int64(a), Int64(b)) => Some(a.cmp(b)),
        (UInt64(a), UInt64(b)) => Some(a.cmp(b)),
        (Int64(a), UInt64(b)) => Some(i128::from(*a).cmp(&i128::from(*b))),
        (UInt64(a), Int64(b)) => Some(i128::from(*a).cmp(&i128::from(*b))),
        (Float64(a), Float64(b)) => a.partial_cmp(b),
        (Float64(a), Int64(b)) => a.partial_cmp(&(*b as f64)),
        (Float64(a), UInt64(b)) => a.partial_cmp(&(*b as f64)),
        (Int64(a), Float64(b)) => (*a as f64).partial_cmp(b),
        (UInt64(a), Float64(b)) => (*a as f64).partial_cmp(b),
        (Text(a), Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Binary(a), Binary(b)) => Some(a.as_slice().cmp(b.as_slice())),
        (Binary(a), Text(b)) => Some(a.as_slice().cmp(b.as_bytes())),
        (Bool(a), Bool(b)) => Some(a.cmp(b)),
        (Text(a), Int64(_) | UInt64(_) | Float64(_)) => {
            let n: f64 = a.trim().parse().ok()?;
            compare(&Float64(n), fv)
        }
        _ => None,
    }
}

fn cell_of(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(s) => Value::Text(s),
        Err(e) => Value::Binary(e.into_bytes()),
    }
}

fn run_path(st: &mut TxnState, engine: &Engine, req: &QueryRequest) -> Result<QueryResult> {
    let prefix = path::scan_prefix(&req.source)?;
    let hi = match keys::prefix_end(&prefix) {
        Some(end) => std::ops::Bound::Excluded(end),
        None => std::ops::Bound::Excluded(vec![keys::SYSTEM_PREFIX]),
    };
    let mut cursor = st.scan(
        engine,
        std::ops::Bound::Included(prefix.clone()),
        hi,
        false,
        None,
    )?;
    let mut window = Window::new(req);
    // Rows' fields (the row segment under `_key`), in key order.
    let mut rows: Vec<HashMap<String, Value>> = Vec::new();
    let mut current: Option<(Vec<u8>, HashMap<String, Value>)> = None;
    let mut finish_row = |row: (Vec<u8>, HashMap<String, Value>), window: &mut Window| {
        let (segment, mut fields) = row;
        let key = cell_of(segment);
        if !fields.contains_key(PATH_KEY_COLUMN) {
            fields.insert(PATH_KEY_COLUMN.to_owned(), key);
        }
        let pass = req
            .filters
            .iter()
            .all(|f| matches(fields.get(&f.column).unwrap_or(&Value::Null), f));
        if pass && window.admit() {
            rows.push(fields);
        }
    };
    if !window.full() {
        while let Some((k, v)) = cursor.next_entry()? {
            let Some(rest) = k.strip_prefix(prefix.as_slice()) else {
                continue; // outside the scanned prefix: not part of this source
            };
            let Some(slash) = rest.iter().position(|b| *b == b'/') else {
                continue; // `P/<row>` itself: not a field of any row
            };
            let (segment, field) = (&rest[..slash], &rest[slash + 1..]);
            if field.is_empty() {
                continue;
            }
            if current
                .as_ref()
                .is_some_and(|(s, _)| s.as_slice() != segment)
            {
                if let Some(row) = current.take() {
                    finish_row(row, &mut window);
                }
                if window.full() {
                    break;
                }
            }
            let field = String::from_utf8_lossy(field).into_owned();
            current
                .get_or_insert_with(|| (segment.to_vec(), HashMap::new()))
                .1
                .insert(field, cell_of(v));
        }
        if let Some(row) = current.take() {
            if !window.full() {
                finish_row(row, &mut window);
            }
        }
    }
    let columns: Vec<String> = if req.columns.is_empty() {
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for fields in &rows {
            names.extend(
                fields
                    .keys()
                    .map(String::as_str)
                    .filter(|n| *n != PATH_KEY_COLUMN),
            );
        }
        std::iter::once(PATH_KEY_COLUMN)
            .chain(names)
            .map(str::to_owned)
            .collect()
    } else {
        req.columns.clone()
    };
    let rows = rows
        .into_iter()
        .map(|fields| {
            columns
                .iter()
                .map(|c| fields.get(c).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    Ok(QueryResult {
        name: req.source.clone(),
        columns,
        rows,
    })
}
