//! The one trait every caller talks to: "a database I can talk to".
//!
//! The kernel implements [`Backend`] in-process; the socket client implements it by
//! speaking the protocol to a `sochdb serve`. The C ABI's database handle holds a
//! `Box<dyn Backend>`, which is why one set of C functions serves both modes.
//!
//! Transactions are named by a [`TxnId`] that is local to the backend object (to the
//! connection, in socket mode). Every method that takes `txn: Option<TxnId>` runs on its
//! own one-shot transaction when given `None`.

use crate::error::{Error, Result};

/// A transaction id, local to one backend object.
pub type TxnId = u64;

/// Isolation level of a transaction.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Serializable (optimistic; read keys and scanned ranges are validated at commit).
    #[default]
    Serializable = 0,
    /// Snapshot isolation (write-write conflicts only).
    Snapshot = 1,
}

/// Options of [`Backend::begin`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxnOptions {
    /// Isolation level; `None` takes the database default.
    pub isolation: Option<Isolation>,
    /// A read-only transaction never conflicts and writes nothing; writes in it fail.
    pub read_only: bool,
}

/// A column type. The codes are those of the socket protocol's CREATE_TABLE.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Signed 64-bit integer.
    Int64 = 0,
    /// Unsigned 64-bit integer.
    UInt64 = 1,
    /// 64-bit float.
    Float64 = 2,
    /// UTF-8 text.
    Text = 3,
    /// Bytes.
    Binary = 4,
    /// Boolean.
    Bool = 5,
}

impl ColumnType {
    /// The type for a protocol code, or an error naming the code.
    pub fn from_code(code: u8) -> Result<ColumnType> {
        Ok(match code {
            0 => ColumnType::Int64,
            1 => ColumnType::UInt64,
            2 => ColumnType::Float64,
            3 => ColumnType::Text,
            4 => ColumnType::Binary,
            5 => ColumnType::Bool,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown column type code {other}"
                )));
            }
        })
    }

    /// The type's name (`"Int64"`).
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Int64 => "Int64",
            ColumnType::UInt64 => "UInt64",
            ColumnType::Float64 => "Float64",
            ColumnType::Text => "Text",
            ColumnType::Binary => "Binary",
            ColumnType::Bool => "Bool",
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// Column name (non-empty UTF-8, unique in the table).
    pub name: String,
    /// Column type.
    pub ty: ColumnType,
    /// Whether the column accepts null.
    pub nullable: bool,
}

/// A table's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// Table name.
    pub name: String,
    /// Columns in declared order.
    pub columns: Vec<ColumnDef>,
}

/// A typed cell value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Null.
    Null,
    /// Signed integer.
    Int64(i64),
    /// Unsigned integer.
    UInt64(u64),
    /// Float.
    Float64(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Binary(Vec<u8>),
    /// Boolean.
    Bool(bool),
}

/// What a key scan covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanRange {
    /// Every key that starts with these bytes (the empty prefix is every key).
    Prefix(Vec<u8>),
    /// Keys in `[start, end)`; `end: None` is unbounded.
    Range {
        /// Inclusive lower bound.
        start: Vec<u8>,
        /// Exclusive upper bound, or unbounded.
        end: Option<Vec<u8>>,
    },
}

/// A key scan request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// The keys covered.
    pub range: ScanRange,
    /// Descending key order when true.
    pub reverse: bool,
    /// At most this many entries; `None` for all.
    pub limit: Option<u64>,
}

