//! The memtable: an ordered, versioned map in memory, with one writer at a time and any
//! number of readers that never wait.
//!
//! Entries are ordered by user key ascending, then commit timestamp descending, so the
//! newest version of a key comes first. Each entry holds a value or a tombstone. Block
//! files use the same order, so a merge of memtables and files is a plain merge of
//! sorted streams.
//!
//! Each key is one node of a skip list, kept in the memtable's arena (`storage::arena`): a 24-byte head
//! (the key's first 8 bytes as a big-endian number, the newest version, lengths,
//! height), its links and its key, back to back. Its versions hang off it in a chain,
//! newest first; each version is a 24-byte head (timestamp, the next older version,
//! the value's length) and its value. A key's first version is allocated right after
//! its node, so a read of a key written once touches one piece of memory.
//!
//! A hash index (`memtable::index`) maps each key to its node: a point read, and the write of a
//! new version of a key already present, go straight to the node without walking the
//! list. Only a key new to the memtable is inserted into the list, a batch in key order,
//! each insert starting from the search path of the one before ([`MemWriter`]).
//!
//! Nodes and versions are linked with atomic pointers: the writer initialises a node or
//! a version completely, then publishes it with release stores; readers follow pointers
//! with acquire loads. Nothing is removed or changed once published (except for links
//! to newer or inserted versions) and everything is freed (with the arena) only when the
//! memtable is dropped, which cannot happen while a [`MemCursor`] (which holds an
//! `Arc`) exists.

mod index;

use std::cmp::Ordering as CmpOrdering;
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

use self::index::{IndexTables, KeyIndex};
use super::arena::{ALIGN, Arena};
use super::batch::BatchOp;
use super::bloom::bloom_hash;
use super::entry::key_prefix;

/// Most levels of the skip list (a branching factor of 4 covers 4^12 = 16M keys well).
const MAX_HEIGHT: usize = 12;
/// One node in `BRANCHING` reaches each next level.
const BRANCHING: u64 = 4;
/// Rewrites of keys already present (at least one per 8 keys held, too) after which a
/// memtable starts to use its key index.
const INDEX_AFTER_REWRITES: usize = 1024;
/// Keys of the list put in the index per insert while it is being built.
const INDEX_BUILD_STEP: usize = 64;
/// How many keys of a batch ahead of its insert a key's index slot is prefetched.
const PREFETCH_AHEAD: usize = 6;
/// `value_len` of a tombstone.
const TOMBSTONE: u32 = u32::MAX;

/// The fixed part of a key's node. In the arena it is followed by `height` links
/// (`AtomicPtr<NodeHead>`), then the key.
#[repr(C)]
struct NodeHead {
    /// The key's first 8 bytes (zero-padded) as a big-endian number: comparing two of
    /// these orders two keys whenever they differ.
    prefix: u64,
    /// The newest version (never null once the node is published; null in the list's
    /// sentinel).
    newest: AtomicPtr<VerHead>,
    /// Bytes of the key (at most `MAX_KEY_LEN`).
    key_len: u32,
    /// Links of the node (1..=MAX_HEIGHT).
    height: u32,
}

/// The fixed part of a version. In the arena it is followed by the value.
#[repr(C)]
struct VerHead {
    /// The commit timestamp.
    ts: u64,
    /// The next older version of the same key, or null.
    older: AtomicPtr<VerHead>,
    /// Bytes of the value (at most `MAX_VALUE_LEN`), or [`TOMBSTONE`].
    value_len: u32,
}

/// Bytes from the start of a node to its first link.
const LINKS_AT: usize = size_of::<NodeHead>().next_multiple_of(ALIGN);
/// Bytes from the start of a version to its value.
const VALUE_AT: usize = size_of::<VerHead>().next_multiple_of(ALIGN);

/// Bytes of the sentinel node (not counted in the memtable's size).
const HEAD_NODE_SIZE: usize = LINKS_AT + MAX_HEIGHT * size_of::<AtomicPtr<NodeHead>>();

/// Bytes of a node of `height` links holding `key`, rounded up to the arena's alignment.
fn node_size(height: usize, key: &[u8]) -> usize {
    (LINKS_AT + height * size_of::<AtomicPtr<NodeHead>>() + key.len()).next_multiple_of(ALIGN)
}

/// Bytes of a version holding `value`.
fn version_size(value: Option<&[u8]>) -> usize {
    VALUE_AT + value.map_or(0, <[u8]>::len)
}

