//! The memtable: an ordered, versioned map in memory, a skip list with one writer at a
//! time and any number of readers that never wait.
//!
//! Entries are ordered by user key ascending, then commit timestamp descending, so the
//! newest version of a key comes first and a read at timestamp `T` is one seek to
//! `(key, T)`. Each entry holds a value or a tombstone. Block files use the same order,
//! so a merge of memtables and files is a plain merge of sorted streams.
//!
//! Nodes are linked with atomic pointers: the writer initialises a node completely, then
//! publishes it with release stores; readers follow pointers with acquire loads. Nodes
//! are never removed or changed once published and are freed only when the memtable is
//! dropped, which cannot happen while a [`MemCursor`] (which holds an `Arc`) exists.

use std::cmp::Ordering as CmpOrdering;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::batch::BatchOp;

/// Most levels of the skip list (a branching factor of 4 covers 4^12 = 16M entries well).
const MAX_HEIGHT: usize = 12;
/// One node in `BRANCHING` reaches each next level.
const BRANCHING: u64 = 4;
/// Bytes counted for one entry besides its key and value (node, links, allocation).
const ENTRY_OVERHEAD: usize = 64;

/// One version of one key.
struct Node {
    /// The user key.
    key: Box<[u8]>,
    /// The commit timestamp.
    ts: u64,
    /// The value, or `None` for a tombstone.
    value: Option<Box<[u8]>>,
    /// Next node at each level this node is on (null at the end).
    next: Box<[AtomicPtr<Node>]>,
}

impl Node {
    fn new(key: &[u8], ts: u64, value: Option<&[u8]>, height: usize) -> Node {
        Node {
            key: key.into(),
            ts,
            value: value.map(Into::into),
            next: (0..height)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
        }
    }

    /// Order of this node's entry against `(key, ts)`: key ascending, ts descending.
    fn cmp_to(&self, key: &[u8], ts: u64) -> CmpOrdering {
        self.key.as_ref().cmp(key).then_with(|| ts.cmp(&self.ts))
    }
}

/// One entry, borrowed from a memtable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemEntry<'a> {
    /// The user key.
    pub key: &'a [u8],
    /// The commit timestamp.
    pub ts: u64,
    /// The value, or `None` for a tombstone.
    pub value: Option<&'a [u8]>,
}

/// A versioned ordered map; see the module documentation.
pub struct Memtable {
    /// The sentinel before the first entry, on every level.
    head: Box<Node>,
    /// Levels in use (1..=MAX_HEIGHT); only grows.
    height: AtomicUsize,
    /// Serialises writers; holds the state of the level generator.
    writer: Mutex<u64>,
    /// Approximate bytes held.
    bytes: AtomicUsize,
    /// Entries held.
    entries: AtomicUsize,
    /// Newest commit timestamp held (0 when empty).
    max_ts: AtomicU64,
}

impl Default for Memtable {
    fn default() -> Self {
        Memtable::new()
    }
}

impl Memtable {
    /// An empty memtable.
    pub fn new() -> Memtable {
        Memtable {
            head: Box::new(Node::new(&[], u64::MAX, None, MAX_HEIGHT)),
            height: AtomicUsize::new(1),
            writer: Mutex::new(0x9E37_79B9_7F4A_7C15),
            bytes: AtomicUsize::new(0),
            entries: AtomicUsize::new(0),
            max_ts: AtomicU64::new(0),
        }
    }

    /// Approximate bytes held (keys, values and per-entry overhead).
    pub fn approximate_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Entries (versions, tombstones included) held.
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// True when the memtable holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Newest commit timestamp held (0 when empty).
    pub fn max_ts(&self) -> u64 {
        self.max_ts.load(Ordering::Acquire)
    }

