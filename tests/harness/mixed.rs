//! The mixed workload of the crash, fault and power-loss campaigns, and its checkers.
//!
//! Operations: one-shot puts and deletes of keys, one-shot row upserts and deletes,
//! write batches, explicit transactions (reading shared "hot" keys, so concurrent ones
//! conflict; some abandoned on purpose) and checkpoints. Every value written names the
//! operation that wrote it (its id), and every batch and transaction writes a key of
//! its own (`u/{id}/...`), its marker: so what a recovered database holds tells which
//! operations it contains.
//!
//! Two checkers:
//! - [`Prefix`], for one thread: the state after each acknowledged operation; a
//!   recovered state must be one of them (at or after the last acknowledged one), or
//!   that plus the one operation whose outcome is unknown.
//! - [`check_round`], for many threads killed at a random moment: per item, the value
//!   must be the one written by the last acknowledged writer, or by an operation in
//!   flight that (by its marker) committed; operations that conflicted, were aborted
//!   or failed before commit must leave no trace; an operation in flight is all there
//!   or not at all.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use sochdb::backend::{
    Backend, ColumnDef, ColumnType, QueryRequest, RowWriteMode, ScanOptions, ScanRange,
    TableSchema, TxnOptions, Value,
};
use sochdb::storage::BatchOp;
use sochdb::{Error, Result, Status};

use super::Rng;

/// The table the row operations use: `rid UInt64, owner Text`.
pub const TABLE: &str = "items";
/// Shared hot keys, read and written by transactions of every thread.
pub const HOT_KEYS: u64 = 4;
/// Shared rows (ids `1..=SHARED_ROWS`), written by transactions of every thread.
pub const SHARED_ROWS: u64 = 4;

/// Something the workload writes: a key, or a row of [`TABLE`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
    /// A key.
    Key(Vec<u8>),
    /// A row, by id.
    Row(u64),
}

impl Item {
    /// A key item from text.
    pub fn key(s: impl Into<String>) -> Item {
        Item::Key(s.into().into_bytes())
    }

    /// True for items that several threads write (only transactions, which report
    /// their commit timestamp, write them).
    pub fn shared(&self) -> bool {
        match self {
            Item::Key(k) => k.starts_with(b"hot/"),
            Item::Row(r) => *r <= SHARED_ROWS,
        }
    }
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Key(k) => write!(f, "key {}", String::from_utf8_lossy(k)),
            Item::Row(r) => write!(f, "row {r}"),
        }
    }
}

/// The whole observable state: every item with its value (a row's value is its owner).
pub type State = BTreeMap<Item, Vec<u8>>;

/// One write of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Sets the item (for a row: upserts it with this owner).
    Put(Item, Vec<u8>),
    /// Removes the item.
    Del(Item),
}

impl Write {
    /// The item written.
    pub fn item(&self) -> &Item {
        match self {
            Write::Put(i, _) | Write::Del(i) => i,
        }
    }

    /// The value left behind (`None` for a delete).
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            Write::Put(_, v) => Some(v),
            Write::Del(_) => None,
        }
    }
}

/// One operation of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A one-shot write (its own transaction).
    OneShot(Write),
    /// A write batch (keys only), committed atomically.
    Batch(Vec<Write>),
    /// An explicit transaction: reads `reads`, then writes; aborted instead of
    /// committed when `abort`.
    Txn {
        /// Keys read first.
        reads: Vec<Vec<u8>>,
        /// Writes, in order.
        writes: Vec<Write>,
        /// Abandon instead of commit.
        abort: bool,
    },
    /// A checkpoint.
    Checkpoint,
}

impl Op {
    /// The writes that take effect if the operation commits.
    pub fn writes(&self) -> &[Write] {
        match self {
            Op::OneShot(w) => std::slice::from_ref(w),
            Op::Batch(ws) => ws,
            Op::Txn { writes, abort, .. } => {
                if *abort {
                    &[]
                } else {
                    writes
                }
            }
            Op::Checkpoint => &[],
        }
    }

    /// The marker item: a key only this operation writes (batches and transactions).
    pub fn marker(&self) -> Option<&Item> {
        self.writes()
            .iter()
            .map(Write::item)
            .find(|i| matches!(i, Item::Key(k) if k.starts_with(b"u/")))
    }

    /// Applies the operation's writes to a state.
    pub fn apply(&self, state: &mut State) {
        for w in self.writes() {
            match w {
                Write::Put(i, v) => {
                    state.insert(i.clone(), v.clone());
                }
                Write::Del(i) => {
                    state.remove(i);
                }
            }
        }
    }
}

