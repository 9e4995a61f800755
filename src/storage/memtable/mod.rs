//! The memtable: an ordered, versioned map in memory, a skip list with one writer at a
//! time and any number of readers that never wait.
//!
//! Entries are ordered by user key ascending, then commit timestamp descending, so the
//! newest version of a key comes first and a read at timestamp `T` is one seek to
//! `(key, T)`. Each entry holds a value or a tombstone. Block files use the same order,
//! so a merge of memtables and files is a plain merge of sorted streams.
//!
//! Each entry is one node in the memtable's [`Arena`]: a 32-byte head (timestamp, the
//! key's first 8 bytes as a big-endian number, lengths, height), its links, its key and
//! its value, back to back. A step of a search reads one node, and most comparisons are
//! decided by the 8-byte prefix without looking at the key itself.
//!
//! Nodes are linked with atomic pointers: the writer initialises a node completely, then
//! publishes it with release stores; readers follow pointers with acquire loads. Nodes
//! are never removed or changed once published and are freed (with the arena) only when
//! the memtable is dropped, which cannot happen while a [`MemCursor`] (which holds an
//! `Arc`) exists.
//!
//! A batch is inserted in key order, each insert starting from the search path of the
//! one before ([`MemWriter`]), so the upper levels of the list are walked once per batch
//! rather than once per key.

use std::cmp::Ordering as CmpOrdering;
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

use super::arena::Arena;
use super::batch::BatchOp;

/// Most levels of the skip list (a branching factor of 4 covers 4^12 = 16M entries well).
const MAX_HEIGHT: usize = 12;
/// One node in `BRANCHING` reaches each next level.
const BRANCHING: u64 = 4;
/// `value_len` of a tombstone.
const TOMBSTONE: u32 = u32::MAX;

/// The fixed part of a node. In the arena it is followed by `height` links
/// (`AtomicPtr<NodeHead>`), then the key, then the value.
#[repr(C)]
struct NodeHead {
    /// The commit timestamp.
    ts: u64,
    /// The key's first 8 bytes (zero-padded) as a big-endian number: comparing two of
    /// these orders two keys whenever they differ.
    prefix: u64,
    /// Bytes of the key (at most `MAX_KEY_LEN`).
    key_len: u32,
    /// Bytes of the value (at most `MAX_VALUE_LEN`), or [`TOMBSTONE`].
    value_len: u32,
    /// Links of the node (1..=MAX_HEIGHT).
    height: u32,
}

/// Bytes from the start of a node to its first link.
const LINKS_AT: usize = size_of::<NodeHead>().next_multiple_of(8);

/// Bytes of the sentinel node (not counted in the memtable's size).
const HEAD_NODE_SIZE: usize = LINKS_AT + MAX_HEIGHT * size_of::<AtomicPtr<NodeHead>>();

/// The order prefix of a key: its first 8 bytes, zero-padded, big-endian.
fn key_prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

/// Bytes of a node of `height` links holding `key` and `value`.
fn node_size(height: usize, key: &[u8], value: Option<&[u8]>) -> usize {
    LINKS_AT + height * size_of::<AtomicPtr<NodeHead>>() + key.len() + value.map_or(0, <[u8]>::len)
}

/// A published node of a memtable, valid for `'a` (a borrow of the memtable).
#[derive(Clone, Copy)]
struct Node<'a> {
    /// The node in the arena.
    p: NonNull<NodeHead>,
    /// Ties the node to the memtable that owns its arena.
    _mem: PhantomData<&'a Memtable>,
}

