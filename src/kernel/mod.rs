//! The database kernel: MVCC transactions (serializable by default), keys and paths,
//! tables, and queries rendered as TOON or JSON, over the storage engine.
//!
//! [`Database`] is the in-process [`Backend`]. Its guarantees, the conflict rules and the
//! key, row and catalog encodings are in `docs/transactions.md`; the query model and the
//! output formats in `docs/query.md`.

pub mod catalog;
pub mod cursor;
pub mod json;
pub mod keys;
pub mod options;
pub mod oracle;
pub mod path;
pub mod query;
pub mod registry;
pub mod retry;
pub mod row;
pub mod stats;
pub mod table;
pub mod toon;
pub mod txn;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::backend::{
    Backend, Isolation, KvCursor, QueryRequest, QueryResult, RowWriteMode, ScanOptions,
    TableSchema, TxnId, TxnOptions, Value,
};
use crate::error::{Error, Result};
use crate::storage::io::{FileSystem, OsFs};
use crate::storage::{BatchOp, Engine, WriteBatch};

/// Longest wait, after a conflict, for the winning commit to become visible.
const CONFLICT_VISIBILITY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub use options::DbOptions;
pub use retry::run_in_txn;

use cursor::MergedCursor;
use oracle::{CheckSet, CommitKeys, Oracle};
use registry::{Entry, Registry};
use stats::TxnCounters;
use txn::{ReadKind, TxnLimits, TxnState};

/// Rows deleted per transaction while removing a dropped table's rows.
const PURGE_CHUNK: u64 = 1024;
/// Least time between two sweeps for expired transactions.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// An open database. Cloning is cheap and shares it; it is `Send + Sync`.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

/// The shared state behind a [`Database`].
struct Inner {
    /// The storage engine.
    engine: Engine,
    /// Options given at open.
    opts: DbOptions,
    /// Open transactions and held snapshots.
    registry: Mutex<Registry>,
    /// Conflict tracking.
    oracle: Mutex<Oracle>,
    /// Transaction outcome counters.
    counters: TxnCounters,
    /// Assigned row ids, per table.
    row_ids: table::RowIds,
    /// Set by [`Backend::close`].
    closed: AtomicBool,
    /// When the database was opened.
    opened: Instant,
}

impl Database {
    /// Opens (creating if needed) the database in directory `path`.
    pub fn open(path: &Path, opts: DbOptions) -> Result<Database> {
        Database::open_with_fs(path, opts, Arc::new(OsFs::new()))
    }

    /// Opens the database in directory `path`, doing every file operation through `fs`
    /// (the crash and fault tests pass a simulating or failing file layer).
    pub fn open_with_fs(path: &Path, opts: DbOptions, fs: Arc<dyn FileSystem>) -> Result<Database> {
        if opts.max_txn_write_bytes == 0 || opts.max_txn_read_bytes == 0 {
            return Err(Error::InvalidArgument(
                "max_txn_write_bytes and max_txn_read_bytes must be positive".into(),
            ));
        }
        if opts.max_open_txns == 0 {
            return Err(Error::InvalidArgument(
                "max_open_txns must be positive".into(),
            ));
        }
        let engine = Engine::open_with_fs(path, opts.engine.clone(), fs)?;
        let oracle = Oracle::new(engine.visible_ts());
        let db = Database {
            inner: Arc::new(Inner {
                engine,
                opts,
                registry: Mutex::new(Registry::default()),
                oracle: Mutex::new(oracle),
                counters: TxnCounters::default(),
                row_ids: table::RowIds::default(),
                closed: AtomicBool::new(false),
                opened: Instant::now(),
            }),
        };
        if !db.inner.opts.engine.read_only {
            db.inner.resume_drops()?;
        }
        Ok(db)
    }

    /// The storage engine underneath.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The options the database was opened with.
    pub fn options(&self) -> &DbOptions {
        &self.inner.opts
    }

