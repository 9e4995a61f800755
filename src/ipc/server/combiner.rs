//! The combined commit: the one-shot writes of every connection an event loop served
//! in one round (and, at the committer, of every loop's rounds since the last commit),
//! committed as one batch (one log append, one sync).
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

/// One request's outcome, on its way back to its connection.
#[derive(Debug)]
pub(crate) struct Acked {
    /// The connection's slot in its loop.
    pub slot: usize,
    /// The connection's id (a slot is reused by later connections).
    pub id: u64,
    /// What the reply carries.
    pub ack: Ack,
    /// The commit timestamp, or the request's own error.
    pub outcome: Result<u64>,
}

/// One request's part of the combined batch.
#[derive(Debug)]
struct Part {
    /// The connection's slot in its loop.
    slot: usize,
    /// The connection's id.
    id: u64,
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

    /// Adds one request's operations on behalf of the connection `id` in `slot`.
    pub fn add(&mut self, slot: usize, id: u64, ops: Vec<BatchOp>, ack: Ack) {
        let start = self.ops.len();
        for op in ops {
            self.bytes += op.key().len() + op.value().map_or(0, <[u8]>::len);
            self.ops.push(op);
        }
        self.parts.push(Part {
            slot,
            id,
            ops: start..self.ops.len(),
            ack,
        });
    }

    /// Appends everything `other` gathered, after what this one holds.
    pub fn absorb(&mut self, mut other: Combiner) {
        if self.parts.is_empty() {
            *self = other;
            return;
        }
        let shift = self.ops.len();
        self.ops.append(&mut other.ops);
        self.bytes += other.bytes;
        self.parts.extend(other.parts.into_iter().map(|p| Part {
            ops: p.ops.start + shift..p.ops.end + shift,
            ..p
        }));
    }

    /// Requests gathered.
    pub fn requests(&self) -> usize {
        self.parts.len()
    }

    /// The connections (slot and id) of the requests gathered, in order (a connection
    /// appears once per request).
    pub fn connections(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.parts.iter().map(|p| (p.slot, p.id))
    }

    /// Slot, id and reply kind of every request from the `n`-th on.
    pub fn requests_from(&self, n: usize) -> Vec<(usize, u64, Ack)> {
        self.parts
            .iter()
            .skip(n)
            .map(|p| (p.slot, p.id, p.ack))
            .collect()
    }

    /// Drops everything gathered.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.parts.clear();
        self.bytes = 0;
    }

    /// True when nothing is gathered.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// True when the gathered writes should be committed before more are taken.
    pub fn is_full(&self) -> bool {
        self.bytes >= MAX_BYTES || self.ops.len() >= MAX_OPS
    }

    /// Commits everything gathered (and empties the combiner) and calls `deliver` for
    /// every request, in arrival order, with its outcome: the commit timestamp, or the
    /// request's own error. Returns how many commits were attempted.
    pub fn commit(&mut self, db: &dyn Backend, mut deliver: impl FnMut(Acked)) -> u64 {
        if self.parts.is_empty() {
            return 0;
        }
        let combined = db.write_batch(&self.ops);
        let mut commits = 1;
        let acked = |p: &Part, outcome| Acked {
            slot: p.slot,
            id: p.id,
            ack: p.ack,
            outcome,
        };
        match combined {
            Ok(ts) => {
                for p in &self.parts {
                    deliver(acked(p, Ok(ts)));
                }
            }
            Err(e) if self.parts.len() == 1 => deliver(acked(&self.parts[0], Err(e))),
            Err(_) => {
                for p in &self.parts {
                    commits += 1;
                    deliver(acked(p, db.write_batch(&self.ops[p.ops.clone()])));
                }
            }
        }
        self.clear();
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
        c.add(0, 10, vec![put(b"a", b"1")], Ack::Ok);
        c.add(1, 11, vec![put(b"b", b"1"), put(b"a", b"2")], Ack::CommitTs);
        let mut got = Vec::new();
        assert_eq!(
            c.commit(&db, |a| got.push((a.slot, a.ack, a.outcome.unwrap()))),
            1
        );
        assert!(c.is_empty());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].2, got[1].2, "one commit timestamp for the round");
        assert_eq!((got[0].0, got[0].1), (0, Ack::Ok));
        assert_eq!((got[1].0, got[1].1), (1, Ack::CommitTs));
        assert_eq!(db.get(None, b"a").unwrap(), Some(b"2".to_vec()));

        // A key in the reserved range fails its own request only.
        c.add(0, 10, vec![put(b"c", b"1")], Ack::Ok);
        c.add(1, 11, vec![put(&[0xFF, 1], b"1")], Ack::Ok);
        c.add(2, 12, vec![BatchOp::Delete { key: b"b".to_vec() }], Ack::Ok);
        let mut outcomes = Vec::new();
        c.commit(&db, |a| outcomes.push((a.slot, a.id, a.outcome.is_ok())));
        assert_eq!(outcomes, vec![(0, 10, true), (1, 11, false), (2, 12, true)]);
        assert_eq!(db.get(None, b"c").unwrap(), Some(b"1".to_vec()));
        assert_eq!(db.get(None, b"b").unwrap(), None);
    }

    #[test]
    fn absorbed_writes_commit_after_the_first_ones_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path(), DbOptions::default()).unwrap();
        let mut a = Combiner::new();
        a.add(3, 30, vec![put(b"k", b"first"), put(b"x", b"1")], Ack::Ok);
        let mut b = Combiner::new();
        b.add(0, 40, vec![put(b"y", b"1")], Ack::CommitTs);
        b.add(1, 41, vec![put(b"k", b"second")], Ack::Ok);
        let mut merged = Combiner::new();
        merged.absorb(a);
        merged.absorb(b);
        assert_eq!(merged.requests(), 3);
        assert_eq!(
            merged.connections().collect::<Vec<_>>(),
            vec![(3, 30), (0, 40), (1, 41)]
        );
        assert_eq!(merged.requests_from(2), vec![(1, 41, Ack::Ok)]);
        let mut got = Vec::new();
        assert_eq!(
            merged.commit(&db, |a| got.push((a.id, a.ack, a.outcome.is_ok()))),
            1
        );
        assert_eq!(
            got,
            vec![
                (30, Ack::Ok, true),
                (40, Ack::CommitTs, true),
                (41, Ack::Ok, true)
            ]
        );
        assert_eq!(db.get(None, b"k").unwrap(), Some(b"second".to_vec()));
        assert!(merged.is_empty());

        // A failing request in an absorbed part fails alone, and the ranges still
        // name each request's own operations after the shift.
        let mut a = Combiner::new();
        a.add(0, 1, vec![put(b"p", b"1")], Ack::Ok);
        let mut b = Combiner::new();
        b.add(0, 2, vec![put(&[0xFF], b"1")], Ack::Ok);
        b.add(1, 3, vec![put(b"q", b"1"), put(b"r", b"1")], Ack::Ok);
        merged.absorb(a);
        merged.absorb(b);
        let mut got = Vec::new();
        merged.commit(&db, |a| got.push((a.id, a.outcome.is_ok())));
        assert_eq!(got, vec![(1, true), (2, false), (3, true)]);
        assert_eq!(db.get(None, b"r").unwrap(), Some(b"1".to_vec()));
        assert_eq!(db.get(None, b"q").unwrap(), Some(b"1".to_vec()));
    }
}
