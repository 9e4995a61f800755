//! The socket client: a [`Backend`] that speaks the protocol to a `sochdb serve`.
//!
//! One connection per [`Client`], guarded by a mutex, so a client may be shared across
//! threads (each call holds the connection for one request and its reply). The client
//! says HELLO first and then uses the version 2 additions throughout, so every error
//! comes back with its status code and is rebuilt as the same [`Error`] the server saw.
//!
//! When the connection is lost (the server restarted, or closed it after its idle
//! timeout) and no transaction or cursor lived on it, the next call reconnects; with a
//! transaction open, calls fail with a clear error instead, since the server aborted it.

use std::collections::{HashSet, VecDeque};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::protocol::PROTOCOL_VERSION;
use super::protocol::frame::FrameReader;
use super::protocol::reply::{
    Reply, ServerHello, decode_bool, decode_page, decode_query_header, decode_rows,
    decode_table_list, decode_u64, decode_values,
};
use super::protocol::request::{NO_TXN, QueryFormat, Request};
use super::protocol::wire::{Reader, ScanTarget, get_schema};
use super::sys;
use crate::backend::{
    Backend, KvCursor, QueryRequest, QueryResult, RowWriteMode, ScanOptions, TableSchema, TxnId,
    TxnOptions, Value,
};
use crate::error::{Error, Result};
use crate::storage::BatchOp;

/// A connection unused for this long is checked for a close by the server before the
/// next request is sent on it.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// Options of [`Client::connect`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Longest wait for the server to accept the connection.
    pub connect_timeout: Duration,
    /// Longest wait for a reply; `None` waits forever. A timed-out connection is
    /// dropped (its reply could arrive later and be taken for another's). The reply to
    /// a full compaction ([`Backend::compact`]) is awaited without a limit.
    pub request_timeout: Option<Duration>,
    /// Entries per scan page asked of the server (0 lets the server choose).
    pub scan_page_entries: u32,
    /// The name sent in HELLO, shown in the server's log.
    pub client_name: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Some(Duration::from_secs(120)),
            scan_page_entries: 0,
            client_name: format!("sochdb-rust {}", crate::VERSION),
        }
    }
}

/// One open connection.
struct Conn {
    /// The socket.
    stream: UnixStream,
    /// Buffered reply bytes.
    reader: FrameReader,
    /// Encoded requests about to be sent.
    out: Vec<u8>,
    /// When the connection last carried a request.
    last_used: Instant,
}

/// The connection and what lives on it.
struct State {
    /// The connection, or `None` when it was lost (or not yet remade).
    conn: Option<Conn>,
    /// Bumped on every reconnect: cursors of an older connection are gone.
    generation: u64,
    /// Transactions open on the current connection.
    txns: HashSet<u64>,
    /// Cursors open on the current connection.
    cursors: usize,
    /// Set by [`Backend::close`].
    closed: bool,
    /// Why the connection was lost, for the errors that follow.
    lost: Option<String>,
}

/// What the client and its cursors share.
struct Inner {
    /// The server's socket.
    path: PathBuf,
    /// Options.
    opts: ClientOptions,
    /// The connection.
    state: Mutex<State>,
    /// The server's HELLO (of the latest connection).
    hello: Mutex<ServerHello>,
}