impl<'a> Node<'a> {
    fn head(self) -> &'a NodeHead {
        // SAFETY: nodes are written completely before they are published and never
        // change afterwards except through their atomic links; the arena keeps them
        // for as long as the memtable lives, which `'a` borrows.
        unsafe { self.p.as_ref() }
    }

    fn ts(self) -> u64 {
        self.head().ts
    }

    fn height(self) -> usize {
        self.head().height as usize
    }

    /// The link of this node on `level` (< its height).
    fn link(self, level: usize) -> &'a AtomicPtr<NodeHead> {
        debug_assert!(level < self.height());
        // SAFETY: the node was allocated with room for `height` links right after its
        // head (see `node_size`), initialised before publication; `level < height`.
        unsafe {
            &*self
                .p
                .as_ptr()
                .cast::<u8>()
                .add(LINKS_AT)
                .cast::<AtomicPtr<NodeHead>>()
                .add(level)
        }
    }

    fn data(self) -> *const u8 {
        // SAFETY: the key starts right after the links, inside the node's piece.
        unsafe {
            self.p
                .as_ptr()
                .cast::<u8>()
                .add(LINKS_AT + self.height() * size_of::<AtomicPtr<NodeHead>>())
        }
    }

    fn key(self) -> &'a [u8] {
        // SAFETY: `key_len` bytes of key were copied in at `data()` before publication
        // and never change.
        unsafe { std::slice::from_raw_parts(self.data(), self.head().key_len as usize) }
    }

    fn value(self) -> Option<&'a [u8]> {
        let h = self.head();
        if h.value_len == TOMBSTONE {
            return None;
        }
        // SAFETY: `value_len` bytes of value follow the key, written before publication.
        Some(unsafe {
            std::slice::from_raw_parts(self.data().add(h.key_len as usize), h.value_len as usize)
        })
    }

    /// Order of this node's entry against `(key, ts)` (`prefix` is `key_prefix(key)`):
    /// key ascending, then timestamp descending.
    fn cmp_to(self, key: &[u8], prefix: u64, ts: u64) -> CmpOrdering {
        let h = self.head();
        if h.prefix != prefix {
            return h.prefix.cmp(&prefix);
        }
        self.key().cmp(key).then_with(|| ts.cmp(&h.ts))
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

/// What only the writer touches.
struct WriterState {
    /// Where the nodes live.
    arena: Arena,
    /// State of the level generator (xorshift64).
    rng: u64,
}

/// A versioned ordered map; see the module documentation.
pub struct Memtable {
    /// The sentinel before the first entry, on every level (a node of the arena with
    /// an empty key).
    head: NonNull<NodeHead>,
    /// Levels in use (1..=MAX_HEIGHT); only grows.
    height: AtomicUsize,
    /// Serialises writers; holds the arena and the level generator.
    writer: Mutex<WriterState>,
    /// Bytes of the nodes (keys, values, links and heads).
    bytes: AtomicUsize,
    /// Entries held.
    entries: AtomicUsize,
    /// Newest commit timestamp held (0 when empty).
    max_ts: AtomicU64,
}

// SAFETY: the nodes `head` leads to live in the arena the memtable owns; they are only
// mutated through atomics (links) or before publication by the one writer holding the
// `writer` lock, so sharing and sending the memtable across threads is sound.
unsafe impl Send for Memtable {}
// SAFETY: as above.
unsafe impl Sync for Memtable {}

impl Default for Memtable {
    fn default() -> Self {
        Memtable::new()
    }
}

impl Memtable {
    /// An empty memtable.
    pub fn new() -> Memtable {
        let mut arena = Arena::new();
        let head = write_node(&mut arena, &[], u64::MAX, None, MAX_HEIGHT);
        Memtable {
            head,
            height: AtomicUsize::new(1),
            writer: Mutex::new(WriterState {
                arena,
                rng: 0x9E37_79B9_7F4A_7C15,
            }),
            bytes: AtomicUsize::new(0),
            entries: AtomicUsize::new(0),
            max_ts: AtomicU64::new(0),
        }
    }

    /// Approximate bytes held: the nodes (keys, values, links and heads).
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

    /// Takes the writer lock, for a series of inserts.
    pub fn writer(&self) -> MemWriter<'_> {
        MemWriter {
            mem: self,
            state: self.writer.lock(),
            prev: [self.head.as_ptr(); MAX_HEIGHT],
            last: None,
            max_ts: 0,
        }
    }

    /// Adds the operations of one batch at `ts`. A later operation on the same key in
    /// the batch wins. Entries already present at `(key, ts)` are kept as they are.
    pub fn apply(&self, ts: u64, ops: &[BatchOp]) {
        let mut w = self.writer();
        if let [op] = ops {
            w.insert(op.key(), ts, op.value());
            return;
        }
        // Key order (batch order among equal keys), so each insert continues from the
        // previous one's path and the last operation on a key is the last of its run.
        // Sorted as plain integers (prefix, then position); only runs that share a
        // prefix are then sorted by whole key. A batch holds at most MAX_BATCH_OPS
        // (< 2^32) operations, so a position fits the low 32 bits.
        let mut order: Vec<u128> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| (u128::from(key_prefix(op.key())) << 32) | i as u128)
            .collect();
        order.sort_unstable();
        let at = |x: u128| (x & u128::from(u32::MAX)) as usize;
        let mut run = 0;
        while run < order.len() {
            let prefix = order[run] >> 32;
            let end = run + order[run..].partition_point(|x| x >> 32 == prefix);
            if end - run > 1 {
                order[run..end].sort_by(|a, b| ops[at(*a)].key().cmp(ops[at(*b)].key()));
            }
            run = end;
        }
        for (i, &x) in order.iter().enumerate() {
            let op = &ops[at(x)];
            if let Some(&after) = order.get(i + 1)
                && ops[at(after)].key() == op.key()
            {
                continue;
            }
            w.insert(op.key(), ts, op.value());
        }
    }

    /// Adds one entry; returns false when `(key, ts)` was already present.
    pub fn insert(&self, key: &[u8], ts: u64, value: Option<&[u8]>) -> bool {
        self.writer().insert(key, ts, value)
    }

    /// The newest version of `key` at or below `read_ts`: `Some(Some(value))`,
    /// `Some(None)` for a tombstone, `None` when the memtable holds no such version.
    pub fn get(&self, key: &[u8], read_ts: u64) -> Option<Option<&[u8]>> {
        let n = self.node(self.seek_ge(key, read_ts))?;
        (n.key() == key).then(|| n.value())
    }

    /// Commit timestamp of the newest version of `key` (tombstones included).
    pub fn latest_ts(&self, key: &[u8]) -> Option<u64> {
        let n = self.node(self.seek_ge(key, u64::MAX))?;
        (n.key() == key).then(|| n.ts())
    }

    /// A cursor over the entries, not positioned yet.
    pub fn cursor(self: &Arc<Self>) -> MemCursor {
        MemCursor {
            mem: Arc::clone(self),
            node: ptr::null_mut(),
        }
    }

    /// The node behind a non-null pointer of this list, or `None` for null.
    fn node(&self, p: *mut NodeHead) -> Option<Node<'_>> {
        NonNull::new(p).map(|p| Node {
            p,
            _mem: PhantomData,
        })
    }

    fn head(&self) -> Node<'_> {
        Node {
            p: self.head,
            _mem: PhantomData,
        }
    }

    /// Walks the list to `(key, ts)`: fills `prev` with the last node before it on each
    /// level in use and returns the first node at or after it (null at the end). With
    /// `from_prev`, `prev` already holds, per level, a node of that level before
    /// `(key, ts)` (or the head), and the walk on each level starts from the later of
    /// that node and where the level above ended.
    fn find(
        &self,
        key: &[u8],
        ts: u64,
        prev: &mut [*mut NodeHead; MAX_HEIGHT],
        from_prev: bool,
    ) -> *mut NodeHead {
        let prefix = key_prefix(key);
        let head = self.head();
        let mut x = head;
        let mut level = self.height.load(Ordering::Acquire) - 1;
        loop {
            if from_prev
                && let Some(p) = self.node(prev[level])
                && p.p != x.p
                && p.p != head.p
                && (x.p == head.p
                    || p.cmp_to(x.key(), x.head().prefix, x.ts()) == CmpOrdering::Greater)
            {
                x = p;
            }
            loop {
                let next = x.link(level).load(Ordering::Acquire);
                match self.node(next) {
                    Some(n) if n.cmp_to(key, prefix, ts) == CmpOrdering::Less => x = n,
                    _ => break,
                }
            }
            prev[level] = x.p.as_ptr();
            if level == 0 {
                return x.link(0).load(Ordering::Acquire);
            }
            level -= 1;
        }
    }

    /// The first node at or after `(key, ts)`, or null.
    fn seek_ge(&self, key: &[u8], ts: u64) -> *mut NodeHead {
        let prefix = key_prefix(key);
        let mut x = self.head();
        let mut level = self.height.load(Ordering::Acquire) - 1;
        loop {
            let next = x.link(level).load(Ordering::Acquire);
            match self.node(next) {
                Some(n) if n.cmp_to(key, prefix, ts) == CmpOrdering::Less => x = n,
                _ => {
                    if level == 0 {
                        return next;
                    }
                    level -= 1;
                }
            }
        }
    }

    /// The last node before `(key, ts)`, or null when there is none.
    fn seek_lt(&self, key: &[u8], ts: u64) -> *mut NodeHead {
        let mut prev = [self.head.as_ptr(); MAX_HEIGHT];
        self.find(key, ts, &mut prev, false);
        if prev[0] == self.head.as_ptr() {
            ptr::null_mut()
        } else {
            prev[0]
        }
    }

    /// The last node, or null when empty.
    fn seek_last(&self) -> *mut NodeHead {
        let mut x = self.head();
        let mut level = self.height.load(Ordering::Acquire) - 1;
        loop {
            match self.node(x.link(level).load(Ordering::Acquire)) {
                Some(n) => x = n,
                None => {
                    if level == 0 {
                        break;
                    }
                    level -= 1;
                }
            }
        }
        if x.p == self.head {
            ptr::null_mut()
        } else {
            x.p.as_ptr()
        }
    }
}

