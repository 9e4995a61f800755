//! The registry of open transactions and of the snapshots they hold.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::backend::TxnId;
use crate::kernel::txn::TxnState;

/// How many expired transaction ids are remembered, to answer `Timeout` rather than
/// `NotFound` when they are used again.
pub const EXPIRED_MEMORY: usize = 4096;

/// A registered open transaction.
pub struct Entry {
    /// Its state, locked by whoever operates on it.
    pub state: Arc<Mutex<TxnState>>,
    /// When it began.
    pub started: Instant,
    /// Its snapshot.
    pub snapshot: u64,
    /// Whether it may write (its snapshot then holds back conflict-table pruning).
    pub rw: bool,
}

/// Open transactions and the snapshots they hold.
#[derive(Default)]
pub struct Registry {
    /// Transactions begun with [`crate::backend::Backend::begin`] and not yet finished.
    pub txns: HashMap<TxnId, Entry>,
    /// Snapshot -> number of open transactions (one-shot ones included) holding it.
    pub snapshots: BTreeMap<u64, usize>,
    /// The same, for read-write transactions only.
    pub rw_snapshots: BTreeMap<u64, usize>,
    /// Last transaction id handed out.
    pub last_id: TxnId,
    /// Ids of transactions reaped for age, oldest first (bounded).
    pub expired: VecDeque<TxnId>,
    /// The same ids, for lookup.
    pub expired_set: HashSet<TxnId>,
    /// When expired transactions were last swept.
    pub last_sweep: Option<Instant>,
}

fn hold(map: &mut BTreeMap<u64, usize>, s: u64) {
    *map.entry(s).or_insert(0) += 1;
}

fn unhold(map: &mut BTreeMap<u64, usize>, s: u64) {
    if let Some(n) = map.get_mut(&s) {
        *n -= 1;
        if *n == 0 {
            map.remove(&s);
        }
    }
}

impl Registry {
    /// A new transaction id.
    pub fn next_id(&mut self) -> TxnId {
        self.last_id += 1;
        self.last_id
    }

    /// Holds a snapshot (and, for `rw`, holds back conflict-table pruning).
    pub fn register(&mut self, snapshot: u64, rw: bool) {
        hold(&mut self.snapshots, snapshot);
        if rw {
            hold(&mut self.rw_snapshots, snapshot);
        }
    }

    /// Releases a snapshot held with [`Registry::register`].
    pub fn unregister(&mut self, snapshot: u64, rw: bool) {
        unhold(&mut self.snapshots, snapshot);
        if rw {
            unhold(&mut self.rw_snapshots, snapshot);
        }
    }

    /// Remembers an id reaped for age (the newest [`EXPIRED_MEMORY`] are kept).
    pub fn remember_expired(&mut self, id: TxnId) {
        if self.expired_set.insert(id) {
            self.expired.push_back(id);
        }
        while self.expired.len() > EXPIRED_MEMORY {
            if let Some(old) = self.expired.pop_front() {
                self.expired_set.remove(&old);
            }
        }
    }
}
