//! A test double of `Backend`: an in-memory map with transactions (first committer
//! wins on written keys), used to test the socket layer on its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use sochdb::backend::*;
use sochdb::storage::BatchOp;
use sochdb::{Error, Result};

#[derive(Default)]
struct Txn {
    start: u64,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

#[derive(Default)]
struct State {
    data: BTreeMap<Vec<u8>, (u64, Vec<u8>)>,
    tombstones: HashMap<Vec<u8>, u64>,
    ts: u64,
    txns: HashMap<u64, Txn>,
    tables: BTreeMap<String, (TableSchema, BTreeMap<u64, Vec<Value>>)>,
}

/// The test double.
#[derive(Default)]
pub struct MemDb {
    st: Mutex<State>,
    next_txn: AtomicU64,
    pub checkpoints: AtomicU64,
}

struct VecCursor(std::vec::IntoIter<(Vec<u8>, Vec<u8>)>);

impl KvCursor for VecCursor {
    fn next_entry(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(self.0.next())
    }
}

fn in_range(r: &ScanRange, k: &[u8]) -> bool {
    match r {
        ScanRange::Prefix(p) => k.starts_with(p),
        ScanRange::Range { start, end } => {
            k >= start.as_slice() && end.as_ref().is_none_or(|e| k < e.as_slice())
        }
    }
}

impl State {
    fn commit_writes(&mut self, writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> u64 {
        self.ts += 1;
        let ts = self.ts;
        for (k, v) in writes {
            match v {
                Some(v) => {
                    self.tombstones.remove(&k);
                    self.data.insert(k, (ts, v));
                }
                None => {
                    self.data.remove(&k);
                    self.tombstones.insert(k, ts);
                }
            }
        }
        ts
    }

    fn last_write(&self, k: &[u8]) -> u64 {
        self.data
            .get(k)
            .map(|(t, _)| *t)
            .or_else(|| self.tombstones.get(k).copied())
            .unwrap_or(0)
    }

    fn txn(&mut self, id: TxnId) -> Result<&mut Txn> {
        self.txns
            .get_mut(&id)
            .ok_or_else(|| Error::NotFound(format!("transaction {id}")))
    }
}

impl MemDb {
    fn write(&self, txn: Option<TxnId>, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let mut st = self.st.lock();
        let v = value.map(<[u8]>::to_vec);
        match txn {
            Some(t) => {
                st.txn(t)?.writes.insert(key.to_vec(), v);
            }
            None => {
                st.commit_writes(BTreeMap::from([(key.to_vec(), v)]));
            }
        }
        Ok(())
    }
}

impl Backend for MemDb {
    fn begin(&self, _opts: TxnOptions) -> Result<TxnId> {
        let id = self.next_txn.fetch_add(1, Ordering::Relaxed) + 100;
        let mut st = self.st.lock();
        let start = st.ts;
        st.txns.insert(
            id,
            Txn {
                start,
                writes: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    fn commit(&self, txn: TxnId) -> Result<u64> {
        let mut st = self.st.lock();
        let t = st
            .txns
            .remove(&txn)
            .ok_or_else(|| Error::NotFound(format!("transaction {txn}")))?;
        for k in t.writes.keys() {
            if st.last_write(k) > t.start {
                return Err(Error::Conflict(format!(
                    "key {:?} was written after the snapshot",
                    String::from_utf8_lossy(k)
                )));
            }
        }
        Ok(st.commit_writes(t.writes))
    }

    fn abort(&self, txn: TxnId) -> Result<()> {
        self.st
            .lock()
            .txns
            .remove(&txn)
            .map(|_| ())
            .ok_or_else(|| Error::NotFound(format!("transaction {txn}")))
    }

    fn get(&self, txn: Option<TxnId>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut st = self.st.lock();
        if let Some(t) = txn {
            if let Some(w) = st.txn(t)?.writes.get(key) {
                return Ok(w.clone());
            }
        }
        Ok(st.data.get(key).map(|(_, v)| v.clone()))
    }

    fn put(&self, txn: Option<TxnId>, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(txn, key, Some(value))
    }

    fn delete(&self, txn: Option<TxnId>, key: &[u8]) -> Result<()> {
        self.write(txn, key, None)
    }

    fn write_batch(&self, ops: &[BatchOp]) -> Result<u64> {
        let mut w = BTreeMap::new();
        for o in ops {
            match o {
                BatchOp::Put { key, value } => w.insert(key.clone(), Some(value.clone())),
                BatchOp::Delete { key } => w.insert(key.clone(), None),
            };
        }
        Ok(self.st.lock().commit_writes(w))
    }

    fn scan(&self, txn: Option<TxnId>, opts: &ScanOptions) -> Result<Box<dyn KvCursor>> {
        let mut st = self.st.lock();
        let mut view: BTreeMap<Vec<u8>, Vec<u8>> = st
            .data
            .iter()
            .filter(|(k, _)| in_range(&opts.range, k))
            .map(|(k, (_, v))| (k.clone(), v.clone()))
            .collect();
        if let Some(t) = txn {
            for (k, v) in &st.txn(t)?.writes {
                if in_range(&opts.range, k) {
                    match v {
                        Some(v) => view.insert(k.clone(), v.clone()),
                        None => view.remove(k),
                    };
                }
            }
        }
        let mut items: Vec<_> = view.into_iter().collect();
        if opts.reverse {
            items.reverse();
        }
        if let Some(l) = opts.limit {
            items.truncate(l as usize);
        }
        Ok(Box::new(VecCursor(items.into_iter())))
    }

    fn create_table(&self, schema: &TableSchema) -> Result<()> {
        let mut st = self.st.lock();
        if st.tables.contains_key(&schema.name) {
            return Err(Error::AlreadyExists(format!("table {}", schema.name)));
        }
        st.tables
            .insert(schema.name.clone(), (schema.clone(), BTreeMap::new()));
        Ok(())
    }

    fn drop_table(&self, name: &str) -> Result<()> {
        self.st
            .lock()
            .tables
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| Error::NotFound(format!("table {name}")))
    }

    fn list_tables(&self) -> Result<Vec<String>> {
        Ok(self.st.lock().tables.keys().cloned().collect())
    }

    fn describe_table(&self, name: &str) -> Result<TableSchema> {
        self.st
            .lock()
            .tables
            .get(name)
            .map(|t| t.0.clone())
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
        let mut st = self.st.lock();
        let (schema, rows) = st
            .tables
            .get_mut(table)
            .ok_or_else(|| Error::NotFound(format!("table {table}")))?;
        let id = row_id.unwrap_or_else(|| rows.keys().last().map_or(1, |k| k + 1));
        let mut row = match (mode, rows.get(&id)) {
            (RowWriteMode::Insert, Some(_)) => {
                return Err(Error::AlreadyExists(format!("row {id}")));
            }
            (RowWriteMode::Update, None) => return Err(Error::NotFound(format!("row {id}"))),
            (RowWriteMode::Update, Some(r)) => r.clone(),
            _ => vec![Value::Null; schema.columns.len()],
        };
        for (c, v) in values {
            let i = schema
                .columns
                .iter()
                .position(|d| &d.name == c)
                .ok_or_else(|| Error::InvalidArgument(format!("unknown column {c}")))?;
            row[i] = v.clone();
        }
        rows.insert(id, row);
        Ok(id)
    }

    fn get_row(&self, _txn: Option<TxnId>, table: &str, row_id: u64) -> Result<Option<Vec<Value>>> {
        let st = self.st.lock();
        let (_, rows) = st
            .tables
            .get(table)
            .ok_or_else(|| Error::NotFound(format!("table {table}")))?;
        Ok(rows.get(&row_id).cloned())
    }

    fn delete_row(&self, _txn: Option<TxnId>, table: &str, row_id: u64) -> Result<bool> {
        let mut st = self.st.lock();
        let (_, rows) = st
            .tables
            .get_mut(table)
            .ok_or_else(|| Error::NotFound(format!("table {table}")))?;
        Ok(rows.remove(&row_id).is_some())
    }

    fn query(&self, _txn: Option<TxnId>, req: &QueryRequest) -> Result<QueryResult> {
        let st = self.st.lock();
        let (schema, rows) = st
            .tables
            .get(&req.source)
            .ok_or_else(|| Error::NotFound(format!("table {}", req.source)))?;
        let cols: Vec<String> = if req.columns.is_empty() {
            schema.columns.iter().map(|c| c.name.clone()).collect()
        } else {
            req.columns.clone()
        };
        let idx: Vec<usize> = cols
            .iter()
            .map(|c| {
                schema
                    .columns
                    .iter()
                    .position(|d| &d.name == c)
                    .ok_or_else(|| Error::InvalidArgument(format!("unknown column {c}")))
            })
            .collect::<Result<_>>()?;
        let out = rows
            .values()
            .skip(req.offset as usize)
            .take(req.limit.map_or(usize::MAX, |l| l as usize))
            .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
            .collect();
        Ok(QueryResult {
            name: req.source.clone(),
            columns: cols,
            rows: out,
        })
    }

    fn checkpoint(&self) -> Result<()> {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn stats(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let st = self.st.lock();
        let bytes: usize = st.data.iter().map(|(k, (_, v))| k.len() + v.len()).sum();
        let mut m = serde_json::Map::new();
        m.insert("memtable_bytes".into(), bytes.into());
        m.insert("log_bytes".into(), (st.ts * 16).into());
        m.insert("txns_open".into(), st.txns.len().into());
        m.insert("ratio".into(), serde_json::json!(0.5));
        Ok(m)
    }

    fn close(&self) -> Result<()> {
        Ok(())
    }
}