/// A remote database: the socket protocol behind the [`Backend`] trait.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the server at `path` and says HELLO. Fails with `Io` naming the path
    /// when no server listens there, and with `Protocol` when the peer does not speak
    /// version 2 or refuses the connection (limit reached, uid not allowed).
    pub fn connect(path: &Path, opts: ClientOptions) -> Result<Client> {
        let (conn, hello) = open(path, &opts)?;
        Ok(Client {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                opts,
                state: Mutex::new(State {
                    conn: Some(conn),
                    generation: 0,
                    txns: HashSet::new(),
                    cursors: 0,
                    closed: false,
                    lost: None,
                }),
                hello: Mutex::new(hello),
            }),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// What the server said in HELLO.
    pub fn server_hello(&self) -> ServerHello {
        self.inner.hello.lock().clone()
    }

    /// Sends one request and returns its reply (a single frame), with error replies
    /// turned into errors.
    pub fn call(&self, req: &Request<'_>) -> Result<Reply> {
        let mut st = self.inner.state.lock();
        self.inner.call_locked(&mut st, req)?.into_error()
    }

    /// PING: a round trip to the server.
    pub fn ping(&self) -> Result<()> {
        match self.call(&Request::Ping)? {
            Reply::Pong => Ok(()),
            other => Err(unexpected("PING", &other)),
        }
    }

    /// Runs a query on the server and returns its text rendering (TOON or JSON).
    pub fn query_text(
        &self,
        txn: Option<TxnId>,
        req: &QueryRequest,
        format: QueryFormat,
    ) -> Result<String> {
        if format == QueryFormat::Typed {
            return Err(Error::InvalidArgument(
                "query_text renders text; use Backend::query for typed results".into(),
            ));
        }
        let r = self.call(&Request::QueryEx {
            txn: txn.unwrap_or(NO_TXN),
            format,
            req: req.clone(),
        })?;
        let bytes = value(r, "QUERY_EX")?;
        String::from_utf8(bytes)
            .map_err(|_| Error::Protocol("the server sent a query result that is not UTF-8".into()))
    }

    /// Sends every request before reading any reply, then returns the replies in order
    /// (error replies as `Err`). Requests with a streamed reply (a typed QUERY_EX) are
    /// refused. Sending and receiving overlap, so a long pipeline cannot deadlock on
    /// full socket buffers.
    pub fn pipeline(&self, reqs: &[Request<'_>]) -> Result<Vec<Result<Reply>>> {
        for r in reqs {
            if let Request::QueryEx {
                format: QueryFormat::Typed,
                ..
            } = r
            {
                return Err(Error::InvalidArgument(
                    "a typed QUERY_EX streams several frames and cannot be pipelined".into(),
                ));
            }
        }
        let mut st = self.inner.state.lock();
        self.inner.pipeline_locked(&mut st, reqs)
    }
}

/// Connects and says HELLO.
fn open(path: &Path, opts: &ClientOptions) -> Result<(Conn, ServerHello)> {
    let stream = sys::connect(path, opts.connect_timeout).map_err(|e| {
        Error::io(
            format!(
                "connecting to the SochDB server at {} (is `sochdb serve` running there?)",
                path.display()
            ),
            e,
        )
    })?;
    stream
        .set_read_timeout(opts.request_timeout)
        .and_then(|_| stream.set_write_timeout(opts.request_timeout))
        .map_err(|e| Error::io(format!("setting timeouts on {}", path.display()), e))?;
    let mut conn = Conn {
        stream,
        reader: FrameReader::new(),
        out: Vec::new(),
        last_used: Instant::now(),
    };
    let hello = Request::Hello {
        version: PROTOCOL_VERSION,
        client: &opts.client_name,
    };
    let reply = exchange(&mut conn, &hello, path)?;
    let hello = match reply {
        Reply::Value(p) => ServerHello::decode(&p)?,
        Reply::Error(m) => {
            return Err(Error::Protocol(format!(
                "the server at {} refused the connection: {m}",
                path.display()
            )));
        }
        Reply::Failed(e) => return Err(e),
        other => return Err(unexpected("HELLO", &other)),
    };
    if hello.version < 2 {
        return Err(Error::Protocol(format!(
            "the server at {} speaks protocol version {}; this client needs version 2",
            path.display(),
            hello.version
        )));
    }
    Ok((conn, hello))
}

/// Sends one request and reads one reply frame.
fn exchange(conn: &mut Conn, req: &Request<'_>, path: &Path) -> Result<Reply> {
    match send_request(conn, req, path) {
        Ok(()) => read_reply(conn, path),
        Err(Unsent::Refused(r)) => Ok(r),
        Err(Unsent::PeerGone(e)) | Err(Unsent::Failed(e)) => Err(e),
    }
}

/// Why a request was not sent.
enum Unsent {
    /// The server had closed the connection: nothing of the request was executed.
    PeerGone(Error),
    /// The server refused the connection with this error reply before closing it.
    Refused(Reply),
    /// Encoding or another failure.
    Failed(Error),
}

/// Encodes and sends one request.
fn send_request(
    conn: &mut Conn,
    req: &Request<'_>,
    path: &Path,
) -> std::result::Result<(), Unsent> {
    conn.last_used = Instant::now();
    conn.out.clear();
    req.encode(&mut conn.out).map_err(Unsent::Failed)?;
    let sent = sys::send_all(&conn.stream, &conn.out);
    if conn.out.capacity() > 1024 * 1024 {
        conn.out = Vec::new();
    }
    let Err(e) = sent else {
        return Ok(());
    };
    // A server that refuses a connection (limit reached, uid not allowed) says why in
    // an ERROR frame and closes: show that rather than the broken pipe.
    if let Ok(r @ (Reply::Error(_) | Reply::Failed(_))) = read_reply(conn, path) {
        return Err(Unsent::Refused(r));
    }
    let gone = matches!(
        e.kind(),
        std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::NotConnected
    );
    let err = lost(path, "sending a request", e);
    Err(if gone {
        Unsent::PeerGone(err)
    } else {
        Unsent::Failed(err)
    })
}

/// Reads the next reply frame.
fn read_reply(conn: &mut Conn, path: &Path) -> Result<Reply> {
    loop {
        if let Some((code, payload)) = conn.reader.next_frame()? {
            return Reply::decode(code, payload.to_vec());
        }
        match conn.reader.fill_from(&mut conn.stream) {
            Ok(0) => {
                return Err(Error::Protocol(format!(
                    "the SochDB server at {} closed the connection{}",
                    path.display(),
                    if conn.reader.pending() > 0 {
                        " in the middle of a reply"
                    } else {
                        ""
                    }
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(lost(path, "reading a reply", e)),
        }
    }
}

/// The error for a failed socket operation, naming the path.
fn lost(path: &Path, doing: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Error::Timeout(format!(
            "{doing} on the SochDB server at {}: no answer within the request timeout",
            path.display()
        )),
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
            Error::Protocol(format!(
                "the SochDB server at {} closed the connection ({doing}: {e})",
                path.display()
            ))
        }
        _ => Error::io(
            format!("{doing} on the SochDB server at {}", path.display()),
            e,
        ),
    }
}

fn unexpected(what: &str, r: &Reply) -> Error {
    Error::Protocol(format!("unexpected {} reply to {what}", r.name()))
}

fn value(r: Reply, what: &str) -> Result<Vec<u8>> {
    match r {
        Reply::Value(v) => Ok(v),
        other => Err(unexpected(what, &other)),
    }
}

fn expect_ok(r: Reply, what: &str) -> Result<()> {
    match r {
        Reply::Ok => Ok(()),
        other => Err(unexpected(what, &other)),
    }
}

fn txn_id(r: Reply, what: &str) -> Result<u64> {
    match r {
        Reply::TxnId(v) => Ok(v),
        other => Err(unexpected(what, &other)),
    }
}

impl Inner {
    /// The live connection, reconnecting when it was lost and nothing lived on it.
    fn ready<'s>(&self, st: &'s mut State) -> Result<&'s mut Conn> {
        if st.closed {
            return Err(Error::Closed(format!(
                "the client of {} was closed",
                self.path.display()
            )));
        }
        // A connection idle for a while may have been closed by the server (idle
        // timeout, restart): find out before sending, while a reconnect is still safe.
        if let Some(c) = &st.conn {
            if c.last_used.elapsed() >= IDLE_CHECK && sys::peer_closed(&c.stream) {
                self.drop_conn(st, "the server closed the connection".into());
            }
        }
        if st.conn.is_none() {
            if !st.txns.is_empty() || st.cursors > 0 {
                return Err(self.lost_state(st));
            }
            let (conn, hello) = open(&self.path, &self.opts)?;
            *self.hello.lock() = hello;
            st.conn = Some(conn);
            st.generation += 1;
            st.lost = None;
        }
        st.conn
            .as_mut()
            .ok_or_else(|| Error::Internal("connection missing after reconnect".into()))
    }

    /// The error for a lost connection that carried transactions or cursors.
    fn lost_state(&self, st: &State) -> Error {
        let why = st.lost.clone().unwrap_or_else(|| "unknown".into());
        Error::Protocol(format!(
            "the connection to the SochDB server at {} was lost ({why}); the {} \
             transactions and {} cursors open on it are gone",
            self.path.display(),
            st.txns.len(),
            st.cursors
        ))
    }

    fn drop_conn(&self, st: &mut State, why: String) {
        if let Some(c) = st.conn.take() {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
        st.lost = Some(why);
    }

    /// Sends a request and reads its reply frame; a broken connection is dropped.
    fn call_locked(&self, st: &mut State, req: &Request<'_>) -> Result<Reply> {
        let mut retried = false;
        loop {
            let conn = self.ready(st)?;
            let err = match send_request(conn, req, &self.path) {
                Ok(()) => match read_reply(conn, &self.path) {
                    Ok(r) => return Ok(r),
                    Err(e) => e,
                },
                Err(Unsent::Refused(r)) => return Ok(r),
                Err(Unsent::PeerGone(e)) => {
                    self.drop_conn(st, e.to_string());
                    // The server never saw the request: when nothing lived on the
                    // connection, a new one can carry it.
                    if st.txns.is_empty() && st.cursors == 0 {
                        if !retried {
                            retried = true;
                            continue;
                        }
                        return Err(e);
                    }
                    return Err(self.lost_state(st));
                }
                Err(Unsent::Failed(e)) => e,
            };
            if is_connection_error(&err) {
                self.drop_conn(st, err.to_string());
            }
            return Err(err);
        }
    }

    /// Reads one more frame of a streamed reply.
    fn next_frame_locked(&self, st: &mut State) -> Result<Reply> {
        let conn = st
            .conn
            .as_mut()
            .ok_or_else(|| Error::Protocol("the connection was lost during a reply".into()))?;
        match read_reply(conn, &self.path) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.drop_conn(st, e.to_string());
                Err(e)
            }
        }
    }

    fn pipeline_locked(&self, st: &mut State, reqs: &[Request<'_>]) -> Result<Vec<Result<Reply>>> {
        let conn = self.ready(st)?;
        let res = pipeline_on(conn, reqs, &self.path, self.opts.request_timeout);
        if let Err(e) = &res {
            if is_connection_error(e) {
                self.drop_conn(st, e.to_string());
            }
        }
        res
    }

    fn call(&self, req: &Request<'_>) -> Result<Reply> {
        let mut st = self.state.lock();
        self.call_locked(&mut st, req)?.into_error()
    }

    /// Like [`Inner::call`], for a request that runs as long as its work takes (a full
    /// compaction rewrites the whole database): its reply is awaited without the
    /// request timeout, which then applies again. The server going away still ends the
    /// wait.
    fn call_unbounded(&self, req: &Request<'_>) -> Result<Reply> {
        let mut st = self.state.lock();
        let conn = self.ready(&mut st)?;
        conn.stream.set_read_timeout(None).map_err(|e| {
            Error::io(
                format!("lifting the read timeout on {}", self.path.display()),
                e,
            )
        })?;
        let r = self.call_locked(&mut st, req);
        if let Some(c) = &st.conn {
            if let Err(e) = c.stream.set_read_timeout(self.opts.request_timeout) {
                // The next call reconnects, with the timeout set.
                self.drop_conn(&mut st, format!("restoring the read timeout failed: {e}"));
            }
        }
        r?.into_error()
    }
}

fn is_connection_error(e: &Error) -> bool {
    matches!(e, Error::Io { .. } | Error::Protocol(_) | Error::Timeout(_))
}

/// Writes all requests while reading replies as they come, until every reply is in.
fn pipeline_on(
    conn: &mut Conn,
    reqs: &[Request<'_>],
    path: &Path,
    timeout: Option<Duration>,
) -> Result<Vec<Result<Reply>>> {
    conn.last_used = Instant::now();
    conn.out.clear();
    for r in reqs {
        r.encode(&mut conn.out)?;
    }
    let fd = conn.stream.as_raw_fd();
    let mut sent = 0usize;
    let mut replies = Vec::with_capacity(reqs.len());
    let mut last_progress = Instant::now();
    while replies.len() < reqs.len() {
        while replies.len() < reqs.len() {
            match conn.reader.next_frame()? {
                Some((code, payload)) => {
                    replies.push(Reply::decode(code, payload.to_vec())?.into_error());
                }
                None => break,
            }
        }
        if replies.len() == reqs.len() {
            break;
        }
        let want_write = sent < conn.out.len();
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN | if want_write { libc::POLLOUT } else { 0 },
            revents: 0,
        };
        let wait_ms = match timeout {
            Some(t) => {
                let left = t.saturating_sub(last_progress.elapsed());
                if left.is_zero() {
                    return Err(Error::Timeout(format!(
                        "pipeline to the SochDB server at {}: no progress within the request timeout",
                        path.display()
                    )));
                }
                left.as_millis().min(i32::MAX as u128) as i32
            }
            None => -1,
        };
        // SAFETY: `p` is one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut p, 1, wait_ms) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(lost(path, "waiting on the pipeline", e));
        }
        if want_write && p.revents & libc::POLLOUT != 0 {
            let chunk = &conn.out[sent..];
            // SAFETY: `chunk` is a valid slice; MSG_DONTWAIT makes the call return at
            // once with what the socket took.
            let n = unsafe {
                libc::send(
                    fd,
                    chunk.as_ptr().cast(),
                    chunk.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) {
                    return Err(lost(path, "sending pipelined requests", e));
                }
            } else {
                sent += n as usize;
                last_progress = Instant::now();
            }
        }
        if p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match conn.reader.fill_from(&mut conn.stream) {
                Ok(0) => {
                    return Err(Error::Protocol(format!(
                        "the SochDB server at {} closed the connection during a pipeline",
                        path.display()
                    )));
                }
                Ok(_) => last_progress = Instant::now(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(lost(path, "reading pipelined replies", e)),
            }
        }
    }
    Ok(replies)
}

