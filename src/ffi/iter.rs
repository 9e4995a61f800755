//! Streaming iterators over key ranges: prefix and range scans, forward or reverse, with
//! a limit, on a database or inside a transaction.

use std::sync::Arc;

use parking_lot::Mutex;

use super::args;
use super::buf::sochdb_slice;
use super::db::{DbObj, key_arg, sochdb_db};
use super::error::sochdb_error;
use super::guard::{guard, guard_ok, guard_void};
use super::handle::{self, Handle};
use super::status::{SOCHDB_NOT_FOUND, SOCHDB_OK, sochdb_status};
use super::txn::{Scope, TxnObj, sochdb_txn};
use crate::backend::{KvCursor, ScanOptions, ScanRange};
use crate::error::{Error, Result};

/// Scan flag: return keys in descending order.
pub const SOCHDB_SCAN_REVERSE: u32 = 1;

/// A streaming iterator over key-value pairs, made by `sochdb_scan_prefix`,
/// `sochdb_scan_range` or `sochdb_path_scan`.
///
/// It reads lazily as `sochdb_iter_next` advances. One made inside a transaction sees
/// the transaction's snapshot and own writes, and fails with `SOCHDB_CLOSED` once the
/// transaction ends. Ownership: free it with `sochdb_iter_free`. Thread-safety: it may be
/// used from any thread, one call at a time (the views it returns are invalidated by the
/// next call, whichever thread makes it).
pub struct sochdb_iter {
    _opaque: [u8; 0],
}

/// Where an iterator stands.
enum Cursor {
    /// Streaming.
    Open(Box<dyn KvCursor>),
    /// Exhausted.
    Done,
    /// Failed with this status and message; every later call repeats the failure.
    Failed(crate::error::Status, String),
}

/// The mutable part of an iterator.
struct IterState {
    /// The backend cursor.
    cursor: Cursor,
    /// The current entry, which the views returned by the last call point into.
    current: (Vec<u8>, Vec<u8>),
}

/// What an iterator handle points to.
pub struct IterObj {
    /// The database scanned.
    db: Arc<DbObj>,
    /// The transaction scanned in, if any.
    txn: Option<Arc<TxnObj>>,
    /// Cursor and current entry.
    state: Mutex<IterState>,
}

impl Handle for IterObj {
    const KIND: &'static str = "sochdb_iter";
    type C = sochdb_iter;
}

/// Registers an iterator over `cursor`, made in `scope`.
pub(crate) fn register(scope: &Scope, cursor: Box<dyn KvCursor>) -> *mut sochdb_iter {
    handle::register(IterObj {
        db: Arc::clone(scope.db()),
        txn: scope.txn().cloned(),
        state: Mutex::new(IterState {
            cursor: Cursor::Open(cursor),
            current: (Vec::new(), Vec::new()),
        }),
    })
}

/// Decodes scan flags and limit.
pub(crate) fn scan_options(range: ScanRange, flags: u32, limit: u64) -> Result<ScanOptions> {
    args::flags(flags, SOCHDB_SCAN_REVERSE, "scan flags")?;
    Ok(ScanOptions {
        range,
        reverse: flags & SOCHDB_SCAN_REVERSE != 0,
        limit: (limit != 0).then_some(limit),
    })
}

/// Opens a scan in `scope` and hands the iterator out through `iter`.
fn open(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    opts: ScanOptions,
    iter: *mut *mut sochdb_iter,
) -> Result<()> {
    let out = args::out(iter, "iter")?;
    let scope = Scope::resolve(db, txn)?;
    let cursor = scope.run(|b, t| b.scan(t, &opts))?;
    args::set(out, register(&scope, cursor));
    Ok(())
}

/// Starts an iterator over every key that begins with `prefix` (the empty prefix covers
/// every key). `flags` is 0 or `SOCHDB_SCAN_REVERSE`; `limit` caps the number of
/// entries (0: no limit). `txn` may be NULL (the latest committed state) or a transaction
/// of `db`.
///
/// Ownership: `*iter` receives a new iterator (NULL on failure) to free with
/// `sochdb_iter_free`; `prefix` is only borrowed. Errors: `SOCHDB_INVALID_ARGUMENT`
/// (NULL arguments, unknown flags), `SOCHDB_TOO_LARGE`, `SOCHDB_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_scan_prefix(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    prefix: *const u8,
    prefix_len: usize,
    flags: u32,
    limit: u64,
    iter: *mut *mut sochdb_iter,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(iter, std::ptr::null_mut());
    guard_ok("sochdb_scan_prefix", err, || {
        let prefix = key_arg(prefix, prefix_len)?;
        let opts = scan_options(ScanRange::Prefix(prefix.to_vec()), flags, limit)?;
        open(db, txn, opts, iter)
    })
}

