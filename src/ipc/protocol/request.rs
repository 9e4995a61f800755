//! Requests: one enum for every opcode, decoded by the server and encoded by the client.
//!
//! Decoding borrows keys, values and names from the frame's payload; lists, schemas and
//! query requests are owned. Every layout is in `docs/protocol.md`.

use super::frame::{begin_frame, end_frame};
use super::op;
use super::wire::{
    Reader, ScanTarget, count16, count32, get_query, get_scan, get_schema, get_value, put_bytes16,
    put_bytes32, put_query, put_scan, put_schema, put_u16, put_u32, put_u64, put_value,
};
use crate::backend::{Isolation, QueryRequest, RowWriteMode, TableSchema, TxnOptions, Value};
use crate::error::{Error, Result};
use crate::storage::BatchOp;

/// The transaction field of the additions: `0` runs the request on its own one-shot
/// transaction; any other value names a transaction begun on this connection.
pub const NO_TXN: u64 = 0;

/// How QUERY_EX wants its result.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFormat {
    /// Typed values: a VALUE header, ROW chunks, END_STREAM.
    Typed = 0,
    /// One VALUE frame holding TOON text.
    Toon = 1,
    /// One VALUE frame holding JSON text.
    Json = 2,
}

/// One request, as sent by a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Request<'a> {
    /// v1 PUT: commits on its own.
    Put {
        /// Key.
        key: &'a [u8],
        /// Value.
        value: &'a [u8],
    },
    /// v1 GET: an absent key reads as an empty value.
    Get {
        /// Key.
        key: &'a [u8],
    },
    /// v1 DELETE: commits on its own.
    Delete {
        /// Key.
        key: &'a [u8],
    },
    /// v1 BEGIN_TXN with the database's default options.
    BeginTxn,
    /// v1 COMMIT_TXN.
    CommitTxn {
        /// Connection-local transaction id.
        txn: u64,
    },
    /// v1 ABORT_TXN.
    AbortTxn {
        /// Connection-local transaction id.
        txn: u64,
    },
    /// v1 QUERY: the result as TOON.
    Query {
        /// Table name or path.
        path: &'a str,
        /// At most this many rows; 0 for all.
        limit: u32,
        /// Rows skipped.
        offset: u32,
        /// Columns wanted; empty for all.
        columns: Vec<&'a str>,
    },
    /// v1 CREATE_TABLE.
    CreateTable(TableSchema),
    /// v1 PUT_PATH: commits on its own.
    PutPath {
        /// Path segments, joined with `/`.
        segments: Vec<&'a str>,
        /// Value.
        value: &'a [u8],
    },
    /// v1 GET_PATH: an absent path reads as an empty value.
    GetPath {
        /// Path segments, joined with `/`.
        segments: Vec<&'a str>,
    },
    /// v1 SCAN: every pair under a prefix, in one VALUE frame.
    Scan {
        /// Key prefix.
        prefix: &'a str,
    },
    /// v1 CHECKPOINT.
    Checkpoint,
    /// v1 STATS.
    Stats,
    /// v1 PING.
    Ping,
    /// v1 EXECUTE_SQL.
    ExecuteSql {
        /// SQL text.
        sql: &'a str,
    },
    /// HELLO: version negotiation.
    Hello {
        /// Highest version the client speaks.
        version: u16,
        /// Client name and version, for the server's log.
        client: &'a str,
    },
    /// TXN_BEGIN: a transaction with options.
    TxnBegin(TxnOptions),
    /// KV_GET.
    KvGet {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Key.
        key: &'a [u8],
    },
    /// KV_PUT.
    KvPut {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Key.
        key: &'a [u8],
        /// Value.
        value: &'a [u8],
    },
    /// KV_DELETE.
    KvDelete {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Key.
        key: &'a [u8],
    },
    /// PATH_GET.
    PathGet {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Path (`users/alice/email`).
        path: &'a str,
    },
    /// PATH_PUT.
    PathPut {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Path.
        path: &'a str,
        /// Value.
        value: &'a [u8],
    },
    /// PATH_DELETE.
    PathDelete {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Path.
        path: &'a str,
    },
    /// SCAN_OPEN: opens a cursor and returns its first page.
    ScanOpen {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Most entries per page; 0 lets the server choose.
        page: u32,
        /// What to scan.
        target: ScanTarget,
    },
    /// SCAN_NEXT: the next page of a cursor.
    ScanNext {
        /// Cursor id from SCAN_OPEN.
        cursor: u64,
        /// Most entries; 0 lets the server choose.
        max: u32,
    },
    /// SCAN_CLOSE: releases a cursor.
    ScanClose {
        /// Cursor id.
        cursor: u64,
    },
    /// QUERY_EX: a full query request.
    QueryEx {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Result format.
        format: QueryFormat,
        /// The query.
        req: QueryRequest,
    },
    /// BATCH: puts and deletes committed atomically.
    Batch(Vec<BatchOp>),
    /// TABLE_DROP.
    TableDrop {
        /// Table name.
        name: &'a str,
    },
    /// TABLE_LIST.
    TableList,
    /// TABLE_DESCRIBE.
    TableDescribe {
        /// Table name.
        name: &'a str,
    },
    /// ROW_WRITE: insert, upsert or update.
    RowWrite {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Table name.
        table: &'a str,
        /// How an existing row is treated.
        mode: RowWriteMode,
        /// Row id, or `None` to assign the next one.
        row_id: Option<u64>,
        /// Column values by name.
        values: Vec<(String, Value)>,
    },
    /// ROW_GET.
    RowGet {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Table name.
        table: &'a str,
        /// Row id.
        row_id: u64,
    },
    /// ROW_DELETE.
    RowDelete {
        /// Transaction, or [`NO_TXN`].
        txn: u64,
        /// Table name.
        table: &'a str,
        /// Row id.
        row_id: u64,
    },
    /// COMPACT: a full manual compaction.
    Compact,
}

