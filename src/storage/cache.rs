//! A sharded block cache with a byte budget and CLOCK eviction.
//!
//! Blocks are keyed by `(file id, block offset)`. File ids are never reused, so blocks
//! of deleted files simply age out. Each shard owns `budget / shards` bytes and evicts
//! (CLOCK: a hit sets a reference bit; the hand clears set bits and evicts the first
//! unreferenced entry) before it inserts, so the total never exceeds the budget; a block
//! larger than a shard's budget is not cached at all.
//!
//! A lookup takes its shard's lock shared, so readers never wait for each other, and
//! the map entry holds the block handle itself: [`BlockCache::with`] runs a search on
//! the cached block under that shared lock without touching any reference count (an
//! atomic write to a cold cache line would stall the lookup), while
//! [`BlockCache::get`] hands out a shared handle for cursors that keep the block.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::storage::sstable::block::Block;

/// Bytes charged per cached block on top of its contents (map entry, ring slot, the
/// block's shared allocation header).
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
    /// The block.
    block: Block,
    /// Bytes charged for it.
    charge: usize,
    /// Set by a hit (under the shared lock), cleared by the passing hand.
    referenced: AtomicBool,
    /// Its position in the shard's ring.
    ring_pos: usize,
}

/// One shard's contents: the map from key to block, and the CLOCK ring of keys.
#[derive(Default)]
struct Shard {
    /// Key to cached block.
    map: HashMap<BlockKey, Slot, BuildHasherDefault<KeyHasher>>,
    /// Every cached key once, in no particular order; the hand walks it.
    ring: Vec<BlockKey>,
    /// The clock hand: a position in `ring`.
    hand: usize,
    /// Bytes charged.
    used: usize,
}

impl Shard {
    /// The block under `key`, marked as used.
    #[inline]
    fn hit(&self, key: &BlockKey) -> Option<&Block> {
        let slot = self.map.get(key)?;
        // Write the bit only when it changes, so that hot blocks cost no store.
        if !slot.referenced.load(Ordering::Relaxed) {
            slot.referenced.store(true, Ordering::Relaxed);
        }
        Some(&slot.block)
    }

    fn remove(&mut self, key: &BlockKey) {
        let Some(slot) = self.map.remove(key) else {
            return;
        };
        self.used -= slot.charge;
        self.ring_remove(slot.ring_pos);
    }

    /// Removes the key at `pos` of the ring; the last key takes its place.
    fn ring_remove(&mut self, pos: usize) {
        if pos < self.ring.len() {
            self.ring.swap_remove(pos);
            if let Some(moved) = self.ring.get(pos)
                && let Some(s) = self.map.get_mut(moved)
            {
                s.ring_pos = pos;
            }
        }
    }

    /// Evicts until `need` more bytes fit in `capacity`. Two sweeps always suffice: the
    /// first clears every reference bit.
    fn make_room(&mut self, need: usize, capacity: usize) {
        let mut steps = 2 * self.ring.len() + 1;
        while self.used + need > capacity && !self.ring.is_empty() && steps > 0 {
            steps -= 1;
            if self.hand >= self.ring.len() {
                self.hand = 0;
            }
            let key = self.ring[self.hand];
            match self.map.get_mut(&key).map(|s| s.referenced.get_mut()) {
                Some(referenced) if *referenced => {
                    *referenced = false;
                    self.hand += 1;
                }
                // The last key moves into the hand's position: look at it next.
                Some(_) => self.remove(&key),
                None => self.ring_remove(self.hand),
            }
        }
    }

    fn insert(&mut self, key: BlockKey, block: Block, charge: usize, capacity: usize) {
        self.remove(&key);
        if charge > capacity {
            return;
        }
        self.make_room(charge, capacity);
        if self.used + charge > capacity {
            return;
        }
        let slot = Slot {
            block,
            charge,
            referenced: AtomicBool::new(false),
            ring_pos: self.ring.len(),
        };
        self.ring.push(key);
        self.map.insert(key, slot);
        self.used += charge;
    }
}

/// A shard with its lock and counters, alone on its cache lines.
#[repr(align(64))]
#[derive(Default)]
struct LockedShard {
    /// The contents.
    shard: RwLock<Shard>,
    /// Lookups in this shard that hit.
    hits: AtomicU64,
    /// Lookups in this shard that missed.
    misses: AtomicU64,
}

