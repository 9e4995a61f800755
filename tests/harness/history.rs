//! A serializability checker over list-append histories.
//!
//! The workload keeps lists under keys `la/NN`: a transaction reads some lists (one key,
//! or all of them with a scan) and appends unique elements to some (read the list, write
//! it back with the element added). Every list value reveals every append before it, so
//! the order of versions of each key is known from the values alone, without trusting
//! the database's timestamps. The checker then:
//!
//! - checks every key's committed versions form one chain, each a prefix of the next
//!   (two versions that are not would be a lost update);
//! - checks every read returned a committed version (no element of an aborted
//!   transaction, no intermediate state) and every read after the transaction's own
//!   append returned its own write;
//! - builds the dependency graph over committed transactions (ww: a version to the next;
//!   wr: a version to its readers; rw: a reader of a version to the writer of the next,
//!   including reads that found the key absent) and reports any cycle: a history with
//!   none is serializable;
//! - replays the committed transactions in commit timestamp order (read-only ones at
//!   their snapshot) and checks every read against the state there: the stronger claim
//!   that timestamp order is a serialization order.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use sochdb::Status;
use sochdb::backend::{Backend, Isolation, ScanOptions, ScanRange, TxnOptions};

use super::Rng;

/// Keys of the workload.
pub const KEYS: u64 = 8;

/// One step of a transaction, as executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read `key`, finding `list` (empty when absent).
    Read {
        /// The key number.
        key: u64,
        /// The list found.
        list: Vec<String>,
    },
    /// Appended `elem` to `key`, writing `list`.
    Append {
        /// The key number.
        key: u64,
        /// The element appended.
        elem: String,
        /// The whole list written.
        list: Vec<String>,
    },
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Committed at this timestamp (a read-only transaction: its snapshot).
    Committed(u64),
    /// Aborted (a conflict).
    Aborted,
}

/// One transaction of a history.
#[derive(Debug, Clone)]
pub struct Txn {
    /// Its thread.
    pub thread: u64,
    /// Its steps, in order.
    pub steps: Vec<Step>,
    /// How it ended.
    pub end: End,
    /// Began read-only.
    pub read_only: bool,
}

/// The key name of key number `k`.
pub fn key_name(k: u64) -> Vec<u8> {
    format!("la/{k:02}").into_bytes()
}

fn decode(v: Option<Vec<u8>>) -> Vec<String> {
    match v {
        None => Vec::new(),
        Some(b) if b.is_empty() => Vec::new(),
        Some(b) => String::from_utf8_lossy(&b)
            .split(',')
            .map(str::to_string)
            .collect(),
    }
}

fn encode(list: &[String]) -> Vec<u8> {
    list.join(",").into_bytes()
}

/// Runs `txns` random transactions on `db` from thread `thread`; returns them.
pub fn run_thread(
    db: &dyn Backend,
    thread: u64,
    txns: u64,
    isolation: Isolation,
    rng: &mut Rng,
) -> sochdb::Result<Vec<Txn>> {
    let mut out = Vec::new();
    let mut next_elem = 0u64;
    for _ in 0..txns {
        let read_only = rng.chance(15, 100);
        let id = db.begin(TxnOptions {
            isolation: Some(isolation),
            read_only,
        })?;
        let mut steps = Vec::new();
        let mut mine: HashMap<u64, Vec<String>> = HashMap::new();
        let n = 1 + rng.below(4);
        for _ in 0..n {
            let key = rng.below(KEYS);
            match rng.below(10) {
                0 => {
                    // A scan of every list: absent keys are read as empty.
                    let mut found: BTreeMap<u64, Vec<String>> =
                        (0..KEYS).map(|k| (k, Vec::new())).collect();
                    let mut c = db.scan(
                        Some(id),
                        &ScanOptions {
                            range: ScanRange::Prefix(b"la/".to_vec()),
                            reverse: rng.chance(1, 2),
                            limit: None,
                        },
                    )?;
                    while let Some((k, v)) = c.next_entry()? {
                        let num: u64 = String::from_utf8_lossy(&k[3..]).parse().map_err(|_| {
                            sochdb::Error::Internal(format!("unexpected key {k:?}"))
                        })?;
                        found.insert(num, decode(Some(v)));
                    }
                    for (key, list) in found {
                        steps.push(Step::Read { key, list });
                    }
                }
                1..=4 => {
                    let list = decode(db.get(Some(id), &key_name(key))?);
                    steps.push(Step::Read { key, list });
                }
                _ if read_only => {
                    let list = decode(db.get(Some(id), &key_name(key))?);
                    steps.push(Step::Read { key, list });
                }
                _ => {
                    let mut list = decode(db.get(Some(id), &key_name(key))?);
                    steps.push(Step::Read {
                        key,
                        list: list.clone(),
                    });
                    let elem = format!("{thread}.{next_elem}");
                    next_elem += 1;
                    list.push(elem.clone());
                    db.put(Some(id), &key_name(key), &encode(&list))?;
                    mine.insert(key, list.clone());
                    steps.push(Step::Append { key, elem, list });
                }
            }
        }
        let end = match db.commit(id) {
            Ok(ts) => End::Committed(ts),
            Err(e) if e.status() == Status::Conflict => End::Aborted,
            Err(e) => return Err(e),
        };
        out.push(Txn {
            thread,
            steps,
            end,
            read_only,
        });
    }
    Ok(out)
}

