//! The socket protocol: frames, opcodes and payload codecs, written once and used by
//! both [`crate::ipc::server`] and [`crate::ipc::client`].
//!
//! Version 1 (the opcodes `0x01..=0x0F` and replies `0x80..=0x87`) is answered byte for
//! byte as existing clients expect. Version 2 adds opcodes in codes version 1 never used
//! (`0x10..=0x23`) and two reply codes (`0x88`, `0x89`). A client that sends HELLO with
//! version 2 or more also switches its connection's error replies to
//! [`rep::ERROR_STATUS`], which carries the stable status code. `docs/protocol.md`
//! describes every byte.

pub mod frame;
pub mod reply;
pub mod request;
pub mod wire;

/// The largest payload of one frame, in bytes (16 MiB). A frame announcing more is a
/// protocol error, refused before any buffer grows to that size.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// Bytes of a frame header: one opcode byte and a little-endian `u32` payload length.
pub const HEADER_LEN: usize = 5;

/// The highest protocol version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 2;

/// The features a version 2 server announces in its HELLO reply.
pub const FEATURES: &[&str] = &[
    "error-status",
    "txn-ops",
    "get-found",
    "paths",
    "scan-cursor",
    "query-typed",
    "tables",
    "rows",
    "batch",
    "pipelining",
    "compact",
];

/// Request opcodes (client to server).
pub mod op {
    /// v1: `u32 key_len`, key, value (rest). Reply OK.
    pub const PUT: u8 = 0x01;
    /// v1: the key (whole payload). Reply VALUE (empty when absent).
    pub const GET: u8 = 0x02;
    /// v1: the key (whole payload). Reply OK.
    pub const DELETE: u8 = 0x03;
    /// v1: empty. Reply TXN_ID with a connection-local id.
    pub const BEGIN_TXN: u8 = 0x04;
    /// v1: `u64` txn. Reply TXN_ID with the commit timestamp.
    pub const COMMIT_TXN: u8 = 0x05;
    /// v1: `u64` txn. Reply OK.
    pub const ABORT_TXN: u8 = 0x06;
    /// v1: path, limit, offset, columns. Reply VALUE with TOON text.
    pub const QUERY: u8 = 0x07;
    /// v1: table schema. Reply OK.
    pub const CREATE_TABLE: u8 = 0x08;
    /// v1: path segments, value (rest). Reply OK.
    pub const PUT_PATH: u8 = 0x09;
    /// v1: path segments. Reply VALUE (empty when absent).
    pub const GET_PATH: u8 = 0x0A;
    /// v1: UTF-8 key prefix (whole payload). Reply VALUE with the entries.
    pub const SCAN: u8 = 0x0B;
    /// v1: empty. Reply OK after a checkpoint.
    pub const CHECKPOINT: u8 = 0x0C;
    /// v1: empty. Reply STATS_RESP.
    pub const STATS: u8 = 0x0D;
    /// v1: empty. Reply PONG.
    pub const PING: u8 = 0x0E;
    /// v1: SQL text. Reply VALUE with a JSON object holding `error`.
    pub const EXECUTE_SQL: u8 = 0x0F;