    /// Adds the operations of one batch at `ts`. A later operation on the same key in
    /// the batch wins. Entries already present at `(key, ts)` are kept as they are.
    ///
    /// The operations are inserted in key order, each search starting where the
    /// previous one ended, so a large batch costs far less than as many lone inserts.
    pub fn apply(&self, ts: u64, ops: &[BatchOp]) {
        let mut rng = self.writer.lock();
        let mut prev = [self.head_ptr(); MAX_HEIGHT];
        if ops.len() == 1 {
            self.insert_locked(&mut rng, &mut prev, ops[0].key(), ts, ops[0].value());
        } else {
            // Key order; among operations on one key, the last one first.
            let mut order: Vec<usize> = (0..ops.len()).collect();
            order.sort_unstable_by(|&a, &b| ops[a].key().cmp(ops[b].key()).then(b.cmp(&a)));
            let mut last_key: Option<&[u8]> = None;
            for i in order {
                let op = &ops[i];
                if last_key == Some(op.key()) {
                    continue;
                }
                last_key = Some(op.key());
                self.insert_locked(&mut rng, &mut prev, op.key(), ts, op.value());
            }
        }
        self.max_ts.fetch_max(ts, Ordering::AcqRel);
    }

    /// Adds one entry; returns false when `(key, ts)` was already present.
    pub fn insert(&self, key: &[u8], ts: u64, value: Option<&[u8]>) -> bool {
        let mut rng = self.writer.lock();
        let mut prev = [self.head_ptr(); MAX_HEIGHT];
        let added = self.insert_locked(&mut rng, &mut prev, key, ts, value);
        self.max_ts.fetch_max(ts, Ordering::AcqRel);
        added
    }

    /// The newest version of `key` at or below `read_ts`: `Some(Some(value))`,
    /// `Some(None)` for a tombstone, `None` when the memtable holds no such version.
    pub fn get(&self, key: &[u8], read_ts: u64) -> Option<Option<&[u8]>> {
        let n = self.node(self.seek_ge(key, read_ts, None))?;
        (n.key.as_ref() == key).then_some(n.value.as_deref())
    }

    /// Commit timestamp of the newest version of `key` (tombstones included).
    pub fn latest_ts(&self, key: &[u8]) -> Option<u64> {
        let n = self.node(self.seek_ge(key, u64::MAX, None))?;
        (n.key.as_ref() == key).then_some(n.ts)
    }

    /// A cursor over the entries, not positioned yet.
    pub fn cursor(self: &Arc<Self>) -> MemCursor {
        MemCursor {
            mem: Arc::clone(self),
            node: ptr::null(),
        }
    }

    /// The node behind a non-null pointer of this list, or `None` for null.
    fn node(&self, p: *const Node) -> Option<&Node> {
        // SAFETY: every non-null pointer reachable from `head` was made by
        // `Box::into_raw` in `insert_locked`, was fully initialised before it was
        // published (release store, read with acquire loads), is never mutated except
        // through its atomic links, and is freed only in `Drop`, which needs `&mut self`
        // and so cannot overlap the `&self` this borrow is tied to.
        unsafe { p.as_ref() }
    }

    fn head_ptr(&self) -> *const Node {
        &*self.head as *const Node
    }

    /// The first node at or after `(key, ts)`, or null. When `prev` is given, fills it
    /// with the last node before `(key, ts)` on every level.
    fn seek_ge(
        &self,
        key: &[u8],
        ts: u64,
        mut prev: Option<&mut [*const Node; MAX_HEIGHT]>,
    ) -> *const Node {
        let mut x = &*self.head;
        let mut level = self.height.load(Ordering::Acquire) - 1;
        loop {
            let next = x.next[level].load(Ordering::Acquire);
            match self.node(next) {
                Some(n) if n.cmp_to(key, ts) == CmpOrdering::Less => x = n,
                _ => {
                    if let Some(p) = prev.as_deref_mut() {
                        p[level] = x as *const Node;
                    }
                    if level == 0 {
                        return next;
                    }
                    level -= 1;
                }
            }
        }
    }

