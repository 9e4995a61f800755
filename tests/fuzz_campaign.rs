//! Campaign 4, fuzzing (property-based, in the test suite): every decoder of outside
//! bytes gets random and damaged input and must not panic, must fail only with its
//! documented error, and must not allocate beyond a bound proportional to its input (a
//! tracking allocator measures the peak of every call); whole log recovery gets damaged
//! segments and must open to a prefix of the commits or refuse with `Corruption`; and
//! the C ABI gets random sequences of calls with invalid handles (NULL, freed, closed,
//! of another kind, made up), NULL buffers with lengths, impossible lengths, unknown
//! flags and enum values, and must answer each with a status, never a crash, while the
//! data written through valid calls stays right.
//!
//! The companion tests `protocol_fuzz.rs` and `blocks_decode_fuzz.rs` fuzz the same
//! decoders for panics; this file adds the allocation bound, whole recovery, the row
//! and catalog codecs, and the C ABI.

mod harness;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use harness::Tally;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sochdb::Status;
use sochdb::backend::{ColumnDef, ColumnType, TableSchema, Value};
use sochdb::ipc::protocol::frame::FrameReader;
use sochdb::ipc::protocol::reply::Reply;
use sochdb::ipc::protocol::request::Request;
use sochdb::kernel::{catalog, row};
use sochdb::storage::entry::EntryIter;
use sochdb::storage::io::{FileSystem, SimFs};
use sochdb::storage::manifest::ManifestState;
use sochdb::storage::sstable::block::Block;
use sochdb::storage::sstable::footer::{FOOTER_LEN, Footer};
use sochdb::storage::sstable::index::decode_index;
use sochdb::storage::sstable::{MemSource, Table, TableBuilder, TableOptions};
use sochdb::storage::wal::record::{self, Parsed};
use sochdb::storage::{Engine, EngineOptions, WriteBatch};

// ---------------------------------------------------------------------------------
// Allocation tracking: per thread, the bytes live and their peak.

/// The system allocator, counting what each thread has live.
struct Tracking;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get() + delta;
        live.set(v);
        let _ = PEAK.try_with(|p| {
            if v > p.get() {
                p.set(v);
            }
        });
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counting
// touches only const-initialized thread-locals, which never allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns its result with the most bytes it had allocated at once (on
/// this thread, beyond what was live before).
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let r = f();
    let peak = PEAK.with(Cell::get);
    (r, (peak - start).max(0) as usize)
}

/// The allocation a decoder may make for `input` bytes: a constant plus a multiple.
fn bound(input: usize) -> usize {
    256 * 1024 + 64 * input
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn cases(base: u32) -> u32 {
    base.saturating_mul(harness::scale() as u32)
}

/// Random bytes, or a valid sample damaged: bytes set, a cut, garbage appended.
fn damaged(samples: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let random = prop::collection::vec(any::<u8>(), 0..700);
    let edited = (
        prop::sample::select(samples),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        prop::option::of(any::<prop::sample::Index>()),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(mut bytes, edits, cut, tail)| {
            for (at, v) in edits {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = v;
                }
            }
            if let Some(c) = cut {
                bytes.truncate(c.index(bytes.len() + 1));
            }
            bytes.extend(tail);
            bytes
        });
    prop_oneof![1 => random, 3 => edited]
}

// ---------------------------------------------------------------------------------
// Samples of valid encodings.

fn table_file() -> Vec<u8> {
    let opts = TableOptions {
        block_size: 128,
        restart_interval: 4,
        bloom_bits_per_key: 10,
        ..TableOptions::default()
    };
    let mut b = TableBuilder::new(Vec::new(), "fuzz", opts);
    for i in 0..80u64 {
        let key = format!("key{:03}", i / 2).into_bytes();
        let value = (i % 7 != 0).then(|| vec![i as u8; (i % 17) as usize]);
        b.add(&key, 200 - i % 2, value.as_deref()).unwrap();
    }
    b.finish().unwrap().0
}

fn schema() -> TableSchema {
    let col = |name: &str, ty, nullable| ColumnDef {
        name: name.into(),
        ty,
        nullable,
    };
    TableSchema {
        name: "t".into(),
        columns: vec![
            col("i", ColumnType::Int64, false),
            col("u", ColumnType::UInt64, true),
            col("f", ColumnType::Float64, true),
            col("s", ColumnType::Text, true),
            col("b", ColumnType::Binary, true),
            col("ok", ColumnType::Bool, true),
        ],
    }
}

