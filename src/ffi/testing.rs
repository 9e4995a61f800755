//! A small in-memory `Backend` for the C ABI's unit tests: enough behaviour (buffered
//! transactions, scans, a table catalog) to exercise every marshalling path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::backend::{
    Backend, KvCursor, QueryRequest, QueryResult, RowWriteMode, ScanOptions, ScanRange,
    TableSchema, TxnId, TxnOptions, Value,
};
use crate::error::{Error, Result};
use crate::storage::BatchOp;

type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

#[derive(Default)]
struct State {
    kv: BTreeMap<Vec<u8>, Vec<u8>>,
    txns: HashMap<TxnId, (bool, Writes)>,
    tables: BTreeMap<String, TableSchema>,
    rows: BTreeMap<(String, u64), Vec<Value>>,
}

/// The test double.
#[derive(Default)]
pub struct MemBackend {
    state: Mutex<State>,
    ts: AtomicU64,
    next_txn: AtomicU64,
    closed: AtomicBool,
}

/// A database handle over a fresh test double.
pub fn db() -> *mut super::db::sochdb_db {
    super::db::register(Arc::new(MemBackend::default()))
}

struct VecCursor(std::vec::IntoIter<(Vec<u8>, Vec<u8>)>);

impl KvCursor for VecCursor {
    fn next_entry(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(self.0.next())
    }
}

impl MemBackend {
    fn open(&self) -> Result<parking_lot::MutexGuard<'_, State>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed("test backend closed".into()));
        }
        Ok(self.state.lock())
    }

    fn write(&self, txn: Option<TxnId>, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let mut s = self.open()?;
        match txn {
            None => {
                match value {
                    Some(v) => s.kv.insert(key.to_vec(), v.to_vec()),
                    None => s.kv.remove(key),
                };
                self.ts.fetch_add(1, Ordering::AcqRel);
            }
            Some(t) => {
                let (ro, w) = s
                    .txns
                    .get_mut(&t)
                    .ok_or_else(|| Error::NotFound(format!("transaction {t}")))?;
                if *ro {
                    return Err(Error::ReadOnly("read-only transaction".into()));
                }
                w.insert(key.to_vec(), value.map(<[u8]>::to_vec));
            }
        }
        Ok(())
    }
}

impl Backend for MemBackend {
    fn begin(&self, opts: TxnOptions) -> Result<TxnId> {
        let id = self.next_txn.fetch_add(1, Ordering::AcqRel) + 1;
        self.open()?
            .txns
            .insert(id, (opts.read_only, Writes::new()));
        Ok(id)
    }

    fn commit(&self, txn: TxnId) -> Result<u64> {
        let mut s = self.open()?;
        let (_, writes) = s
            .txns
            .remove(&txn)
            .ok_or_else(|| Error::NotFound(format!("transaction {txn}")))?;
        if writes.contains_key(b"conflict".as_slice()) {
            return Err(Error::Conflict("key conflict".into()));
        }
        for (k, v) in writes {
            match v {
                Some(v) => s.kv.insert(k, v),
                None => s.kv.remove(&k),
            };
        }
        Ok(self.ts.fetch_add(1, Ordering::AcqRel) + 1)
    }

    fn abort(&self, txn: TxnId) -> Result<()> {
        self.open()?
            .txns
            .remove(&txn)
            .map(|_| ())
            .ok_or_else(|| Error::NotFound(format!("transaction {txn}")))
    }

    fn get(&self, txn: Option<TxnId>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let s = self.open()?;
        if let Some(t) = txn {
            let (_, w) = s
                .txns
                .get(&t)
                .ok_or_else(|| Error::NotFound(format!("transaction {t}")))?;
            if let Some(v) = w.get(key) {
                return Ok(v.clone());
            }
        }
        Ok(s.kv.get(key).cloned())
    }

    fn put(&self, txn: Option<TxnId>, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(txn, key, Some(value))
    }

    fn delete(&self, txn: Option<TxnId>, key: &[u8]) -> Result<()> {
        self.write(txn, key, None)
    }

    fn write_batch(&self, ops: &[BatchOp]) -> Result<u64> {
        let mut s = self.open()?;
        for op in ops {
            match op {
                BatchOp::Put { key, value } => s.kv.insert(key.clone(), value.clone()),
                BatchOp::Delete { key } => s.kv.remove(key),
            };
        }
        Ok(self.ts.fetch_add(1, Ordering::AcqRel) + 1)
    }

    fn scan(&self, txn: Option<TxnId>, opts: &ScanOptions) -> Result<Box<dyn KvCursor>> {
        let s = self.open()?;
        let mut view = s.kv.clone();
        if let Some(t) = txn {
            let (_, w) = s
                .txns
                .get(&t)
                .ok_or_else(|| Error::NotFound(format!("transaction {t}")))?;
            for (k, v) in w {
                match v {
                    Some(v) => view.insert(k.clone(), v.clone()),
                    None => view.remove(k),
                };
            }
        }
        let mut items: Vec<_> = view
            .into_iter()
            .filter(|(k, _)| match &opts.range {
                ScanRange::Prefix(p) => k.starts_with(p),
                ScanRange::Range { start, end } => k >= start && end.as_ref().is_none_or(|e| k < e),
            })
            .collect();
        if opts.reverse {
            items.reverse();
        }
        if let Some(l) = opts.limit {
            items.truncate(usize::try_from(l).unwrap_or(usize::MAX));
        }
        Ok(Box::new(VecCursor(items.into_iter())))
    }