    /// v2: `u16 version`, `u16 name_len`, client name. Reply VALUE with the server hello.
    pub const HELLO: u8 = 0x10;
    /// v2: `u8 isolation`, `u8 flags`. Reply TXN_ID.
    pub const TXN_BEGIN: u8 = 0x11;
    /// v2: `u64 txn`, key (rest). Reply VALUE, or NOT_FOUND when absent.
    pub const KV_GET: u8 = 0x12;
    /// v2: `u64 txn`, `u32 key_len`, key, value (rest). Reply OK.
    pub const KV_PUT: u8 = 0x13;
    /// v2: `u64 txn`, key (rest). Reply OK.
    pub const KV_DELETE: u8 = 0x14;
    /// v2: `u64 txn`, `u16 path_len`, path. Reply VALUE, or NOT_FOUND.
    pub const PATH_GET: u8 = 0x15;
    /// v2: `u64 txn`, `u16 path_len`, path, value (rest). Reply OK.
    pub const PATH_PUT: u8 = 0x16;
    /// v2: `u64 txn`, `u16 path_len`, path. Reply OK.
    pub const PATH_DELETE: u8 = 0x17;
    /// v2: opens a scan cursor and returns its first page.
    pub const SCAN_OPEN: u8 = 0x18;
    /// v2: `u64 cursor`, `u32 max_entries`. Reply VALUE with the next page.
    pub const SCAN_NEXT: u8 = 0x19;
    /// v2: `u64 cursor`. Reply OK.
    pub const SCAN_CLOSE: u8 = 0x1A;
    /// v2: a full query request. Reply typed stream, or VALUE with TOON or JSON text.
    pub const QUERY_EX: u8 = 0x1B;
    /// v2: puts and deletes committed atomically. Reply TXN_ID with the timestamp.
    pub const BATCH: u8 = 0x1C;
    /// v2: `u16 name_len`, name. Reply OK.
    pub const TABLE_DROP: u8 = 0x1D;
    /// v2: empty. Reply VALUE with the sorted names.
    pub const TABLE_LIST: u8 = 0x1E;
    /// v2: `u16 name_len`, name. Reply VALUE with the schema.
    pub const TABLE_DESCRIBE: u8 = 0x1F;
    /// v2: insert, upsert or update a row. Reply VALUE with the `u64` row id.
    pub const ROW_WRITE: u8 = 0x20;
    /// v2: `u64 txn`, table, `u64 row_id`. Reply VALUE with the values, or NOT_FOUND.
    pub const ROW_GET: u8 = 0x21;
    /// v2: `u64 txn`, table, `u64 row_id`. Reply VALUE with `u8 existed`.
    pub const ROW_DELETE: u8 = 0x22;
    /// v2: empty. Reply OK once a full manual compaction is done.
    pub const COMPACT: u8 = 0x23;

    /// The name of a request opcode, for logs and messages.
    pub fn name(code: u8) -> Option<&'static str> {
        Some(match code {
            PUT => "PUT",
            GET => "GET",
            DELETE => "DELETE",
            BEGIN_TXN => "BEGIN_TXN",
            COMMIT_TXN => "COMMIT_TXN",
            ABORT_TXN => "ABORT_TXN",
            QUERY => "QUERY",
            CREATE_TABLE => "CREATE_TABLE",
            PUT_PATH => "PUT_PATH",
            GET_PATH => "GET_PATH",
            SCAN => "SCAN",
            CHECKPOINT => "CHECKPOINT",
            STATS => "STATS",
            PING => "PING",
            EXECUTE_SQL => "EXECUTE_SQL",
            HELLO => "HELLO",
            TXN_BEGIN => "TXN_BEGIN",
            KV_GET => "KV_GET",
            KV_PUT => "KV_PUT",
            KV_DELETE => "KV_DELETE",
            PATH_GET => "PATH_GET",
            PATH_PUT => "PATH_PUT",
            PATH_DELETE => "PATH_DELETE",
            SCAN_OPEN => "SCAN_OPEN",
            SCAN_NEXT => "SCAN_NEXT",
            SCAN_CLOSE => "SCAN_CLOSE",
            QUERY_EX => "QUERY_EX",
            BATCH => "BATCH",
            TABLE_DROP => "TABLE_DROP",
            TABLE_LIST => "TABLE_LIST",
            TABLE_DESCRIBE => "TABLE_DESCRIBE",
            ROW_WRITE => "ROW_WRITE",
            ROW_GET => "ROW_GET",
            ROW_DELETE => "ROW_DELETE",
            COMPACT => "COMPACT",
            _ => return None,
        })
    }
}

/// Reply opcodes (server to client).
pub mod rep {
    /// Success without data.
    pub const OK: u8 = 0x80;
    /// A UTF-8 message for a person (version 1 error).
    pub const ERROR: u8 = 0x81;
    /// Opcode-specific data.
    pub const VALUE: u8 = 0x82;
    /// A `u64`: a transaction id or a commit timestamp.
    pub const TXN_ID: u8 = 0x83;
    /// One chunk of a streamed result.
    pub const ROW: u8 = 0x84;
    /// The end of a streamed result.
    pub const END_STREAM: u8 = 0x85;
    /// A JSON object of figures.
    pub const STATS_RESP: u8 = 0x86;
    /// Answer to PING.
    pub const PONG: u8 = 0x87;
    /// v2: `u32 status` (the stable [`crate::Status`] code), then a UTF-8 message.
    pub const ERROR_STATUS: u8 = 0x88;
    /// v2: the key or row does not exist (empty payload).
    pub const NOT_FOUND: u8 = 0x89;
}