/// The message of the version 1 error for an unknown opcode: `Unknown opcode: 0x1f`
/// (two lower-case hex digits).
pub fn unknown_opcode_message(code: u8) -> String {
    format!("Unknown opcode: 0x{code:02x}")
}

fn what(code: u8) -> &'static str {
    match code {
        op::PUT => "PUT request",
        op::GET => "GET request",
        op::DELETE => "DELETE request",
        op::COMMIT_TXN => "COMMIT_TXN request",
        op::ABORT_TXN => "ABORT_TXN request",
        op::QUERY => "QUERY request",
        op::CREATE_TABLE => "CREATE_TABLE request",
        op::PUT_PATH => "PUT_PATH request",
        op::GET_PATH => "GET_PATH request",
        op::SCAN => "SCAN request",
        op::EXECUTE_SQL => "EXECUTE_SQL request",
        op::HELLO => "HELLO request",
        op::TXN_BEGIN => "TXN_BEGIN request",
        op::KV_GET => "KV_GET request",
        op::KV_PUT => "KV_PUT request",
        op::KV_DELETE => "KV_DELETE request",
        op::PATH_GET => "PATH_GET request",
        op::PATH_PUT => "PATH_PUT request",
        op::PATH_DELETE => "PATH_DELETE request",
        op::SCAN_OPEN => "SCAN_OPEN request",
        op::SCAN_NEXT => "SCAN_NEXT request",
        op::SCAN_CLOSE => "SCAN_CLOSE request",
        op::QUERY_EX => "QUERY_EX request",
        op::BATCH => "BATCH request",
        op::TABLE_DROP => "TABLE_DROP request",
        op::TABLE_LIST => "TABLE_LIST request",
        op::TABLE_DESCRIBE => "TABLE_DESCRIBE request",
        op::ROW_WRITE => "ROW_WRITE request",
        op::ROW_GET => "ROW_GET request",
        op::ROW_DELETE => "ROW_DELETE request",
        op::COMPACT => "COMPACT request",
        _ => "request",
    }
}