/// Allocates a node in `arena` and writes its head, null links, key and value.
fn write_node(
    arena: &mut Arena,
    key: &[u8],
    ts: u64,
    value: Option<&[u8]>,
    height: usize,
) -> NonNull<NodeHead> {
    let p = arena.alloc(node_size(height, key, value));
    // Keys are at most MAX_KEY_LEN and values at most MAX_VALUE_LEN bytes (checked when
    // they enter a batch), so both lengths fit a u32 and a value never reaches TOMBSTONE.
    let head = NodeHead {
        ts,
        prefix: key_prefix(key),
        key_len: key.len() as u32,
        value_len: value.map_or(TOMBSTONE, |v| v.len() as u32),
        height: height as u32,
    };
    // SAFETY: `p` is a fresh, 8-aligned piece of `node_size` bytes that nobody else can
    // reach yet: the head, `height` links, the key and the value fit in it exactly.
    unsafe {
        let base = p.as_ptr();
        ptr::write(base.cast::<NodeHead>(), head);
        let links = base.add(LINKS_AT).cast::<AtomicPtr<NodeHead>>();
        for i in 0..height {
            ptr::write(links.add(i), AtomicPtr::new(ptr::null_mut()));
        }
        let data = base.add(LINKS_AT + height * size_of::<AtomicPtr<NodeHead>>());
        ptr::copy_nonoverlapping(key.as_ptr(), data, key.len());
        if let Some(v) = value {
            ptr::copy_nonoverlapping(v.as_ptr(), data.add(key.len()), v.len());
        }
    }
    p.cast::<NodeHead>()
}