/// The shape of one planned operation: the random choices, without the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Which kind of operation (0..100, weighted).
    pub kind: u64,
    /// Small random numbers picking keys and rows.
    pub a: u64,
    /// Another.
    pub b: u64,
    /// Another.
    pub c: u64,
}

impl Shape {
    /// The next shape from a generator.
    pub fn plan(rng: &mut Rng) -> Shape {
        Shape {
            kind: rng.below(100),
            a: rng.below(64),
            b: rng.below(64),
            c: rng.below(64),
        }
    }

    /// The operation of this shape for `thread`, with values naming `id`.
    pub fn op(&self, thread: u64, id: &str) -> Op {
        let v = id.as_bytes().to_vec();
        let own = |j: u64| Item::key(format!("t{thread}/s{}", j % 8));
        let own_row = |j: u64| Item::Row(1000 * (thread + 1) + j % 8);
        let marker = |n: u32| Item::key(format!("u/{id}/{n}"));
        let hot = |j: u64| format!("hot/{}", j % HOT_KEYS);
        match self.kind {
            0..=14 => Op::OneShot(Write::Put(own(self.a), v)),
            15..=21 => Op::OneShot(Write::Del(own(self.a))),
            22..=35 => Op::Batch(vec![
                Write::Put(marker(0), v.clone()),
                Write::Put(own(self.a), v.clone()),
                Write::Del(own(self.b)),
                Write::Put(Item::key(format!("t{thread}/b{}", self.c % 4)), v),
            ]),
            36..=65 => {
                let (x, y) = (hot(self.a), hot(self.b));
                let mut writes = vec![
                    Write::Put(Item::Key(x.clone().into_bytes()), v.clone()),
                    Write::Put(marker(1), v.clone()),
                    Write::Put(Item::Row(1 + self.c % SHARED_ROWS), v.clone()),
                ];
                if self.c % 3 == 0 {
                    writes.push(Write::Del(own(self.c)));
                }
                Op::Txn {
                    reads: vec![x.into_bytes(), y.into_bytes()],
                    writes,
                    abort: self.kind % 10 == 0,
                }
            }
            66..=77 => Op::OneShot(Write::Put(own_row(self.a), v)),
            78..=84 => Op::OneShot(Write::Del(own_row(self.a))),
            85..=97 => Op::Txn {
                reads: vec![format!("t{thread}/s{}", self.b % 8).into_bytes()],
                writes: vec![
                    Write::Put(marker(2), v.clone()),
                    Write::Put(own(self.b), v.clone()),
                    Write::Del(own_row(self.c)),
                    Write::Put(own_row(self.a), v),
                ],
                abort: self.kind == 97,
            },
            _ => Op::Checkpoint,
        }
    }
}

/// What became of an executed operation.
#[derive(Debug)]
pub enum Outcome {
    /// Committed; the commit timestamp when the call reports one.
    Committed(Option<u64>),
    /// Certainly not committed: a conflict or an abort.
    NotCommitted(String),
    /// Certainly not committed: a transaction failed before its commit was asked for.
    Failed(Error),
    /// The call failed where the operation may or may not have committed.
    Unknown(Error),
}

