//! The round's combined commit: the one-shot writes of every connection an event loop
//! served in one round, committed as one batch (one log append, one sync).
//!
//! One-shot writes are blind (they read nothing), so combining them changes no outcome:
//! each request still applies wholly, in its connection's order (a later write of the
//! same key wins), and none is acknowledged before the batch is durable. Writes of
//! different connections in one round were concurrent, so any order among them is one
//! the clients could have seen. If the combined batch fails, each request is committed
//! on its own and answered with its own outcome, so one bad request fails alone.

use std::ops::Range;

use super::route::Ack;
use crate::backend::Backend;
use crate::error::Result;
use crate::storage::BatchOp;

/// Bytes of keys and values after which a round's writes are committed before more are
/// taken (a round of many large batches becomes several commits).
const MAX_BYTES: usize = 8 * 1024 * 1024;
/// Operations after which a round's writes are committed before more are taken.
const MAX_OPS: usize = 64 * 1024;

/// One request's part of the combined batch.
#[derive(Debug)]
struct Part {
    /// The connection's slot in its loop.
    slot: usize,
    /// Its operations in [`Combiner::ops`].
    ops: Range<usize>,
    /// What its reply carries.
    ack: Ack,
}

/// The writes gathered in a round.
#[derive(Debug, Default)]
pub(crate) struct Combiner {
    /// Every operation, request after request.
    ops: Vec<BatchOp>,
    /// Bytes of keys and values in `ops`.
    bytes: usize,
    /// The requests, in arrival order.
    parts: Vec<Part>,
}

impl Combiner {
    /// An empty combiner.
    pub fn new() -> Combiner {
        Combiner::default()
    }

    /// Adds one request's operations on behalf of the connection in `slot`.
    pub fn add(&mut self, slot: usize, ops: Vec<BatchOp>, ack: Ack) {
        let start = self.ops.len();
        for op in ops {
            self.bytes += op.key().len() + op.value().map_or(0, <[u8]>::len);
            self.ops.push(op);
        }
        self.parts.push(Part {
            slot,
            ops: start..self.ops.len(),
            ack,
        });
    }

    /// True when nothing is gathered.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// True when the gathered writes should be committed before more are taken.
    pub fn is_full(&self) -> bool {
        self.bytes >= MAX_BYTES || self.ops.len() >= MAX_OPS
    }

    /// Commits everything gathered and calls `deliver(slot, ack, outcome)` for every
    /// request, in arrival order: the commit timestamp, or the request's own error.
    /// Returns how many commits were attempted.
    pub fn commit(
        &mut self,
        db: &dyn Backend,
        mut deliver: impl FnMut(usize, Ack, Result<u64>),
    ) -> u64 {
        if self.parts.is_empty() {
            return 0;
        }
        let combined = db.write_batch(&self.ops);
        let mut commits = 1;
        match combined {
            Ok(ts) => {
                for p in &self.parts {
                    deliver(p.slot, p.ack, Ok(ts));
                }
            }
            Err(e) if self.parts.len() == 1 => {
                deliver(self.parts[0].slot, self.parts[0].ack, Err(e))
            }
            Err(_) => {
                for p in &self.parts {
                    commits += 1;
                    deliver(p.slot, p.ack, db.write_batch(&self.ops[p.ops.clone()]));
                }
            }
        }
        self.ops.clear();
        self.parts.clear();
        self.bytes = 0;
        commits
    }
}

#[cfg(test)]
mod tests {
    use super::Combiner;
    use crate::backend::Backend;
    use crate::ipc::server::route::Ack;
    use crate::kernel::{Database, DbOptions};
    use crate::storage::BatchOp;

    fn put(k: &[u8], v: &[u8]) -> BatchOp {
        BatchOp::Put {
            key: k.to_vec(),
            value: v.to_vec(),
        }
    }

    #[test]
    fn writes_of_many_connections_commit_once_and_a_bad_one_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), DbOptions::default()).unwrap();
        let mut c = Combiner::new();
        c.add(0, vec![put(b"a", b"1")], Ack::Ok);
        c.add(1, vec![put(b"b", b"1"), put(b"a", b"2")], Ack::CommitTs);
        let mut got = Vec::new();
        assert_eq!(
            c.commit(&db, |slot, ack, r| got.push((slot, ack, r.unwrap()))),
            1
        );
        assert!(c.is_empty());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].2, got[1].2, "one commit timestamp for the round");
        assert_eq!((got[0].0, got[0].1), (0, Ack::Ok));
        assert_eq!((got[1].0, got[1].1), (1, Ack::CommitTs));
        assert_eq!(db.get(None, b"a").unwrap(), Some(b"2".to_vec()));

        // A key in the reserved range fails its own request only.
        c.add(0, vec![put(b"c", b"1")], Ack::Ok);
        c.add(1, vec![put(&[0xFF, 1], b"1")], Ack::Ok);
        c.add(2, vec![BatchOp::Delete { key: b"b".to_vec() }], Ack::Ok);
        let mut outcomes = Vec::new();
        c.commit(&db, |slot, _, r| outcomes.push((slot, r.is_ok())));
        assert_eq!(outcomes, vec![(0, true), (1, false), (2, true)]);
        assert_eq!(db.get(None, b"c").unwrap(), Some(b"1".to_vec()));
        assert_eq!(db.get(None, b"b").unwrap(), None);
    }
}