fn txn_field(txn: Option<TxnId>) -> u64 {
    txn.unwrap_or(NO_TXN)
}

impl Backend for Client {
    fn begin(&self, opts: TxnOptions) -> Result<TxnId> {
        let mut st = self.inner.state.lock();
        let r = self
            .inner
            .call_locked(&mut st, &Request::TxnBegin(opts))?
            .into_error()?;
        let id = txn_id(r, "TXN_BEGIN")?;
        st.txns.insert(id);
        Ok(id)
    }

    fn commit(&self, txn: TxnId) -> Result<u64> {
        let mut st = self.inner.state.lock();
        let r = self.inner.call_locked(&mut st, &Request::CommitTxn { txn });
        st.txns.remove(&txn);
        txn_id(r?.into_error()?, "COMMIT_TXN")
    }

    fn abort(&self, txn: TxnId) -> Result<()> {
        let mut st = self.inner.state.lock();
        let r = self.inner.call_locked(&mut st, &Request::AbortTxn { txn });
        st.txns.remove(&txn);
        expect_ok(r?.into_error()?, "ABORT_TXN")
    }

    fn get(&self, txn: Option<TxnId>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.inner.call(&Request::KvGet {
            txn: txn_field(txn),
            key,
        })? {
            Reply::Value(v) => Ok(Some(v)),
            Reply::NotFound => Ok(None),
            other => Err(unexpected("KV_GET", &other)),
        }
    }