fn segments<'a>(r: &mut Reader<'a>) -> Result<Vec<&'a str>> {
    let n = r.u16("segment count")? as usize;
    let n = r.count(n, 2, "segment list")?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(r.str16("path segment")?);
    }
    Ok(v)
}

impl<'a> Request<'a> {
    /// Decodes the payload of a request frame. An unknown opcode is `Protocol` with the
    /// version 1 message; a malformed payload is `Protocol` naming the field and offset.
    pub fn decode(code: u8, payload: &'a [u8]) -> Result<Request<'a>> {
        let mut r = Reader::new(payload, what(code));
        let req = match code {
            op::PUT => {
                let key = r.bytes32("key")?;
                Request::Put {
                    key,
                    value: r.rest(),
                }
            }
            op::GET => Request::Get { key: r.rest() },
            op::DELETE => Request::Delete { key: r.rest() },
            // Version 1 requests with an empty payload ignore any bytes sent anyway.
            op::BEGIN_TXN => return Ok(Request::BeginTxn),
            op::CHECKPOINT => return Ok(Request::Checkpoint),
            op::STATS => return Ok(Request::Stats),
            op::PING => return Ok(Request::Ping),
            op::COMMIT_TXN => Request::CommitTxn {
                txn: r.u64("transaction id")?,
            },
            op::ABORT_TXN => Request::AbortTxn {
                txn: r.u64("transaction id")?,
            },
            op::QUERY => {
                let path = r.str16("path")?;
                let limit = r.u32("limit")?;
                let offset = r.u32("offset")?;
                let n = r.u16("column count")? as usize;
                let n = r.count(n, 2, "column list")?;
                let mut columns = Vec::with_capacity(n);
                for _ in 0..n {
                    columns.push(r.str16("column name")?);
                }
                Request::Query {
                    path,
                    limit,
                    offset,
                    columns,
                }
            }
            op::CREATE_TABLE => Request::CreateTable(get_schema(&mut r)?),
            op::PUT_PATH => {
                let segments = segments(&mut r)?;
                Request::PutPath {
                    segments,
                    value: r.rest(),
                }
            }
            op::GET_PATH => {
                let segments = segments(&mut r)?;
                r.rest();
                Request::GetPath { segments }
            }
            op::SCAN => Request::Scan {
                prefix: r.rest_str("key prefix")?,
            },
            op::EXECUTE_SQL => Request::ExecuteSql {
                sql: r.rest_str("SQL text")?,
            },
            op::HELLO => {
                let version = r.u16("version")?;
                let client = r.str16("client name")?;
                Request::Hello { version, client }
            }
            op::TXN_BEGIN => {
                let isolation = match r.u8("isolation")? {
                    0 => None,
                    1 => Some(Isolation::Serializable),
                    2 => Some(Isolation::Snapshot),
                    i => return Err(r.error(format_args!("unknown isolation code {i}"))),
                };
                let flags = r.u8("flags")?;
                if flags & !1 != 0 {
                    return Err(r.error(format_args!("unknown transaction flags 0x{flags:02x}")));
                }
                Request::TxnBegin(TxnOptions {
                    isolation,
                    read_only: flags & 1 != 0,
                })
            }
            op::KV_GET => {
                let txn = r.u64("transaction id")?;
                Request::KvGet { txn, key: r.rest() }
            }
            op::KV_PUT => {
                let txn = r.u64("transaction id")?;
                let key = r.bytes32("key")?;
                Request::KvPut {
                    txn,
                    key,
                    value: r.rest(),
                }
            }
            op::KV_DELETE => {
                let txn = r.u64("transaction id")?;
                Request::KvDelete { txn, key: r.rest() }
            }
            op::PATH_GET => {
                let txn = r.u64("transaction id")?;
                Request::PathGet {
                    txn,
                    path: r.str16("path")?,
                }
            }
            op::PATH_PUT => {
                let txn = r.u64("transaction id")?;
                let path = r.str16("path")?;
                Request::PathPut {
                    txn,
                    path,
                    value: r.rest(),
                }
            }
            op::PATH_DELETE => {
                let txn = r.u64("transaction id")?;
                Request::PathDelete {
                    txn,
                    path: r.str16("path")?,
                }
            }
            op::SCAN_OPEN => {
                let txn = r.u64("transaction id")?;
                let page = r.u32("page size")?;
                Request::ScanOpen {
                    txn,
                    page,
                    target: get_scan(&mut r)?,
                }
            }
            op::SCAN_NEXT => Request::ScanNext {
                cursor: r.u64("cursor id")?,
                max: r.u32("page size")?,
            },
            op::SCAN_CLOSE => Request::ScanClose {
                cursor: r.u64("cursor id")?,
            },
            op::QUERY_EX => {
                let txn = r.u64("transaction id")?;
                let format = match r.u8("format")? {
                    0 => QueryFormat::Typed,
                    1 => QueryFormat::Toon,
                    2 => QueryFormat::Json,
                    f => return Err(r.error(format_args!("unknown result format {f}"))),
                };
                Request::QueryEx {
                    txn,
                    format,
                    req: get_query(&mut r)?,
                }
            }
            op::BATCH => {
                let n = r.u32("operation count")? as usize;
                let n = r.count(n, 5, "operation list")?;
                let mut ops = Vec::with_capacity(n);
                for _ in 0..n {
                    let kind = r.u8("operation kind")?;
                    let key = r.bytes32("key")?.to_vec();
                    ops.push(match kind {
                        0 => BatchOp::Put {
                            key,
                            value: r.bytes32("value")?.to_vec(),
                        },
                        1 => BatchOp::Delete { key },
                        k => return Err(r.error(format_args!("unknown operation kind {k}"))),
                    });
                }
                Request::Batch(ops)
            }
            op::TABLE_DROP => Request::TableDrop {
                name: r.str16("table name")?,
            },
            op::TABLE_LIST => Request::TableList,
            op::TABLE_DESCRIBE => Request::TableDescribe {
                name: r.str16("table name")?,
            },
            op::ROW_WRITE => {
                let txn = r.u64("transaction id")?;
                let table = r.str16("table name")?;
                let mode = match r.u8("write mode")? {
                    0 => RowWriteMode::Insert,
                    1 => RowWriteMode::Upsert,
                    2 => RowWriteMode::Update,
                    m => return Err(r.error(format_args!("unknown row write mode {m}"))),
                };
                let has_id = r.bool("has_row_id flag")?;
                let id = r.u64("row id")?;
                let n = r.u16("value count")? as usize;
                let n = r.count(n, 3, "value list")?;
                let mut values = Vec::with_capacity(n);
                for _ in 0..n {
                    let col = r.str16("column name")?.to_string();
                    values.push((col, get_value(&mut r)?));
                }
                Request::RowWrite {
                    txn,
                    table,
                    mode,
                    row_id: has_id.then_some(id),
                    values,
                }
            }
            op::ROW_GET | op::ROW_DELETE => {
                let txn = r.u64("transaction id")?;
                let table = r.str16("table name")?;
                let row_id = r.u64("row id")?;
                if code == op::ROW_GET {
                    Request::RowGet { txn, table, row_id }
                } else {
                    Request::RowDelete { txn, table, row_id }
                }
            }
            // An addition: its empty payload is checked like any other.
            op::COMPACT => Request::Compact,
            other => return Err(Error::Protocol(unknown_opcode_message(other))),
        };
        r.finish()?;
        Ok(req)
    }

    /// The opcode of this request.
    pub fn opcode(&self) -> u8 {
        match self {
            Request::Put { .. } => op::PUT,
            Request::Get { .. } => op::GET,
            Request::Delete { .. } => op::DELETE,
            Request::BeginTxn => op::BEGIN_TXN,
            Request::CommitTxn { .. } => op::COMMIT_TXN,
            Request::AbortTxn { .. } => op::ABORT_TXN,
            Request::Query { .. } => op::QUERY,
            Request::CreateTable(_) => op::CREATE_TABLE,
            Request::PutPath { .. } => op::PUT_PATH,
            Request::GetPath { .. } => op::GET_PATH,
            Request::Scan { .. } => op::SCAN,
            Request::Checkpoint => op::CHECKPOINT,
            Request::Stats => op::STATS,
            Request::Ping => op::PING,
            Request::ExecuteSql { .. } => op::EXECUTE_SQL,
            Request::Hello { .. } => op::HELLO,
            Request::TxnBegin(_) => op::TXN_BEGIN,
            Request::KvGet { .. } => op::KV_GET,
            Request::KvPut { .. } => op::KV_PUT,
            Request::KvDelete { .. } => op::KV_DELETE,
            Request::PathGet { .. } => op::PATH_GET,
            Request::PathPut { .. } => op::PATH_PUT,
            Request::PathDelete { .. } => op::PATH_DELETE,
            Request::ScanOpen { .. } => op::SCAN_OPEN,
            Request::ScanNext { .. } => op::SCAN_NEXT,
            Request::ScanClose { .. } => op::SCAN_CLOSE,
            Request::QueryEx { .. } => op::QUERY_EX,
            Request::Batch(_) => op::BATCH,
            Request::TableDrop { .. } => op::TABLE_DROP,
            Request::TableList => op::TABLE_LIST,
            Request::TableDescribe { .. } => op::TABLE_DESCRIBE,
            Request::RowWrite { .. } => op::ROW_WRITE,
            Request::RowGet { .. } => op::ROW_GET,
            Request::RowDelete { .. } => op::ROW_DELETE,
            Request::Compact => op::COMPACT,
        }
    }

    /// Appends this request as a whole frame to `out`. On error (a field or the frame
    /// too large) `out` is left as it was.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        let at = begin_frame(out, self.opcode());
        if let Err(e) = self.encode_payload(out) {
            out.truncate(at);
            return Err(e);
        }
        end_frame(out, at)
    }

