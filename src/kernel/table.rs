//! Tables inside a transaction: catalog lookups, DDL, and row reads and writes.

use crate::backend::{RowWriteMode, TableSchema, Value};
use crate::error::{Error, Result};
use crate::kernel::catalog::{self, TableInfo};
use crate::kernel::keys;
use crate::kernel::row;
use crate::kernel::txn::{ReadKind, TxnState};
use crate::storage::Engine;

/// The catalog entry of `name`, or `None` when there is no such table.
pub fn find(st: &mut TxnState, engine: &Engine, name: &str) -> Result<Option<TableInfo>> {
    if catalog::check_table_name(name).is_err() {
        return Ok(None);
    }
    match st.get(engine, &keys::catalog_key(name), ReadKind::Catalog)? {
        Some(bytes) => Ok(Some(catalog::decode(name, &bytes)?)),
        None => Ok(None),
    }
}

/// The catalog entry of `name`; `NotFound` when there is no such table.
pub fn lookup(st: &mut TxnState, engine: &Engine, name: &str) -> Result<TableInfo> {
    catalog::check_table_name(name)?;
    find(st, engine, name)?.ok_or_else(|| Error::NotFound(format!("table {name:?} does not exist")))
}

/// Creates a table; `AlreadyExists` when it exists.
pub fn create(st: &mut TxnState, engine: &Engine, schema: &TableSchema) -> Result<()> {
    catalog::check_schema(schema)?;
    let key = keys::catalog_key(&schema.name);
    if st.get(engine, &key, ReadKind::Catalog)?.is_some() {
        return Err(Error::AlreadyExists(format!(
            "table {:?} already exists",
            schema.name
        )));
    }
    let counter = keys::next_table_id_key();
    let id =
        catalog::decode_next_table_id(st.get(engine, &counter, ReadKind::Catalog)?.as_deref())?;
    let next = id
        .checked_add(1)
        .ok_or_else(|| Error::Internal("table id counter overflowed".into()))?;
    let info = TableInfo {
        id,
        schema: schema.clone(),
    };
    st.put(&key, &catalog::encode(&info))?;
    st.put(&counter, &next.to_be_bytes())?;
    Ok(())
}

/// Removes a table from the catalog and leaves a marker for the removal of its rows;
/// returns the table id.
pub fn drop_entry(st: &mut TxnState, engine: &Engine, name: &str) -> Result<u64> {
    let info = lookup(st, engine, name)?;
    st.delete(&keys::catalog_key(name))?;
    st.put(&keys::dropping_key(info.id), &[])?;
    Ok(info.id)
}

/// Deletes up to `chunk` rows of a dropped table; returns how many it deleted. When it
/// deletes none, the drop marker is removed too.
pub fn purge_chunk(st: &mut TxnState, engine: &Engine, table_id: u64, chunk: u64) -> Result<u64> {
    let (lo, hi) = keys::row_bounds(table_id);
    let mut cursor = st.scan(engine, lo, hi, false, Some(chunk))?;
    let mut doomed = Vec::new();
    while let Some((k, _)) = crate::backend::KvCursor::next_entry(&mut cursor)? {
        doomed.push(k);
    }
    for k in &doomed {
        st.delete(k)?;
    }
    if doomed.is_empty() {
        st.delete(&keys::dropping_key(table_id))?;
    }
    Ok(doomed.len() as u64)
}

/// Hands out assigned row ids. Ids are reserved outside any transaction (like a
/// sequence): concurrent inserts into one table never pick the same id nor conflict over
/// it, and an id is never handed out twice while the database is open (an aborted
/// insert leaves a gap). After a reopen, ids continue above the largest stored one.
#[derive(Default)]
pub struct RowIds {
    /// The largest id handed out (or seen stored) per table id.
    last: parking_lot::Mutex<std::collections::HashMap<u64, u64>>,
}