    /// The last node before `(key, ts)`, or null when there is none.
    fn seek_lt(&self, key: &[u8], ts: u64) -> *const Node {
        let mut prev = [ptr::null(); MAX_HEIGHT];
        self.seek_ge(key, ts, Some(&mut prev));
        if prev[0] == self.head_ptr() {
            ptr::null()
        } else {
            prev[0]
        }
    }

    /// The last node, or null when empty.
    fn seek_last(&self) -> *const Node {
        let mut x = &*self.head;
        let mut level = self.height.load(Ordering::Acquire) - 1;
        loop {
            match self.node(x.next[level].load(Ordering::Acquire)) {
                Some(n) => x = n,
                None => {
                    if level == 0 {
                        break;
                    }
                    level -= 1;
                }
            }
        }
        if ptr::eq(x, self.head_ptr()) {
            ptr::null()
        } else {
            x as *const Node
        }
    }

    fn random_height(rng: &mut u64) -> usize {
        let mut h = 1;
        while h < MAX_HEIGHT {
            // xorshift64: cheap, and only the writer (under its lock) uses it.
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            if *rng % BRANCHING != 0 {
                break;
            }
            h += 1;
        }
        h
    }

    /// Inserts `(key, ts)` under the writer lock; returns false when it was already
    /// present. On entry `prev` holds, for every level, a node before `(key, ts)` on
    /// that level (the head will do); on return, the last node before the new entry,
    /// or the new entry itself on the levels it joined, so that an insert of a larger
    /// entry can start its search there.
    fn insert_locked(
        &self,
        rng: &mut u64,
        prev: &mut [*const Node; MAX_HEIGHT],
        key: &[u8],
        ts: u64,
        value: Option<&[u8]>,
    ) -> bool {
        let head = self.head_ptr();
        let mut level = self.height.load(Ordering::Acquire) - 1;
        let mut x = &*self.head;
        loop {
            // Start from the further of where the level above ended and where the
            // previous insert ended on this level: both are before `(key, ts)`.
            if let Some(p) = self.node(prev[level]) {
                if !ptr::eq(p, head)
                    && (ptr::eq(x, head) || p.cmp_to(&x.key, x.ts) == CmpOrdering::Greater)
                {
                    x = p;
                }
            }
            loop {
                match self.node(x.next[level].load(Ordering::Acquire)) {
                    Some(n) if n.cmp_to(key, ts) == CmpOrdering::Less => x = n,
                    _ => break,
                }
            }
            prev[level] = x as *const Node;
            if level == 0 {
                break;
            }
            level -= 1;
        }
        if let Some(n) = self.node(x.next[0].load(Ordering::Acquire)) {
            if n.cmp_to(key, ts) == CmpOrdering::Equal {
                return false;
            }
        }
        let height = Self::random_height(rng);
        let cur = self.height.load(Ordering::Acquire);
        if height > cur {
            for p in prev.iter_mut().take(height).skip(cur) {
                *p = head;
            }
            // Readers that see the new height before the links find null there and
            // descend: harmless.
            self.height.store(height, Ordering::Release);
        }
        let node = Box::into_raw(Box::new(Node::new(key, ts, value, height)));
        for (level, p) in prev.iter_mut().enumerate().take(height) {
            if let Some(before) = self.node(*p) {
                // SAFETY: `node` was just made by `Box::into_raw` and is not yet
                // reachable by anyone else, so reading its links through it is sound.
                let link = unsafe { &(*node).next[level] };
                link.store(
                    before.next[level].load(Ordering::Acquire),
                    Ordering::Relaxed,
                );
                // Publish: everything written to `node` happens-before this store.
                before.next[level].store(node, Ordering::Release);
            }
            *p = node;
        }
        let size = key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD;
        self.bytes.fetch_add(size, Ordering::Relaxed);
        self.entries.fetch_add(1, Ordering::Relaxed);
        true
    }
}

