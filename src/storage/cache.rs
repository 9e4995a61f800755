//! A sharded block cache with a byte budget and CLOCK eviction.
//!
//! Blocks are keyed by `(file id, block offset)`. File ids are never reused, so blocks
//! of deleted files simply age out. Each shard owns `budget / shards` bytes and evicts
//! (CLOCK: a hit sets a reference bit; the hand clears set bits and evicts the first
//! unreferenced entry) before it inserts, so the total never exceeds the budget; a block
//! larger than a shard's budget is not cached at all.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::storage::sstable::block::Block;

/// Bytes charged per cached block on top of its contents (map entry, slot, Arc).
pub const ENTRY_OVERHEAD: usize = 96;

/// Identifies a cached block: `(file id, block offset)`.
pub type BlockKey = (u64, u64);

/// Figures about a cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found their block.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Bytes charged now.
    pub used_bytes: u64,
    /// The budget in bytes.
    pub capacity_bytes: u64,
    /// Blocks held now.
    pub entries: u64,
}

/// Hashes block keys (two integers) with a multiply-xorshift mix; far cheaper than
/// the default SipHash, and the keys are not chosen by an adversary.
#[derive(Default)]
struct KeyHasher {
    /// The running hash.
    h: u64,
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        let x = (self.h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.h = x ^ (x >> 29);
    }

    fn finish(&self) -> u64 {
        self.h
    }
}

/// One cached block.
struct Slot {
    /// Its key.
    key: BlockKey,
    /// The block.
    block: Arc<Block>,
    /// Bytes charged for it.
    charge: usize,
    /// Set by a hit, cleared by the passing hand.
    referenced: bool,
}

/// One shard: a CLOCK ring of slots and a map from key to slot.
#[derive(Default)]
struct Shard {
    /// Key to slot index.
    map: HashMap<BlockKey, usize, BuildHasherDefault<KeyHasher>>,
    /// The ring; `None` slots are free.
    slots: Vec<Option<Slot>>,
    /// Free slot indexes.
    free: Vec<usize>,
    /// The clock hand.
    hand: usize,
    /// Bytes charged.
    used: usize,
}

impl Shard {
    fn get(&mut self, key: &BlockKey) -> Option<Arc<Block>> {
        let i = *self.map.get(key)?;
        let slot = self.slots.get_mut(i)?.as_mut()?;
        slot.referenced = true;
        Some(slot.block.clone())
    }

    fn remove_slot(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i).and_then(Option::take) {
            self.map.remove(&slot.key);
            self.used -= slot.charge;
            self.free.push(i);
        }
    }

    /// Evicts until `need` more bytes fit in `capacity`. Two sweeps always suffice: the
    /// first clears every reference bit.
    fn make_room(&mut self, need: usize, capacity: usize) {
        let n = self.slots.len();
        let mut steps = 0;
        while self.used + need > capacity && !self.map.is_empty() && steps < 2 * n + 1 {
            let i = self.hand % n;
            self.hand = (i + 1) % n;
            steps += 1;
            match self.slots[i].as_mut() {
                Some(slot) if slot.referenced => slot.referenced = false,
                Some(_) => self.remove_slot(i),
                None => {}
            }
        }
    }

    fn insert(&mut self, key: BlockKey, block: Arc<Block>, charge: usize, capacity: usize) {
        if let Some(&i) = self.map.get(&key) {
            self.remove_slot(i);
        }
        if charge > capacity {
            return;
        }
        self.make_room(charge, capacity);
        if self.used + charge > capacity {
            return;
        }
        let slot = Slot {
            key,
            block,
            charge,
            referenced: false,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.map.insert(key, i);
        self.used += charge;
    }
}

/// A thread-safe cache of decoded blocks with a byte budget.
pub struct BlockCache {
    /// The shards; a key's shard is chosen by hashing it.
    shards: Vec<Mutex<Shard>>,
    /// Budget of each shard.
    shard_capacity: usize,
    /// The total budget.
    capacity: usize,
    /// Lookups that hit.
    hits: AtomicU64,
    /// Lookups that missed.
    misses: AtomicU64,
}