    fn put(&self, txn: Option<TxnId>, key: &[u8], value: &[u8]) -> Result<()> {
        let r = self.inner.call(&Request::KvPut {
            txn: txn_field(txn),
            key,
            value,
        })?;
        expect_ok(r, "KV_PUT")
    }

    fn delete(&self, txn: Option<TxnId>, key: &[u8]) -> Result<()> {
        let r = self.inner.call(&Request::KvDelete {
            txn: txn_field(txn),
            key,
        })?;
        expect_ok(r, "KV_DELETE")
    }

    fn write_batch(&self, ops: &[BatchOp]) -> Result<u64> {
        let r = self.inner.call(&Request::Batch(ops.to_vec()))?;
        txn_id(r, "BATCH")
    }

    fn scan(&self, txn: Option<TxnId>, opts: &ScanOptions) -> Result<Box<dyn KvCursor>> {
        let cursor =
            RemoteCursor::open(Arc::clone(&self.inner), txn, ScanTarget::Keys(opts.clone()))?;
        Ok(Box::new(cursor))
    }

    fn create_table(&self, schema: &TableSchema) -> Result<()> {
        let r = self.inner.call(&Request::CreateTable(schema.clone()))?;
        expect_ok(r, "CREATE_TABLE")
    }

    fn drop_table(&self, name: &str) -> Result<()> {
        let r = self.inner.call(&Request::TableDrop { name })?;
        expect_ok(r, "TABLE_DROP")
    }

