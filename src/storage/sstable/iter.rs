//! A cursor over every version in one block file, and one over a sorted run of
//! non-overlapping block files (a level).

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::Result;
use crate::storage::coding::DecodeError;
use crate::storage::entry::{EntryIter, cmp_internal};
use crate::storage::sstable::block::BlockCursor;
use crate::storage::sstable::reader::Table;

/// A cursor over one block file, reading data blocks as it moves.
pub struct TableIter {
    /// The file.
    table: Arc<Table>,
    /// Whether blocks read are put in the cache.
    fill_cache: bool,
    /// Index of the data block the cursor is in.
    block_idx: usize,
    /// The cursor inside that block; `None` when not positioned.
    cursor: Option<BlockCursor>,
}

impl TableIter {
    /// A cursor over `table`, not yet positioned.
    pub fn new(table: Arc<Table>, fill_cache: bool) -> TableIter {
        TableIter {
            table,
            fill_cache,
            block_idx: 0,
            cursor: None,
        }
    }

    fn load(&mut self, i: usize) -> Result<&mut BlockCursor> {
        // The cursor's key buffer is kept from block to block.
        let old = self.cursor.take();
        let block = self.table.data_block(i, self.fill_cache)?;
        self.block_idx = i;
        let c = match old {
            Some(mut c) => {
                c.reset(block);
                c
            }
            None => BlockCursor::new(block),
        };
        Ok(self.cursor.insert(c))
    }

    /// Runs a move on the block cursor, turning a decode error into Corruption and
    /// unpositioning the cursor.
    fn step(&mut self, f: impl FnOnce(&mut BlockCursor) -> Result<(), DecodeError>) -> Result<()> {
        let Some(c) = self.cursor.as_mut() else {
            return Ok(());
        };
        if let Err(e) = f(c) {
            self.cursor = None;
            return Err(self.table.block_corruption(self.block_idx, e));
        }
        Ok(())
    }

    fn run(&mut self, r: Result<()>) -> Result<()> {
        if r.is_err() {
            self.cursor = None;
        }
        r
    }

    fn cursor_valid(&self) -> bool {
        self.cursor.as_ref().is_some_and(BlockCursor::valid)
    }
}

impl EntryIter for TableIter {
    fn valid(&self) -> bool {
        self.cursor_valid()
    }
    fn key(&self) -> &[u8] {
        self.cursor.as_ref().map_or(&[], BlockCursor::key)
    }
    fn ts(&self) -> u64 {
        self.cursor.as_ref().map_or(0, BlockCursor::ts)
    }
    fn value(&self) -> Option<&[u8]> {
        self.cursor.as_ref().and_then(BlockCursor::value)
    }

    fn seek_to_first(&mut self) -> Result<()> {
        let r = self.load(0).map(|_| ());
        self.run(r)?;
        self.step(BlockCursor::seek_to_first)
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let last = self.table.block_count().saturating_sub(1);
        let r = self.load(last).map(|_| ());
        self.run(r)?;
        self.step(BlockCursor::seek_to_last)
    }

    fn seek(&mut self, key: &[u8], ts: u64) -> Result<()> {
        let i = self.table.find_block(key, ts);
        if i >= self.table.block_count() {
            self.cursor = None;
            return Ok(());
        }
        let r = self.load(i).map(|_| ());
        self.run(r)?;
        self.step(|c| c.seek(key, ts))?;
        if !self.cursor_valid() {
            self.cursor = None;
            return Err(self
                .table
                .block_corruption(i, "block ends before its index key"));
        }
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        if !self.cursor_valid() {
            return Ok(());
        }
        self.step(BlockCursor::next_entry)?;
        if !self.cursor_valid() {
            if self.block_idx + 1 < self.table.block_count() {
                let r = self.load(self.block_idx + 1).map(|_| ());
                self.run(r)?;
                self.step(BlockCursor::seek_to_first)?;
            } else {
                self.cursor = None;
            }
        }
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        if !self.cursor_valid() {
            return Ok(());
        }
        self.step(BlockCursor::prev_entry)?;
        if !self.cursor_valid() {
            if self.block_idx > 0 {
                let r = self.load(self.block_idx - 1).map(|_| ());
                self.run(r)?;
                self.step(BlockCursor::seek_to_last)?;
            } else {
                self.cursor = None;
            }
        }
        Ok(())
    }
}

