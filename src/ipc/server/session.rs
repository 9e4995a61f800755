//! The state of one connection (its transactions, cursors and protocol version) and the
//! answer to every request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use super::out::Out;
use super::route::Ack;
use super::stats::stats_object;
use crate::backend::{KvCursor, QueryRequest, QueryResult, TxnId, TxnOptions};
use crate::error::{Error, Result, Status};
use crate::ipc::protocol::reply::{
    ServerHello, begin_page, encode_error_status, encode_query_header, encode_table_list,
    encode_values, error_message, finish_page, page_entry_len, put_page_entry, put_row,
    put_v1_scan_entry,
};
use crate::ipc::protocol::request::{NO_TXN, QueryFormat, Request, unknown_opcode_message};
use crate::ipc::protocol::wire::{ScanTarget, put_schema, put_u32};
use crate::ipc::protocol::{FEATURES, HEADER_LEN, MAX_PAYLOAD, PROTOCOL_VERSION, op, rep};
use crate::kernel::path;

/// Largest page a client may ask for, in entries.
const MAX_PAGE_ENTRIES: u32 = 100_000;
/// Bytes of rows gathered into one ROW frame of a typed query stream.
const ROW_CHUNK_BYTES: usize = 256 * 1024;

/// Why a request failed.
enum Failure {
    /// An error from the database or a malformed request.
    Db(Error),
    /// An error whose text the protocol fixes (`Transaction not found: 3`); version 1
    /// clients get the text as is.
    Text(Status, String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Db(e)
    }
}

type Res = std::result::Result<(), Failure>;

/// An open scan cursor.
struct Cursor {
    /// The backend's stream.
    inner: Box<dyn KvCursor>,
    /// An entry read ahead (it did not fit the last page, or showed there is more).
    pending: Option<(Vec<u8>, Vec<u8>)>,
}

/// One connection's state.
pub(crate) struct Session {
    /// The server.
    shared: Arc<Shared>,
    /// Connection number (for messages).
    id: u64,
    /// Open transactions: connection-local id to backend id.
    txns: HashMap<u64, TxnId>,
    /// The last connection-local transaction id handed out.
    last_txn: u64,
    /// Open scan cursors by id.
    cursors: HashMap<u64, Cursor>,
    /// The last cursor id handed out.
    last_cursor: u64,
    /// True once HELLO agreed on version 2: errors then travel as ERROR_STATUS.
    v2: bool,
    /// What the client called itself in HELLO.
    client: Option<String>,
    /// Requests answered.
    requests: u64,
    /// Requests answered by [`Session::get_v1`] and [`Session::write_done`] and not yet
    /// added to the server's counters: total, successes, errors (added once per round
    /// by [`Session::flush_counts`], rather than three shared atomics per request).
    unflushed: [u64; 3],
}

impl Session {
    /// A fresh session.
    pub fn new(shared: Arc<Shared>, id: u64) -> Session {
        Session {
            shared,
            id,
            txns: HashMap::new(),
            last_txn: 0,
            cursors: HashMap::new(),
            last_cursor: 0,
            v2: false,
            client: None,
            requests: 0,
            unflushed: [0; 3],
        }
    }