/// Starts an iterator over the keys in `[start, end)`. An empty `end` (NULL, 0) means no
/// upper bound (an empty exclusive bound would cover nothing). Flags, limit, `txn`,
/// ownership and errors as `sochdb_scan_prefix`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_scan_range(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    flags: u32,
    limit: u64,
    iter: *mut *mut sochdb_iter,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(iter, std::ptr::null_mut());
    guard_ok("sochdb_scan_range", err, || {
        let start = key_arg(start, start_len)?.to_vec();
        let end = key_arg(end, end_len)?;
        let end = (!end.is_empty()).then(|| end.to_vec());
        let opts = scan_options(ScanRange::Range { start, end }, flags, limit)?;
        open(db, txn, opts, iter)
    })
}

/// Advances the iterator. `SOCHDB_OK`: `*key` and `*value` view the next entry.
/// `SOCHDB_NOT_FOUND` (no error object): the iterator is exhausted, and stays so.
/// `key` and `value` may be NULL when not wanted.
///
/// Ownership: the views belong to the iterator and stay valid until the next call to
/// `sochdb_iter_next` or `sochdb_iter_free` on it; copy what must outlive that.
/// Errors: `SOCHDB_CLOSED` (the iterator was freed, or its transaction ended, or the
/// database was closed), `SOCHDB_INVALID_ARGUMENT`, and any status of the backend (an
/// iterator that failed repeats its failure).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_iter_next(
    iter: *mut sochdb_iter,
    key: *mut sochdb_slice,
    value: *mut sochdb_slice,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(key, sochdb_slice::EMPTY);
    args::set(value, sochdb_slice::EMPTY);
    guard("sochdb_iter_next", err, || {
        let it = handle::get::<IterObj>(iter)?;
        let mut state = it.state.lock();
        let state = &mut *state;
        let cursor = match &mut state.cursor {
            Cursor::Open(c) => c,
            Cursor::Done => return Ok(SOCHDB_NOT_FOUND),
            Cursor::Failed(status, msg) => return Err(Error::from_status(*status, msg.clone())),
        };
        // The entry goes into the buffers of the previous one (whose views this call
        // invalidates anyway).
        let (k, v) = &mut state.current;
        let step = match &it.txn {
            // Hold the transaction for the step: it must still be open.
            Some(t) => t.active().and_then(|_held| cursor.next_into(k, v)),
            None => it.db.backend().and_then(|_| cursor.next_into(k, v)),
        };
        match step {
            Ok(true) => {
                args::set(key, sochdb_slice::of(&state.current.0));
                args::set(value, sochdb_slice::of(&state.current.1));
                Ok(SOCHDB_OK)
            }
            Ok(false) => {
                state.cursor = Cursor::Done;
                state.current = (Vec::new(), Vec::new());
                Ok(SOCHDB_NOT_FOUND)
            }
            Err(e) => {
                if !matches!(e, Error::Closed(_)) {
                    let msg = format!("the iterator failed earlier ({e})");
                    state.cursor = Cursor::Failed(e.status(), msg);
                }
                Err(e)
            }
        }
    })
}