impl BlockCache {
    /// A cache of `capacity` bytes. It has one shard per MiB of budget, at most 16 and at
    /// least 1, so that a shard always holds many blocks.
    pub fn new(capacity: usize) -> BlockCache {
        let shards = (capacity / (1 << 20)).clamp(1, 16);
        BlockCache {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            shard_capacity: capacity / shards,
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &BlockKey) -> &Mutex<Shard> {
        // A multiplicative mix of both halves of the key, then the top bits.
        let h =
            (key.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.1).wrapping_mul(0xff51_afd7_ed55_8ccd);
        let i = ((h >> 32) as usize) % self.shards.len();
        &self.shards[i]
    }

    /// The block cached under `(file_id, offset)`, counting a hit or a miss.
    pub fn get(&self, file_id: u64, offset: u64) -> Option<Arc<Block>> {
        let key = (file_id, offset);
        let found = self.shard(&key).lock().get(&key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The block cached under `(file_id, offset)`, without counting the lookup or marking
    /// the block as used: for compaction reads, which should neither skew the hit ratio
    /// nor keep blocks in the cache.
    pub fn peek(&self, file_id: u64, offset: u64) -> Option<Arc<Block>> {
        let key = (file_id, offset);
        let shard = self.shard(&key).lock();
        let i = *shard.map.get(&key)?;
        shard.slots.get(i)?.as_ref().map(|s| s.block.clone())
    }

    /// Caches `block` under `(file_id, offset)`, evicting as needed to stay within the
    /// budget.
    pub fn insert(&self, file_id: u64, offset: u64, block: Arc<Block>) {
        let key = (file_id, offset);
        let charge = block.size() + ENTRY_OVERHEAD;
        self.shard(&key)
            .lock()
            .insert(key, block, charge, self.shard_capacity);
    }

    /// Current figures.
    pub fn stats(&self) -> CacheStats {
        let (mut used, mut entries) = (0u64, 0u64);
        for s in &self.shards {
            let s = s.lock();
            used += s.used as u64;
            entries += s.map.len() as u64;
        }
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            used_bytes: used,
            capacity_bytes: self.capacity as u64,
            entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of `size` bytes: opaque entry bytes, then one restart point at 0.
    fn block(size: usize) -> Arc<Block> {
        let mut data = vec![0u8; size.max(9) - 8];
        data.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        Arc::new(Block::decode(data).unwrap())
    }

    #[test]
    fn hits_misses_and_budget() {
        let cache = BlockCache::new(64 * 1024);
        assert!(cache.get(1, 0).is_none());
        cache.insert(1, 0, block(4096));
        assert!(cache.get(1, 0).is_some());
        for off in 0..100u64 {
            cache.insert(2, off, block(4096));
            let s = cache.stats();
            assert!(s.used_bytes <= s.capacity_bytes, "{s:?}");
        }
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (1, 1));
        assert!(s.entries >= 10, "{s:?}");
        // Too large for the budget: not cached, nothing evicted for it.
        let before = cache.stats().entries;
        cache.insert(3, 0, block(100 * 1024));
        assert!(cache.get(3, 0).is_none());
        assert_eq!(cache.stats().entries, before);
    }

    #[test]
    fn referenced_blocks_survive_a_sweep() {
        let cache = BlockCache::new(10 * (1000 + ENTRY_OVERHEAD));
        for off in 0..10u64 {
            cache.insert(1, off, block(1000));
        }
        assert_eq!(cache.stats().entries, 10);
        assert!(cache.get(1, 3).is_some());
        cache.insert(1, 10, block(1000));
        assert!(cache.get(1, 3).is_some(), "a hot block is kept");
        assert!(cache.get(1, 10).is_some());
        assert_eq!(cache.stats().entries, 10);
    }

    #[test]
    fn peek_neither_counts_nor_marks() {
        let cache = BlockCache::new(2 * (1000 + ENTRY_OVERHEAD));
        cache.insert(1, 0, block(1000));
        cache.insert(1, 1, block(1000));
        assert!(cache.peek(1, 0).is_some());
        assert!(cache.peek(1, 9).is_none());
        assert_eq!((cache.stats().hits, cache.stats().misses), (0, 0));
        // Block 1 is marked by a real hit, block 0 only peeked: block 0 goes first.
        assert!(cache.get(1, 1).is_some());
        cache.insert(1, 2, block(1000));
        assert!(cache.peek(1, 0).is_none());
        assert!(cache.peek(1, 1).is_some());
    }

    #[test]
    fn reinsert_replaces() {
        let cache = BlockCache::new(1 << 20);
        cache.insert(1, 0, block(100));
        cache.insert(1, 0, block(200));
        let s = cache.stats();
        assert_eq!(s.entries, 1);
        assert_eq!(s.used_bytes, (200 + ENTRY_OVERHEAD) as u64);
    }
}
