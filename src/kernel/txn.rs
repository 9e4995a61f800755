//! One transaction's state: its snapshot, its buffered writes, and what it read.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::backend::{Isolation, TxnId};
use crate::error::{Error, Result};
use crate::kernel::cursor::{MergedCursor, OwnWrite, ScanProgress, engine_iter};
use crate::kernel::keys::{KeyRange, as_slice_bounds, display_key, range_is_valid};
use crate::storage::{Engine, WriteBatch, check_key, check_value};

/// Limits a transaction enforces on itself.
#[derive(Debug, Clone, Copy)]
pub struct TxnLimits {
    /// Most bytes of buffered writes.
    pub max_write_bytes: usize,
    /// Most bytes of recorded reads and scan bounds.
    pub max_read_bytes: usize,
}

/// How a read is recorded for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    /// A read of user data: validated under serializable isolation only.
    Data,
    /// A read of the catalog: validated under every isolation, so that no transaction
    /// writes rows of a table dropped (or changed) after its snapshot.
    Catalog,
}

/// The state of one open transaction.
pub struct TxnState {
    /// Its id.
    pub id: TxnId,
    /// Its snapshot: it reads the versions committed at or below this timestamp.
    pub snapshot: u64,
    /// Its isolation.
    pub isolation: Isolation,
    /// Whether writes are refused.
    pub read_only: bool,
    /// When it began.
    pub started: Instant,
    /// Set once it committed, aborted or expired; later calls fail.
    pub finished: bool,
    /// Buffered writes (`None` = delete), applied atomically at commit.
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Bytes of keys and values in `writes`.
    pub write_bytes: usize,
    /// Keys read (serializable only).
    pub reads: BTreeSet<Vec<u8>>,
    /// Catalog keys read (always validated).
    pub catalog_reads: BTreeSet<Vec<u8>>,
    /// Scans, with how far each was consumed (serializable only).
    pub scans: Vec<Arc<Mutex<ScanProgress>>>,
    /// Bytes of `reads`, `catalog_reads` and scan bounds.
    pub read_bytes: usize,
    /// Its limits.
    pub limits: TxnLimits,
}

impl TxnState {
    /// A fresh transaction.
    pub fn new(
        id: TxnId,
        snapshot: u64,
        isolation: Isolation,
        read_only: bool,
        limits: TxnLimits,
    ) -> TxnState {
        TxnState {
            id,
            snapshot,
            isolation,
            read_only,
            started: Instant::now(),
            finished: false,
            writes: BTreeMap::new(),
            write_bytes: 0,
            reads: BTreeSet::new(),
            catalog_reads: BTreeSet::new(),
            scans: Vec::new(),
            read_bytes: 0,
            limits,
        }
    }

    fn tracks_reads(&self) -> bool {
        !self.read_only && self.isolation == Isolation::Serializable
    }

    fn charge_read(&mut self, bytes: usize) -> Result<()> {
        let total = self.read_bytes.saturating_add(bytes);
        if total > self.limits.max_read_bytes {
            return Err(Error::TooLarge(format!(
                "transaction {} has recorded {total} bytes of reads, more than \
                 max_txn_read_bytes ({}); commit smaller transactions, or use snapshot \
                 isolation or a read-only transaction for large reads",
                self.id, self.limits.max_read_bytes
            )));
        }
        self.read_bytes = total;
        Ok(())
    }