impl RowIds {
    /// The next id for `info`'s table in transaction `st`: above every id handed out,
    /// every committed row and every row this transaction wrote.
    fn next(&self, st: &TxnState, engine: &Engine, info: &TableInfo) -> Result<u64> {
        let (lo, hi) = keys::row_bounds(info.id);
        let own = st
            .writes
            .range((lo.clone(), hi.clone()))
            .next_back()
            .map(|(k, _)| k.clone());
        // The newest committed row, read outside the transaction's read set: which id
        // is free is not part of what the transaction read.
        let committed = engine
            .iter(lo, hi, engine.visible_ts(), true)?
            .next()
            .transpose()?
            .map(|(k, _)| k);
        let mut floor = 0u64;
        for k in own.iter().chain(committed.iter()) {
            let id = keys::row_id_of_key(info.id, k).ok_or_else(|| {
                Error::Corruption(format!(
                    "table {:?}: key {} in its row range is not a row key",
                    info.schema.name,
                    keys::display_key(k)
                ))
            })?;
            floor = floor.max(id);
        }
        let mut last = self.last.lock();
        let slot = last.entry(info.id).or_insert(0);
        let id = (*slot).max(floor).checked_add(1).ok_or_else(|| {
            Error::TooLarge(format!(
                "table {:?} holds row id {}; no larger id can be assigned",
                info.schema.name,
                (*slot).max(floor)
            ))
        })?;
        *slot = id;
        Ok(id)
    }
}

/// Writes a row; returns its id.
pub fn write_row(
    st: &mut TxnState,
    engine: &Engine,
    ids: &RowIds,
    table: &str,
    row_id: Option<u64>,
    values: &[(String, Value)],
    mode: RowWriteMode,
) -> Result<u64> {
    let info = lookup(st, engine, table)?;
    let schema = &info.schema;
    let mut given: Vec<Option<Value>> = vec![None; schema.columns.len()];
    for (name, v) in values {
        let idx = schema
            .columns
            .iter()
            .position(|c| c.name == *name)
            .ok_or_else(|| {
                Error::InvalidArgument(format!("table {table:?} has no column {name:?}"))
            })?;
        if given[idx].is_some() {
            return Err(Error::InvalidArgument(format!(
                "table {table:?} column {name:?} is given twice"
            )));
        }
        given[idx] = Some(row::coerce(table, &schema.columns[idx], v)?);
    }
    let (rid, full) = match mode {
        RowWriteMode::Insert | RowWriteMode::Upsert => {
            let rid = match row_id {
                Some(r) => {
                    if mode == RowWriteMode::Insert
                        && st
                            .get(engine, &keys::row_key(info.id, r), ReadKind::Data)?
                            .is_some()
                    {
                        return Err(Error::AlreadyExists(format!(
                            "table {table:?} row {r} already exists"
                        )));
                    }
                    r
                }
                None => ids.next(st, engine, &info)?,
            };
            let mut full = Vec::with_capacity(given.len());
            for (col, v) in schema.columns.iter().zip(given) {
                match v {
                    Some(v) => full.push(v),
                    None if col.nullable => full.push(Value::Null),
                    None => {
                        return Err(Error::InvalidArgument(format!(
                            "table {table:?} column {:?} is not nullable and has no value",
                            col.name
                        )));
                    }
                }
            }
            (rid, full)
        }
        RowWriteMode::Update => {
            let rid = row_id.ok_or_else(|| {
                Error::InvalidArgument(format!("an update of table {table:?} needs a row id"))
            })?;
            let mut full = get_row_in(st, engine, &info, rid)?.ok_or_else(|| {
                Error::NotFound(format!("table {table:?} row {rid} does not exist"))
            })?;
            for (slot, v) in full.iter_mut().zip(given) {
                if let Some(v) = v {
                    *slot = v;
                }
            }
            (rid, full)
        }
    };
    let bytes = row::encode(schema, &full)?;
    st.put(&keys::row_key(info.id, rid), &bytes)?;
    Ok(rid)
}

fn get_row_in(
    st: &mut TxnState,
    engine: &Engine,
    info: &TableInfo,
    rid: u64,
) -> Result<Option<Vec<Value>>> {
    match st.get(engine, &keys::row_key(info.id, rid), ReadKind::Data)? {
        Some(bytes) => Ok(Some(row::decode(&info.schema, rid, &bytes)?)),
        None => Ok(None),
    }
}

/// Reads a row.
pub fn get_row(
    st: &mut TxnState,
    engine: &Engine,
    table: &str,
    rid: u64,
) -> Result<Option<Vec<Value>>> {
    let info = lookup(st, engine, table)?;
    get_row_in(st, engine, &info, rid)
}

/// Deletes a row; returns whether it existed.
pub fn delete_row(st: &mut TxnState, engine: &Engine, table: &str, rid: u64) -> Result<bool> {
    let info = lookup(st, engine, table)?;
    let key = keys::row_key(info.id, rid);
    if st.get(engine, &key, ReadKind::Data)?.is_none() {
        return Ok(false);
    }
    st.delete(&key)?;
    Ok(true)
}