    /// Runs `f` in a transaction and commits, retrying on conflict up to `attempts`
    /// times (see [`retry::run_in_txn`]); returns `f`'s value and the commit timestamp.
    pub fn run_in_txn<T>(
        &self,
        opts: TxnOptions,
        attempts: u32,
        f: impl FnMut(TxnId) -> Result<T>,
    ) -> Result<(T, u64)> {
        retry::run_in_txn(self, opts, attempts, f)
    }
}

impl Inner {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed("the database was closed".into()));
        }
        Ok(())
    }

    fn limits(&self) -> TxnLimits {
        TxnLimits {
            max_write_bytes: self.opts.max_txn_write_bytes,
            max_read_bytes: self.opts.max_txn_read_bytes,
        }
    }

    fn isolation(&self, opts: &TxnOptions) -> Isolation {
        opts.isolation.unwrap_or(self.opts.default_isolation)
    }

    fn timeout_error(&self, id: TxnId) -> Error {
        Error::Timeout(format!(
            "transaction {id} was open longer than max_txn_age ({:?}) and was aborted; \
             begin a new transaction",
            self.opts.max_txn_age
        ))
    }

    fn gone_error(id: TxnId) -> Error {
        Error::NotFound(format!(
            "transaction {id} is not open (never begun, or already committed or aborted)"
        ))
    }

    /// After a snapshot is released (or a commit recorded): tells the engine the oldest
    /// snapshot still needed and prunes the conflict table.
    fn maintain(&self) {
        let (oldest, oldest_rw) = {
            let reg = self.registry.lock();
            // Read under the registry lock: a transaction that begins later takes a
            // snapshot at or above this.
            let visible = self.engine.visible_ts();
            (
                reg.snapshots.keys().next().copied().unwrap_or(visible),
                reg.rw_snapshots.keys().next().copied().unwrap_or(visible),
            )
        };
        self.engine.set_safe_ts(oldest);
        self.oracle.lock().prune(oldest_rw);
    }

    /// Begins a transaction; `in_registry` makes it reachable by id (explicit
    /// transactions), otherwise only its snapshot is held (one-shot operations).
    fn begin_state(&self, opts: TxnOptions, in_registry: bool) -> Result<Arc<Mutex<TxnState>>> {
        self.check_open()?;
        if in_registry {
            self.sweep();
        }
        let isolation = self.isolation(&opts);
        let rw = !opts.read_only;
        let mut reg = self.registry.lock();
        if in_registry && reg.txns.len() >= self.opts.max_open_txns {
            return Err(Error::Busy(format!(
                "{} transactions are open, the maximum (max_open_txns); commit or abort some",
                reg.txns.len()
            )));
        }
        let id = reg.next_id();
        let snapshot = self.engine.visible_ts();
        reg.register(snapshot, rw);
        let state = Arc::new(Mutex::new(TxnState::new(
            id,
            snapshot,
            isolation,
            opts.read_only,
            self.limits(),
        )));
        if in_registry {
            reg.txns.insert(
                id,
                Entry {
                    state: Arc::clone(&state),
                    started: Instant::now(),
                    snapshot,
                    rw,
                },
            );
        }
        drop(reg);
        if in_registry || rw {
            TxnCounters::bump(&self.counters.begun);
        }
        Ok(state)
    }

    /// Releases a finished transaction's snapshot.
    fn release(&self, snapshot: u64, rw: bool) {
        self.registry.lock().unregister(snapshot, rw);
        self.maintain();
    }

    /// Aborts transactions older than `max_txn_age` (at most once per second, or per
    /// `max_txn_age` when that is shorter).
    fn sweep(&self) {
        let now = Instant::now();
        let doomed: Vec<(TxnId, Entry)> = {
            let mut reg = self.registry.lock();
            if reg
                .last_sweep
                .is_some_and(|t| now.duration_since(t) < SWEEP_INTERVAL.min(self.opts.max_txn_age))
            {
                return;
            }
            reg.last_sweep = Some(now);
            let ids: Vec<TxnId> = reg
                .txns
                .iter()
                .filter(|(_, e)| now.duration_since(e.started) > self.opts.max_txn_age)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| reg.txns.remove(&id).map(|e| (id, e)))
                .collect()
        };
        for (id, entry) in doomed {
            self.expire(id, entry);
        }
    }

    /// Aborts a transaction that outlived `max_txn_age` (already out of the registry).
    fn expire(&self, id: TxnId, entry: Entry) {
        entry.state.lock().finish();
        {
            let mut reg = self.registry.lock();
            reg.unregister(entry.snapshot, entry.rw);
            reg.remember_expired(id);
        }
        self.maintain();
        TxnCounters::bump(&self.counters.expired);
        TxnCounters::bump(&self.counters.aborted);
    }

    /// The error for an id that is not in the registry.
    fn missing(&self, id: TxnId) -> Error {
        if self.registry.lock().expired_set.contains(&id) {
            self.timeout_error(id)
        } else {
            Self::gone_error(id)
        }
    }

    /// Commits a transaction's writes: validation and recording happen inside the
    /// engine's commit, at the moment its timestamp is assigned.
    fn commit_state(&self, st: &TxnState) -> Result<u64> {
        if st.read_only || st.writes.is_empty() {
            return Ok(st.snapshot);
        }
        let batch = st.batch()?;
        let keys: Vec<Arc<[u8]>> = st.writes.keys().map(|k| Arc::from(k.as_slice())).collect();
        let ranges = st.observed_ranges();
        let reads: [&BTreeSet<Vec<u8>>; 2] = [&st.reads, &st.catalog_reads];
        let oracle = &self.oracle;
        let mut lost_to = None;
        let r = self.engine.commit_with(&batch, None, &mut |ts| {
            let mut o = oracle.lock();
            o.check(CheckSet {
                txn: st.id,
                snapshot: st.snapshot,
                writes: &keys,
                reads: &reads,
                ranges: &ranges,
            })
            .map_err(|(why, t)| {
                lost_to = Some(t);
                Error::Conflict(why)
            })?;
            o.record(ts, &keys);
            Ok(())
        });
        if let Some(t) = lost_to {
            // The winner may still be syncing. A retry begun before it is visible would
            // take a snapshot below it and conflict again: return once it is visible, so
            // the retry sees it (bounded, in case the engine fails or closes meanwhile).
            self.engine.wait_visible(t, CONFLICT_VISIBILITY_WAIT);
        }
        r
    }

    /// Commits writes that read nothing (one-shot puts and deletes, batches): they
    /// cannot conflict, and are recorded for the transactions that can.
    fn commit_blind(&self, ops: &[BatchOp]) -> Result<u64> {
        self.check_open()?;
        TxnCounters::bump(&self.counters.begun);
        let mut keys = Some(CommitKeys::packed(ops.iter().map(BatchOp::key)));
        let oracle = &self.oracle;
        let r = self.engine.commit_ops(ops, None, &mut |ts| {
            if let Some(keys) = keys.take() {
                oracle.lock().record_keys(ts, keys);
            }
            Ok(())
        });
        match &r {
            Ok(_) => TxnCounters::bump(&self.counters.committed),
            Err(_) => TxnCounters::bump(&self.counters.aborted),
        }
        self.maintain();
        r
    }

    /// Counts a finished transaction's outcome (when `counted`: explicit transactions
    /// and one-shot writes).
    fn count(&self, counted: bool, r: &Result<u64>) {
        if !counted {
            return;
        }
        match r {
            Ok(_) => TxnCounters::bump(&self.counters.committed),
            Err(Error::Conflict(_)) => TxnCounters::bump(&self.counters.conflicted),
            Err(_) => TxnCounters::bump(&self.counters.aborted),
        }
    }

    /// Runs `f` in transaction `txn`, or, for `None`, in a one-shot transaction that is
    /// committed (and retried on conflict) here. `write` says whether `f` writes.
    fn with_txn<T>(
        &self,
        txn: Option<TxnId>,
        write: bool,
        mut f: impl FnMut(&mut TxnState) -> Result<T>,
    ) -> Result<T> {
        self.check_open()?;
        match txn {
            Some(id) => {
                let state = {
                    let reg = self.registry.lock();
                    reg.txns.get(&id).map(|e| Arc::clone(&e.state))
                };
                let Some(state) = state else {
                    return Err(self.missing(id));
                };
                let mut st = state.lock();
                if st.finished {
                    return Err(self.missing(id));
                }
                if st.started.elapsed() > self.opts.max_txn_age {
                    drop(st);
                    let entry = self.registry.lock().txns.remove(&id);
                    if let Some(entry) = entry {
                        self.expire(id, entry);
                    }
                    return Err(self.timeout_error(id));
                }
                f(&mut st)
            }
            None => {
                let opts = TxnOptions {
                    isolation: None,
                    read_only: !write,
                };
                let mut attempt = 0;
                loop {
                    let state = self.begin_state(opts, false)?;
                    let mut st = state.lock();
                    let r = f(&mut st);
                    let (value, outcome) = match r {
                        Ok(v) => {
                            let c = self.commit_state(&st);
                            (c.as_ref().ok().map(|_| v), c)
                        }
                        Err(e) => (None, Err(e)),
                    };
                    let snapshot = st.snapshot;
                    st.finish();
                    drop(st);
                    self.release(snapshot, write);
                    self.count(write, &outcome);
                    match (value, outcome) {
                        (Some(v), Ok(_)) => return Ok(v),
                        (_, Err(Error::Conflict(_))) if attempt < self.opts.internal_retries => {
                            attempt += 1;
                            std::thread::yield_now();
                        }
                        (_, Err(e)) => return Err(e),
                        (None, Ok(_)) => {
                            return Err(Error::Internal(
                                "one-shot transaction lost its value".into(),
                            ));
                        }
                    }
                }
            }
        }
    }

    /// Removes the rows of dropped tables whose removal was interrupted.
    fn resume_drops(&self) -> Result<()> {
        let (lo, hi) = keys::dropping_bounds();
        let mut ids = Vec::new();
        let mut it = self.engine.iter(lo, hi, self.engine.visible_ts(), false)?;
        for kv in &mut it {
            let (k, _) = kv?;
            if let Some(id) = keys::table_id_of_dropping_key(&k) {
                ids.push(id);
            }
        }
        for id in ids {
            self.purge(id)?;
        }
        Ok(())
    }

    /// Deletes the rows of dropped table `id` in chunks, then its drop marker.
    fn purge(&self, id: u64) -> Result<()> {
        loop {
            let n = self.with_txn(None, true, |st| {
                table::purge_chunk(st, &self.engine, id, PURGE_CHUNK)
            })?;
            if n == 0 {
                return Ok(());
            }
        }
    }
}