/// The writer of a memtable: holds its writer lock, and the search path of the last
/// insert, which the next insert starts from when it comes after it in order (so a
/// series of inserts in ascending order walks the upper levels once).
pub struct MemWriter<'a> {
    /// The memtable.
    mem: &'a Memtable,
    /// The writer lock and what it guards.
    state: MutexGuard<'a, WriterState>,
    /// Per level, the last node before the last insert's position, or that node itself
    /// on the levels it is on (or the head).
    prev: [*mut NodeHead; MAX_HEIGHT],
    /// The node inserted (or found already present) by the last insert.
    last: Option<NonNull<NodeHead>>,
    /// Newest timestamp inserted by this writer.
    max_ts: u64,
}

impl MemWriter<'_> {
    /// Adds one entry; returns false when `(key, ts)` was already present. Fastest when
    /// entries come in the memtable's order.
    pub fn insert(&mut self, key: &[u8], ts: u64, value: Option<&[u8]>) -> bool {
        let mem = self.mem;
        let from_prev = self
            .last
            .and_then(|p| mem.node(p.as_ptr()))
            .is_some_and(|last| last.cmp_to(key, key_prefix(key), ts) == CmpOrdering::Less);
        let found = mem.find(key, ts, &mut self.prev, from_prev);
        if let Some(n) = mem.node(found)
            && n.cmp_to(key, key_prefix(key), ts) == CmpOrdering::Equal
        {
            self.last = Some(n.p);
            return false;
        }
        let height = random_height(&mut self.state.rng);
        let cur = mem.height.load(Ordering::Relaxed);
        if height > cur {
            for p in self.prev.iter_mut().take(height).skip(cur) {
                *p = mem.head.as_ptr();
            }
            // Readers that see the new height before the links find null there and
            // descend: harmless.
            mem.height.store(height, Ordering::Release);
        }
        let node = write_node(&mut self.state.arena, key, ts, value, height);
        let new = Node {
            p: node,
            _mem: PhantomData,
        };
        for (level, p) in self.prev.iter_mut().enumerate().take(height) {
            let Some(before) = mem.node(*p) else { continue };
            new.link(level).store(
                before.link(level).load(Ordering::Acquire),
                Ordering::Relaxed,
            );
            // Publish: everything written to the node happens-before this store.
            before.link(level).store(node.as_ptr(), Ordering::Release);
            *p = node.as_ptr();
        }
        self.last = Some(node);
        self.max_ts = self.max_ts.max(ts);
        mem.bytes.store(
            self.state.arena.allocated() - HEAD_NODE_SIZE,
            Ordering::Relaxed,
        );
        mem.entries.fetch_add(1, Ordering::Relaxed);
        true
    }
}