    fn encode_payload(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Request::Put { key, value } => {
                put_bytes32(out, key, "key")?;
                out.extend_from_slice(value);
            }
            Request::Get { key } | Request::Delete { key } => out.extend_from_slice(key),
            Request::BeginTxn
            | Request::Checkpoint
            | Request::Stats
            | Request::Ping
            | Request::TableList
            | Request::Compact => {}
            Request::CommitTxn { txn } | Request::AbortTxn { txn } => put_u64(out, *txn),
            Request::Query {
                path,
                limit,
                offset,
                columns,
            } => {
                put_bytes16(out, path.as_bytes(), "query path")?;
                put_u32(out, *limit);
                put_u32(out, *offset);
                put_u16(out, count16(columns.len(), "query columns")?);
                for c in columns {
                    put_bytes16(out, c.as_bytes(), "column name")?;
                }
            }
            Request::CreateTable(s) => put_schema(out, s)?,
            Request::PutPath { segments, value } => {
                put_segments(out, segments)?;
                out.extend_from_slice(value);
            }
            Request::GetPath { segments } => put_segments(out, segments)?,
            Request::Scan { prefix } => out.extend_from_slice(prefix.as_bytes()),
            Request::ExecuteSql { sql } => out.extend_from_slice(sql.as_bytes()),
            Request::Hello { version, client } => {
                put_u16(out, *version);
                put_bytes16(out, client.as_bytes(), "client name")?;
            }
            Request::TxnBegin(o) => {
                out.push(match o.isolation {
                    None => 0,
                    Some(Isolation::Serializable) => 1,
                    Some(Isolation::Snapshot) => 2,
                });
                out.push(u8::from(o.read_only));
            }
            Request::KvGet { txn, key } | Request::KvDelete { txn, key } => {
                put_u64(out, *txn);
                out.extend_from_slice(key);
            }
            Request::KvPut { txn, key, value } => {
                put_u64(out, *txn);
                put_bytes32(out, key, "key")?;
                out.extend_from_slice(value);
            }
            Request::PathGet { txn, path } | Request::PathDelete { txn, path } => {
                put_u64(out, *txn);
                put_bytes16(out, path.as_bytes(), "path")?;
            }
            Request::PathPut { txn, path, value } => {
                put_u64(out, *txn);
                put_bytes16(out, path.as_bytes(), "path")?;
                out.extend_from_slice(value);
            }
            Request::ScanOpen { txn, page, target } => {
                put_u64(out, *txn);
                put_u32(out, *page);
                put_scan(out, target)?;
            }
            Request::ScanNext { cursor, max } => {
                put_u64(out, *cursor);
                put_u32(out, *max);
            }
            Request::ScanClose { cursor } => put_u64(out, *cursor),
            Request::QueryEx { txn, format, req } => {
                put_u64(out, *txn);
                out.push(*format as u8);
                put_query(out, req)?;
            }
            Request::Batch(ops) => {
                put_u32(out, count32(ops.len(), "batch operations")?);
                for o in ops {
                    match o {
                        BatchOp::Put { key, value } => {
                            out.push(0);
                            put_bytes32(out, key, "key")?;
                            put_bytes32(out, value, "value")?;
                        }
                        BatchOp::Delete { key } => {
                            out.push(1);
                            put_bytes32(out, key, "key")?;
                        }
                    }
                }
            }
            Request::TableDrop { name } | Request::TableDescribe { name } => {
                put_bytes16(out, name.as_bytes(), "table name")?;
            }
            Request::RowWrite {
                txn,
                table,
                mode,
                row_id,
                values,
            } => {
                put_u64(out, *txn);
                put_bytes16(out, table.as_bytes(), "table name")?;
                out.push(*mode as u8);
                out.push(u8::from(row_id.is_some()));
                put_u64(out, row_id.unwrap_or(0));
                put_u16(out, count16(values.len(), "row values")?);
                for (c, v) in values {
                    put_bytes16(out, c.as_bytes(), "column name")?;
                    put_value(out, v)?;
                }
            }
            Request::RowGet { txn, table, row_id } | Request::RowDelete { txn, table, row_id } => {
                put_u64(out, *txn);
                put_bytes16(out, table.as_bytes(), "table name")?;
                put_u64(out, *row_id);
            }
        }
        Ok(())
    }
}

