//! The memtable's key index: a hash table from a key's hash to its node, so a point
//! read or an overwrite finds its key with one or two memory accesses instead of a
//! walk down the skip list.
//!
//! Open addressing with linear probing over slots of two words: a tag (the key's 64-bit
//! hash with its lowest bit set, so that 0 means empty) and the node. A key is placed
//! once and never moves within a table nor leaves it, and a node never changes its
//! key, so a slot is written once: node first, then tag with a release store. A reader
//! that sees the tag (acquire) sees the node. Probing compares tags only; the caller
//! checks the key of a node whose tag matches.
//!
//! The table grows (doubles) when it is three quarters full. Readers may still be
//! probing the old table, so it is kept, unchanged, until the index is dropped; a
//! reader on an old table finds every key placed before the switch, which is every key
//! a read at its timestamp may need (a version becomes visible only after its insert
//! returned). The slot of a key in a new table comes from its tag alone, so growing
//! never touches the nodes.

use std::mem::size_of;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Slots of a new index.
const FIRST_SLOTS: usize = 256;

/// One slot: empty while `tag` is 0.
struct Slot<T> {
    /// The key's hash with its lowest bit set, or 0.
    tag: AtomicU64,
    /// The node of the key (set before `tag`).
    node: AtomicPtr<T>,
}

/// One table: a power-of-two number of slots.
struct Table<T> {
    /// `slots.len() - 1`.
    mask: usize,
    /// The slots.
    slots: Box<[Slot<T>]>,
}

impl<T> Table<T> {
    fn new(len: usize) -> Box<Table<T>> {
        let slots: Box<[Slot<T>]> = (0..len)
            .map(|_| Slot {
                tag: AtomicU64::new(0),
                node: AtomicPtr::new(ptr::null_mut()),
            })
            .collect();
        Box::new(Table {
            mask: len - 1,
            slots,
        })
    }

    /// The first slot to probe for `tag`.
    fn home(&self, tag: u64) -> usize {
        (tag >> 8) as usize & self.mask
    }