    fn record_read(&mut self, key: &[u8], kind: ReadKind) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let set_is_tracked = match kind {
            ReadKind::Data => self.tracks_reads(),
            ReadKind::Catalog => true,
        };
        if !set_is_tracked {
            return Ok(());
        }
        let present = match kind {
            ReadKind::Data => self.reads.contains(key),
            ReadKind::Catalog => self.catalog_reads.contains(key),
        };
        if present {
            return Ok(());
        }
        self.charge_read(key.len())?;
        match kind {
            ReadKind::Data => self.reads.insert(key.to_vec()),
            ReadKind::Catalog => self.catalog_reads.insert(key.to_vec()),
        };
        Ok(())
    }

    /// Reads a key: the transaction's own write if any, else the snapshot's version.
    pub fn get(&mut self, engine: &Engine, key: &[u8], kind: ReadKind) -> Result<Option<Vec<u8>>> {
        if let Some(w) = self.writes.get(key) {
            return Ok(w.clone());
        }
        self.record_read(key, kind)?;
        engine.get(key, self.snapshot)
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly(format!(
                "transaction {} is read-only",
                self.id
            )));
        }
        Ok(())
    }

    fn buffer(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.check_writable()?;
        check_key(key)?;
        if let Some(v) = value {
            check_value(v)?;
        }
        let new = key.len() + value.map_or(0, <[u8]>::len);
        let old = self
            .writes
            .get(key)
            .map_or(0, |v| key.len() + v.as_ref().map_or(0, Vec::len));
        let total = self.write_bytes - old + new;
        if total > self.limits.max_write_bytes {
            return Err(Error::TooLarge(format!(
                "transaction {} would buffer {total} bytes of writes (key {}), more than \
                 max_txn_write_bytes ({}); split the work into smaller transactions",
                self.id,
                display_key(key),
                self.limits.max_write_bytes
            )));
        }
        self.write_bytes = total;
        self.writes.insert(key.to_vec(), value.map(<[u8]>::to_vec));
        Ok(())
    }

    /// Buffers a put.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.buffer(key, Some(value))
    }

    /// Buffers a delete.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.buffer(key, None)
    }

    /// Starts a streaming scan of `(lo, hi)` over the snapshot and the transaction's
    /// writes so far.
    pub fn scan(
        &mut self,
        engine: &Engine,
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        reverse: bool,
        limit: Option<u64>,
    ) -> Result<MergedCursor> {
        let own = self.own_writes_in(&lo, &hi, reverse, limit);
        let progress = if self.tracks_reads() {
            let p = ScanProgress {
                lo: lo.clone(),
                hi: hi.clone(),
                reverse,
                last: None,
                done: false,
            };
            self.charge_read(p.bytes())?;
            let p = Arc::new(Mutex::new(p));
            self.scans.push(Arc::clone(&p));
            Some(p)
        } else {
            None
        };
        let iter = engine_iter(engine, lo, hi, self.snapshot, reverse)?;
        Ok(MergedCursor::new(iter, own, reverse, limit, progress))
    }

    /// Its own writes in `(lo, hi)`, in scan order. With a limit of `n`, entries past
    /// the `n`-th put are left out: the merged scan returns at least `n` entries before
    /// reaching them (an own put is never hidden), so they can never be returned.
    fn own_writes_in(
        &self,
        lo: &Bound<Vec<u8>>,
        hi: &Bound<Vec<u8>>,
        reverse: bool,
        limit: Option<u64>,
    ) -> Vec<OwnWrite> {
        let range = as_slice_bounds(lo, hi);
        if self.writes.is_empty() || !range_is_valid(&range) {
            return Vec::new();
        }
        let iter = self.writes.range::<[u8], _>(range);
        if reverse {
            take_puts(iter.rev(), limit)
        } else {
            take_puts(iter, limit)
        }
    }

    /// The ranges its scans observed.
    pub fn observed_ranges(&self) -> Vec<KeyRange> {
        self.scans
            .iter()
            .filter_map(|p| p.lock().observed())
            .collect()
    }

    /// The buffered writes as an engine batch.
    pub fn batch(&self) -> Result<WriteBatch> {
        let mut b = WriteBatch::new();
        for (k, v) in &self.writes {
            match v {
                Some(v) => b.put(k, v)?,
                None => b.delete(k)?,
            }
        }
        Ok(b)
    }

    /// Frees everything it holds and marks it finished.
    pub fn finish(&mut self) {
        self.finished = true;
        self.writes = BTreeMap::new();
        self.reads = BTreeSet::new();
        self.catalog_reads = BTreeSet::new();
        self.scans = Vec::new();
        self.write_bytes = 0;
        self.read_bytes = 0;
    }
}

/// Clones entries until `limit` puts were taken (all of them without a limit).
fn take_puts<'a>(
    iter: impl Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>,
    limit: Option<u64>,
) -> Vec<OwnWrite> {
    let mut puts_left = limit;
    let mut out = Vec::new();
    for (k, v) in iter {
        if puts_left == Some(0) {
            break;
        }
        if v.is_some() {
            if let Some(n) = puts_left.as_mut() {
                *n -= 1;
            }
        }
        out.push((k.clone(), v.clone()));
    }
    out
}