fn put_segments(out: &mut Vec<u8>, segments: &[&str]) -> Result<()> {
    put_u16(out, count16(segments.len(), "path segments")?);
    for s in segments {
        put_bytes16(out, s.as_bytes(), "path segment")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{ColumnDef, ColumnType, ScanOptions, ScanRange};
    use crate::ipc::protocol::frame::FrameReader;

    fn samples() -> Vec<Request<'static>> {
        vec![
            Request::Put {
                key: b"k",
                value: b"v",
            },
            Request::Get { key: b"" },
            Request::Delete { key: b"k" },
            Request::BeginTxn,
            Request::CommitTxn { txn: 7 },
            Request::AbortTxn { txn: 8 },
            Request::Query {
                path: "users",
                limit: 5,
                offset: 1,
                columns: vec!["a", "b"],
            },
            Request::CreateTable(TableSchema {
                name: "t".into(),
                columns: vec![ColumnDef {
                    name: "c".into(),
                    ty: ColumnType::Bool,
                    nullable: true,
                }],
            }),
            Request::PutPath {
                segments: vec!["a", "b"],
                value: b"x",
            },
            Request::GetPath {
                segments: vec!["a"],
            },
            Request::Scan { prefix: "p" },
            Request::Checkpoint,
            Request::Stats,
            Request::Ping,
            Request::ExecuteSql { sql: "SELECT 1" },
            Request::Hello {
                version: 2,
                client: "c",
            },
            Request::TxnBegin(TxnOptions {
                isolation: Some(Isolation::Snapshot),
                read_only: true,
            }),
            Request::KvGet { txn: 1, key: b"k" },
            Request::KvPut {
                txn: 0,
                key: b"k",
                value: b"",
            },
            Request::KvDelete { txn: 2, key: b"k" },
            Request::PathGet {
                txn: 1,
                path: "a/b",
            },
            Request::PathPut {
                txn: 1,
                path: "a/b",
                value: b"v",
            },
            Request::PathDelete { txn: 0, path: "a" },
            Request::ScanOpen {
                txn: 3,
                page: 10,
                target: ScanTarget::Keys(ScanOptions {
                    range: ScanRange::Prefix(b"p".to_vec()),
                    reverse: false,
                    limit: None,
                }),
            },
            Request::ScanNext { cursor: 4, max: 0 },
            Request::ScanClose { cursor: 4 },
            Request::QueryEx {
                txn: 0,
                format: QueryFormat::Json,
                req: QueryRequest {
                    source: "t".into(),
                    ..QueryRequest::default()
                },
            },
            Request::Batch(vec![
                BatchOp::Put {
                    key: b"a".to_vec(),
                    value: b"1".to_vec(),
                },
                BatchOp::Delete { key: b"b".to_vec() },
            ]),
            Request::TableDrop { name: "t" },
            Request::TableList,
            Request::TableDescribe { name: "t" },
            Request::RowWrite {
                txn: 0,
                table: "t",
                mode: RowWriteMode::Upsert,
                row_id: Some(3),
                values: vec![("c".into(), Value::Bool(false))],
            },
            Request::RowGet {
                txn: 1,
                table: "t",
                row_id: 3,
            },
            Request::RowDelete {
                txn: 1,
                table: "t",
                row_id: 3,
            },
            Request::Compact,
        ]
    }

    #[test]
    fn every_request_round_trips() {
        let reqs = samples();
        let mut out = Vec::new();
        for r in &reqs {
            r.encode(&mut out).unwrap();
        }
        let mut fr = FrameReader::new();
        fr.extend(&out);
        for r in &reqs {
            let (code, payload) = fr.next_frame().unwrap().unwrap();
            assert_eq!(code, r.opcode());
            assert_eq!(&Request::decode(code, payload).unwrap(), r);
        }
        assert!(fr.next_frame().unwrap().is_none());
    }

    #[test]
    fn v1_layouts_are_exact() {
        let mut out = Vec::new();
        Request::Put {
            key: b"ab",
            value: b"xyz",
        }
        .encode(&mut out)
        .unwrap();
        assert_eq!(
            out,
            [1, 9, 0, 0, 0, 2, 0, 0, 0, b'a', b'b', b'x', b'y', b'z']
        );
        out.clear();
        Request::GetPath {
            segments: vec!["u", "e"],
        }
        .encode(&mut out)
        .unwrap();
        assert_eq!(out, [0x0A, 8, 0, 0, 0, 2, 0, 1, 0, b'u', 1, 0, b'e']);
    }

    #[test]
    fn malformed_payloads_are_errors() {
        assert!(Request::decode(op::PUT, &[5, 0, 0, 0, b'a']).is_err());
        assert!(Request::decode(op::COMMIT_TXN, &[1, 2, 3]).is_err());
        assert!(Request::decode(op::COMMIT_TXN, &[1; 9]).is_err());
        assert!(Request::decode(op::SCAN, &[0xff]).is_err());
        assert!(Request::decode(op::CREATE_TABLE, &[1, 0, b't', 1, 0, 1, 0, b'c', 9, 0]).is_err());
        let e = Request::decode(0x7f, &[]).unwrap_err().to_string();
        assert!(e.contains("Unknown opcode: 0x7f"), "{e}");
        assert!(Request::decode(op::BATCH, &[0xff, 0xff, 0xff, 0xff]).is_err());
        // COMPACT is an addition: unlike CHECKPOINT, bytes sent with it are an error.
        let e = Request::decode(op::COMPACT, &[0]).unwrap_err().to_string();
        assert!(e.contains("COMPACT request") && e.contains("byte 0"), "{e}");
        assert_eq!(
            Request::decode(op::CHECKPOINT, &[0]).unwrap(),
            Request::Checkpoint
        );
    }
}
