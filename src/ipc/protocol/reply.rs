//! Replies: the client's view of a reply frame, and the payload codecs of the replies
//! that carry structure (HELLO, scan pages, typed query results, rows, table lists).

use super::rep;
use super::wire::{
    Reader, count16, count32, get_names16, get_value, put_bytes16, put_bytes32, put_names16,
    put_u16, put_u32, put_u64, put_value,
};
use crate::backend::{QueryResult, Value};
use crate::error::{Error, Result, Status};

/// A decoded reply frame.
#[derive(Debug)]
pub enum Reply {
    /// OK.
    Ok,
    /// A version 1 error message.
    Error(String),
    /// VALUE with its payload.
    Value(Vec<u8>),
    /// TXN_ID: a transaction id or a commit timestamp.
    TxnId(u64),
    /// ROW: one chunk of a stream.
    Row(Vec<u8>),
    /// END_STREAM.
    EndStream,
    /// STATS_RESP: the JSON object.
    Stats(serde_json::Map<String, serde_json::Value>),
    /// PONG.
    Pong,
    /// ERROR_STATUS, rebuilt as the crate error it stands for.
    Failed(Error),
    /// NOT_FOUND.
    NotFound,
}

impl Reply {
    /// Decodes a reply frame.
    pub fn decode(code: u8, payload: Vec<u8>) -> Result<Reply> {
        let mut r = Reader::new(&payload, "reply");
        let reply = match code {
            rep::OK => Reply::Ok,
            rep::ERROR => Reply::Error(String::from_utf8_lossy(&payload).into_owned()),
            rep::VALUE => return Ok(Reply::Value(payload)),
            rep::TXN_ID => Reply::TxnId(r.u64("TXN_ID value")?),
            rep::ROW => return Ok(Reply::Row(payload)),
            rep::END_STREAM => Reply::EndStream,
            rep::STATS_RESP => {
                let v: serde_json::Value = serde_json::from_slice(&payload).map_err(|e| {
                    Error::Protocol(format!("STATS_RESP is not a JSON object: {e}"))
                })?;
                match v {
                    serde_json::Value::Object(m) => return Ok(Reply::Stats(m)),
                    _ => return Err(Error::Protocol("STATS_RESP is not a JSON object".into())),
                }
            }
            rep::PONG => Reply::Pong,
            rep::ERROR_STATUS => {
                let code = r.u32("status")?;
                let message = String::from_utf8_lossy(r.rest()).into_owned();
                let e = match i32::try_from(code).ok().and_then(Status::from_code) {
                    Some(s) => Error::from_status(s, message),
                    None => Error::Protocol(format!("unknown status {code}: {message}")),
                };
                Reply::Failed(e)
            }
            rep::NOT_FOUND => Reply::NotFound,
            other => {
                return Err(Error::Protocol(format!(
                    "unknown reply opcode 0x{other:02x}"
                )));
            }
        };
        if code != rep::ERROR && code != rep::ERROR_STATUS {
            r.finish()?;
        }
        Ok(reply)
    }

    /// The error this reply stands for, if it is one.
    pub fn into_error(self) -> std::result::Result<Reply, Error> {
        match self {
            Reply::Failed(e) => Err(e),
            Reply::Error(m) => Err(Error::Protocol(format!("server error: {m}"))),
            other => Ok(other),
        }
    }

    /// A short name of the reply, for messages about unexpected replies.
    pub fn name(&self) -> &'static str {
        match self {
            Reply::Ok => "OK",
            Reply::Error(_) => "ERROR",
            Reply::Value(_) => "VALUE",
            Reply::TxnId(_) => "TXN_ID",
            Reply::Row(_) => "ROW",
            Reply::EndStream => "END_STREAM",
            Reply::Stats(_) => "STATS_RESP",
            Reply::Pong => "PONG",
            Reply::Failed(_) => "ERROR_STATUS",
            Reply::NotFound => "NOT_FOUND",
        }
    }
}

/// The text of an error without its category prefix (the category travels as the
/// status code; [`Error::from_status`] puts it back).
pub fn error_message(e: &Error) -> String {
    match e {
        Error::Io { context, source } => format!("{context}: {source}"),
        Error::NotFound(m)
        | Error::Conflict(m)
        | Error::InvalidArgument(m)
        | Error::Corruption(m)
        | Error::Locked(m)
        | Error::Closed(m)
        | Error::Busy(m)
        | Error::Protocol(m)
        | Error::TooLarge(m)
        | Error::Internal(m)
        | Error::ReadOnly(m)
        | Error::Timeout(m)
        | Error::AlreadyExists(m) => m.clone(),
    }
}

/// Payload of ERROR_STATUS: `u32 status`, then the message.
pub fn encode_error_status(status: Status, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + message.len());
    put_u32(&mut out, status as i32 as u32);
    out.extend_from_slice(message.as_bytes());
    out
}