/// A published piece of a memtable (a node or a version, by its head type `H`), valid
/// for `'a` (a borrow of the memtable).
struct Piece<'a, H> {
    /// The piece in the arena.
    p: NonNull<H>,
    /// Ties the piece to the memtable that owns its arena.
    _mem: PhantomData<&'a Memtable>,
}

impl<H> Clone for Piece<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for Piece<'_, H> {}

impl<H> PartialEq for Piece<'_, H> {
    fn eq(&self, other: &Self) -> bool {
        self.p == other.p
    }
}

impl<'a, H> Piece<'a, H> {
    fn new(p: NonNull<H>) -> Piece<'a, H> {
        Piece {
            p,
            _mem: PhantomData,
        }
    }

    fn head(self) -> &'a H {
        // SAFETY: nodes and versions are written completely before they are published
        // and never change afterwards except through their atomics; the arena keeps
        // them for as long as the memtable lives, which `'a` borrows.
        unsafe { self.p.as_ref() }
    }
}

/// A key's node.
type Node<'a> = Piece<'a, NodeHead>;
/// A version.
type Ver<'a> = Piece<'a, VerHead>;

impl<'a> Node<'a> {
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

    /// The next node on level 0, if any.
    fn next(self) -> Option<Node<'a>> {
        NonNull::new(self.link(0).load(Ordering::Acquire)).map(Node::new)
    }

    fn key(self) -> &'a [u8] {
        // SAFETY: `key_len` bytes of key were copied in right after the links before
        // publication and never change.
        unsafe {
            let at = self
                .p
                .as_ptr()
                .cast::<u8>()
                .add(LINKS_AT + self.height() * size_of::<AtomicPtr<NodeHead>>());
            std::slice::from_raw_parts(at, self.head().key_len as usize)
        }
    }

    /// The newest version (`None` only for the sentinel).
    fn newest(self) -> Option<Ver<'a>> {
        NonNull::new(self.head().newest.load(Ordering::Acquire)).map(Ver::new)
    }

    /// The oldest version (`None` only for the sentinel).
    fn oldest(self) -> Option<Ver<'a>> {
        let mut v = self.newest()?;
        while let Some(o) = v.older() {
            v = o;
        }
        Some(v)
    }

    /// The newest version at or below `ts`, if any.
    fn version_at(self, ts: u64) -> Option<Ver<'a>> {
        let mut v = self.newest();
        while let Some(x) = v {
            if x.ts() <= ts {
                return Some(x);
            }
            v = x.older();
        }
        None
    }

    /// Order of this node's key against `key` (`prefix` is `key_prefix(key)`).
    fn cmp_key(self, key: &[u8], prefix: u64) -> CmpOrdering {
        let h = self.head();
        if h.prefix != prefix {
            return h.prefix.cmp(&prefix);
        }
        self.key().cmp(key)
    }
}

impl<'a> Ver<'a> {
    fn ts(self) -> u64 {
        self.head().ts
    }

    fn older(self) -> Option<Ver<'a>> {
        NonNull::new(self.head().older.load(Ordering::Acquire)).map(Ver::new)
    }

    fn value(self) -> Option<&'a [u8]> {
        let h = self.head();
        if h.value_len == TOMBSTONE {
            return None;
        }
        // SAFETY: `value_len` bytes of value follow the head, written before
        // publication and never changed.
        Some(unsafe {
            std::slice::from_raw_parts(
                self.p.as_ptr().cast::<u8>().add(VALUE_AT),
                h.value_len as usize,
            )
        })
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
    /// Where the nodes and versions live.
    arena: Arena,
    /// The key index's tables.
    tables: IndexTables<NodeHead>,
    /// Inserts that found their key already present, while the index is not in use.
    rewrites: usize,
    /// While the index is being built: the last node of the list put in it (the
    /// sentinel at first). Each insert then puts a few more, and every key added to
    /// the list meanwhile goes into the index at once.
    building: Option<NonNull<NodeHead>>,
    /// State of the level generator (xorshift64).
    rng: u64,
}