/// Frees an iterator (its views die with it). NULL is ignored; so is a handle already
/// freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_iter_free(iter: *mut sochdb_iter) {
    guard_void("sochdb_iter_free", || {
        if iter.is_null() {
            return Ok(());
        }
        drop(handle::take::<IterObj>(iter)?);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::db::{sochdb_close, sochdb_put};
    use crate::ffi::status::{SOCHDB_CLOSED, SOCHDB_INVALID_ARGUMENT};
    use crate::ffi::testing::{call, db};
    use crate::ffi::txn::{sochdb_begin, sochdb_commit, sochdb_txn_free};
    use std::ptr::{null, null_mut};

    type Entries = Vec<(Vec<u8>, Vec<u8>)>;

    fn drain(it: *mut sochdb_iter) -> (i32, Entries) {
        let mut out = Vec::new();
        for _ in 0..1000 {
            let (mut k, mut v) = (sochdb_slice::EMPTY, sochdb_slice::EMPTY);
            // SAFETY: valid out-pointers; the views are copied before the next call.
            let (st, _) = call(|e| unsafe { sochdb_iter_next(it, &mut k, &mut v, e) });
            if st != SOCHDB_OK {
                // SAFETY: it is live or deliberately stale.
                unsafe { sochdb_iter_free(it) };
                return (st, out);
            }
            let view = |s: sochdb_slice| {
                if s.data.is_null() {
                    Vec::new()
                } else {
                    // SAFETY: a view is valid until the next call on the iterator.
                    unsafe { std::slice::from_raw_parts(s.data, s.len) }.to_vec()
                }
            };
            out.push((view(k), view(v)));
        }
        panic!("iterator did not end");
    }

    fn keys(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<&[u8]> {
        entries.iter().map(|(k, _)| k.as_slice()).collect()
    }

    #[test]
    fn prefix_and_range_scans_in_both_directions() {
        let d = db();
        // SAFETY: valid pointers for each call.
        unsafe {
            for k in [&b"a1"[..], b"a2", b"a3", b"b1", b""] {
                sochdb_put(
                    d,
                    null_mut(),
                    k.as_ptr(),
                    k.len(),
                    b"v".as_ptr(),
                    1,
                    null_mut(),
                );
            }
            let mut it = null_mut();
            assert_eq!(
                sochdb_scan_prefix(d, null_mut(), b"a".as_ptr(), 1, 0, 0, &mut it, null_mut()),
                SOCHDB_OK
            );
            let (st, e) = drain(it);
            assert_eq!(st, SOCHDB_NOT_FOUND);
            assert_eq!(keys(&e), [&b"a1"[..], b"a2", b"a3"]);

            sochdb_scan_prefix(
                d,
                null_mut(),
                null(),
                0,
                SOCHDB_SCAN_REVERSE,
                2,
                &mut it,
                null_mut(),
            );
            assert_eq!(keys(&drain(it).1), [&b"b1"[..], b"a3"]);

            sochdb_scan_range(
                d,
                null_mut(),
                b"a2".as_ptr(),
                2,
                null(),
                0,
                0,
                0,
                &mut it,
                null_mut(),
            );
            assert_eq!(keys(&drain(it).1), [&b"a2"[..], b"a3", b"b1"]);
            sochdb_scan_range(
                d,
                null_mut(),
                null(),
                0,
                b"a2".as_ptr(),
                2,
                SOCHDB_SCAN_REVERSE,
                0,
                &mut it,
                null_mut(),
            );
            let (_, e) = drain(it);
            assert_eq!(keys(&e), [&b"a1"[..], b""]);
            assert_eq!(e[1].1, b"v");

            let (st, _) = call(|e| sochdb_scan_prefix(d, null_mut(), null(), 0, 2, 0, &mut it, e));
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
            assert!(it.is_null());
            let (st, _) =
                call(|e| sochdb_scan_prefix(d, null_mut(), null(), 0, 0, 0, null_mut(), e));
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
            sochdb_close(d, null_mut());
        }
    }

    #[test]
    fn an_iterator_in_a_transaction_sees_its_writes_and_ends_with_it() {
        let d = db();
        // SAFETY: valid pointers for each call; stale handles are rejected cleanly.
        unsafe {
            let mut t = null_mut();
            sochdb_begin(d, 0, &mut t, null_mut());
            sochdb_put(d, t, b"k".as_ptr(), 1, null(), 0, null_mut());
            let mut it = null_mut();
            sochdb_scan_prefix(d, t, null(), 0, 0, 0, &mut it, null_mut());
            let mut it2 = null_mut();
            sochdb_scan_prefix(d, t, null(), 0, 0, 0, &mut it2, null_mut());
            let mut k = sochdb_slice::EMPTY;
            assert_eq!(
                sochdb_iter_next(it2, &mut k, null_mut(), null_mut()),
                SOCHDB_OK
            );
            assert_eq!(k.len, 1);
            sochdb_commit(t, null_mut(), null_mut());
            let (st, e) = drain(it);
            assert_eq!((st, e.len()), (SOCHDB_CLOSED, 0));
            sochdb_txn_free(t);

            let mut it3 = null_mut();
            sochdb_scan_prefix(d, null_mut(), null(), 0, 0, 0, &mut it3, null_mut());
            sochdb_close(d, null_mut());
            assert_eq!(drain(it3).0, SOCHDB_CLOSED);
            assert_eq!(drain(it2).0, SOCHDB_CLOSED);
            assert_eq!(
                call(|e| sochdb_iter_next(it2, null_mut(), null_mut(), e)).0,
                SOCHDB_CLOSED
            );
            sochdb_iter_free(it2);
            sochdb_iter_free(null_mut());
        }
    }
}