impl LockedShard {
    #[inline]
    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A thread-safe cache of decoded blocks with a byte budget.
pub struct BlockCache {
    /// The shards; a key's shard is chosen by hashing it.
    shards: Vec<LockedShard>,
    /// Budget of each shard.
    shard_capacity: usize,
    /// The total budget.
    capacity: usize,
}

impl BlockCache {
    /// A cache of `capacity` bytes. It has one shard per MiB of budget, at most 16 and at
    /// least 1, so that a shard always holds many blocks.
    pub fn new(capacity: usize) -> BlockCache {
        let shards = (capacity / (1 << 20)).clamp(1, 16);
        BlockCache {
            shards: (0..shards).map(|_| LockedShard::default()).collect(),
            shard_capacity: capacity / shards,
            capacity,
        }
    }

    #[inline]
    fn shard(&self, key: &BlockKey) -> &LockedShard {
        // A multiplicative mix of both halves of the key, then the top bits.
        let h =
            (key.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.1).wrapping_mul(0xff51_afd7_ed55_8ccd);
        let i = ((h >> 32) as usize) % self.shards.len();
        &self.shards[i]
    }

    /// Runs `f` on the block cached under `(file_id, offset)`, counting a hit (and
    /// marking the block as used), or returns `None` and counts a miss. `f` runs under
    /// the shard's shared lock: it should be short and must not use this cache.
    #[inline]
    pub fn with<R>(&self, file_id: u64, offset: u64, f: impl FnOnce(&Block) -> R) -> Option<R> {
        let key = (file_id, offset);
        let ls = self.shard(&key);
        let shard = ls.shard.read();
        let out = shard.hit(&key).map(f);
        drop(shard);
        ls.count(out.is_some());
        out
    }

    /// The block cached under `(file_id, offset)`, counting a hit or a miss.
    pub fn get(&self, file_id: u64, offset: u64) -> Option<Block> {
        self.with(file_id, offset, Block::clone)
    }

    /// The block cached under `(file_id, offset)`, without counting the lookup or marking
    /// the block as used: for compaction reads, which should neither skew the hit ratio
    /// nor keep blocks in the cache.
    pub fn peek(&self, file_id: u64, offset: u64) -> Option<Block> {
        let key = (file_id, offset);
        let shard = self.shard(&key).shard.read();
        shard.map.get(&key).map(|s| s.block.clone())
    }

    /// Caches `block` under `(file_id, offset)`, evicting as needed to stay within the
    /// budget.
    pub fn insert(&self, file_id: u64, offset: u64, block: Block) {
        let key = (file_id, offset);
        let charge = block.size() + ENTRY_OVERHEAD;
        self.shard(&key)
            .shard
            .write()
            .insert(key, block, charge, self.shard_capacity);
    }

    /// Current figures.
    pub fn stats(&self) -> CacheStats {
        let (mut used, mut entries, mut hits, mut misses) = (0u64, 0u64, 0u64, 0u64);
        for ls in &self.shards {
            hits += ls.hits.load(Ordering::Relaxed);
            misses += ls.misses.load(Ordering::Relaxed);
            let s = ls.shard.read();
            used += s.used as u64;
            entries += s.map.len() as u64;
        }
        CacheStats {
            hits,
            misses,
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
    fn block(size: usize) -> Block {
        let mut data = vec![0u8; size.max(9) - 8];
        data.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        Block::decode(data).unwrap()
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
    fn eviction_keeps_the_ring_and_the_map_in_step() {
        let cache = BlockCache::new(8 * (1000 + ENTRY_OVERHEAD));
        for round in 0..50u64 {
            for off in 0..12u64 {
                if (off + round) % 3 == 0 {
                    assert_eq!(
                        cache.with(1, off, |b| b.size()).is_some(),
                        cache.peek(1, off).is_some()
                    );
                }
                cache.insert(1, off * 7 + round, block(1000));
            }
            for ls in &cache.shards {
                let s = ls.shard.read();
                assert_eq!(s.ring.len(), s.map.len());
                for (pos, key) in s.ring.iter().enumerate() {
                    assert_eq!(s.map[key].ring_pos, pos);
                }
                assert_eq!(s.used, s.map.values().map(|v| v.charge).sum::<usize>());
            }
            assert!(cache.stats().used_bytes <= cache.stats().capacity_bytes);
        }
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