/// A versioned ordered map; see the module documentation.
pub struct Memtable {
    /// The sentinel before the first node, on every level (a node of the arena with an
    /// empty key and no version).
    head: NonNull<NodeHead>,
    /// Levels in use (1..=MAX_HEIGHT); only grows.
    height: AtomicUsize,
    /// Each key's node by the key's hash (its tables are in `writer`); in use once
    /// `indexed` is set.
    index: KeyIndex<NodeHead>,
    /// Set once `index` holds every key (and from then on every new key before the
    /// insert returns); until then lookups walk the list.
    indexed: AtomicBool,
    /// Keys held (nodes of the list).
    keys: AtomicUsize,
    /// Serialises writers; holds the arena, the index's tables and the level generator.
    writer: Mutex<WriterState>,
    /// Bytes of the nodes, versions and index.
    bytes: AtomicUsize,
    /// Entries (versions) held.
    entries: AtomicUsize,
    /// Newest commit timestamp held (0 when empty).
    max_ts: AtomicU64,
}

// SAFETY: the nodes and versions `head` and `index` lead to live in the arena and index
// tables the memtable owns; they are only mutated through atomics or before publication
// by the one writer holding the `writer` lock, so sharing and sending the memtable
// across threads is sound.
unsafe impl Send for Memtable {}
// SAFETY: as above.
unsafe impl Sync for Memtable {}

impl Default for Memtable {
    fn default() -> Self {
        Memtable::new()
    }
}

/// A position: a node and one of its versions (both null when not on an entry).
#[derive(Clone, Copy)]
struct Pos {
    node: *mut NodeHead,
    ver: *mut VerHead,
}

impl Pos {
    const END: Pos = Pos {
        node: ptr::null_mut(),
        ver: ptr::null_mut(),
    };

    fn at(node: Node<'_>, ver: Option<Ver<'_>>) -> Pos {
        match ver {
            Some(v) => Pos {
                node: node.p.as_ptr(),
                ver: v.p.as_ptr(),
            },
            None => Pos::END,
        }
    }

    /// The newest version of `node`, or the end.
    fn first_of(node: Option<Node<'_>>) -> Pos {
        node.map_or(Pos::END, |n| Pos::at(n, n.newest()))
    }
}

impl Memtable {
    /// An empty memtable.
    pub fn new() -> Memtable {
        let mut arena = Arena::new();
        let head = write_node(&mut arena, &[], MAX_HEIGHT);
        let (index, tables) = KeyIndex::new();
        Memtable {
            head,
            height: AtomicUsize::new(1),
            index,
            indexed: AtomicBool::new(false),
            keys: AtomicUsize::new(0),
            writer: Mutex::new(WriterState {
                arena,
                tables,
                rewrites: 0,
                building: None,
                rng: 0x9E37_79B9_7F4A_7C15,
            }),
            bytes: AtomicUsize::new(0),
            entries: AtomicUsize::new(0),
            max_ts: AtomicU64::new(0),
        }
    }