impl Backend for Database {
    fn begin(&self, opts: TxnOptions) -> Result<TxnId> {
        let state = self.inner.begin_state(opts, true)?;
        let id = state.lock().id;
        Ok(id)
    }

    fn commit(&self, txn: TxnId) -> Result<u64> {
        let inner = &self.inner;
        inner.check_open()?;
        let entry = inner.registry.lock().txns.remove(&txn);
        let Some(entry) = entry else {
            return Err(inner.missing(txn));
        };
        let mut st = entry.state.lock();
        if st.started.elapsed() > inner.opts.max_txn_age {
            drop(st);
            inner.expire(txn, entry);
            return Err(inner.timeout_error(txn));
        }
        let r = inner.commit_state(&st);
        st.finish();
        drop(st);
        inner.release(entry.snapshot, entry.rw);
        inner.count(true, &r);
        r
    }

    fn abort(&self, txn: TxnId) -> Result<()> {
        let inner = &self.inner;
        let entry = inner.registry.lock().txns.remove(&txn);
        let Some(entry) = entry else {
            // An expired transaction was already aborted.
            if inner.registry.lock().expired_set.contains(&txn) {
                return Ok(());
            }
            inner.check_open()?;
            return Err(Inner::gone_error(txn));
        };
        entry.state.lock().finish();
        inner.release(entry.snapshot, entry.rw);
        TxnCounters::bump(&inner.counters.aborted);
        Ok(())
    }