/// What a server says in its HELLO reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The version both sides will speak (the lower of the two).
    pub version: u16,
    /// The largest payload the server accepts.
    pub max_payload: u32,
    /// Feature names.
    pub features: Vec<String>,
    /// Server name and version (`sochdb 0.1.0`).
    pub server: String,
}

impl ServerHello {
    /// The VALUE payload: `u16 version`, `u32 max_payload`, `u16 feature_count`, then
    /// per feature `u16 len` + name, then `u16 len` + server name.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        put_u16(&mut out, self.version);
        put_u32(&mut out, self.max_payload);
        put_names16(&mut out, &self.features, "features")?;
        put_bytes16(&mut out, self.server.as_bytes(), "server name")?;
        Ok(out)
    }

    /// Decodes [`ServerHello::encode`]'s payload.
    pub fn decode(payload: &[u8]) -> Result<ServerHello> {
        let mut r = Reader::new(payload, "HELLO reply");
        let version = r.u16("version")?;
        let max_payload = r.u32("max payload")?;
        let features = get_names16(&mut r, "features")?;
        let server = r.str16("server name")?.to_string();
        r.finish()?;
        Ok(ServerHello {
            version,
            max_payload,
            features,
            server,
        })
    }
}

/// Appends one entry of a version 1 SCAN reply: `u16 key_len`, key, `u32 value_len`,
/// value.
pub fn put_v1_scan_entry(out: &mut Vec<u8>, key: &[u8], value: &[u8]) -> Result<()> {
    put_bytes16(out, key, "key")?;
    put_bytes32(out, value, "value")
}

/// Decodes a version 1 SCAN VALUE: `u32 count`, then the entries.
pub fn decode_v1_scan(payload: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut r = Reader::new(payload, "SCAN reply");
    let n = r.u32("entry count")? as usize;
    let n = r.count(n, 6, "entries")?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.bytes16("key")?.to_vec();
        let val = r.bytes32("value")?.to_vec();
        v.push((k, val));
    }
    r.finish()?;
    Ok(v)
}

/// Bytes an entry adds to a scan page.
pub fn page_entry_len(key: &[u8], value: &[u8]) -> usize {
    8 + key.len() + value.len()
}

/// Starts a scan page payload: `u64 cursor` (0 when the cursor is finished and
/// released), `u32 count` (patched by [`finish_page`]), then entries of
/// `u32 key_len`, key, `u32 value_len`, value.
pub fn begin_page(out: &mut Vec<u8>, cursor: u64) {
    put_u64(out, cursor);
    put_u32(out, 0);
}

/// Appends one scan page entry.
pub fn put_page_entry(out: &mut Vec<u8>, key: &[u8], value: &[u8]) -> Result<()> {
    put_bytes32(out, key, "key")?;
    put_bytes32(out, value, "value")
}

/// Writes the cursor and entry count of a page begun at `at`.
pub fn finish_page(out: &mut [u8], at: usize, cursor: u64, count: u32) {
    out[at..at + 8].copy_from_slice(&cursor.to_le_bytes());
    out[at + 8..at + 12].copy_from_slice(&count.to_le_bytes());
}

/// A decoded scan page.
pub type Page = (u64, Vec<(Vec<u8>, Vec<u8>)>);

/// Decodes a scan page: the cursor id (0 when finished) and the entries.
pub fn decode_page(payload: &[u8]) -> Result<Page> {
    let mut r = Reader::new(payload, "scan page");
    let cursor = r.u64("cursor id")?;
    let n = r.u32("entry count")? as usize;
    let n = r.count(n, 8, "entries")?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.bytes32("key")?.to_vec();
        let val = r.bytes32("value")?.to_vec();
        v.push((k, val));
    }
    r.finish()?;
    Ok((cursor, v))
}

/// The VALUE that starts a typed query stream: `u16 len` + result name, the column
/// names (`u16 count`, `u16 len` + name each), `u64 row_count`.
pub fn encode_query_header(res: &QueryResult) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    put_bytes16(&mut out, res.name.as_bytes(), "result name")?;
    put_names16(&mut out, &res.columns, "result columns")?;
    put_u64(&mut out, res.rows.len() as u64);
    Ok(out)
}

/// Decodes [`encode_query_header`]: name, columns, row count.
pub fn decode_query_header(payload: &[u8]) -> Result<(String, Vec<String>, u64)> {
    let mut r = Reader::new(payload, "query header");
    let name = r.str16("result name")?.to_string();
    let cols = get_names16(&mut r, "result columns")?;
    let n = r.u64("row count")?;
    r.finish()?;
    Ok((name, cols, n))
}