    /// Approximate bytes held: the nodes, versions and the key index.
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
        // With the index in use, each key's slot is asked for a few keys ahead of its
        // insert, so the inserts do not wait for memory one after the other.
        let hashes: Vec<u64> = if self.indexed.load(Ordering::Relaxed) {
            order
                .iter()
                .map(|&x| bloom_hash(ops[at(x)].key()))
                .collect()
        } else {
            Vec::new()
        };
        for h in hashes.iter().take(PREFETCH_AHEAD) {
            self.index.prefetch(*h);
        }
        for (i, &x) in order.iter().enumerate() {
            if let Some(h) = hashes.get(i + PREFETCH_AHEAD) {
                self.index.prefetch(*h);
            }
            let op = &ops[at(x)];
            if let Some(&after) = order.get(i + 1)
                && ops[at(after)].key() == op.key()
            {
                continue;
            }
            w.insert_hashed(op.key(), hashes.get(i).copied(), ts, op.value());
        }
    }

    /// Adds one entry; returns false when `(key, ts)` was already present.
    pub fn insert(&self, key: &[u8], ts: u64, value: Option<&[u8]>) -> bool {
        self.writer().insert(key, ts, value)
    }

    /// The newest version of `key` at or below `read_ts`: `Some(Some(value))`,
    /// `Some(None)` for a tombstone, `None` when the memtable holds no such version.
    pub fn get(&self, key: &[u8], read_ts: u64) -> Option<Option<&[u8]>> {
        self.get_hashed(key, bloom_hash(key), read_ts)
    }

    /// [`Memtable::get`] with `hash` = `bloom_hash(key)` already computed.
    pub fn get_hashed(&self, key: &[u8], hash: u64, read_ts: u64) -> Option<Option<&[u8]>> {
        self.lookup(key, hash)?.version_at(read_ts).map(Ver::value)
    }

    /// Commit timestamp of the newest version of `key` (tombstones included).
    pub fn latest_ts(&self, key: &[u8]) -> Option<u64> {
        self.latest_ts_hashed(key, bloom_hash(key))
    }

    /// [`Memtable::latest_ts`] with `hash` = `bloom_hash(key)` already computed.
    pub fn latest_ts_hashed(&self, key: &[u8], hash: u64) -> Option<u64> {
        Some(self.lookup(key, hash)?.newest()?.ts())
    }

    /// A cursor over the entries, not positioned yet.
    pub fn cursor(self: &Arc<Self>) -> MemCursor {
        MemCursor {
            mem: Arc::clone(self),
            pos: Pos::END,
        }
    }

    /// The node of `key` (whose hash is `hash`), if the memtable holds it.
    fn lookup(&self, key: &[u8], hash: u64) -> Option<Node<'_>> {
        if self.indexed.load(Ordering::Acquire) {
            self.index
                .find(hash, |p| Node::new(p).key() == key)
                .map(Node::new)
        } else {
            // One look at the first key saves the walk for keys below the memtable's
            // range (the usual case when keys are written in ascending order and older
            // ranges have been flushed).
            let first = self.head().next()?;
            if first.cmp_key(key, key_prefix(key)) == CmpOrdering::Greater {
                return None;
            }
            self.lower_bound(key).filter(|n| n.key() == key)
        }
    }

    /// The node behind a pointer of this list, or `None` for null.
    fn node(&self, p: *mut NodeHead) -> Option<Node<'_>> {
        NonNull::new(p).map(Node::new)
    }

    fn head(&self) -> Node<'_> {
        Node::new(self.head)
    }

    /// Walks the list to `key`: fills `prev` with the last node before it on each level
    /// in use and returns the first node at or after it (null at the end). With
    /// `from_prev`, `prev` already holds, per level, a node of that level before `key`
    /// (or the head), and the walk on each level starts from the later of that node
    /// and where the level above ended.
    fn find(
        &self,
        key: &[u8],
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
                && (x.p == head.p || p.cmp_key(x.key(), x.head().prefix) == CmpOrdering::Greater)
            {
                x = p;
            }
            loop {
                let next = x.link(level).load(Ordering::Acquire);
                match self.node(next) {
                    Some(n) if n.cmp_key(key, prefix) == CmpOrdering::Less => x = n,
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

    /// The first node whose key is at or after `key`, if any.
    fn lower_bound(&self, key: &[u8]) -> Option<Node<'_>> {
        let prefix = key_prefix(key);
        let mut x = self.head();
        let mut level = self.height.load(Ordering::Acquire) - 1;
        loop {
            let next = x.link(level).load(Ordering::Acquire);
            match self.node(next) {
                Some(n) if n.cmp_key(key, prefix) == CmpOrdering::Less => x = n,
                _ => {
                    if level == 0 {
                        return self.node(next);
                    }
                    level -= 1;
                }
            }
        }
    }

    /// The first entry at or after `(key, ts)`.
    fn seek_ge(&self, key: &[u8], ts: u64) -> Pos {
        match self.lower_bound(key) {
            Some(n) if n.key() == key => match n.version_at(ts) {
                Some(v) => Pos::at(n, Some(v)),
                None => Pos::first_of(n.next()),
            },
            other => Pos::first_of(other),
        }
    }

    /// The last entry before `(key, ts)`.
    fn seek_lt(&self, key: &[u8], ts: u64) -> Pos {
        let mut prev = [self.head.as_ptr(); MAX_HEIGHT];
        let found = self.find(key, &mut prev, false);
        if let Some(n) = self.node(found).filter(|n| n.key() == key) {
            // The oldest of the versions newer than `ts`.
            let mut newer = None;
            let mut v = n.newest();
            while let Some(x) = v.filter(|x| x.ts() > ts) {
                newer = Some(x);
                v = x.older();
            }
            if newer.is_some() {
                return Pos::at(n, newer);
            }
        }
        match self.node(prev[0]).filter(|p| p.p != self.head) {
            Some(p) => Pos::at(p, p.oldest()),
            None => Pos::END,
        }
    }

    /// The last entry.
    fn seek_last(&self) -> Pos {
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
            Pos::END
        } else {
            Pos::at(x, x.oldest())
        }
    }
}