fn rows() -> Vec<Vec<u8>> {
    let s = schema();
    vec![
        row::encode(
            &s,
            &[
                Value::Int64(-5),
                Value::UInt64(7),
                Value::Float64(1.5),
                Value::Text("hello".into()),
                Value::Binary(vec![0, 1, 2]),
                Value::Bool(true),
            ],
        )
        .unwrap(),
        row::encode(
            &s,
            &[
                Value::Int64(1),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
        )
        .unwrap(),
    ]
}

// ---------------------------------------------------------------------------------
// Decoders.

#[test]
fn decoders_never_panic_and_allocate_within_bounds() {
    // The measure sees allocations (so a decoder that over-allocates cannot hide).
    let ((), seen) = peak_of(|| drop(std::hint::black_box(vec![0u8; 1 << 20])));
    assert!(seen >= 1 << 20, "the allocation tracker saw {seen} bytes");
    let tally = RefCell::new(Tally::new("fuzz_decoders"));
    let check = |t: &mut Tally, what: &str, input: usize, peak: usize| {
        t.add("executions", 1);
        if peak > bound(input) {
            t.violation(format!(
                "{what}: {peak} bytes allocated for {input} bytes of input"
            ));
        }
    };

    // Log records.
    let wal = wal_sample();
    runner(cases(600))
        .run(&damaged(vec![wal.clone()]), |bytes| {
            let mut pos = 0;
            let ((), peak) = peak_of(|| {
                while pos < bytes.len() {
                    match record::parse(&bytes[pos..]) {
                        Parsed::Record { payload, len, .. } => {
                            let _ = record::split_batch(payload);
                            pos += len;
                        }
                        _ => pos += 1,
                    }
                }
            });
            check(&mut tally.borrow_mut(), "log record", bytes.len(), peak);
            Ok(())
        })
        .unwrap();

    // Block, index and footer of a block file, and the whole file opened and read.
    let file = table_file();
    let footer_at = file.len() - FOOTER_LEN;
    let footer = Footer::decode(&file[footer_at..], file.len() as u64).unwrap();
    let samples = vec![
        file.clone(),
        file[..footer_at].to_vec(),
        file[footer_at..].to_vec(),
    ];
    let _ = footer;
    runner(cases(600))
        .run(&damaged(samples), |bytes| {
            let t = &mut *tally.borrow_mut();
            let n = bytes.len();
            let (_, peak) = peak_of(|| Block::decode(bytes.clone()).map(|b| b.size()));
            check(t, "block", n, peak);
            let (_, peak) = peak_of(|| decode_index(&bytes, n as u64 / 2));
            check(t, "index", n, peak);
            let (_, peak) = peak_of(|| Footer::decode(&bytes, n as u64));
            check(t, "footer", n, peak);
            let (r, peak) = peak_of(|| {
                let table = Table::open(Arc::new(MemSource::new("fuzz", bytes.clone())), 1, None)?;
                let mut it = table.iter();
                it.seek_to_first()?;
                let mut steps = 0;
                while it.valid() && steps < 10_000 {
                    it.next()?;
                    steps += 1;
                }
                table.get(b"key010", 500)?;
                Ok::<_, sochdb::Error>(())
            });
            check(t, "block file", n, peak);
            if let Err(e) = r
                && e.status() != Status::Corruption
            {
                t.violation(format!("block file: an error that is not corruption: {e}"));
            }
            let (_, peak) = peak_of(|| ManifestState::decode(&bytes));
            check(t, "manifest", n, peak);
            Ok(())
        })
        .unwrap();

    // Rows and catalog entries.
    let s = schema();
    let info = catalog::TableInfo {
        id: 9,
        schema: s.clone(),
    };
    let mut samples = rows();
    samples.push(catalog::encode(&info));
    runner(cases(600))
        .run(&damaged(samples), |bytes| {
            let t = &mut *tally.borrow_mut();
            let (r, peak) = peak_of(|| row::decode(&s, 3, &bytes));
            check(t, "row", bytes.len(), peak);
            if let Err(e) = r
                && e.status() != Status::Corruption
            {
                t.violation(format!("row: an error that is not corruption: {e}"));
            }
            let (_, peak) = peak_of(|| catalog::decode("t", &bytes));
            check(t, "catalog entry", bytes.len(), peak);
            Ok(())
        })
        .unwrap();

    // Frames and payloads of the socket protocol, both directions.
    let frames = protocol_samples();
    runner(cases(600))
        .run(&(damaged(frames), 1usize..200), |(bytes, chunk)| {
            let (_, peak) = peak_of(|| {
                let mut reader = FrameReader::new();
                let mut src = bytes.as_slice();
                loop {
                    match reader.next_frame() {
                        Ok(Some((code, payload))) => {
                            let _ = Request::decode(code, payload);
                            let _ = Reply::decode(code, payload.to_vec());
                            continue;
                        }
                        Ok(None) => {}
                        Err(_) => break,
                    }
                    if src.is_empty() {
                        break;
                    }
                    let mut part = std::io::Read::take(&mut src, chunk as u64);
                    if reader.fill_from(&mut part).unwrap_or(0) == 0 {
                        break;
                    }
                }
            });
            check(
                &mut tally.borrow_mut(),
                "protocol stream",
                bytes.len(),
                peak,
            );
            Ok(())
        })
        .unwrap();
    tally.into_inner().finish();
}

/// A few valid frames: requests and replies of several kinds, back to back.
fn protocol_samples() -> Vec<Vec<u8>> {
    let frame = |code: u8, payload: &[u8]| {
        let mut f = vec![code];
        f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        f.extend_from_slice(payload);
        f
    };
    let kv = {
        let mut p = 3u32.to_le_bytes().to_vec();
        p.extend_from_slice(b"keyvalue");
        p
    };
    let mut all = Vec::new();
    for code in 0x01u8..=0x23 {
        all.extend(frame(code, &kv));
    }
    vec![
        all,
        frame(0x01, &kv),
        frame(0x80, b"ok"),
        frame(0x81, b"error text"),
        frame(0x02, b"\x03\x00\x00\x00key"),
    ]
}

// ---------------------------------------------------------------------------------
// Whole log recovery on damaged segments.

fn wal_dir() -> PathBuf {
    PathBuf::from("/fuzz/db")
}

fn wal_options() -> EngineOptions {
    EngineOptions {
        wal_segment_size: 600,
        buffered_sync_interval: Duration::from_secs(3600),
        ..EngineOptions::default()
    }
}

fn wal_batch(i: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(format!("k{}", i % 4).as_bytes(), format!("v{i}").as_bytes())
        .unwrap();
    b.put(format!("n{i:03}").as_bytes(), b"").unwrap();
    if i > 1 {
        b.delete(format!("n{:03}", i - 2).as_bytes()).unwrap();
    }
    b
}

const WAL_COMMITS: u64 = 24;

/// The segment files (name, bytes) of an engine that committed `WAL_COMMITS` batches.
fn wal_files() -> Vec<(String, Vec<u8>)> {
    let fs = SimFs::new();
    let e = Engine::open_with_fs(&wal_dir(), wal_options(), Arc::new(fs.clone())).unwrap();
    for i in 0..WAL_COMMITS {
        e.commit(&wal_batch(i)).unwrap();
    }
    e.close().unwrap();
    let mut names = fs.list(&wal_dir()).unwrap();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = fs.read_file(&wal_dir().join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

fn wal_sample() -> Vec<u8> {
    wal_files().into_iter().flat_map(|(_, b)| b).collect()
}

fn expected(m: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut s = BTreeMap::new();
    for i in 0..m {
        for op in wal_batch(i).ops() {
            match op.value() {
                Some(v) => s.insert(op.key().to_vec(), v.to_vec()),
                None => s.remove(op.key()),
            };
        }
    }
    s
}

/// One way to damage the segments.
#[derive(Debug, Clone)]
enum Damage {
    /// Sets a byte of a segment.
    Set(prop::sample::Index, prop::sample::Index, u8),
    /// Cuts a segment.
    Cut(prop::sample::Index, prop::sample::Index),
    /// Appends bytes to a segment.
    Append(prop::sample::Index, Vec<u8>),
    /// Copies a range of a segment over another place of it (a repeated or misplaced
    /// record).
    Copy(
        prop::sample::Index,
        prop::sample::Index,
        prop::sample::Index,
        u8,
    ),
    /// Zeroes a range of a segment.
    Zero(prop::sample::Index, prop::sample::Index, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    let ix = any::<prop::sample::Index>;
    prop_oneof![
        (ix(), ix(), any::<u8>()).prop_map(|(f, a, v)| Damage::Set(f, a, v)),
        (ix(), ix()).prop_map(|(f, a)| Damage::Cut(f, a)),
        (ix(), prop::collection::vec(any::<u8>(), 1..40)).prop_map(|(f, b)| Damage::Append(f, b)),
        (ix(), ix(), ix(), any::<u8>()).prop_map(|(f, a, b, n)| Damage::Copy(f, a, b, n)),
        (ix(), ix(), any::<u8>()).prop_map(|(f, a, n)| Damage::Zero(f, a, n)),
    ]
}

fn apply(files: &mut [(String, Vec<u8>)], d: &Damage) {
    let pick = |f: &prop::sample::Index| f.index(files.len());
    match d {
        Damage::Set(f, a, v) => {
            let b = &mut files[pick(f)].1;
            if !b.is_empty() {
                let i = a.index(b.len());
                b[i] = *v;
            }
        }
        Damage::Cut(f, a) => {
            let b = &mut files[pick(f)].1;
            b.truncate(a.index(b.len() + 1));
        }
        Damage::Append(f, bytes) => files[pick(f)].1.extend_from_slice(bytes),
        Damage::Copy(f, a, c, n) => {
            let b = &mut files[pick(f)].1;
            if b.is_empty() {
                return;
            }
            let from = a.index(b.len());
            let to = c.index(b.len());
            let n = (*n as usize).min(b.len() - from).min(b.len() - to);
            b.copy_within(from..from + n, to);
        }
        Damage::Zero(f, a, n) => {
            let b = &mut files[pick(f)].1;
            if b.is_empty() {
                return;
            }
            let from = a.index(b.len());
            let end = (from + *n as usize).min(b.len());
            b[from..end].fill(0);
        }
    }
}

#[test]
fn damaged_logs_recover_a_prefix_or_are_refused() {
    let tally = RefCell::new(Tally::new("fuzz_recovery"));
    let files = wal_files();
    assert!(files.len() >= 3, "{} segments", files.len());
    runner(cases(500))
        .run(&prop::collection::vec(damage(), 1..4), |damages| {
            let t = &mut *tally.borrow_mut();
            let mut files = files.clone();
            for d in &damages {
                apply(&mut files, d);
            }
            let fs = SimFs::new();
            fs.create_dir_all(&wal_dir()).unwrap();
            for (name, bytes) in &files {
                let mut f = fs.create(&wal_dir().join(name)).unwrap();
                f.append(bytes).unwrap();
                f.sync().unwrap();
            }
            fs.sync_dir(&wal_dir()).unwrap();
            t.add("executions", 1);
            match Engine::open_with_fs(&wal_dir(), wal_options(), Arc::new(fs)) {
                Ok(e) => {
                    t.add("opened", 1);
                    let m = e.visible_ts();
                    let got: Result<BTreeMap<_, _>, _> = e
                        .iter(Bound::Unbounded, Bound::Unbounded, u64::MAX, false)
                        .and_then(|it| it.collect());
                    match got {
                        Ok(got) if m <= WAL_COMMITS && got == expected(m) => {}
                        Ok(_) => t.violation(format!(
                            "{damages:?}: opened with data that is no prefix of the commits \
                             ({m} commits)"
                        )),
                        Err(e) => t.violation(format!("{damages:?}: reading failed: {e}")),
                    }
                }
                Err(e) if e.status() == Status::Corruption => t.add("refused_as_corrupt", 1),
                Err(e) => t.violation(format!("{damages:?}: open failed with {e}")),
            }
            Ok(())
        })
        .unwrap();
    tally.into_inner().finish();
}

// ---------------------------------------------------------------------------------
// Random sequences of C ABI calls.

mod cabi_fuzz {
    use super::*;
    use sochdb::ffi::batch::*;
    use sochdb::ffi::buf::*;
    use sochdb::ffi::db::*;
    use sochdb::ffi::error::*;
    use sochdb::ffi::iter::*;
    use sochdb::ffi::options::*;
    use sochdb::ffi::path::*;
    use sochdb::ffi::status::*;
    use sochdb::ffi::table::*;
    use sochdb::ffi::txn::*;
    use sochdb::ffi::value::*;

    /// A pointer argument: one the library made (by index into what exists), NULL,
    /// or one it never made.
    #[derive(Debug, Clone, Copy)]
    pub enum Ptr {
        Made(prop::sample::Index),
        Null,
        Bogus(usize),
        /// A handle of another kind.
        Other(prop::sample::Index),
    }

    /// Bytes for a key, value or prefix.
    #[derive(Debug, Clone)]
    pub enum Bytes {
        Good(Vec<u8>),
        /// NULL with a length.
        NullWithLen(usize),
        /// A length no buffer can have.
        Impossible,
        /// Longer than any key may be.
        TooLong,
    }

    /// One call.
    #[derive(Debug, Clone)]
    pub enum Call {
        Get(Ptr, Option<Ptr>, Bytes),
        Put(Ptr, Option<Ptr>, Bytes, Bytes),
        Delete(Ptr, Option<Ptr>, Bytes),
        Begin(Ptr, u32),
        Commit(Ptr),
        Abort(Ptr),
        TxnFree(Ptr),
        BatchNew,
        BatchPut(Ptr, Bytes, Bytes),
        WriteBatch(Ptr, Ptr),
        BatchFree(Ptr),
        Scan(Ptr, Option<Ptr>, Bytes, u32, u64),
        IterNext(Ptr),
        IterFree(Ptr),
        PathPut(Ptr, Vec<u8>),
        RowUpsert(Ptr, Option<Ptr>, Vec<u8>, u32, u64),
        TableCreate(Ptr, Vec<u8>, u32, u32, bool),
        StatusStr(i32),
        ErrorOf(Ptr),
        Options(u32, u32, u32),
        Checkpoint(Ptr),
        Close(Ptr),
        /// A valid one-shot put of a model key on the live database.
        ModelPut(u8, u8),
        /// A valid one-shot delete of a model key on the live database.
        ModelDelete(u8),
        /// A valid read of a model key on the live database, checked against the model.
        ModelGet(u8),
    }

    fn ptr() -> impl Strategy<Value = Ptr> {
        prop_oneof![
            6 => any::<prop::sample::Index>().prop_map(Ptr::Made),
            1 => Just(Ptr::Null),
            1 => prop_oneof![Just(8usize), Just(0x1000), Just(usize::MAX & !15), (1usize..1 << 40).prop_map(|a| a << 4)]
                .prop_map(Ptr::Bogus),
            1 => any::<prop::sample::Index>().prop_map(Ptr::Other),
        ]
    }

    fn bytes() -> impl Strategy<Value = Bytes> {
        prop_oneof![
            6 => prop::collection::vec(prop::sample::select(b"ab/\x00\xffk".to_vec()), 0..6).prop_map(Bytes::Good),
            1 => (1usize..1 << 20).prop_map(Bytes::NullWithLen),
            1 => Just(Bytes::Impossible),
            1 => Just(Bytes::TooLong),
        ]
    }

    fn text() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"items".to_vec()),
            Just(b"a/b".to_vec()),
            Just(b"\xff\xfe".to_vec()),
            Just(Vec::new()),
            prop::collection::vec(any::<u8>(), 0..12),
        ]
    }

    pub fn call() -> impl Strategy<Value = Call> {
        let txn = || prop::option::of(ptr());
        prop_oneof![
            (ptr(), txn(), bytes()).prop_map(|(d, t, k)| Call::Get(d, t, k)),
            (ptr(), txn(), bytes(), bytes()).prop_map(|(d, t, k, v)| Call::Put(d, t, k, v)),
            (ptr(), txn(), bytes()).prop_map(|(d, t, k)| Call::Delete(d, t, k)),
            (
                ptr(),
                prop_oneof![Just(0u32), Just(1), Just(2), Just(4), Just(6), any::<u32>()]
            )
                .prop_map(|(d, f)| Call::Begin(d, f)),
            ptr().prop_map(Call::Commit),
            ptr().prop_map(Call::Abort),
            ptr().prop_map(Call::TxnFree),
            Just(Call::BatchNew),
            (ptr(), bytes(), bytes()).prop_map(|(b, k, v)| Call::BatchPut(b, k, v)),
            (ptr(), ptr()).prop_map(|(d, b)| Call::WriteBatch(d, b)),
            ptr().prop_map(Call::BatchFree),
            (
                ptr(),
                txn(),
                bytes(),
                prop_oneof![Just(0u32), Just(1), any::<u32>()],
                any::<u64>()
            )
                .prop_map(|(d, t, p, f, l)| Call::Scan(d, t, p, f, l)),
            ptr().prop_map(Call::IterNext),
            ptr().prop_map(Call::IterFree),
            (ptr(), text()).prop_map(|(d, p)| Call::PathPut(d, p)),
            (
                ptr(),
                txn(),
                text(),
                prop_oneof![Just(3u32), Just(1), any::<u32>()],
                any::<u64>()
            )
                .prop_map(|(d, t, n, k, r)| Call::RowUpsert(d, t, n, k, r)),
            (
                ptr(),
                text(),
                prop_oneof![Just(1u32), Just(3), any::<u32>()],
                prop_oneof![Just(0u32), Just(1), any::<u32>()],
                any::<bool>()
            )
                .prop_map(|(d, n, k, nl, null)| Call::TableCreate(d, n, k, nl, null)),
            any::<i32>().prop_map(Call::StatusStr),
            ptr().prop_map(Call::ErrorOf),
            (
                prop_oneof![Just(0u32), Just(4), Just(64), any::<u32>()],
                prop_oneof![Just(0u32), Just(2), any::<u32>()],
                any::<u32>()
            )
                .prop_map(|(s, d, i)| Call::Options(s, d, i)),
            ptr().prop_map(Call::Checkpoint),
            ptr().prop_map(Call::Close),
            (0u8..8, any::<u8>()).prop_map(|(k, v)| Call::ModelPut(k, v)),
            (0u8..8).prop_map(Call::ModelDelete),
            (0u8..8).prop_map(Call::ModelGet),
        ]
    }

    /// Handles made so far, by kind (freed and closed ones stay: using them is part of
    /// the test).
    #[derive(Default)]
    pub struct Pool {
        pub dbs: Vec<usize>,
        pub txns: Vec<usize>,
        pub batches: Vec<usize>,
        pub iters: Vec<usize>,
        pub errors: Vec<usize>,
        /// Iterators, transactions and batches not yet freed (freed at the end).
        pub live_txns: Vec<usize>,
        pub live_batches: Vec<usize>,
        pub live_iters: Vec<usize>,
    }

    fn resolve(p: Ptr, own: &[usize], all: &Pool) -> usize {
        match p {
            Ptr::Made(i) if !own.is_empty() => own[i.index(own.len())],
            Ptr::Made(_) | Ptr::Null => 0,
            Ptr::Bogus(a) => a,
            Ptr::Other(i) => {
                let others: Vec<usize> = all
                    .dbs
                    .iter()
                    .chain(&all.txns)
                    .chain(&all.batches)
                    .chain(&all.iters)
                    .copied()
                    .collect();
                if others.is_empty() {
                    0
                } else {
                    others[i.index(others.len())]
                }
            }
        }
    }

    /// Storage for byte arguments: real buffers for the good cases.
    pub struct Arg {
        buf: Vec<u8>,
        ptr: *const u8,
        len: usize,
    }

    pub fn arg(b: &Bytes) -> Arg {
        match b {
            Bytes::Good(v) => {
                let buf = v.clone();
                let ptr = if buf.is_empty() {
                    std::ptr::null()
                } else {
                    buf.as_ptr()
                };
                Arg {
                    len: buf.len(),
                    buf,
                    ptr,
                }
            }
            Bytes::NullWithLen(n) => Arg {
                buf: Vec::new(),
                ptr: std::ptr::null(),
                len: *n,
            },
            Bytes::Impossible => {
                // A length beyond any object; the pointer is never read.
                let buf = vec![1u8];
                let ptr = buf.as_ptr();
                Arg {
                    buf,
                    ptr,
                    len: usize::MAX - 7,
                }
            }
            Bytes::TooLong => {
                let buf = vec![b'k'; 70_000];
                let ptr = buf.as_ptr();
                Arg {
                    buf,
                    ptr,
                    len: 70_000,
                }
            }
        }
    }

    impl Arg {
        fn keep(&self) -> usize {
            self.buf.len()
        }
    }

    fn cstring(v: &[u8]) -> CString {
        let clean: Vec<u8> = v.iter().copied().filter(|b| *b != 0).collect();
        CString::new(clean).expect("NULs removed")
    }

    /// Checks a returned status and its error object; frees the object.
    fn status(st: sochdb_status, err: *mut sochdb_error, t: &mut Tally, what: &str) -> i32 {
        t.add("calls", 1);
        if Status::from_code(st).is_none() {
            t.violation(format!("{what}: unknown status {st}"));
        }
        // SAFETY: `err` is NULL or an error object the library made; freed once here.
        unsafe {
            if st == SOCHDB_OK && !err.is_null() {
                t.violation(format!("{what}: an error object with SOCHDB_OK"));
            }
            if !err.is_null() {
                let code = sochdb_error_status(err);
                if code != st {
                    t.violation(format!("{what}: status {st} but error object {code}"));
                }
                let _ = std::ffi::CStr::from_ptr(sochdb_error_message(err));
                sochdb_error_free(err);
            } else if st != SOCHDB_OK && st != SOCHDB_NOT_FOUND {
                t.violation(format!("{what}: status {st} without an error object"));
            }
        }
        if st == SOCHDB_INTERNAL {
            t.violation(format!("{what}: internal error"));
        }
        st
    }

    /// Runs a sequence of calls against a fresh database in `dir`.
    pub fn run(dir: &Path, calls: &[Call], t: &mut Tally) {
        let path = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        let mut db: *mut sochdb_db = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: valid path, NULL options, valid out-pointers.
        let st = unsafe { sochdb_open(path.as_ptr(), std::ptr::null(), &mut db, &mut err) };
        assert_eq!(status(st, err, t, "open"), SOCHDB_OK);
        let live_db = db as usize;
        let mut live = true;
        let mut pool = Pool {
            dbs: vec![live_db],
            ..Pool::default()
        };
        let mut model: BTreeMap<u8, u8> = BTreeMap::new();
        let mk = |k: u8| format!("m/{k}").into_bytes();
        for c in calls {
            let e = &mut std::ptr::null_mut();
            // SAFETY (for every call below): pointers are NULL, made by the library, or
            // never dereferenced by its contract (it checks handles against its
            // registry); byte arguments are real buffers of their length, NULL, or of a
            // length no object can have (refused before any read).
            unsafe {
                match c {
                    Call::Get(d, x, k) => {
                        let (d, x, k) = (
                            resolve(*d, &pool.dbs, &pool),
                            x.map_or(0, |x| resolve(x, &pool.txns, &pool)),
                            arg(k),
                        );
                        let mut buf = sochdb_buf::EMPTY;
                        let st = sochdb_get(d as _, x as _, k.ptr, k.len, &mut buf, e);
                        status(st, *e, t, "get");
                        sochdb_buf_free(&mut buf);
                        let _ = k.keep();
                    }
                    Call::Put(d, x, k, v) => {
                        let (d, x, k, v) = (
                            resolve(*d, &pool.dbs, &pool),
                            x.map_or(0, |x| resolve(x, &pool.txns, &pool)),
                            arg(k),
                            arg(v),
                        );
                        let st = sochdb_put(d as _, x as _, k.ptr, k.len, v.ptr, v.len, e);
                        status(st, *e, t, "put");
                    }
                    Call::Delete(d, x, k) => {
                        let (d, x, k) = (
                            resolve(*d, &pool.dbs, &pool),
                            x.map_or(0, |x| resolve(x, &pool.txns, &pool)),
                            arg(k),
                        );
                        let st = sochdb_delete(d as _, x as _, k.ptr, k.len, e);
                        status(st, *e, t, "delete");
                    }
                    Call::Begin(d, flags) => {
                        let d = resolve(*d, &pool.dbs, &pool);
                        let mut x = std::ptr::null_mut();
                        let st = sochdb_begin(d as _, *flags, &mut x, e);
                        if status(st, *e, t, "begin") == SOCHDB_OK {
                            pool.txns.push(x as usize);
                            pool.live_txns.push(x as usize);
                        } else if !x.is_null() {
                            t.violation("begin failed yet returned a handle".into());
                        }
                    }
                    Call::Commit(x) => {
                        let x = resolve(*x, &pool.txns, &pool);
                        let mut ts = 0;
                        let st = sochdb_commit(x as _, &mut ts, e);
                        status(st, *e, t, "commit");
                    }
                    Call::Abort(x) => {
                        let x = resolve(*x, &pool.txns, &pool);
                        status(sochdb_abort(x as _, e), *e, t, "abort");
                    }
                    Call::TxnFree(x) => {
                        let x = resolve(*x, &pool.txns, &pool);
                        sochdb_txn_free(x as _);
                        pool.live_txns.retain(|l| *l != x);
                        t.add("calls", 1);
                    }
                    Call::BatchNew => {
                        let mut b = std::ptr::null_mut();
                        if status(sochdb_batch_new(&mut b, e), *e, t, "batch_new") == SOCHDB_OK {
                            pool.batches.push(b as usize);
                            pool.live_batches.push(b as usize);
                        }
                    }
                    Call::BatchPut(b, k, v) => {
                        let (b, k, v) = (resolve(*b, &pool.batches, &pool), arg(k), arg(v));
                        let st = sochdb_batch_put(b as _, k.ptr, k.len, v.ptr, v.len, e);
                        status(st, *e, t, "batch_put");
                    }
                    Call::WriteBatch(d, b) => {
                        let (d, b) = (
                            resolve(*d, &pool.dbs, &pool),
                            resolve(*b, &pool.batches, &pool),
                        );
                        let mut ts = 0;
                        status(
                            sochdb_write_batch(d as _, b as _, &mut ts, e),
                            *e,
                            t,
                            "write_batch",
                        );
                    }
                    Call::BatchFree(b) => {
                        let b = resolve(*b, &pool.batches, &pool);
                        sochdb_batch_free(b as _);
                        pool.live_batches.retain(|l| *l != b);
                        t.add("calls", 1);
                    }
                    Call::Scan(d, x, p, flags, limit) => {
                        let (d, x, p) = (
                            resolve(*d, &pool.dbs, &pool),
                            x.map_or(0, |x| resolve(x, &pool.txns, &pool)),
                            arg(p),
                        );
                        let mut it = std::ptr::null_mut();
                        let st = sochdb_scan_prefix(
                            d as _, x as _, p.ptr, p.len, *flags, *limit, &mut it, e,
                        );
                        if status(st, *e, t, "scan_prefix") == SOCHDB_OK {
                            pool.iters.push(it as usize);
                            pool.live_iters.push(it as usize);
                        }
                    }
                    Call::IterNext(i) => {
                        let i = resolve(*i, &pool.iters, &pool);
                        let mut k = sochdb_slice {
                            data: std::ptr::null(),
                            len: 0,
                        };
                        let mut v = k;
                        let st = sochdb_iter_next(i as _, &mut k, &mut v, e);
                        status(st, *e, t, "iter_next");
                        if st == SOCHDB_OK && (k.data.is_null() || v.data.is_null()) {
                            t.violation("iter_next gave a NULL view".into());
                        }
                    }
                    Call::IterFree(i) => {
                        let i = resolve(*i, &pool.iters, &pool);
                        sochdb_iter_free(i as _);
                        pool.live_iters.retain(|l| *l != i);
                        t.add("calls", 1);
                    }
                    Call::PathPut(d, p) => {
                        let d = resolve(*d, &pool.dbs, &pool);
                        let p = cstring(p);
                        let st = sochdb_path_put(
                            d as _,
                            std::ptr::null_mut(),
                            p.as_ptr(),
                            b"v".as_ptr(),
                            1,
                            e,
                        );
                        status(st, *e, t, "path_put");
                    }
                    Call::RowUpsert(d, x, name, kind, rid) => {
                        let (d, x) = (
                            resolve(*d, &pool.dbs, &pool),
                            x.map_or(0, |x| resolve(x, &pool.txns, &pool)),
                        );
                        let name = cstring(name);
                        let col = c"owner";
                        let field = sochdb_field {
                            name: col.as_ptr(),
                            value: sochdb_value {
                                kind: *kind,
                                boolean: 2,
                                int64: 0,
                                uint64: 0,
                                float64: 0.0,
                                data: b"x".as_ptr(),
                                len: 1,
                            },
                        };
                        let mut out = 0;
                        let st = sochdb_row_upsert(
                            d as _,
                            x as _,
                            name.as_ptr(),
                            rid,
                            &field,
                            1,
                            &mut out,
                            e,
                        );
                        status(st, *e, t, "row_upsert");
                    }
                    Call::TableCreate(d, name, kind, nullable, null_cols) => {
                        let d = resolve(*d, &pool.dbs, &pool);
                        let name = cstring(name);
                        let col = sochdb_column {
                            name: c"owner".as_ptr(),
                            kind: *kind,
                            nullable: *nullable,
                        };
                        let (cols, n) = if *null_cols {
                            (std::ptr::null(), 3)
                        } else {
                            (&col as *const sochdb_column, 1)
                        };
                        let st = sochdb_table_create(d as _, name.as_ptr(), cols, n, e);
                        status(st, *e, t, "table_create");
                    }
                    Call::StatusStr(s) => {
                        let p = sochdb_status_str(*s);
                        if p.is_null() {
                            t.violation(format!("status_str({s}) is NULL"));
                        }
                        t.add("calls", 1);
                    }
                    Call::ErrorOf(p) => {
                        // An error handle that is not one: never dereferenced.
                        let p = resolve(*p, &pool.errors, &pool) as *mut sochdb_error;
                        let _ = sochdb_error_status(p);
                        let m = sochdb_error_message(p);
                        if m.is_null() {
                            t.violation("error_message gave NULL".into());
                        }
                        sochdb_error_free(p);
                        t.add("calls", 1);
                    }
                    Call::Options(size, durability, isolation) => {
                        let mut raw = [0u64; 512];
                        let o = raw.as_mut_ptr() as *mut sochdb_options;
                        sochdb_options_init(o);
                        (*o).durability = *durability;
                        (*o).default_isolation = *isolation;
                        (*o).struct_size = *size;
                        let sub = dir.join(format!("opt{}", t.get("calls")));
                        let p = CString::new(sub.as_os_str().as_encoded_bytes()).unwrap();
                        let mut other = std::ptr::null_mut();
                        let st = sochdb_open(p.as_ptr(), o, &mut other, e);
                        if status(st, *e, t, "open with options") == SOCHDB_OK {
                            status(sochdb_close(other, e), *e, t, "close");
                            pool.dbs.push(other as usize);
                        }
                    }
                    Call::Checkpoint(d) => {
                        let d = resolve(*d, &pool.dbs, &pool);
                        status(sochdb_checkpoint(d as _, e), *e, t, "checkpoint");
                    }
                    Call::Close(d) => {
                        let d = resolve(*d, &pool.dbs, &pool);
                        // The live database is closed only now and then, late.
                        if d == live_db && (!live || t.get("calls") % 7 != 0) {
                            continue;
                        }
                        let st = status(sochdb_close(d as _, e), *e, t, "close");
                        if d == live_db && st == SOCHDB_OK {
                            live = false;
                        }
                    }
                    Call::ModelPut(k, v) if live => {
                        let key = mk(*k);
                        let st = sochdb_put(
                            live_db as _,
                            std::ptr::null_mut(),
                            key.as_ptr(),
                            key.len(),
                            v,
                            1,
                            e,
                        );
                        if status(st, *e, t, "model put") == SOCHDB_OK {
                            model.insert(*k, *v);
                        } else {
                            t.violation("a valid put failed".into());
                        }
                    }
                    Call::ModelDelete(k) if live => {
                        let key = mk(*k);
                        let st = sochdb_delete(
                            live_db as _,
                            std::ptr::null_mut(),
                            key.as_ptr(),
                            key.len(),
                            e,
                        );
                        if status(st, *e, t, "model delete") == SOCHDB_OK {
                            model.remove(k);
                        } else {
                            t.violation("a valid delete failed".into());
                        }
                    }
                    Call::ModelGet(k) if live => {
                        let key = mk(*k);
                        let mut buf = sochdb_buf::EMPTY;
                        let st = sochdb_get(
                            live_db as _,
                            std::ptr::null_mut(),
                            key.as_ptr(),
                            key.len(),
                            &mut buf,
                            e,
                        );
                        status(st, *e, t, "model get");
                        let got = (st == SOCHDB_OK)
                            .then(|| std::slice::from_raw_parts(buf.data, buf.len).to_vec());
                        if got != model.get(k).map(|v| vec![*v]) {
                            t.violation(format!(
                                "model key {k}: read {got:?}, wrote {:?}",
                                model.get(k)
                            ));
                        }
                        sochdb_buf_free(&mut buf);
                    }
                    Call::ModelPut(..) | Call::ModelDelete(_) | Call::ModelGet(_) => {}
                }
            }
            t.add("sequence_steps", 1);
        }
        // SAFETY: frees what is still live, once; closing the database last.
        unsafe {
            for i in pool.live_iters {
                sochdb_iter_free(i as _);
            }
            for x in pool.live_txns {
                sochdb_txn_free(x as _);
            }
            for b in pool.live_batches {
                sochdb_batch_free(b as _);
            }
            if live {
                let e = &mut std::ptr::null_mut();
                status(sochdb_close(live_db as _, e), *e, t, "final close");
            }
        }
    }
}

#[test]
fn random_c_abi_call_sequences_never_crash_and_keep_data_right() {
    let tally = RefCell::new(Tally::new("fuzz_c_abi"));
    runner(cases(200))
        .run(&prop::collection::vec(cabi_fuzz::call(), 1..80), |calls| {
            let dir = tempfile::tempdir().unwrap();
            let t = &mut *tally.borrow_mut();
            cabi_fuzz::run(dir.path(), &calls, t);
            t.add("sequences", 1);
            Ok(())
        })
        .unwrap();
    tally.into_inner().finish();
}