    fn get(&self, txn: Option<TxnId>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        keys::check_user_key(key)?;
        match txn {
            None => {
                self.inner.check_open()?;
                let engine = &self.inner.engine;
                engine.get(key, engine.visible_ts())
            }
            Some(_) => self.inner.with_txn(txn, false, |st| {
                st.get(&self.inner.engine, key, ReadKind::Data)
            }),
        }
    }

    fn put(&self, txn: Option<TxnId>, key: &[u8], value: &[u8]) -> Result<()> {
        keys::check_user_key(key)?;
        match txn {
            None => {
                let mut b = WriteBatch::new();
                b.put(key, value)?;
                self.inner.commit_blind(b.ops()).map(|_| ())
            }
            Some(_) => self.inner.with_txn(txn, true, |st| st.put(key, value)),
        }
    }

    fn delete(&self, txn: Option<TxnId>, key: &[u8]) -> Result<()> {
        keys::check_user_key(key)?;
        match txn {
            None => {
                let mut b = WriteBatch::new();
                b.delete(key)?;
                self.inner.commit_blind(b.ops()).map(|_| ())
            }
            Some(_) => self.inner.with_txn(txn, true, |st| st.delete(key)),
        }
    }

    fn write_batch(&self, ops: &[BatchOp]) -> Result<u64> {
        self.inner.check_open()?;
        for op in ops {
            keys::check_user_key(op.key())?;
        }
        if ops.is_empty() {
            return Ok(self.inner.engine.visible_ts());
        }
        // The engine checks the batch limits; the operations are not copied.
        self.inner.commit_blind(ops)
    }