/// Allocates a node of `height` links for `key` in `arena` and writes its head (with
/// no version yet), null links and key.
fn write_node(arena: &mut Arena, key: &[u8], height: usize) -> NonNull<NodeHead> {
    let p = arena.alloc(node_size(height, key));
    // Keys are at most MAX_KEY_LEN bytes (checked when they enter a batch), so the
    // length fits a u32.
    let head = NodeHead {
        prefix: key_prefix(key),
        newest: AtomicPtr::new(ptr::null_mut()),
        key_len: key.len() as u32,
        height: height as u32,
    };
    // SAFETY: `p` is a fresh, 8-aligned piece of `node_size` bytes that nobody else can
    // reach yet: the head, `height` links and the key fit in it.
    unsafe {
        let base = p.as_ptr();
        ptr::write(base.cast::<NodeHead>(), head);
        let links = base.add(LINKS_AT).cast::<AtomicPtr<NodeHead>>();
        for i in 0..height {
            ptr::write(links.add(i), AtomicPtr::new(ptr::null_mut()));
        }
        let data = base.add(LINKS_AT + height * size_of::<AtomicPtr<NodeHead>>());
        ptr::copy_nonoverlapping(key.as_ptr(), data, key.len());
    }
    p.cast::<NodeHead>()
}

/// Allocates a version in `arena` and writes its head (with `older` as the next older
/// version) and value.
fn write_version(
    arena: &mut Arena,
    ts: u64,
    value: Option<&[u8]>,
    older: *mut VerHead,
) -> NonNull<VerHead> {
    let p = arena.alloc(version_size(value));
    // Values are at most MAX_VALUE_LEN bytes (checked when they enter a batch), so the
    // length fits a u32 and never reaches TOMBSTONE.
    let head = VerHead {
        ts,
        older: AtomicPtr::new(older),
        value_len: value.map_or(TOMBSTONE, |v| v.len() as u32),
    };
    // SAFETY: `p` is a fresh, 8-aligned piece of `version_size` bytes that nobody else
    // can reach yet: the head and the value fit in it exactly.
    unsafe {
        let base = p.as_ptr();
        ptr::write(base.cast::<VerHead>(), head);
        if let Some(v) = value {
            ptr::copy_nonoverlapping(v.as_ptr(), base.add(VALUE_AT), v.len());
        }
    }
    p.cast::<VerHead>()
}

/// The writer of a memtable: holds its writer lock, and the search path of the last
/// key added to the list, which the next new key starts from when it comes after it in
/// order (so a series of inserts in ascending order walks the upper levels once).
pub struct MemWriter<'a> {
    /// The memtable.
    mem: &'a Memtable,
    /// The writer lock and what it guards.
    state: MutexGuard<'a, WriterState>,
    /// Per level, the last node before the last key searched for in the list, or that
    /// key's node itself on the levels it is on (or the head).
    prev: [*mut NodeHead; MAX_HEIGHT],
    /// The node of the last key searched for in the list.
    last: Option<NonNull<NodeHead>>,
    /// Newest timestamp inserted by this writer.
    max_ts: u64,
}

