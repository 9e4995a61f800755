//! Where each request is carried out: combined into the round's one commit, answered at
//! once on the event loop, or handed to a worker thread.
//!
//! - One-shot writes (version 1 PUT, DELETE and PUT_PATH; KV_PUT, KV_DELETE, PATH_PUT and
//!   PATH_DELETE without a transaction; BATCH) are blind writes: they read nothing, so
//!   any number of them, from any connections, commit together as one atomic batch with
//!   one log append and one sync, and each is acknowledged once that batch is durable.
//!   Only requests that are valid on their own are combined (a bad path is answered by
//!   the normal path with its own error).
//! - Requests that can wait for a sync or run for long (transaction commits, one-shot
//!   row writes, table creation and removal, checkpoints, compactions, scans and
//!   queries) go to a worker, so they never hold up the loop and the other connections
//!   on it.
//! - A version 1 GET, the commonest request, is answered at once on the loop by a path
//!   of its own (its payload is the key: nothing to decode).
//! - Everything else (other reads, PING, STATS, HELLO, transaction begin and abort, writes
//!   inside a transaction, malformed requests) is answered at once on the loop.

use crate::ipc::protocol::op;
use crate::ipc::protocol::request::{NO_TXN, Request};
use crate::kernel::path;
use crate::storage::BatchOp;

/// What a combined write's reply carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ack {
    /// OK.
    Ok,
    /// TXN_ID holding the commit timestamp (BATCH).
    CommitTs,
}

/// Where a request is carried out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Into the round's combined commit, with these operations.
    Combine(Vec<BatchOp>, Ack),
    /// A version 1 GET of this payload's key, answered at once on the loop.
    Get,
    /// Answered at once on the loop.
    Inline,
    /// Answered on a worker thread.
    Worker,
}

/// Where the request `opcode` with `payload` is carried out.
pub(crate) fn route(opcode: u8, payload: &[u8]) -> Route {
    if opcode == op::GET {
        return Route::Get;
    }
    let Ok(req) = Request::decode(opcode, payload) else {
        return Route::Inline;
    };
    let put = |key: &[u8], value: &[u8]| {
        Route::Combine(
            vec![BatchOp::Put {
                key: key.to_vec(),
                value: value.to_vec(),
            }],
            Ack::Ok,
        )
    };
    let delete = |key: &[u8]| Route::Combine(vec![BatchOp::Delete { key: key.to_vec() }], Ack::Ok);
    match req {
        Request::Put { key, value }
        | Request::KvPut {
            txn: NO_TXN,
            key,
            value,
        } => put(key, value),
        Request::Delete { key } | Request::KvDelete { txn: NO_TXN, key } => delete(key),
        Request::PutPath { segments, value } => match path::join(&segments) {
            Ok(p) if path::validate(&p).is_ok() => put(p.as_bytes(), value),
            _ => Route::Inline,
        },
        Request::PathPut {
            txn: NO_TXN,
            path: p,
            value,
        } if path::validate(p).is_ok() => put(p.as_bytes(), value),
        Request::PathDelete {
            txn: NO_TXN,
            path: p,
        } if path::validate(p).is_ok() => delete(p.as_bytes()),
        Request::Batch(ops) => Route::Combine(ops, Ack::CommitTs),
        Request::CommitTxn { .. }
        | Request::Checkpoint
        | Request::Compact
        | Request::Scan { .. }
        | Request::Query { .. }
        | Request::QueryEx { .. }
        | Request::ScanOpen { .. }
        | Request::ScanNext { .. }
        | Request::CreateTable(_)
        | Request::TableDrop { .. }
        | Request::RowWrite { txn: NO_TXN, .. }
        | Request::RowDelete { txn: NO_TXN, .. } => Route::Worker,
        _ => Route::Inline,
    }
}

#[cfg(test)]
mod tests {
    use super::{Ack, Route, route};
    use crate::ipc::protocol::op;
    use crate::storage::BatchOp;

    fn put_payload(key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut p = (key.len() as u32).to_le_bytes().to_vec();
        p.extend_from_slice(key);
        p.extend_from_slice(value);
        p
    }

    #[test]
    fn one_shot_writes_are_combined_and_the_rest_routed() {
        assert_eq!(
            route(op::PUT, &put_payload(b"k", b"v")),
            Route::Combine(
                vec![BatchOp::Put {
                    key: b"k".to_vec(),
                    value: b"v".to_vec()
                }],
                Ack::Ok
            )
        );
        assert_eq!(
            route(op::DELETE, b"k"),
            Route::Combine(vec![BatchOp::Delete { key: b"k".to_vec() }], Ack::Ok)
        );
        assert_eq!(route(op::GET, b"k"), Route::Get);
        assert_eq!(route(op::PING, b""), Route::Inline);
        assert_eq!(route(op::CHECKPOINT, b""), Route::Worker);
        assert_eq!(route(op::COMPACT, b""), Route::Worker);
        // A malformed COMPACT is answered with its error on the loop.
        assert_eq!(route(op::COMPACT, b"x"), Route::Inline);
        assert_eq!(route(op::COMMIT_TXN, &7u64.to_le_bytes()), Route::Worker);
        // Malformed: answered (with its error) on the loop, never combined.
        assert_eq!(route(op::PUT, &[1, 2]), Route::Inline);
        assert_eq!(route(0xEE, b""), Route::Inline);
    }

    #[test]
    fn a_bad_path_is_not_combined() {
        // PUT_PATH with one empty segment.
        let mut p = 1u16.to_le_bytes().to_vec();
        p.extend_from_slice(&0u16.to_le_bytes());
        p.extend_from_slice(b"v");
        assert_eq!(route(op::PUT_PATH, &p), Route::Inline);
        // PUT_PATH users/alice.
        let mut p = 2u16.to_le_bytes().to_vec();
        for s in ["users", "alice"] {
            p.extend_from_slice(&(s.len() as u16).to_le_bytes());
            p.extend_from_slice(s.as_bytes());
        }
        p.extend_from_slice(b"v");
        assert_eq!(
            route(op::PUT_PATH, &p),
            Route::Combine(
                vec![BatchOp::Put {
                    key: b"users/alice".to_vec(),
                    value: b"v".to_vec()
                }],
                Ack::Ok
            )
        );
    }
}