    /// Places `node` under `tag` in the first empty slot of its probe sequence. The
    /// caller keeps the table below full.
    fn place(&self, tag: u64, node: *mut T) {
        let mut i = self.home(tag);
        loop {
            let s = &self.slots[i];
            if s.tag.load(Ordering::Relaxed) == 0 {
                s.node.store(node, Ordering::Relaxed);
                s.tag.store(tag, Ordering::Release);
                return;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// The tag of a hash.
fn tag_of(hash: u64) -> u64 {
    hash | 1
}

/// The index as readers see it; see the module documentation. Its tables belong to an
/// [`IndexTables`], which must outlive every read.
pub(super) struct KeyIndex<T> {
    /// The table in use (owned by the [`IndexTables`]).
    current: AtomicPtr<Table<T>>,
}

/// The tables of a [`KeyIndex`], held by its one writer: the table in use last, the
/// ones it replaced before it (kept for readers still probing them).
pub(super) struct IndexTables<T> {
    /// Every table made, oldest first. Boxed: `KeyIndex::current` points at one, which
    /// must not move when the vector grows.
    #[allow(clippy::vec_box)]
    tables: Vec<Box<Table<T>>>,
    /// Keys placed.
    keys: usize,
}

impl<T> KeyIndex<T> {
    /// An empty index and its tables; no table is made before the first insert.
    pub fn new() -> (KeyIndex<T>, IndexTables<T>) {
        (
            KeyIndex {
                current: AtomicPtr::new(ptr::null_mut()),
            },
            IndexTables {
                tables: Vec::new(),
                keys: 0,
            },
        )
    }

    /// The table in use, if one was made.
    fn table(&self) -> Option<&Table<T>> {
        // SAFETY: `current` is null or points to a table owned by the `IndexTables`
        // made with this index, which keeps every table it ever made until it is
        // dropped, and the caller keeps it alive for as long as this index is read.
        unsafe { self.current.load(Ordering::Acquire).as_ref() }
    }

    /// Asks the processor to start loading the slot where a search for `hash` begins,
    /// so that a search issued a little later does not wait for memory.
    pub fn prefetch(&self, hash: u64) {
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = self.table() {
            let slot: *const Slot<T> = &t.slots[t.home(tag_of(hash))];
            // SAFETY: a prefetch is only a hint; the address is that of a live slot.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    slot.cast::<i8>(),
                );
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = hash;
    }

    /// The node placed under `hash` for which `is_key` holds, if any.
    pub fn find(
        &self,
        hash: u64,
        mut is_key: impl FnMut(NonNull<T>) -> bool,
    ) -> Option<NonNull<T>> {
        let tag = tag_of(hash);
        let t = self.table()?;
        let mut i = t.home(tag);
        loop {
            let s = &t.slots[i];
            match s.tag.load(Ordering::Acquire) {
                0 => return None,
                x if x == tag => {
                    if let Some(n) = NonNull::new(s.node.load(Ordering::Relaxed))
                        && is_key(n)
                    {
                        return Some(n);
                    }
                }
                _ => {}
            }
            i = (i + 1) & t.mask;
        }
    }

    /// Makes room for `keys` keys in all (a table of at least twice as many slots)
    /// when the table in use has less. `tables` must be this index's.
    pub fn reserve(&self, tables: &mut IndexTables<T>, keys: usize) {
        let want = (keys.max(1) * 2).next_power_of_two().max(FIRST_SLOTS);
        let have = tables.tables.last().map_or(0, |t| t.slots.len());
        if have * 3 < keys * 4 || have == 0 {
            self.grow(tables, want.max(have * 2));
        }
    }

    /// Places `node`, a key not in the index yet, under `hash`; grows the table first
    /// when it would be more than three quarters full. `tables` must be this index's.
    pub fn insert(&self, tables: &mut IndexTables<T>, hash: u64, node: NonNull<T>) {
        self.reserve(tables, tables.keys + 1);
        if let Some(t) = tables.tables.last() {
            t.place(tag_of(hash), node.as_ptr());
            tables.keys += 1;
        }
    }

    /// Replaces the table in use by one of `slots` slots holding the same keys.
    fn grow(&self, tables: &mut IndexTables<T>, slots: usize) {
        let mut bigger = Table::new(slots);
        if let Some(t) = tables.tables.last() {
            for s in t.slots.iter() {
                let tag = s.tag.load(Ordering::Relaxed);
                if tag != 0 {
                    bigger.place(tag, s.node.load(Ordering::Relaxed));
                }
            }
        }
        // Every slot of the new table is written before readers can reach it.
        self.current.store(&mut *bigger, Ordering::Release);
        tables.tables.push(bigger);
    }
}

impl<T> IndexTables<T> {
    /// Bytes of every table held.
    pub fn bytes(&self) -> usize {
        self.tables
            .iter()
            .map(|t| t.slots.len() * size_of::<Slot<T>>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_key_across_growth_and_colliding_hashes() {
        let (index, mut tables) = KeyIndex::<u64>::new();
        let mut nodes: Vec<Box<u64>> = (0..5000u64).map(Box::new).collect();
        // Hashes collide in groups of 4 (same tag), so the key check decides.
        let hash = |k: u64| (k / 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for (k, n) in nodes.iter_mut().enumerate() {
            let p = NonNull::from(&mut **n);
            index.insert(&mut tables, hash(k as u64), p);
            // Every key placed so far is still found after each step, growth included.
            if k % 499 == 0 {
                for j in 0..=k as u64 {
                    // SAFETY: the boxes outlive the index in this test.
                    let got = index.find(hash(j), |n| unsafe { *n.as_ref() } == j);
                    assert_eq!(got.map(|n| unsafe { *n.as_ref() }), Some(j));
                }
            }
        }
        for j in 5000..6000u64 {
            // SAFETY: as above.
            assert!(
                index
                    .find(hash(j), |n| unsafe { *n.as_ref() } == j)
                    .is_none()
            );
        }
        assert!(tables.tables.len() > 1, "the table grew");
        let current = tables.tables.last().map_or(0, |t| t.slots.len());
        assert!(5000 * 4 <= current * 3 && current <= 5000 * 4);
        assert!(tables.bytes() >= current * 16);
        let made = tables.tables.len();
        index.reserve(&mut tables, 5001);
        assert_eq!(tables.tables.len(), made, "room enough already");
        index.reserve(&mut tables, 100_000);
        assert_eq!(tables.tables.len(), made + 1);
        // SAFETY: as above.
        assert!(
            index
                .find(hash(77), |n| unsafe { *n.as_ref() } == 77)
                .is_some()
        );
    }
}