impl MemWriter<'_> {
    /// Adds one entry; returns false when `(key, ts)` was already present. Fastest when
    /// new keys come in the memtable's order.
    pub fn insert(&mut self, key: &[u8], ts: u64, value: Option<&[u8]>) -> bool {
        self.insert_hashed(key, None, ts, value)
    }

    /// [`MemWriter::insert`] with `hash` = `bloom_hash(key)` if already computed.
    fn insert_hashed(
        &mut self,
        key: &[u8],
        hash: Option<u64>,
        ts: u64,
        value: Option<&[u8]>,
    ) -> bool {
        let mem = self.mem;
        let added = if mem.indexed.load(Ordering::Relaxed) {
            let hash = hash.unwrap_or_else(|| bloom_hash(key));
            match mem.lookup(key, hash) {
                Some(node) => self.add_version(node, ts, value),
                None => {
                    let from_prev = self.follows_last(key);
                    mem.find(key, &mut self.prev, from_prev);
                    self.add_key(key, Some(hash), ts, value);
                    true
                }
            }
        } else {
            let from_prev = self.follows_last(key);
            let found = mem.find(key, &mut self.prev, from_prev);
            match mem.node(found).filter(|n| n.key() == key) {
                Some(node) => {
                    // `prev` now leads to this key: it is where a later search may
                    // start from.
                    self.last = Some(node.p);
                    let added = self.add_version(node, ts, value);
                    self.state.rewrites += 1;
                    if self.state.building.is_none()
                        && self.state.rewrites >= INDEX_AFTER_REWRITES
                        && self.state.rewrites * 8 >= mem.keys.load(Ordering::Relaxed)
                    {
                        self.start_index();
                    }
                    added
                }
                None => {
                    self.add_key(key, None, ts, value);
                    true
                }
            }
        };
        self.index_some();
        if added {
            self.max_ts = self.max_ts.max(ts);
            let bytes = self.state.arena.allocated() - HEAD_NODE_SIZE + self.state.tables.bytes();
            mem.bytes.store(bytes, Ordering::Relaxed);
            mem.entries.fetch_add(1, Ordering::Relaxed);
        }
        added
    }

    /// True when `key` comes after the last key added to the list, so `prev` may be
    /// the start of its search.
    fn follows_last(&self, key: &[u8]) -> bool {
        self.last
            .and_then(|p| self.mem.node(p.as_ptr()))
            .is_some_and(|last| last.cmp_key(key, key_prefix(key)) == CmpOrdering::Less)
    }

    /// Starts building the index: the memtable is being rewritten, so reads and
    /// rewrites gain more from it than new keys pay for it. The keys already held go in
    /// a few per insert ([`MemWriter::index_some`]), so no commit waits for all of them.
    fn start_index(&mut self) {
        let mem = self.mem;
        let state = &mut *self.state;
        mem.index
            .reserve(&mut state.tables, mem.keys.load(Ordering::Relaxed));
        state.building = Some(mem.head);
    }

    /// Puts up to [`INDEX_BUILD_STEP`] more keys of the list in the index; once the
    /// walk reaches the end of the list, lookups switch to the index.
    fn index_some(&mut self) {
        let mem = self.mem;
        let state = &mut *self.state;
        let Some(mut at) = state.building.map(Node::new) else {
            return;
        };
        for _ in 0..INDEX_BUILD_STEP {
            let Some(n) = at.next() else {
                state.building = None;
                // Every key is in the index before a lookup can use it.
                mem.indexed.store(true, Ordering::Release);
                return;
            };
            let key = n.key();
            let hash = bloom_hash(key);
            // Keys added to the list since the build began are in already.
            if mem
                .index
                .find(hash, |p| Node::new(p).key() == key)
                .is_none()
            {
                mem.index.insert(&mut state.tables, hash, n.p);
            }
            at = n;
        }
        state.building = Some(at.p);
    }

    /// Adds a version to the chain of `node`, in timestamp order; false when the chain
    /// already holds `ts`.
    fn add_version(&mut self, node: Node<'_>, ts: u64, value: Option<&[u8]>) -> bool {
        let Some(newest) = node.newest() else {
            return false;
        };
        if ts > newest.ts() {
            let v = write_version(&mut self.state.arena, ts, value, newest.p.as_ptr());
            // Publish: everything written to the version happens-before this store.
            node.head().newest.store(v.as_ptr(), Ordering::Release);
            return true;
        }
        // An older version than the newest (a replay, or commits applied out of
        // order): it goes after the last version newer than it.
        let mut at = newest;
        loop {
            if at.ts() == ts {
                return false;
            }
            match at.older() {
                Some(o) if o.ts() >= ts => at = o,
                next => {
                    let older = next.map_or(ptr::null_mut(), |o| o.p.as_ptr());
                    let v = write_version(&mut self.state.arena, ts, value, older);
                    at.head().older.store(v.as_ptr(), Ordering::Release);
                    return true;
                }
            }
        }
    }

    /// Adds `key`, not in the memtable yet, to the list (and the index when in use),
    /// with its first version; `prev` holds the search path to it, and `hash` is
    /// `bloom_hash(key)` if computed.
    fn add_key(&mut self, key: &[u8], hash: Option<u64>, ts: u64, value: Option<&[u8]>) {
        let mem = self.mem;
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
        // The node first, then its first version right after it (one piece of memory
        // for a key written once).
        let arena = &mut self.state.arena;
        let node = write_node(arena, key, height);
        let first = write_version(arena, ts, value, ptr::null_mut());
        let new = Node::new(node);
        new.head().newest.store(first.as_ptr(), Ordering::Relaxed);
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
        if mem.indexed.load(Ordering::Relaxed) || self.state.building.is_some() {
            let hash = hash.unwrap_or_else(|| bloom_hash(key));
            mem.index.insert(&mut self.state.tables, hash, node);
        }
        mem.keys.fetch_add(1, Ordering::Relaxed);
        self.last = Some(node);
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
    /// The current entry, or the end.
    pos: Pos,
}