/// A streaming cursor over key-value pairs.
pub trait KvCursor: Send {
    /// The next pair, or `None` at the end.
    fn next_entry(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>>;

    /// The next pair written into `key` and `value` (their contents replaced, their
    /// allocations reused where the cursor can); `false` at the end, when their contents
    /// are unspecified. The default moves in what [`KvCursor::next_entry`] returns.
    fn next_into(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Result<bool> {
        match self.next_entry()? {
            Some((k, v)) => {
                *key = k;
                *value = v;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// How a row write treats an existing row.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowWriteMode {
    /// Fails with `AlreadyExists` when the row exists.
    Insert = 0,
    /// Replaces the row, or inserts it.
    Upsert = 1,
    /// Changes the named columns of an existing row; `NotFound` when absent.
    Update = 2,
}

/// A comparison in a query filter.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `=`
    Eq = 0,
    /// `!=`
    Ne = 1,
    /// `<`
    Lt = 2,
    /// `<=`
    Le = 3,
    /// `>`
    Gt = 4,
    /// `>=`
    Ge = 5,
}

/// One condition of a query filter; conditions are joined with AND.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Column compared.
    pub column: String,
    /// Comparison.
    pub op: FilterOp,
    /// Value compared with.
    pub value: Value,
}

/// A query over a table, or over path-shaped keys under a path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryRequest {
    /// Table name, or a path whose children form rows.
    pub source: String,
    /// Columns wanted, in order; empty for all (declared order, or sorted for paths).
    pub columns: Vec<String>,
    /// Conditions, joined with AND.
    pub filters: Vec<Filter>,
    /// At most this many rows; `None` for all.
    pub limit: Option<u64>,
    /// Rows skipped before the first returned.
    pub offset: u64,
}

/// The result of a query: rows in key order, columns in the requested order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryResult {
    /// The table or path the rows came from (the TOON field name).
    pub name: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// "A database I can talk to": implemented in-process by the kernel and remotely by the
/// socket client.
pub trait Backend: Send + Sync {
    /// Begins a transaction.
    fn begin(&self, opts: TxnOptions) -> Result<TxnId>;
    /// Commits; returns the commit timestamp (read-only transactions return their
    /// snapshot timestamp). `Conflict` leaves no trace and can be retried.
    fn commit(&self, txn: TxnId) -> Result<u64>;
    /// Aborts, discarding every write.
    fn abort(&self, txn: TxnId) -> Result<()>;

    /// Reads a key; `None` when absent (an empty value is `Some(vec![])`).
    fn get(&self, txn: Option<TxnId>, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Writes a key.
    fn put(&self, txn: Option<TxnId>, key: &[u8], value: &[u8]) -> Result<()>;
    /// Deletes a key (deleting an absent key is not an error).
    fn delete(&self, txn: Option<TxnId>, key: &[u8]) -> Result<()>;
    /// Commits many puts and deletes atomically; returns the commit timestamp.
    fn write_batch(&self, ops: &[crate::storage::BatchOp]) -> Result<u64>;
    /// Streams the pairs a scan covers.
    fn scan(&self, txn: Option<TxnId>, opts: &ScanOptions) -> Result<Box<dyn KvCursor>>;

    /// Creates a table; `AlreadyExists` when it exists.
    fn create_table(&self, schema: &TableSchema) -> Result<()>;
    /// Drops a table and its rows.
    fn drop_table(&self, name: &str) -> Result<()>;
    /// Names of all tables, sorted.
    fn list_tables(&self) -> Result<Vec<String>>;
    /// A table's schema.
    fn describe_table(&self, name: &str) -> Result<TableSchema>;
    /// Writes a row; `row_id: None` assigns the next id. Returns the row id.
    fn write_row(
        &self,
        txn: Option<TxnId>,
        table: &str,
        row_id: Option<u64>,
        values: &[(String, Value)],
        mode: RowWriteMode,
    ) -> Result<u64>;
    /// Reads a row: one value per declared column, or `None` when absent.
    fn get_row(&self, txn: Option<TxnId>, table: &str, row_id: u64) -> Result<Option<Vec<Value>>>;
    /// Deletes a row; returns whether it existed.
    fn delete_row(&self, txn: Option<TxnId>, table: &str, row_id: u64) -> Result<bool>;
    /// Runs a query.
    fn query(&self, txn: Option<TxnId>, req: &QueryRequest) -> Result<QueryResult>;

    /// Flushes, syncs and trims the log.
    fn checkpoint(&self) -> Result<()>;
    /// A full manual compaction (like RocksDB's `CompactRange` over every key, or
    /// SQLite's `VACUUM`): flushes the memtable, then rewrites every level into the last
    /// one, dropping the versions no open snapshot can read and the tombstones that
    /// delete nothing older. Returns when done; reads, writes and transactions keep
    /// working meanwhile (writes made during it may stay in the upper levels).
    /// `ReadOnly` on a database opened read-only or refusing writes after a failure.
    fn compact(&self) -> Result<()>;
    /// Figures as a JSON object.
    fn stats(&self) -> Result<serde_json::Map<String, serde_json::Value>>;
    /// Closes the database (or the connection); later calls fail with `Closed`.
    fn close(&self) -> Result<()>;

    /// Writes the value at a path (`users/alice/email`): the key is the path's UTF-8
    /// bytes. A bad path is an `InvalidArgument` naming the bad segment.
    fn put_path(&self, txn: Option<TxnId>, path: &str, value: &[u8]) -> Result<()> {
        crate::kernel::path::validate(path)?;
        self.put(txn, path.as_bytes(), value)
    }

    /// Reads the value at a path; `None` when absent.
    fn get_path(&self, txn: Option<TxnId>, path: &str) -> Result<Option<Vec<u8>>> {
        crate::kernel::path::validate(path)?;
        self.get(txn, path.as_bytes())
    }

    /// Deletes the value at a path (deleting an absent path is not an error).
    fn delete_path(&self, txn: Option<TxnId>, path: &str) -> Result<()> {
        crate::kernel::path::validate(path)?;
        self.delete(txn, path.as_bytes())
    }

    /// Streams the entries below a path, segment-aware: the scan of `users` covers the
    /// keys starting with `users/` (never `users_archive/...`, and not `users` itself).
    fn scan_path(
        &self,
        txn: Option<TxnId>,
        path: &str,
        reverse: bool,
        limit: Option<u64>,
    ) -> Result<Box<dyn KvCursor>> {
        let prefix = crate::kernel::path::scan_prefix(path)?;
        self.scan(
            txn,
            &ScanOptions {
                range: ScanRange::Prefix(prefix),
                reverse,
                limit,
            },
        )
    }
}