    fn list_tables(&self) -> Result<Vec<String>> {
        let r = self.inner.call(&Request::TableList)?;
        decode_table_list(&value(r, "TABLE_LIST")?)
    }

    fn describe_table(&self, name: &str) -> Result<TableSchema> {
        let r = self.inner.call(&Request::TableDescribe { name })?;
        let p = value(r, "TABLE_DESCRIBE")?;
        let mut rd = Reader::new(&p, "TABLE_DESCRIBE reply");
        let s = get_schema(&mut rd)?;
        rd.finish()?;
        Ok(s)
    }

    fn write_row(
        &self,
        txn: Option<TxnId>,
        table: &str,
        row_id: Option<u64>,
        values: &[(String, Value)],
        mode: RowWriteMode,
    ) -> Result<u64> {
        let r = self.inner.call(&Request::RowWrite {
            txn: txn_field(txn),
            table,
            mode,
            row_id,
            values: values.to_vec(),
        })?;
        decode_u64(&value(r, "ROW_WRITE")?, "ROW_WRITE reply")
    }

    fn get_row(&self, txn: Option<TxnId>, table: &str, row_id: u64) -> Result<Option<Vec<Value>>> {
        match self.inner.call(&Request::RowGet {
            txn: txn_field(txn),
            table,
            row_id,
        })? {
            Reply::Value(p) => Ok(Some(decode_values(&p)?)),
            Reply::NotFound => Ok(None),
            other => Err(unexpected("ROW_GET", &other)),
        }
    }