// SAFETY: the cursor only reads nodes and versions that stay valid while `mem` is
// alive (see `Memtable`); the memtable itself is `Send + Sync`, so moving the cursor
// to another thread is sound.
unsafe impl Send for MemCursor {}

impl MemCursor {
    /// The current node and version.
    fn current(&self) -> Option<(Node<'_>, Ver<'_>)> {
        let n = self.mem.node(self.pos.node)?;
        let v = NonNull::new(self.pos.ver)?;
        Some((n, Ver::new(v)))
    }

    /// True when positioned on an entry.
    pub fn valid(&self) -> bool {
        !self.pos.ver.is_null()
    }

    /// The current entry, if positioned on one.
    pub fn entry(&self) -> Option<MemEntry<'_>> {
        self.current().map(|(n, v)| MemEntry {
            key: n.key(),
            ts: v.ts(),
            value: v.value(),
        })
    }

    /// Moves to the first entry at or after `(key, ts)`.
    pub fn seek(&mut self, key: &[u8], ts: u64) {
        self.pos = self.mem.seek_ge(key, ts);
    }

    /// Moves to the last entry before `(key, ts)`.
    pub fn seek_before(&mut self, key: &[u8], ts: u64) {
        self.pos = self.mem.seek_lt(key, ts);
    }

    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) {
        self.pos = Pos::first_of(self.mem.head().next());
    }

    /// Moves to the last entry.
    pub fn seek_to_last(&mut self) {
        self.pos = self.mem.seek_last();
    }

    /// Moves to the next entry (off the end when there is none).
    pub fn next(&mut self) {
        let Some((n, v)) = self.current() else {
            return;
        };
        self.pos = match v.older() {
            Some(o) => Pos::at(n, Some(o)),
            None => Pos::first_of(n.next()),
        };
    }

    /// Moves to the previous entry (off the end when there is none).
    pub fn prev(&mut self) {
        let Some((n, v)) = self.current() else {
            return;
        };
        // The version just newer than this one, if any.
        let mut newer = None;
        let mut x = n.newest();
        while let Some(y) = x.filter(|y| *y != v) {
            newer = Some(y);
            x = y.older();
        }
        self.pos = match newer {
            Some(y) => Pos::at(n, Some(y)),
            None => self.mem.seek_lt(n.key(), u64::MAX),
        };
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

    /// Every entry, read from the last one backwards, then put in forward order.
    fn all_backwards(m: &Arc<Memtable>) -> Vec<(Vec<u8>, u64, Option<Vec<u8>>)> {
        let mut c = m.cursor();
        c.seek_to_last();
        let mut back = Vec::new();
        while let Some(e) = c.entry() {
            back.push((e.key.to_vec(), e.ts, e.value.map(<[u8]>::to_vec)));
            c.prev();
        }
        back.reverse();
        back
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
        assert_eq!(all_backwards(&m), want);
        let mut c = m.cursor();

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

    /// Expected newest version at `ts` of key `i` in the index test below.
    fn version_in_index_test(i: u64, ts: u64) -> u64 {
        match i {
            0 => ts.min(1025),
            _ if i <= 10_000 && ts >= i + 31_025 => i + 31_025,
            _ => i + 1025,
        }
    }

    #[test]
    fn point_reads_see_every_published_version_while_the_index_grows() {
        // The writer rewrites key 0 until the memtable switches to its index, adds
        // 30 000 new keys (growing the index many times), then rewrites keys 1..=10 000;
        // readers look up keys whose inserts have completed, at the timestamp published
        // after them, and must find exactly the version written at or below it.
        let m = Arc::new(Memtable::new());
        let published = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..2u64)
            .map(|r| {
                let m = Arc::clone(&m);
                let published = Arc::clone(&published);
                std::thread::spawn(move || {
                    let mut seen = 0;
                    let mut x = r + 1;
                    while seen < 20_000 || published.load(Ordering::Relaxed) < 41_025 {
                        let ts = published.load(Ordering::Acquire);
                        if ts == 0 {
                            std::thread::yield_now();
                            continue;
                        }
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let keys = 1 + ts.clamp(1025, 31_025) - 1025;
                        let i = (x >> 33) % keys;
                        let want = version_in_index_test(i, ts);
                        let got = m.get(&i.to_be_bytes(), ts);
                        assert_eq!(got, Some(Some(&want.to_le_bytes()[..])), "key {i} at {ts}");
                        seen += 1;
                    }
                })
            })
            .collect();
        for ts in 1u64..=41_025 {
            let i = match ts {
                ..=1025 => 0,
                1026..=31_025 => ts - 1025,
                _ => ts - 31_025,
            };
            if ts == 1026 {
                assert!(
                    m.indexed.load(Ordering::Relaxed),
                    "rewrites switched the index on"
                );
            }
            m.insert(&i.to_be_bytes(), ts, Some(&ts.to_le_bytes()));
            published.store(ts, Ordering::Release);
        }
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(m.len(), 41_025);
        assert!(m.writer.lock().tables.bytes() > 30_000 * 16);
        for i in [0u64, 1, 5000, 10_000, 10_001, 30_000] {
            let want = version_in_index_test(i, u64::MAX);
            assert_eq!(
                m.get(&i.to_be_bytes(), u64::MAX),
                Some(Some(&want.to_le_bytes()[..]))
            );
            assert_eq!(m.latest_ts(&i.to_be_bytes()), Some(want));
        }
    }

    #[test]
    fn the_index_is_built_a_few_keys_per_insert() {
        let m = Arc::new(Memtable::new());
        let keys = 20_000u64;
        let k = |i: u64| (i * 2).to_be_bytes();
        for i in 0..keys {
            m.insert(&k(i), 1, Some(b"v"));
        }
        // Rewrites start the build (one per 8 keys held: 2 500).
        let mut ts = 2;
        while m.writer.lock().building.is_none() {
            m.insert(&k(ts % keys), ts, Some(b"w"));
            ts += 1;
        }
        assert_eq!(ts - 2, keys / 8);
        // The build takes about keys / INDEX_BUILD_STEP more inserts; new keys (odd
        // numbers, anywhere in the list) and rewrites meanwhile, read back at once.
        let mut steps = 0;
        while !m.indexed.load(Ordering::Relaxed) {
            let new = (steps * 7919 % keys) * 2 + 1;
            m.insert(&new.to_be_bytes(), ts, Some(b"n"));
            assert_eq!(m.get(&new.to_be_bytes(), ts), Some(Some(&b"n"[..])));
            ts += 1;
            steps += 1;
            assert!(steps <= keys, "the build never ends");
        }
        assert!(steps >= keys / INDEX_BUILD_STEP as u64 / 2, "{steps}");
        // The walk also passes the keys added during the build.
        assert!(
            steps <= (keys + steps) / INDEX_BUILD_STEP as u64 + 1,
            "{steps}"
        );
        // Every key, old and new, is found through the index.
        for i in 0..keys {
            let want: &[u8] = if (2..2 + keys / 8).contains(&i) {
                b"w"
            } else {
                b"v"
            };
            assert_eq!(m.get(&k(i), u64::MAX), Some(Some(want)), "key {i}");
        }
        for s in 0..steps {
            let new = (s * 7919 % keys) * 2 + 1;
            assert_eq!(m.get(&new.to_be_bytes(), u64::MAX), Some(Some(&b"n"[..])));
        }
        assert_eq!(m.len() as u64, keys + keys / 8 + steps);
    }

    #[test]
    fn new_keys_alone_never_build_the_index() {
        let m = Arc::new(Memtable::new());
        for i in 0u64..20_000 {
            m.insert(&i.to_be_bytes(), i + 1, Some(b"v"));
        }
        // A few rewrites are not enough either.
        for i in 0u64..2000 {
            m.insert(&i.to_be_bytes(), 30_000 + i, Some(b"w"));
        }
        assert!(!m.indexed.load(Ordering::Relaxed));
        assert_eq!(m.writer.lock().tables.bytes(), 0);
        assert_eq!(m.get(&5u64.to_be_bytes(), u64::MAX), Some(Some(&b"w"[..])));
        assert_eq!(m.get(&5u64.to_be_bytes(), 6), Some(Some(&b"v"[..])));
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
            indexed in proptest::prelude::any::<bool>(),
        ) {
            // Keys from a tiny alphabet with shared prefixes shorter and longer than 8
            // bytes, so prefix ties and zero padding are exercised. Half the cases use
            // the key index from the start.
            let m = Arc::new(Memtable::new());
            m.indexed.store(indexed, Ordering::Relaxed);
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
            proptest::prop_assert_eq!(all_backwards(&m), want);
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