    /// The client's name from HELLO.
    pub fn client_name(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The opcode error replies use on this connection.
    pub fn error_opcode(&self) -> u8 {
        if self.v2 {
            rep::ERROR_STATUS
        } else {
            rep::ERROR
        }
    }

    /// The payload of an error reply for `e` on this connection.
    pub fn error_payload(&self, e: &Error) -> Vec<u8> {
        if self.v2 {
            encode_error_status(e.status(), &error_message(e))
        } else {
            e.to_string().into_bytes()
        }
    }

    /// Aborts every open transaction and drops every cursor; returns how many
    /// transactions were aborted.
    pub fn close(&mut self) -> usize {
        self.flush_counts();
        self.cursors.clear();
        let n = self.txns.len();
        for (_, t) in self.txns.drain() {
            let _ = self.shared.backend.abort(t);
        }
        let c = &self.shared.counters;
        c.transactions_aborted_on_disconnect
            .fetch_add(n as u64, Ordering::Relaxed);
        c.active_transactions.fetch_sub(n as u64, Ordering::Relaxed);
        n
    }

    /// Answers one request frame.
    pub fn handle(&mut self, opcode: u8, payload: &[u8], out: &mut Out) {
        // STATS on this connection counts every request answered before it.
        self.flush_counts();
        self.requests += 1;
        let c = &self.shared.counters;
        c.requests_total.fetch_add(1, Ordering::Relaxed);
        let res = if op::name(opcode).is_none() {
            Err(Failure::Text(
                Status::Protocol,
                unknown_opcode_message(opcode),
            ))
        } else {
            match Request::decode(opcode, payload) {
                Ok(req) => self.dispatch(req, out),
                Err(e) => Err(Failure::Db(e)),
            }
        };
        let c = &self.shared.counters;
        match res {
            Ok(()) => {
                c.requests_success.fetch_add(1, Ordering::Relaxed);
            }
            Err(Failure::Db(e)) => {
                c.requests_error.fetch_add(1, Ordering::Relaxed);
                out.frame(self.error_opcode(), &self.error_payload(&e));
            }
            Err(Failure::Text(status, text)) => {
                c.requests_error.fetch_add(1, Ordering::Relaxed);
                if self.v2 {
                    out.frame(rep::ERROR_STATUS, &encode_error_status(status, &text));
                } else {
                    out.frame(rep::ERROR, text.as_bytes());
                }
            }
        }
    }

    /// Answers a version 1 GET of `key`: VALUE with the value (empty when absent).
    pub fn get_v1(&mut self, key: &[u8], out: &mut Out) {
        self.requests += 1;
        self.unflushed[0] += 1;
        match self.shared.backend.get(None, key) {
            Ok(v) => {
                self.unflushed[1] += 1;
                out.frame(rep::VALUE, v.as_deref().unwrap_or_default());
            }
            Err(e) => {
                self.unflushed[2] += 1;
                out.frame(self.error_opcode(), &self.error_payload(&e));
            }
        }
    }

    /// Adds the requests answered since the last call to the server's counters.
    pub fn flush_counts(&mut self) {
        let [total, success, error] = std::mem::take(&mut self.unflushed);
        if total == 0 {
            return;
        }
        let c = &self.shared.counters;
        c.requests_total.fetch_add(total, Ordering::Relaxed);
        if success > 0 {
            c.requests_success.fetch_add(success, Ordering::Relaxed);
        }
        if error > 0 {
            c.requests_error.fetch_add(error, Ordering::Relaxed);
        }
    }

    /// Answers a one-shot write once the combined commit that carried it is over:
    /// `outcome` is its commit timestamp or its own error.
    pub fn write_done(&mut self, ack: Ack, outcome: Result<u64>, out: &mut Out) {
        self.requests += 1;
        self.unflushed[0] += 1;
        match outcome {
            Ok(ts) => {
                self.unflushed[1] += 1;
                match ack {
                    Ack::Ok => out.frame(rep::OK, &[]),
                    Ack::CommitTs => out.frame(rep::TXN_ID, &ts.to_le_bytes()),
                }
            }
            Err(e) => {
                self.unflushed[2] += 1;
                out.frame(self.error_opcode(), &self.error_payload(&e));
            }
        }
    }

    /// The backend transaction named by a connection-local id (`NO_TXN` is none).
    fn txn(&self, local: u64) -> std::result::Result<Option<TxnId>, Failure> {
        if local == NO_TXN {
            return Ok(None);
        }
        match self.txns.get(&local) {
            Some(t) => Ok(Some(*t)),
            None => Err(txn_not_found(local)),
        }
    }

    fn begin(&mut self, opts: TxnOptions, out: &mut Out) -> Res {
        let limit = self.shared.opts.max_txns_per_connection;
        if self.txns.len() >= limit {
            return Err(Failure::Text(
                Status::Busy,
                format!(
                    "Too many open transactions on this connection (the limit is {limit}); commit or abort one first"
                ),
            ));
        }
        let t = self.shared.backend.begin(opts)?;
        self.last_txn += 1;
        let local = self.last_txn;
        self.txns.insert(local, t);
        self.shared
            .counters
            .active_transactions
            .fetch_add(1, Ordering::Relaxed);
        {
            out.frame(rep::TXN_ID, &local.to_le_bytes());
            Ok(())
        }
    }

    fn finish_txn(&mut self, local: u64) -> std::result::Result<TxnId, Failure> {
        let t = self
            .txns
            .remove(&local)
            .ok_or_else(|| txn_not_found(local))?;
        self.shared
            .counters
            .active_transactions
            .fetch_sub(1, Ordering::Relaxed);
        Ok(t)
    }

    fn dispatch(&mut self, req: Request<'_>, out: &mut Out) -> Res {
        let db = Arc::clone(&self.shared.backend);
        match req {
            Request::Put { key, value } => {
                db.put(None, key, value)?;
                ok(out)
            }
            Request::Get { key } => {
                let v = db.get(None, key)?.unwrap_or_default();
                {
                    out.frame(rep::VALUE, &v);
                    Ok(())
                }
            }
            Request::Delete { key } => {
                db.delete(None, key)?;
                ok(out)
            }
            Request::BeginTxn => self.begin(TxnOptions::default(), out),
            Request::TxnBegin(opts) => self.begin(opts, out),
            Request::CommitTxn { txn } => {
                let t = self.finish_txn(txn)?;
                match db.commit(t) {
                    Ok(ts) => {
                        out.frame(rep::TXN_ID, &ts.to_le_bytes());
                        Ok(())
                    }
                    Err(e) => {
                        // Whatever the failure, the transaction is over for the client.
                        let _ = db.abort(t);
                        Err(e.into())
                    }
                }
            }
            Request::AbortTxn { txn } => {
                let t = self.finish_txn(txn)?;
                db.abort(t)?;
                ok(out)
            }
            Request::Query {
                path,
                limit,
                offset,
                columns,
            } => {
                let q = QueryRequest {
                    source: path.to_string(),
                    columns: columns.iter().map(|c| c.to_string()).collect(),
                    filters: Vec::new(),
                    limit: (limit > 0).then_some(u64::from(limit)),
                    offset: u64::from(offset),
                };
                let res = db.query(None, &q)?;
                let text = render(&res, QueryFormat::Toon);
                value_checked(out, text.as_bytes(), "QUERY result")
            }
            Request::CreateTable(schema) => {
                db.create_table(&schema)?;
                ok(out)
            }
            Request::PutPath { segments, value } => {
                db.put_path(None, &path::join(&segments)?, value)?;
                ok(out)
            }
            Request::GetPath { segments } => {
                let v = db
                    .get_path(None, &path::join(&segments)?)?
                    .unwrap_or_default();
                {
                    out.frame(rep::VALUE, &v);
                    Ok(())
                }
            }
            Request::Scan { prefix } => self.v1_scan(prefix, out),
            Request::Checkpoint => {
                let started = std::time::Instant::now();
                db.checkpoint()?;
                self.shared.log(format_args!(
                    "checkpoint requested by connection {} done in {} ms",
                    self.id,
                    started.elapsed().as_millis()
                ));
                ok(out)
            }
            Request::Compact => {
                let started = std::time::Instant::now();
                db.compact()?;
                self.shared.log(format_args!(
                    "compaction requested by connection {} done in {} ms",
                    self.id,
                    started.elapsed().as_millis()
                ));
                ok(out)
            }
            Request::Stats => {
                let m = stats_object(&self.shared, self.v2)?;
                let text = serde_json::to_vec(&m)
                    .map_err(|e| Error::Internal(format!("encoding STATS_RESP: {e}")))?;
                {
                    out.frame(rep::STATS_RESP, &text);
                    Ok(())
                }
            }
            Request::Ping => {
                out.frame(rep::PONG, &[]);
                Ok(())
            }
            Request::ExecuteSql { sql } => {
                let answer = serde_json::json!({
                    "error": format!(
                        "SQL is not executed by the server: the SDK runs SQL itself \
                         (received {} bytes of SQL)",
                        sql.len()
                    )
                });
                {
                    out.frame(rep::VALUE, answer.to_string().as_bytes());
                    Ok(())
                }
            }
            Request::Hello { version, client } => {
                if version == 0 {
                    return Err(Error::InvalidArgument(
                        "HELLO with protocol version 0; versions start at 1".into(),
                    )
                    .into());
                }
                let agreed = version.min(PROTOCOL_VERSION);
                self.client = Some(client.to_string());
                let hello = ServerHello {
                    version: agreed,
                    max_payload: MAX_PAYLOAD as u32,
                    features: if agreed >= 2 {
                        FEATURES.iter().map(|f| f.to_string()).collect()
                    } else {
                        Vec::new()
                    },
                    server: format!("sochdb {}", crate::VERSION),
                };
                out.frame(rep::VALUE, &hello.encode()?);
                self.v2 = agreed >= 2;
                Ok(())
            }
            Request::KvGet { txn, key } => {
                let t = self.txn(txn)?;
                match db.get(t, key)? {
                    Some(v) => value_checked(out, &v, "value"),
                    None => {
                        out.frame(rep::NOT_FOUND, &[]);
                        Ok(())
                    }
                }
            }
            Request::KvPut { txn, key, value } => {
                let t = self.txn(txn)?;
                db.put(t, key, value)?;
                ok(out)
            }
            Request::KvDelete { txn, key } => {
                let t = self.txn(txn)?;
                db.delete(t, key)?;
                ok(out)
            }
            Request::PathGet { txn, path } => {
                let t = self.txn(txn)?;
                match db.get_path(t, path)? {
                    Some(v) => value_checked(out, &v, "value"),
                    None => {
                        out.frame(rep::NOT_FOUND, &[]);
                        Ok(())
                    }
                }
            }
            Request::PathPut { txn, path, value } => {
                let t = self.txn(txn)?;
                db.put_path(t, path, value)?;
                ok(out)
            }
            Request::PathDelete { txn, path } => {
                let t = self.txn(txn)?;
                db.delete_path(t, path)?;
                ok(out)
            }
            Request::ScanOpen { txn, page, target } => {
                let t = self.txn(txn)?;
                let limit = self.shared.opts.max_cursors_per_connection;
                if self.cursors.len() >= limit {
                    return Err(Failure::Text(
                        Status::Busy,
                        format!(
                            "Too many open cursors on this connection (the limit is {limit}); close one first"
                        ),
                    ));
                }
                let inner = match &target {
                    ScanTarget::Keys(opts) => db.scan(t, opts)?,
                    ScanTarget::Path {
                        path,
                        reverse,
                        limit,
                    } => db.scan_path(t, path, *reverse, *limit)?,
                };
                self.last_cursor += 1;
                let id = self.last_cursor;
                self.cursors.insert(
                    id,
                    Cursor {
                        inner,
                        pending: None,
                    },
                );
                self.page(id, page, out)
            }
            Request::ScanNext { cursor, max } => {
                if !self.cursors.contains_key(&cursor) {
                    return Err(cursor_not_found(cursor));
                }
                self.page(cursor, max, out)
            }
            Request::ScanClose { cursor } => {
                self.cursors
                    .remove(&cursor)
                    .ok_or_else(|| cursor_not_found(cursor))?;
                ok(out)
            }
            Request::QueryEx { txn, format, req } => {
                let t = self.txn(txn)?;
                let res = db.query(t, &req)?;
                match format {
                    QueryFormat::Typed => stream_result(&res, out),
                    QueryFormat::Toon | QueryFormat::Json => {
                        let text = render(&res, format);
                        value_checked(out, text.as_bytes(), "query result")
                    }
                }
            }
            Request::Batch(ops) => {
                let ts = db.write_batch(&ops)?;
                {
                    out.frame(rep::TXN_ID, &ts.to_le_bytes());
                    Ok(())
                }
            }
            Request::TableDrop { name } => {
                db.drop_table(name)?;
                ok(out)
            }
            Request::TableList => {
                let names = db.list_tables()?;
                value_checked(out, &encode_table_list(&names)?, "table list")
            }
            Request::TableDescribe { name } => {
                let s = db.describe_table(name)?;
                let mut p = Vec::new();
                put_schema(&mut p, &s)?;
                {
                    out.frame(rep::VALUE, &p);
                    Ok(())
                }
            }
            Request::RowWrite {
                txn,
                table,
                mode,
                row_id,
                values,
            } => {
                let t = self.txn(txn)?;
                let id = db.write_row(t, table, row_id, &values, mode)?;
                {
                    out.frame(rep::VALUE, &id.to_le_bytes());
                    Ok(())
                }
            }
            Request::RowGet { txn, table, row_id } => {
                let t = self.txn(txn)?;
                match db.get_row(t, table, row_id)? {
                    Some(vals) => value_checked(out, &encode_values(&vals)?, "row"),
                    None => {
                        out.frame(rep::NOT_FOUND, &[]);
                        Ok(())
                    }
                }
            }
            Request::RowDelete { txn, table, row_id } => {
                let t = self.txn(txn)?;
                let existed = db.delete_row(t, table, row_id)?;
                {
                    out.frame(rep::VALUE, &[u8::from(existed)]);
                    Ok(())
                }
            }
        }
    }

    /// Version 1 SCAN: every pair under the prefix in one VALUE, in key order.
    fn v1_scan(&mut self, prefix: &str, out: &mut Out) -> Res {
        let opts = crate::backend::ScanOptions {
            range: crate::backend::ScanRange::Prefix(prefix.as_bytes().to_vec()),
            reverse: false,
            limit: None,
        };
        let mut cur = self.shared.backend.scan(None, &opts)?;
        let at = out.begin(rep::VALUE);
        let body = at + HEADER_LEN;
        put_u32(out.buf(), 0);
        let mut count: u32 = 0;
        let res = (|| -> Res {
            while let Some((k, v)) = cur.next_entry()? {
                put_v1_scan_entry(out.buf(), &k, &v)?;
                count = count.checked_add(1).ok_or_else(|| {
                    Error::TooLarge("SCAN result has more than 2^32 entries".into())
                })?;
                if out.buf().len() - body > MAX_PAYLOAD {
                    return Err(Error::TooLarge(format!(
                        "SCAN result for prefix {prefix:?} exceeds one frame ({MAX_PAYLOAD} bytes); \
                         use SCAN_OPEN to page through it"
                    ))
                    .into());
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            out.buf().truncate(at);
            return Err(e);
        }
        out.buf()[body..body + 4].copy_from_slice(&count.to_le_bytes());
        out.end(at)?;
        Ok(())
    }

    /// Answers with the next page of cursor `id`, releasing the cursor at its end.
    fn page(&mut self, id: u64, max: u32, out: &mut Out) -> Res {
        let max = match max {
            0 => self.shared.opts.scan_page_entries.max(1),
            m => m.min(MAX_PAGE_ENTRIES),
        };
        let page_bytes = self.shared.opts.scan_page_bytes;
        let Some(cur) = self.cursors.get_mut(&id) else {
            return Err(cursor_not_found(id));
        };
        let at = out.begin(rep::VALUE);
        let body = at + HEADER_LEN;
        begin_page(out.buf(), id);
        let mut count: u32 = 0;
        let mut bytes = 0usize;
        let mut done = false;
        let filled = (|| -> Res {
            loop {
                let entry = match cur.pending.take() {
                    Some(e) => e,
                    None => match cur.inner.next_entry()? {
                        Some(e) => e,
                        None => {
                            done = true;
                            return Ok(());
                        }
                    },
                };
                let len = page_entry_len(&entry.0, &entry.1);
                if count >= max || (count > 0 && bytes + len > page_bytes) {
                    cur.pending = Some(entry);
                    return Ok(());
                }
                put_page_entry(out.buf(), &entry.0, &entry.1)?;
                count += 1;
                bytes += len;
            }
        })();
        if let Err(e) = filled {
            out.buf().truncate(at);
            self.cursors.remove(&id);
            return Err(e);
        }
        let shown = if done {
            self.cursors.remove(&id);
            0
        } else {
            id
        };
        finish_page(out.buf(), body, shown, count);
        if let Err(e) = out.end(at) {
            self.cursors.remove(&id);
            return Err(e.into());
        }
        Ok(())
    }
}

fn ok(out: &mut Out) -> Res {
    {
        out.frame(rep::OK, &[]);
        Ok(())
    }
}

/// A VALUE reply, or `TooLarge` when it cannot fit one frame.
fn value_checked(out: &mut Out, payload: &[u8], what: &str) -> Res {
    if payload.len() > MAX_PAYLOAD {
        return Err(Error::TooLarge(format!(
            "{what} of {} bytes exceeds one frame ({MAX_PAYLOAD} bytes)",
            payload.len()
        ))
        .into());
    }
    {
        out.frame(rep::VALUE, payload);
        Ok(())
    }
}

fn txn_not_found(local: u64) -> Failure {
    Failure::Text(Status::NotFound, format!("Transaction not found: {local}"))
}

fn cursor_not_found(id: u64) -> Failure {
    Failure::Text(Status::NotFound, format!("Cursor not found: {id}"))
}

/// Streams a typed result: VALUE (header), ROW chunks, END_STREAM. A row that cannot
/// fit a frame ends the stream with an error reply instead of END_STREAM.
fn stream_result(res: &QueryResult, out: &mut Out) -> Res {
    out.frame(rep::VALUE, &encode_query_header(res)?);
    let mut rows = res.rows.iter().peekable();
    while rows.peek().is_some() {
        let at = out.begin(rep::ROW);
        let body = at + HEADER_LEN;
        put_u32(out.buf(), 0);
        let mut n: u32 = 0;
        while let Some(row) = rows.peek() {
            let before = out.buf().len();
            if let Err(e) = put_row(out.buf(), row) {
                out.buf().truncate(at);
                return Err(e.into());
            }
            if n > 0 && out.buf().len() - body > MAX_PAYLOAD {
                // The row fits a frame of its own: it starts the next chunk.
                out.buf().truncate(before);
                break;
            }
            n += 1;
            rows.next();
            if out.buf().len() - body >= ROW_CHUNK_BYTES {
                break;
            }
        }
        out.buf()[body..body + 4].copy_from_slice(&n.to_le_bytes());
        out.end(at).map_err(|e| {
            Error::TooLarge(format!("a row of the result does not fit one frame: {e}"))
        })?;
    }
    {
        out.frame(rep::END_STREAM, &[]);
        Ok(())
    }
}

/// Renders a result as TOON or JSON text.
fn render(res: &QueryResult, format: QueryFormat) -> String {
    match format {
        QueryFormat::Json => res.to_json(),
        QueryFormat::Toon | QueryFormat::Typed => res.to_toon(),
    }
}