impl Drop for Memtable {
    fn drop(&mut self) {
        let mut p = self.head.next[0].load(Ordering::Relaxed);
        while !p.is_null() {
            // SAFETY: with `&mut self` no reader or cursor exists; every node was made by
            // `Box::into_raw` and is reached exactly once along level 0.
            let node = unsafe { Box::from_raw(p) };
            p = node.next[0].load(Ordering::Relaxed);
        }
    }
}

/// A position in a memtable that keeps the memtable alive. Moves over entries in the
/// memtable's order (key ascending, timestamp descending); entries added after the
/// cursor was made may or may not be seen, but never half of one.
pub struct MemCursor {
    /// The memtable, kept alive for as long as the cursor.
    mem: Arc<Memtable>,
    /// The current node, or null when not positioned on an entry.
    node: *const Node,
}

// SAFETY: the cursor only reads nodes that stay valid while `mem` is alive (see
// `Memtable::node`); the memtable itself is `Send + Sync`, so moving the cursor to
// another thread is sound.
unsafe impl Send for MemCursor {}

impl MemCursor {
    /// True when positioned on an entry.
    pub fn valid(&self) -> bool {
        !self.node.is_null()
    }

    /// The current entry, if positioned on one.
    pub fn entry(&self) -> Option<MemEntry<'_>> {
        self.mem.node(self.node).map(|n| MemEntry {
            key: &n.key,
            ts: n.ts,
            value: n.value.as_deref(),
        })
    }

    /// Moves to the first entry at or after `(key, ts)`.
    pub fn seek(&mut self, key: &[u8], ts: u64) {
        self.node = self.mem.seek_ge(key, ts, None);
    }

    /// Moves to the last entry before `(key, ts)`.
    pub fn seek_before(&mut self, key: &[u8], ts: u64) {
        self.node = self.mem.seek_lt(key, ts);
    }

    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) {
        self.node = self.mem.head.next[0].load(Ordering::Acquire);
    }

    /// Moves to the last entry.
    pub fn seek_to_last(&mut self) {
        self.node = self.mem.seek_last();
    }

    /// Moves to the next entry (off the end when there is none).
    pub fn next(&mut self) {
        if let Some(n) = self.mem.node(self.node) {
            self.node = n.next[0].load(Ordering::Acquire);
        }
    }

    /// Moves to the previous entry (off the end when there is none).
    pub fn prev(&mut self) {
        let target = self.mem.node(self.node).map(|n| (n.key.clone(), n.ts));
        if let Some((key, ts)) = target {
            self.node = self.mem.seek_lt(&key, ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &[u8], v: &[u8]) -> BatchOp {
        BatchOp::Put {
            key: k.to_vec(),
            value: v.to_vec(),
        }
    }

    fn all(m: &Arc<Memtable>) -> Vec<(Vec<u8>, u64, Option<Vec<u8>>)> {
        let mut c = m.cursor();
        c.seek_to_first();
        let mut out = Vec::new();
        while let Some(e) = c.entry() {
            out.push((e.key.to_vec(), e.ts, e.value.map(<[u8]>::to_vec)));
            c.next();
        }
        out
    }

    #[test]
    fn large_batches_match_one_insert_at_a_time() {
        // Batches in random key order with repeated keys, applied over earlier
        // versions, against the same entries inserted one by one.
        let batched = Arc::new(Memtable::new());
        let single = Arc::new(Memtable::new());
        let mut rng = 0x1234_5678_9abc_def1u64;
        for ts in 1..=40u64 {
            let mut ops = Vec::new();
            for i in 0..300u64 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let key = format!("k{:03}", rng % 500).into_bytes();
                ops.push(if rng % 7 == 0 {
                    BatchOp::Delete { key }
                } else {
                    put(&key, &(ts * 1000 + i).to_le_bytes())
                });
            }
            batched.apply(ts, &ops);
            let mut done = std::collections::HashSet::new();
            for op in ops.iter().rev() {
                if done.insert(op.key().to_vec()) {
                    single.insert(op.key(), ts, op.value());
                }
            }
        }
        assert_eq!(all(&batched), all(&single));
        assert_eq!(batched.len(), single.len());
    }

    #[test]
    fn order_is_key_ascending_then_ts_descending() {
        let m = Arc::new(Memtable::new());
        m.apply(1, &[put(b"b", b"1"), put(b"a", b"1")]);
        m.apply(
            3,
            &[put(b"a", b"3"), BatchOp::Delete { key: b"b".to_vec() }],
        );
        m.apply(2, &[put(b"a", b"2"), put(b"", b"")]);
        let got = all(&m);
        let want: Vec<(Vec<u8>, u64, Option<Vec<u8>>)> = vec![
            (b"".to_vec(), 2, Some(vec![])),
            (b"a".to_vec(), 3, Some(b"3".to_vec())),
            (b"a".to_vec(), 2, Some(b"2".to_vec())),
            (b"a".to_vec(), 1, Some(b"1".to_vec())),
            (b"b".to_vec(), 3, None),
            (b"b".to_vec(), 1, Some(b"1".to_vec())),
        ];
        assert_eq!(got, want);
        assert_eq!(m.len(), 6);
        assert_eq!(m.max_ts(), 3);
        assert!(m.approximate_bytes() >= 6 * ENTRY_OVERHEAD);

        assert_eq!(m.get(b"a", 0), None);
        assert_eq!(m.get(b"a", 1), Some(Some(&b"1"[..])));
        assert_eq!(m.get(b"a", 2), Some(Some(&b"2"[..])));
        assert_eq!(m.get(b"a", 99), Some(Some(&b"3"[..])));
        assert_eq!(m.get(b"b", 3), Some(None));
        assert_eq!(m.get(b"", 5), Some(Some(&b""[..])));
        assert_eq!(m.get(b"c", 5), None);
        assert_eq!(m.latest_ts(b"b"), Some(3));
        assert_eq!(m.latest_ts(b"zz"), None);

        // Backwards gives the exact reverse.
        let mut c = m.cursor();
        c.seek_to_last();
        let mut back = Vec::new();
        while let Some(e) = c.entry() {
            back.push((e.key.to_vec(), e.ts, e.value.map(<[u8]>::to_vec)));
            c.prev();
        }
        back.reverse();
        assert_eq!(back, want);

        c.seek_before(b"a", u64::MAX);
        assert_eq!(c.entry().map(|e| e.key), Some(&b""[..]));
        c.seek_before(b"", u64::MAX);
        assert!(!c.valid());
    }

    #[test]
    fn later_op_on_same_key_wins_within_a_batch() {
        let m = Arc::new(Memtable::new());
        m.apply(
            5,
            &[
                put(b"k", b"first"),
                BatchOp::Delete { key: b"k".to_vec() },
                put(b"k", b"last"),
            ],
        );
        assert_eq!(m.get(b"k", 5), Some(Some(&b"last"[..])));
        assert_eq!(m.len(), 1);
        assert!(!m.insert(b"k", 5, None), "duplicate (key, ts) is refused");
    }

    #[test]
    fn many_entries_stay_sorted_with_concurrent_readers() {
        let m = Arc::new(Memtable::new());
        let reader = {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let got = all(&m);
                    for w in got.windows(2) {
                        assert!(
                            (&w[0].0, std::cmp::Reverse(w[0].1))
                                < (&w[1].0, std::cmp::Reverse(w[1].1))
                        );
                    }
                }
            })
        };
        for i in 0u64..5000 {
            let k = (i * 7919 % 1000).to_be_bytes();
            m.insert(&k, i + 1, Some(&i.to_le_bytes()));
        }
        reader.join().unwrap();
        assert_eq!(all(&m).len(), 5000);
    }
}