    fn create_table(&self, schema: &TableSchema) -> Result<()> {
        let mut s = self.open()?;
        if s.tables.contains_key(&schema.name) {
            return Err(Error::AlreadyExists(format!("table {}", schema.name)));
        }
        s.tables.insert(schema.name.clone(), schema.clone());
        Ok(())
    }

    fn drop_table(&self, name: &str) -> Result<()> {
        let mut s = self.open()?;
        s.tables
            .remove(name)
            .ok_or_else(|| Error::NotFound(format!("table {name}")))?;
        s.rows.retain(|(t, _), _| t != name);
        Ok(())
    }

    fn list_tables(&self) -> Result<Vec<String>> {
        Ok(self.open()?.tables.keys().cloned().collect())
    }

    fn describe_table(&self, name: &str) -> Result<TableSchema> {
        self.open()?
            .tables
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("table {name}")))
    }

    fn write_row(
        &self,
        _txn: Option<TxnId>,
        table: &str,
        row_id: Option<u64>,
        values: &[(String, Value)],
        mode: RowWriteMode,
    ) -> Result<u64> {
        let mut s = self.open()?;
        let schema = s
            .tables
            .get(table)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("table {table}")))?;
        let id = row_id.unwrap_or_else(|| {
            s.rows
                .range((table.to_string(), 0)..=(table.to_string(), u64::MAX))
                .next_back()
                .map_or(1, |((_, id), _)| id + 1)
        });
        let key = (table.to_string(), id);
        let exists = s.rows.contains_key(&key);
        let mut row = match mode {
            RowWriteMode::Insert if exists => {
                return Err(Error::AlreadyExists(format!("row {id}")));
            }
            RowWriteMode::Update if !exists => return Err(Error::NotFound(format!("row {id}"))),
            RowWriteMode::Update => s.rows[&key].clone(),
            _ => vec![Value::Null; schema.columns.len()],
        };
        for (name, v) in values {
            let i = schema
                .columns
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| Error::InvalidArgument(format!("unknown column {name}")))?;
            row[i] = v.clone();
        }
        s.rows.insert(key, row);
        Ok(id)
    }

    fn get_row(&self, _txn: Option<TxnId>, table: &str, row_id: u64) -> Result<Option<Vec<Value>>> {
        let s = self.open()?;
        if !s.tables.contains_key(table) {
            return Err(Error::NotFound(format!("table {table}")));
        }
        Ok(s.rows.get(&(table.to_string(), row_id)).cloned())
    }

    fn delete_row(&self, _txn: Option<TxnId>, table: &str, row_id: u64) -> Result<bool> {
        Ok(self
            .open()?
            .rows
            .remove(&(table.to_string(), row_id))
            .is_some())
    }

    fn query(&self, _txn: Option<TxnId>, req: &QueryRequest) -> Result<QueryResult> {
        let s = self.open()?;
        let schema = s
            .tables
            .get(&req.source)
            .ok_or_else(|| Error::NotFound(format!("table {}", req.source)))?;
        let rows = s
            .rows
            .range((req.source.clone(), 0)..=(req.source.clone(), u64::MAX))
            .map(|(_, r)| r.clone())
            .collect();
        Ok(QueryResult {
            name: req.source.clone(),
            columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
            rows,
        })
    }

    fn checkpoint(&self) -> Result<()> {
        self.open().map(|_| ())
    }

    fn compact(&self) -> Result<()> {
        self.open().map(|_| ())
    }

    fn stats(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let s = self.open()?;
        let mut m = serde_json::Map::new();
        m.insert("keys".into(), s.kv.len().into());
        Ok(m)
    }

    fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}

/// Calls a C function with an error out-parameter; returns its status and the error
/// message (empty when no error object was made), freeing the error object.
pub fn call(f: impl FnOnce(*mut *mut super::error::sochdb_error) -> i32) -> (i32, String) {
    let mut err = std::ptr::null_mut();
    let st = f(&mut err);
    if err.is_null() {
        return (st, String::new());
    }
    // SAFETY: `err` is a live error object made by the call.
    unsafe {
        assert_eq!(super::error::sochdb_error_status(err), st);
        let msg = std::ffi::CStr::from_ptr(super::error::sochdb_error_message(err))
            .to_string_lossy()
            .into_owned();
        super::error::sochdb_error_free(err);
        (st, msg)
    }
}

/// The bytes of a buffer, which is then freed.
pub fn take_buf(mut b: super::buf::sochdb_buf) -> Vec<u8> {
    let v = if b.data.is_null() {
        Vec::new()
    } else {
        // SAFETY: a buffer from the library holds `len` bytes at `data`.
        unsafe { std::slice::from_raw_parts(b.data, b.len) }.to_vec()
    };
    // SAFETY: `b` came from the library.
    unsafe { super::buf::sochdb_buf_free(&mut b) };
    v
}