    fn delete_row(&self, txn: Option<TxnId>, table: &str, row_id: u64) -> Result<bool> {
        let r = self.inner.call(&Request::RowDelete {
            txn: txn_field(txn),
            table,
            row_id,
        })?;
        decode_bool(&value(r, "ROW_DELETE")?, "ROW_DELETE reply")
    }

    fn query(&self, txn: Option<TxnId>, req: &QueryRequest) -> Result<QueryResult> {
        let mut st = self.inner.state.lock();
        let first = self
            .inner
            .call_locked(
                &mut st,
                &Request::QueryEx {
                    txn: txn_field(txn),
                    format: QueryFormat::Typed,
                    req: req.clone(),
                },
            )?
            .into_error()?;
        let (name, columns, count) = decode_query_header(&value(first, "QUERY_EX")?)?;
        let mut rows = Vec::new();
        loop {
            match self.inner.next_frame_locked(&mut st)?.into_error()? {
                Reply::Row(p) => {
                    let missing = count.saturating_sub(rows.len() as u64);
                    if let Err(e) = decode_rows(&p, columns.len(), missing, &mut rows) {
                        // The rest of the stream cannot be trusted: drop the connection.
                        self.inner.drop_conn(&mut st, e.to_string());
                        return Err(e);
                    }
                }
                Reply::EndStream => break,
                other => {
                    let e = unexpected("QUERY_EX stream", &other);
                    self.inner.drop_conn(&mut st, e.to_string());
                    return Err(e);
                }
            }
        }
        if rows.len() as u64 != count {
            return Err(Error::Protocol(format!(
                "the server announced {count} rows and sent {}",
                rows.len()
            )));
        }
        Ok(QueryResult {
            name,
            columns,
            rows,
        })
    }