/// Appends one row's values (one per column, no count) to a ROW chunk.
pub fn put_row(out: &mut Vec<u8>, row: &[Value]) -> Result<()> {
    for v in row {
        put_value(out, v)?;
    }
    Ok(())
}

/// Decodes a ROW chunk: `u32 row_count`, then each row's `columns` values. A chunk with
/// more than `max_rows` rows (what the header announced and is still missing) is
/// malformed.
pub fn decode_rows(
    payload: &[u8],
    columns: usize,
    max_rows: u64,
    into: &mut Vec<Vec<Value>>,
) -> Result<()> {
    let mut r = Reader::new(payload, "ROW chunk");
    let n = r.u32("row count")? as usize;
    if n as u64 > max_rows {
        return Err(r.error(format_args!(
            "{n} rows, but the header announced only {max_rows} more"
        )));
    }
    let n = if columns > 0 {
        r.count(n, columns, "rows")?
    } else {
        n
    };
    for _ in 0..n {
        let mut row = Vec::with_capacity(columns.min(r.remaining()));
        for _ in 0..columns {
            row.push(get_value(&mut r)?);
        }
        into.push(row);
    }
    r.finish()
}

/// The VALUE of ROW_GET: `u16 count`, then the values.
pub fn encode_values(values: &[Value]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    put_u16(&mut out, count16(values.len(), "row values")?);
    put_row(&mut out, values)?;
    Ok(out)
}

/// Decodes [`encode_values`].
pub fn decode_values(payload: &[u8]) -> Result<Vec<Value>> {
    let mut r = Reader::new(payload, "row");
    let n = r.u16("value count")? as usize;
    let n = r.count(n, 1, "values")?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(get_value(&mut r)?);
    }
    r.finish()?;
    Ok(v)
}

/// The VALUE of TABLE_LIST: `u32 count`, then `u16 len` + name each.
pub fn encode_table_list(names: &[String]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    put_u32(&mut out, count32(names.len(), "tables")?);
    for n in names {
        put_bytes16(&mut out, n.as_bytes(), "table name")?;
    }
    Ok(out)
}

/// Decodes [`encode_table_list`].
pub fn decode_table_list(payload: &[u8]) -> Result<Vec<String>> {
    let mut r = Reader::new(payload, "TABLE_LIST reply");
    let n = r.u32("table count")? as usize;
    let n = r.count(n, 2, "tables")?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(r.str16("table name")?.to_string());
    }
    r.finish()?;
    Ok(v)
}

/// Decodes a VALUE holding a `u64` (ROW_WRITE's row id).
pub fn decode_u64(payload: &[u8], what: &'static str) -> Result<u64> {
    let mut r = Reader::new(payload, what);
    let v = r.u64("value")?;
    r.finish()?;
    Ok(v)
}

/// Decodes a VALUE holding one boolean byte (ROW_DELETE's `existed`).
pub fn decode_bool(payload: &[u8], what: &'static str) -> Result<bool> {
    let mut r = Reader::new(payload, what);
    let v = r.bool("flag")?;
    r.finish()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_status_rebuilds_the_error() {
        let e = Error::Conflict("key k".into());
        let p = encode_error_status(e.status(), &error_message(&e));
        match Reply::decode(rep::ERROR_STATUS, p).unwrap() {
            Reply::Failed(back) => assert_eq!(back.to_string(), e.to_string()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn structured_replies_round_trip() {
        let h = ServerHello {
            version: 2,
            max_payload: 16,
            features: vec!["a".into()],
            server: "s".into(),
        };
        assert_eq!(ServerHello::decode(&h.encode().unwrap()).unwrap(), h);

        let mut p = Vec::new();
        begin_page(&mut p, 0);
        put_page_entry(&mut p, b"k", b"v").unwrap();
        finish_page(&mut p, 0, 9, 1);
        assert_eq!(
            decode_page(&p).unwrap(),
            (9, vec![(b"k".to_vec(), b"v".to_vec())])
        );

        let res = QueryResult {
            name: "t".into(),
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec![Value::Int64(1), Value::Null]],
        };
        let hdr = encode_query_header(&res).unwrap();
        assert_eq!(
            decode_query_header(&hdr).unwrap(),
            ("t".into(), res.columns.clone(), 1)
        );
        let mut chunk = Vec::new();
        put_u32(&mut chunk, 1);
        put_row(&mut chunk, &res.rows[0]).unwrap();
        let mut rows = Vec::new();
        decode_rows(&chunk, 2, 1, &mut rows).unwrap();
        assert_eq!(rows, res.rows);

        let names = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            decode_table_list(&encode_table_list(&names).unwrap()).unwrap(),
            names
        );
        let vals = vec![Value::Text("x".into()), Value::Bool(false)];
        assert_eq!(decode_values(&encode_values(&vals).unwrap()).unwrap(), vals);
    }
}