/// A cursor over block files whose key ranges do not overlap, given in key order (one
/// level of the tree): it behaves as one sorted source and opens one file at a time.
pub struct ConcatIter {
    /// The files, in key order.
    tables: Arc<[Arc<Table>]>,
    /// Whether blocks read are put in the cache.
    fill_cache: bool,
    /// Index of the current file.
    idx: usize,
    /// The cursor in that file; `None` when not positioned.
    cur: Option<TableIter>,
}

impl ConcatIter {
    /// A cursor over `tables`, sorted here by their first key. The caller guarantees
    /// their ranges do not overlap.
    pub fn new(mut tables: Vec<Arc<Table>>, fill_cache: bool) -> ConcatIter {
        tables.sort_by(|a, b| a.properties().min_key.cmp(&b.properties().min_key));
        ConcatIter::sorted(tables.into(), fill_cache)
    }

    /// A cursor over `tables`, which the caller gives already in key order and with
    /// ranges that do not overlap; the list is shared, not copied.
    pub fn sorted(tables: Arc<[Arc<Table>]>, fill_cache: bool) -> ConcatIter {
        ConcatIter {
            tables,
            fill_cache,
            idx: 0,
            cur: None,
        }
    }

    fn open(&mut self, i: usize) -> Option<&mut TableIter> {
        let t = self.tables.get(i)?.clone();
        self.idx = i;
        Some(self.cur.insert(TableIter::new(t, self.fill_cache)))
    }

    fn guard(&mut self, r: Result<()>) -> Result<()> {
        if r.is_err() {
            self.cur = None;
        }
        r
    }
}

impl EntryIter for ConcatIter {
    fn valid(&self) -> bool {
        self.cur.as_ref().is_some_and(TableIter::valid)
    }
    fn key(&self) -> &[u8] {
        self.cur.as_ref().map_or(&[], |c| c.key())
    }
    fn ts(&self) -> u64 {
        self.cur.as_ref().map_or(0, |c| c.ts())
    }
    fn value(&self) -> Option<&[u8]> {
        self.cur.as_ref().and_then(|c| c.value())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.cur = None;
        let r = match self.open(0) {
            Some(c) => c.seek_to_first(),
            None => Ok(()),
        };
        self.guard(r)
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.cur = None;
        let last = self.tables.len().saturating_sub(1);
        let r = match self.open(last) {
            Some(c) => c.seek_to_last(),
            None => Ok(()),
        };
        self.guard(r)
    }

    fn seek(&mut self, key: &[u8], ts: u64) -> Result<()> {
        self.cur = None;
        let i = self.tables.partition_point(|t| {
            let (lk, lts) = t.last_entry();
            cmp_internal(lk, lts, key, ts) == Ordering::Less
        });
        let r = match self.open(i) {
            Some(c) => c.seek(key, ts),
            None => Ok(()),
        };
        self.guard(r)
    }

    fn next(&mut self) -> Result<()> {
        let Some(c) = self.cur.as_mut().filter(|c| c.valid()) else {
            return Ok(());
        };
        let r = c.next();
        self.guard(r)?;
        if !self.valid() {
            let next = self.idx + 1;
            self.cur = None;
            let r = match self.open(next) {
                Some(c) => c.seek_to_first(),
                None => Ok(()),
            };
            self.guard(r)?;
        }
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        let Some(c) = self.cur.as_mut().filter(|c| c.valid()) else {
            return Ok(());
        };
        let r = c.prev();
        self.guard(r)?;
        if !self.valid() {
            self.cur = None;
            if self.idx > 0 {
                let prev = self.idx - 1;
                let r = match self.open(prev) {
                    Some(c) => c.seek_to_last(),
                    None => Ok(()),
                };
                self.guard(r)?;
            }
        }
        Ok(())
    }
}