    fn scan(&self, txn: Option<TxnId>, opts: &ScanOptions) -> Result<Box<dyn KvCursor>> {
        let (lo, hi) = keys::user_scan_bounds(&opts.range)?;
        match txn {
            None => {
                self.inner.check_open()?;
                let engine = &self.inner.engine;
                let it = cursor::engine_iter(engine, lo, hi, engine.visible_ts(), opts.reverse)?;
                Ok(Box::new(MergedCursor::new(
                    it,
                    Vec::new(),
                    opts.reverse,
                    opts.limit,
                    None,
                )))
            }
            Some(_) => {
                let c = self.inner.with_txn(txn, false, |st| {
                    st.scan(
                        &self.inner.engine,
                        lo.clone(),
                        hi.clone(),
                        opts.reverse,
                        opts.limit,
                    )
                })?;
                Ok(Box::new(c))
            }
        }
    }

    fn create_table(&self, schema: &TableSchema) -> Result<()> {
        catalog::check_schema(schema)?;
        self.inner.with_txn(None, true, |st| {
            table::create(st, &self.inner.engine, schema)
        })
    }

    fn drop_table(&self, name: &str) -> Result<()> {
        catalog::check_table_name(name)?;
        let id = self.inner.with_txn(None, true, |st| {
            table::drop_entry(st, &self.inner.engine, name)
        })?;
        self.inner.purge(id)
    }

    fn list_tables(&self) -> Result<Vec<String>> {
        self.inner.with_txn(None, false, |st| {
            let (lo, hi) = keys::catalog_bounds();
            let mut c = st.scan(&self.inner.engine, lo, hi, false, None)?;
            let mut names = Vec::new();
            while let Some((k, _)) = c.next_entry()? {
                let raw = keys::table_of_catalog_key(&k).unwrap_or_default();
                let name = std::str::from_utf8(raw).map_err(|_| {
                    Error::Corruption(format!(
                        "catalog key {} holds a table name that is not UTF-8",
                        keys::display_key(&k)
                    ))
                })?;
                names.push(name.to_owned());
            }
            Ok(names)
        })
    }

    fn describe_table(&self, name: &str) -> Result<TableSchema> {
        self.inner.with_txn(None, false, |st| {
            table::lookup(st, &self.inner.engine, name).map(|i| i.schema)
        })
    }