    fn checkpoint(&self) -> Result<()> {
        let r = self.inner.call(&Request::Checkpoint)?;
        expect_ok(r, "CHECKPOINT")
    }

    fn compact(&self) -> Result<()> {
        let r = self.inner.call_unbounded(&Request::Compact)?;
        expect_ok(r, "COMPACT")
    }

    fn stats(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        match self.inner.call(&Request::Stats)? {
            Reply::Stats(m) => Ok(m),
            other => Err(unexpected("STATS", &other)),
        }
    }

    fn close(&self) -> Result<()> {
        let mut st = self.inner.state.lock();
        if let Some(c) = st.conn.take() {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
        st.closed = true;
        st.txns.clear();
        Ok(())
    }
}

/// A server-side scan cursor read page by page.
struct RemoteCursor {
    /// The client.
    inner: Arc<Inner>,
    /// Server cursor id; 0 once the server has released it.
    id: u64,
    /// The connection generation the cursor lives on.
    generation: u64,
    /// Entries received and not yet handed out.
    buf: VecDeque<(Vec<u8>, Vec<u8>)>,
}

impl RemoteCursor {
    fn open(inner: Arc<Inner>, txn: Option<TxnId>, target: ScanTarget) -> Result<RemoteCursor> {
        let mut st = inner.state.lock();
        let r = inner
            .call_locked(
                &mut st,
                &Request::ScanOpen {
                    txn: txn_field(txn),
                    page: inner.opts.scan_page_entries,
                    target,
                },
            )?
            .into_error()?;
        let (id, entries) = decode_page(&value(r, "SCAN_OPEN")?)?;
        if id != 0 {
            st.cursors += 1;
        }
        let generation = st.generation;
        drop(st);
        Ok(RemoteCursor {
            inner,
            id,
            generation,
            buf: entries.into(),
        })
    }

    fn release(&mut self, st: &mut State) {
        if self.id != 0 && st.generation == self.generation {
            st.cursors = st.cursors.saturating_sub(1);
        }
        self.id = 0;
    }
}

impl KvCursor for RemoteCursor {
    fn next_entry(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        loop {
            if let Some(e) = self.buf.pop_front() {
                return Ok(Some(e));
            }
            if self.id == 0 {
                return Ok(None);
            }
            let inner = Arc::clone(&self.inner);
            let mut st = inner.state.lock();
            if st.generation != self.generation || st.conn.is_none() {
                self.release(&mut st);
                return Err(Error::Protocol(format!(
                    "the connection to the SochDB server at {} was lost; the scan cursor is gone",
                    self.inner.path.display()
                )));
            }
            let r = inner.call_locked(
                &mut st,
                &Request::ScanNext {
                    cursor: self.id,
                    max: self.inner.opts.scan_page_entries,
                },
            );
            let page = match r.and_then(Reply::into_error) {
                Ok(r) => value(r, "SCAN_NEXT").and_then(|p| decode_page(&p)),
                Err(e) => Err(e),
            };
            match page {
                Ok((id, entries)) => {
                    if id == 0 {
                        self.release(&mut st);
                    }
                    self.buf = entries.into();
                }
                Err(e) => {
                    self.release(&mut st);
                    return Err(e);
                }
            }
        }
    }
}

impl Drop for RemoteCursor {
    fn drop(&mut self) {
        if self.id == 0 {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let mut st = inner.state.lock();
        if st.generation == self.generation && st.conn.is_some() && !st.closed {
            let _ = inner.call_locked(&mut st, &Request::ScanClose { cursor: self.id });
        }
        self.release(&mut st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_shareable_and_absent_server_is_a_clear_error() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Client>();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("none.sock");
        let e = Client::connect(&p, ClientOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(e.to_string().contains("none.sock"), "{e}");
    }
}