/// Everything the workload needs from a database: [`Backend`] has it, and so can a
/// driver over another interface (the C ABI).
pub trait Target {
    /// Reads a key.
    fn get(&self, txn: Option<u64>, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Writes a key.
    fn put(&self, txn: Option<u64>, key: &[u8], value: &[u8]) -> Result<()>;
    /// Deletes a key.
    fn delete(&self, txn: Option<u64>, key: &[u8]) -> Result<()>;
    /// Commits a batch.
    fn batch(&self, ops: &[BatchOp]) -> Result<u64>;
    /// Begins a transaction.
    fn begin(&self) -> Result<u64>;
    /// Commits.
    fn commit(&self, txn: u64) -> Result<u64>;
    /// Aborts.
    fn abort(&self, txn: u64) -> Result<()>;
    /// Upserts row `rid` of [`TABLE`].
    fn upsert_row(&self, txn: Option<u64>, rid: u64, owner: &[u8]) -> Result<()>;
    /// Deletes row `rid` of [`TABLE`].
    fn delete_row(&self, txn: Option<u64>, rid: u64) -> Result<()>;
    /// Checkpoints.
    fn checkpoint(&self) -> Result<()>;
}

fn owner_text(owner: &[u8]) -> Result<String> {
    String::from_utf8(owner.to_vec())
        .map_err(|_| Error::InvalidArgument("row owners are text".into()))
}

impl<B: Backend + ?Sized> Target for B {
    fn get(&self, txn: Option<u64>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Backend::get(self, txn, key)
    }
    fn put(&self, txn: Option<u64>, key: &[u8], value: &[u8]) -> Result<()> {
        Backend::put(self, txn, key, value)
    }
    fn delete(&self, txn: Option<u64>, key: &[u8]) -> Result<()> {
        Backend::delete(self, txn, key)
    }
    fn batch(&self, ops: &[BatchOp]) -> Result<u64> {
        Backend::write_batch(self, ops)
    }
    fn begin(&self) -> Result<u64> {
        Backend::begin(self, TxnOptions::default())
    }
    fn commit(&self, txn: u64) -> Result<u64> {
        Backend::commit(self, txn)
    }
    fn abort(&self, txn: u64) -> Result<()> {
        Backend::abort(self, txn)
    }
    fn upsert_row(&self, txn: Option<u64>, rid: u64, owner: &[u8]) -> Result<()> {
        let values = [
            ("rid".to_string(), Value::UInt64(rid)),
            ("owner".to_string(), Value::Text(owner_text(owner)?)),
        ];
        Backend::write_row(self, txn, TABLE, Some(rid), &values, RowWriteMode::Upsert).map(|_| ())
    }
    fn delete_row(&self, txn: Option<u64>, rid: u64) -> Result<()> {
        Backend::delete_row(self, txn, TABLE, rid).map(|_| ())
    }
    fn checkpoint(&self) -> Result<()> {
        Backend::checkpoint(self)
    }
}

/// Creates [`TABLE`] unless it exists.
pub fn setup(b: &dyn Backend) -> Result<()> {
    let schema = TableSchema {
        name: TABLE.into(),
        columns: vec![
            ColumnDef {
                name: "rid".into(),
                ty: ColumnType::UInt64,
                nullable: false,
            },
            ColumnDef {
                name: "owner".into(),
                ty: ColumnType::Text,
                nullable: false,
            },
        ],
    };
    match b.create_table(&schema) {
        Ok(()) => Ok(()),
        Err(e) if e.status() == Status::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn write_one(t: &dyn Target, txn: Option<u64>, w: &Write) -> Result<()> {
    match w {
        Write::Put(Item::Key(k), v) => t.put(txn, k, v),
        Write::Del(Item::Key(k)) => t.delete(txn, k),
        Write::Put(Item::Row(r), v) => t.upsert_row(txn, *r, v),
        Write::Del(Item::Row(r)) => t.delete_row(txn, *r),
    }
}

/// Runs one operation.
pub fn execute(t: &dyn Target, op: &Op) -> Outcome {
    let unknown = |e: Error| {
        if e.status() == Status::Conflict {
            Outcome::NotCommitted(e.to_string())
        } else {
            Outcome::Unknown(e)
        }
    };
    match op {
        Op::OneShot(w) => match write_one(t, None, w) {
            Ok(()) => Outcome::Committed(None),
            Err(e) => unknown(e),
        },
        Op::Batch(ws) => {
            let ops: Vec<BatchOp> = ws
                .iter()
                .map(|w| match w {
                    Write::Put(Item::Key(k), v) => BatchOp::Put {
                        key: k.clone(),
                        value: v.clone(),
                    },
                    Write::Del(Item::Key(k)) => BatchOp::Delete { key: k.clone() },
                    Write::Put(Item::Row(_), _) | Write::Del(Item::Row(_)) => {
                        unreachable!("batches write keys only")
                    }
                })
                .collect();
            match t.batch(&ops) {
                Ok(ts) => Outcome::Committed(Some(ts)),
                Err(e) => unknown(e),
            }
        }
        Op::Txn {
            reads,
            writes,
            abort,
        } => {
            let txn = match t.begin() {
                Ok(x) => x,
                Err(e) => return Outcome::Failed(e),
            };
            let body = (|| {
                for k in reads {
                    t.get(Some(txn), k)?;
                }
                for w in writes {
                    write_one(t, Some(txn), w)?;
                }
                Ok(())
            })();
            if let Err(e) = body {
                let _ = t.abort(txn);
                return Outcome::Failed(e);
            }
            if *abort {
                return match t.abort(txn) {
                    Ok(()) => Outcome::NotCommitted("aborted".into()),
                    Err(e) => Outcome::NotCommitted(format!("abort failed: {e}")),
                };
            }
            match t.commit(txn) {
                Ok(ts) => Outcome::Committed(Some(ts)),
                Err(e) => unknown(e),
            }
        }
        Op::Checkpoint => match t.checkpoint() {
            Ok(()) => Outcome::Committed(None),
            Err(e) => Outcome::Unknown(e),
        },
    }
}

/// Reads the whole observable state: every key, and every row of [`TABLE`].
pub fn observe(b: &dyn Backend) -> Result<State> {
    let mut state = State::new();
    let mut c = b.scan(
        None,
        &ScanOptions {
            range: ScanRange::Prefix(Vec::new()),
            reverse: false,
            limit: None,
        },
    )?;
    while let Some((k, v)) = c.next_entry()? {
        state.insert(Item::Key(k), v);
    }
    let res = b.query(
        None,
        &QueryRequest {
            source: TABLE.into(),
            ..QueryRequest::default()
        },
    )?;
    for row in res.rows {
        match row.as_slice() {
            [Value::UInt64(rid), Value::Text(owner)] => {
                state.insert(Item::Row(*rid), owner.clone().into_bytes());
            }
            other => {
                return Err(Error::Internal(format!(
                    "row of {TABLE} with unexpected values {other:?}"
                )));
            }
        }
    }
    Ok(state)
}

/// Describes the difference between two states, briefly.
pub fn diff(got: &State, want: &State) -> String {
    let mut out = Vec::new();
    let items: BTreeSet<&Item> = got.keys().chain(want.keys()).collect();
    for i in items {
        let (g, w) = (got.get(i), want.get(i));
        if g != w {
            let show = |v: Option<&Vec<u8>>| {
                v.map_or("absent".to_string(), |v| {
                    format!("{:?}", String::from_utf8_lossy(v))
                })
            };
            out.push(format!("{i}: {} instead of {}", show(g), show(w)));
        }
        if out.len() >= 4 {
            out.push("...".into());
            break;
        }
    }
    out.join("; ")
}

/// The states of a single-threaded run: after each acknowledged operation.
#[derive(Debug, Clone)]
pub struct Prefix {
    /// `states[n]`: the state after the first `n` acknowledged operations.
    pub states: Vec<State>,
}

impl Prefix {
    /// Starting from `base`.
    pub fn new(base: State) -> Prefix {
        Prefix { states: vec![base] }
    }

    /// Records an acknowledged operation.
    pub fn ack(&mut self, op: &Op) {
        let mut s = self.states.last().cloned().unwrap_or_default();
        op.apply(&mut s);
        self.states.push(s);
    }

    /// The latest state.
    pub fn last(&self) -> &State {
        self.states.last().expect("a prefix always has its base")
    }

    /// Checks a recovered state: one of the states at or after the first `must` acknowledged
    /// operations, or the last one plus `pending` (an operation whose outcome is
    /// unknown). Returns a description of the mismatch.
    pub fn check(&self, got: &State, must: usize, pending: Option<&Op>) -> Result<(), String> {
        if self.states[must.min(self.states.len() - 1)..]
            .iter()
            .any(|s| s == got)
        {
            return Ok(());
        }
        if let Some(op) = pending {
            let mut s = self.last().clone();
            op.apply(&mut s);
            if &s == got {
                return Ok(());
            }
        }
        Err(format!(
            "the state matches no acknowledged prefix from {must} of {} operations; against \
             the last: {}",
            self.states.len() - 1,
            diff(got, self.last())
        ))
    }
}

/// One operation of a multi-threaded round, with what the driver saw of it.
#[derive(Debug, Clone)]
pub struct Record {
    /// The thread that ran it.
    pub thread: u64,
    /// Its place in the thread's program.
    pub seq: u64,
    /// The operation.
    pub op: Op,
    /// What the driver saw.
    pub seen: Seen,
}

/// What a driver saw of an operation before the crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Acknowledged, with the commit timestamp when reported.
    Acked(Option<u64>),
    /// Certainly not committed (conflict, abort, failure before commit).
    NotCommitted,
    /// Started, with no answer before the crash (or an answer that leaves it open).
    InFlight,
}

/// Checks a state recovered after a crash against the records of the round and the
/// state before it; returns the violations found.
pub fn check_round(base: &State, records: &[Record], got: &State) -> Vec<String> {
    let mut violations = Vec::new();
    // Which in-flight operations committed: by their marker, or for a one-shot put by
    // its value (its item is its thread's alone). `None`: cannot tell (a delete).
    let mut committed: Vec<Option<bool>> = Vec::with_capacity(records.len());
    for r in records {
        let c = match (&r.seen, &r.op) {
            (Seen::Acked(_), _) => Some(true),
            (Seen::NotCommitted, _) => Some(false),
            (Seen::InFlight, op) => match (op.marker(), op) {
                (Some(m), _) => {
                    let v = op
                        .writes()
                        .iter()
                        .find(|w| w.item() == m)
                        .and_then(Write::value);
                    Some(got.get(m).map(Vec::as_slice) == v)
                }
                (None, Op::OneShot(Write::Put(i, v))) => Some(got.get(i) == Some(v)),
                (None, _) => None,
            },
        };
        committed.push(c);
    }
    // An in-flight operation that committed is there in full, on every item no other
    // operation of the round writes.
    let mut writers: BTreeMap<&Item, Vec<usize>> = BTreeMap::new();
    for (n, r) in records.iter().enumerate() {
        for w in r.op.writes() {
            writers.entry(w.item()).or_default().push(n);
        }
    }
    for (n, r) in records.iter().enumerate() {
        if r.seen != Seen::InFlight || committed[n].is_none() {
            continue;
        }
        let did = committed[n] == Some(true);
        for w in r.op.writes() {
            let alone = writers.get(w.item()).is_some_and(|ws| ws.len() == 1);
            if !alone {
                continue;
            }
            let shown = got.get(w.item()).map(Vec::as_slice);
            let ok = if did {
                shown == w.value()
            } else {
                shown == base.get(w.item()).map(Vec::as_slice)
            };
            if !ok {
                violations.push(format!(
                    "thread {} op {} ({:?}) is half there: {} is {:?}",
                    r.thread,
                    r.seq,
                    r.op,
                    w.item(),
                    shown.map(String::from_utf8_lossy)
                ));
            }
        }
    }
    // Every item: the last acknowledged writer's value, or an in-flight writer's that
    // committed (or may have), or, with neither, the value before the round.
    let items: BTreeSet<&Item> = base
        .keys()
        .chain(got.keys())
        .chain(writers.keys().copied())
        .collect();
    for item in items {
        let ws = writers.get(item).map(Vec::as_slice).unwrap_or(&[]);
        let mut allowed: Vec<Option<&[u8]>> = Vec::new();
        let mut last: Option<(u64, u64, usize)> = None;
        let mut definite_in_flight = false;
        for &n in ws {
            let r = &records[n];
            let w =
                r.op.writes()
                    .iter()
                    .rev()
                    .find(|w| w.item() == item)
                    .expect("writers index their writes");
            match (&r.seen, committed[n]) {
                (Seen::Acked(ts), _) => {
                    // Shared items are written by operations that report their commit
                    // timestamp; an item of one thread is ordered by program order.
                    let order = if item.shared() {
                        ts.unwrap_or(0)
                    } else {
                        r.seq
                    };
                    if last.is_none_or(|(o, _, _)| order > o) {
                        last = Some((order, r.seq, n));
                    }
                }
                (Seen::InFlight, Some(true)) => {
                    definite_in_flight = true;
                    allowed.push(w.value());
                }
                (Seen::InFlight, None) => allowed.push(w.value()),
                _ => {}
            }
        }
        match last {
            // An item of one thread whose in-flight operation (its thread's last)
            // committed holds that operation's value.
            Some(_) if definite_in_flight && !item.shared() => {}
            Some((_, _, n)) => {
                let w = records[n]
                    .op
                    .writes()
                    .iter()
                    .rev()
                    .find(|w| w.item() == item)
                    .expect("writers index their writes");
                allowed.push(w.value());
            }
            None if !definite_in_flight => allowed.push(base.get(item).map(Vec::as_slice)),
            None => {}
        }
        let shown = got.get(item).map(Vec::as_slice);
        if !allowed.contains(&shown) {
            let name = |v: Option<&[u8]>| {
                v.map_or("absent".to_string(), |v| {
                    String::from_utf8_lossy(v).into_owned()
                })
            };
            violations.push(format!(
                "{item} is {} but may only be one of [{}]",
                name(shown),
                allowed
                    .iter()
                    .map(|v| name(*v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    violations
}