    fn write_row(
        &self,
        txn: Option<TxnId>,
        table: &str,
        row_id: Option<u64>,
        values: &[(String, Value)],
        mode: RowWriteMode,
    ) -> Result<u64> {
        self.inner.with_txn(txn, true, |st| {
            table::write_row(
                st,
                &self.inner.engine,
                &self.inner.row_ids,
                table,
                row_id,
                values,
                mode,
            )
        })
    }

    fn get_row(&self, txn: Option<TxnId>, table: &str, row_id: u64) -> Result<Option<Vec<Value>>> {
        self.inner.with_txn(txn, false, |st| {
            table::get_row(st, &self.inner.engine, table, row_id)
        })
    }

    fn delete_row(&self, txn: Option<TxnId>, table: &str, row_id: u64) -> Result<bool> {
        self.inner.with_txn(txn, true, |st| {
            table::delete_row(st, &self.inner.engine, table, row_id)
        })
    }

    fn query(&self, txn: Option<TxnId>, req: &QueryRequest) -> Result<QueryResult> {
        self.inner
            .with_txn(txn, false, |st| query::run(st, &self.inner.engine, req))
    }

    fn checkpoint(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.engine.checkpoint()
    }

    fn compact(&self) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        let engine = &inner.engine;
        if engine.is_read_only() {
            return Err(Error::ReadOnly(format!(
                "cannot compact the database in {}: it is read-only (opened read-only, or \
                 refusing writes after a failed write; reopen it to write again)",
                engine.dir().display()
            )));
        }
        // Every commit so far into block files, so that the compaction reaches it.
        engine.checkpoint()?;
        // What the compaction may drop is bounded by the oldest snapshot still held.
        inner.maintain();
        engine.compact_all().map(|_| ())
    }

    fn stats(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let inner = &self.inner;
        inner.check_open()?;
        let figures = {
            let reg = inner.registry.lock();
            stats::KernelFigures {
                open_txns: reg.txns.len(),
                oldest_snapshot: reg.snapshots.keys().next().copied(),
                conflict_keys: 0,
                uptime_secs: inner.opened.elapsed().as_secs_f64(),
            }
        };
        let figures = stats::KernelFigures {
            conflict_keys: inner.oracle.lock().tracked_keys(),
            ..figures
        };
        let files = stats::dir_usage(inner.engine.dir());
        Ok(stats::render(
            &inner.counters,
            &figures,
            &inner.engine.stats(),
            files,
        ))
    }

    fn close(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let entries: Vec<Entry> = inner.registry.lock().txns.drain().map(|(_, e)| e).collect();
        for entry in entries {
            entry.state.lock().finish();
            inner.release(entry.snapshot, entry.rw);
            TxnCounters::bump(&inner.counters.aborted);
        }
        // Sync every commit, stop the engine's background work, release the directory.
        inner.engine.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_a_shareable_backend() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<Database>();
        let dir = tempfile::tempdir().unwrap();
        let db: Arc<dyn Backend> =
            Arc::new(Database::open(dir.path(), DbOptions::default()).unwrap());
        db.put_path(None, "a/b", b"1").unwrap();
        assert_eq!(db.get(None, b"a/b").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn interrupted_drops_are_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), DbOptions::default()).unwrap();
        let mut b = WriteBatch::new();
        b.put(&keys::dropping_key(77), &[]).unwrap();
        for rid in 1..=2500u64 {
            b.put(&keys::row_key(77, rid), b"x").unwrap();
        }
        b.put(&keys::row_key(78, 1), b"kept").unwrap();
        db.engine().commit(&b).unwrap();
        db.inner.resume_drops().unwrap();
        let engine = db.engine();
        let ts = engine.visible_ts();
        let (lo, hi) = keys::row_bounds(77);
        assert!(engine.iter(lo, hi, ts, false).unwrap().next().is_none());
        let (lo, hi) = keys::dropping_bounds();
        assert!(engine.iter(lo, hi, ts, false).unwrap().next().is_none());
        assert_eq!(
            engine.get(&keys::row_key(78, 1), ts).unwrap(),
            Some(b"kept".to_vec())
        );
    }
}