/// The kinds of dependency edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Write then overwrite.
    Ww,
    /// Write then read.
    Wr,
    /// Read then overwrite (anti-dependency).
    Rw,
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Report {
    /// Committed transactions checked.
    pub committed: usize,
    /// Aborted transactions (their elements must never be seen).
    pub aborted: usize,
    /// Edges of the dependency graph.
    pub edges: usize,
    /// Violations, one line each.
    pub violations: Vec<String>,
}

/// Checks a history (every transaction of every thread).
pub fn check(history: &[Txn]) -> Report {
    let mut r = Report::default();
    let committed: Vec<usize> = (0..history.len())
        .filter(|&i| matches!(history[i].end, End::Committed(_)))
        .collect();
    r.committed = committed.len();
    r.aborted = history.len() - committed.len();
    // Which transaction appended each element, and whether it committed.
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, t) in history.iter().enumerate() {
        for s in &t.steps {
            if let Step::Append { elem, .. } = s {
                owner.insert(elem, i);
            }
        }
    }
    // Versions per key: the final list each committed transaction wrote.
    let mut versions: BTreeMap<u64, Vec<(Vec<String>, usize)>> = BTreeMap::new();
    for &i in &committed {
        let mut last: BTreeMap<u64, &Vec<String>> = BTreeMap::new();
        for s in &history[i].steps {
            if let Step::Append { key, list, .. } = s {
                last.insert(*key, list);
            }
        }
        for (k, l) in last {
            versions.entry(k).or_default().push((l.clone(), i));
        }
    }
    for (k, vs) in versions.iter_mut() {
        vs.sort_by_key(|(l, _)| l.len());
        for w in vs.windows(2) {
            let (a, b) = (&w[0].0, &w[1].0);
            if a.len() == b.len() || b[..a.len()] != a[..] {
                r.violations.push(format!(
                    "key {k}: versions {a:?} (txn {}) and {b:?} (txn {}) do not extend one \
                     another: a lost update",
                    w[0].1, w[1].1
                ));
            }
        }
    }
    // The position of a list among a key's versions (0: the initial empty list).
    let version_of = |k: u64, list: &[String]| -> Option<usize> {
        if list.is_empty() {
            return Some(0);
        }
        versions
            .get(&k)?
            .iter()
            .position(|(l, _)| l[..] == list[..])
            .map(|p| p + 1)
    };
    let mut edges: Vec<Vec<(usize, Edge)>> = vec![Vec::new(); history.len()];
    for vs in versions.values() {
        for w in vs.windows(2) {
            edges[w[0].1].push((w[1].1, Edge::Ww));
        }
    }
    for &i in &committed {
        let t = &history[i];
        let mut own: BTreeMap<u64, &Vec<String>> = BTreeMap::new();
        for s in &t.steps {
            match s {
                Step::Append { key, list, .. } => {
                    own.insert(*key, list);
                }
                Step::Read { key, list } => {
                    if let Some(mine) = own.get(key) {
                        if *mine != list {
                            r.violations.push(format!(
                                "txn {i} read {list:?} from key {key} after writing {mine:?}"
                            ));
                        }
                        continue;
                    }
                    for e in list {
                        match owner.get(e.as_str()) {
                            Some(&w) if matches!(history[w].end, End::Aborted) => {
                                r.violations.push(format!(
                                    "txn {i} read element {e} of aborted txn {w} from key {key}"
                                ));
                            }
                            None => r.violations.push(format!(
                                "txn {i} read element {e} that no transaction wrote"
                            )),
                            _ => {}
                        }
                    }
                    let Some(v) = version_of(*key, list) else {
                        r.violations.push(format!(
                            "txn {i} read {list:?} from key {key}: not a committed version"
                        ));
                        continue;
                    };
                    let vs = versions.get(key).map(Vec::as_slice).unwrap_or(&[]);
                    if v > 0 {
                        edges[vs[v - 1].1].push((i, Edge::Wr));
                    }
                    if let Some((_, next)) = vs.get(v)
                        && *next != i
                    {
                        edges[i].push((*next, Edge::Rw));
                    }
                }
            }
        }
    }
    for e in &mut edges {
        e.retain(|(to, _)| matches!(history[*to].end, End::Committed(_)));
    }
    r.edges = edges.iter().map(Vec::len).sum();
    if let Some(cycle) = find_cycle(&edges) {
        let text: Vec<String> = cycle
            .iter()
            .map(|(t, e)| format!("txn {t} ({:?}) -{e:?}->", history[*t].steps))
            .collect();
        r.violations.push(format!(
            "dependency cycle: {} back to the first",
            text.join(" ")
        ));
    }
    replay_in_timestamp_order(history, &committed, &mut r);
    r
}