impl Drop for MemWriter<'_> {
    fn drop(&mut self) {
        self.mem.max_ts.fetch_max(self.max_ts, Ordering::AcqRel);
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

/// A position in a memtable that keeps the memtable alive. Moves over entries in the
/// memtable's order (key ascending, timestamp descending); entries added after the
/// cursor was made may or may not be seen, but never half of one.
pub struct MemCursor {
    /// The memtable, kept alive for as long as the cursor.
    mem: Arc<Memtable>,
    /// The current node, or null when not positioned on an entry.
    node: *mut NodeHead,
}

// SAFETY: the cursor only reads nodes that stay valid while `mem` is alive (see
// `Memtable`); the memtable itself is `Send + Sync`, so moving the cursor to another
// thread is sound.
unsafe impl Send for MemCursor {}

impl MemCursor {
    /// True when positioned on an entry.
    pub fn valid(&self) -> bool {
        !self.node.is_null()
    }

    /// The current entry, if positioned on one.
    pub fn entry(&self) -> Option<MemEntry<'_>> {
        self.mem.node(self.node).map(|n| MemEntry {
            key: n.key(),
            ts: n.ts(),
            value: n.value(),
        })
    }

    /// Moves to the first entry at or after `(key, ts)`.
    pub fn seek(&mut self, key: &[u8], ts: u64) {
        self.node = self.mem.seek_ge(key, ts);
    }

    /// Moves to the last entry before `(key, ts)`.
    pub fn seek_before(&mut self, key: &[u8], ts: u64) {
        self.node = self.mem.seek_lt(key, ts);
    }

    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) {
        self.node = self.mem.head().link(0).load(Ordering::Acquire);
    }

    /// Moves to the last entry.
    pub fn seek_to_last(&mut self) {
        self.node = self.mem.seek_last();
    }

    /// Moves to the next entry (off the end when there is none).
    pub fn next(&mut self) {
        if let Some(n) = self.mem.node(self.node) {
            self.node = n.link(0).load(Ordering::Acquire);
        }
    }

    /// Moves to the previous entry (off the end when there is none).
    pub fn prev(&mut self) {
        if let Some(n) = self.mem.node(self.node) {
            self.node = self.mem.seek_lt(n.key(), n.ts());
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
        assert!(m.approximate_bytes() >= 6 * (LINKS_AT + 8));

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

    /// Entries by (key, newest first), as the memtable orders them.
    type Model = std::collections::BTreeMap<(Vec<u8>, std::cmp::Reverse<u64>), Option<Vec<u8>>>;

    proptest::proptest! {
        #[test]
        fn agrees_with_a_sorted_model(
            batches in proptest::collection::vec(
                proptest::collection::vec(
                    (proptest::collection::vec(0u8..4, 0..12),
                     proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40))),
                    1..40),
                1..12),
            singles in proptest::collection::vec((proptest::collection::vec(0u8..4, 0..12), 1u64..20), 0..40),
        ) {
            // Keys from a tiny alphabet with shared prefixes shorter and longer than 8
            // bytes, so prefix ties and zero padding are exercised.
            let m = Arc::new(Memtable::new());
            let mut model: Model = Default::default();
            for (i, batch) in batches.iter().enumerate() {
                let ts = 100 + i as u64;
                let ops: Vec<BatchOp> = batch
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => BatchOp::Put { key: k.clone(), value: v.clone() },
                        None => BatchOp::Delete { key: k.clone() },
                    })
                    .collect();
                m.apply(ts, &ops);
                for (k, v) in batch {
                    model.insert((k.clone(), std::cmp::Reverse(ts)), v.clone());
                }
            }
            // Out-of-order single inserts through one writer: the search path is reused
            // only when it may be.
            {
                let mut w = m.writer();
                for (k, ts) in &singles {
                    let added = w.insert(k, *ts, Some(b"s"));
                    let fresh = !model.contains_key(&(k.clone(), std::cmp::Reverse(*ts)));
                    proptest::prop_assert_eq!(added, fresh);
                    model.entry((k.clone(), std::cmp::Reverse(*ts))).or_insert_with(|| Some(b"s".to_vec()));
                }
            }
            let want: Vec<(Vec<u8>, u64, Option<Vec<u8>>)> =
                model.iter().map(|((k, ts), v)| (k.clone(), ts.0, v.clone())).collect();
            proptest::prop_assert_eq!(all(&m), want.clone());
            proptest::prop_assert_eq!(m.len(), want.len());
            for (k, ts, v) in &want {
                proptest::prop_assert_eq!(m.get(k, *ts), Some(v.as_deref()));
            }
            // Backwards, one step at a time.
            let mut c = m.cursor();
            c.seek_to_last();
            let mut back = Vec::new();
            while let Some(e) = c.entry() {
                back.push((e.key.to_vec(), e.ts, e.value.map(<[u8]>::to_vec)));
                c.prev();
            }
            back.reverse();
            proptest::prop_assert_eq!(back, want);
        }
    }

    #[test]
    fn large_values_and_sizes_are_kept() {
        let m = Arc::new(Memtable::new());
        let big = vec![7u8; 3 << 20];
        m.insert(b"big", 1, Some(&big));
        for i in 0u32..2000 {
            m.insert(&i.to_be_bytes(), 2, Some(&i.to_le_bytes()));
        }
        m.insert(b"big2", 3, Some(&big));
        assert_eq!(m.get(b"big", 5), Some(Some(&big[..])));
        assert_eq!(m.get(b"big2", 5), Some(Some(&big[..])));
        for i in 0u32..2000 {
            assert_eq!(m.get(&i.to_be_bytes(), 2), Some(Some(&i.to_le_bytes()[..])));
        }
        assert!(m.approximate_bytes() >= 2 * big.len() + 2000 * (LINKS_AT + 16));
        assert!(m.approximate_bytes() < 2 * big.len() + 2000 * 256);
        assert_eq!(m.max_ts(), 3);
    }
}