/// The stronger check: commit timestamp order is a serialization order.
fn replay_in_timestamp_order(history: &[Txn], committed: &[usize], r: &mut Report) {
    let mut order: Vec<(u64, bool, usize)> = committed
        .iter()
        .map(|&i| {
            let End::Committed(ts) = history[i].end else {
                unreachable!("committed transactions only")
            };
            let writes = history[i]
                .steps
                .iter()
                .any(|s| matches!(s, Step::Append { .. }));
            // At one timestamp the writer comes before the snapshots that include it.
            (ts, !writes, i)
        })
        .collect();
    order.sort();
    for w in order.windows(2) {
        if w[0].0 == w[1].0 && !w[0].1 && !w[1].1 {
            r.violations.push(format!(
                "txns {} and {} both committed writes at timestamp {}",
                w[0].2, w[1].2, w[0].0
            ));
        }
    }
    let mut state: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for (ts, _, i) in order {
        let mut own: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for s in &history[i].steps {
            match s {
                Step::Read { key, list } if !own.contains_key(key) => {
                    let want = state.get(key).cloned().unwrap_or_default();
                    if want != *list {
                        r.violations.push(format!(
                            "txn {i} at timestamp {ts} read {list:?} from key {key}, but the \
                             state there holds {want:?}"
                        ));
                    }
                }
                Step::Read { .. } => {}
                Step::Append { key, list, .. } => {
                    own.insert(*key, list.clone());
                }
            }
        }
        state.extend(own);
    }
}

/// A cycle in a directed graph, as (node, edge to the next node), if there is one.
fn find_cycle(edges: &[Vec<(usize, Edge)>]) -> Option<Vec<(usize, Edge)>> {
    // Iterative depth-first search with colours: 0 new, 1 on the stack, 2 done.
    let n = edges.len();
    let mut colour = vec![0u8; n];
    let mut parent: Vec<Option<(usize, Edge)>> = vec![None; n];
    for start in 0..n {
        if colour[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        colour[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&(to, kind)) = edges[node].get(*next) {
                *next += 1;
                match colour[to] {
                    0 => {
                        colour[to] = 1;
                        parent[to] = Some((node, kind));
                        stack.push((to, 0));
                    }
                    1 => {
                        // Back edge node -> to: walk parents from node up to `to`.
                        let mut cycle = vec![(node, kind)];
                        let mut at = node;
                        while at != to {
                            let (p, k) = parent[at].expect("a node on the stack has a parent");
                            cycle.push((p, k));
                            at = p;
                        }
                        cycle.reverse();
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
    None
}
