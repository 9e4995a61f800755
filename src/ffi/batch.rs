//! Write batches: puts and deletes collected by the caller, then committed atomically.

use parking_lot::Mutex;

use super::args;
use super::db::{self, key_arg, sochdb_db, value_arg};
use super::error::sochdb_error;
use super::guard::{guard_ok, guard_void};
use super::handle::{self, Handle};
use super::status::sochdb_status;
use crate::storage::WriteBatch;

/// A write batch: puts and deletes applied atomically under one commit timestamp by
/// `sochdb_write_batch`. Later operations on the same key win. It is not tied to a
/// database and may be written several times.
///
/// Ownership: free it with `sochdb_batch_free`. Thread-safety: safe from any thread;
/// calls on one batch are serialized.
pub struct sochdb_batch {
    _opaque: [u8; 0],
}

/// What a batch handle points to.
pub struct BatchObj {
    /// The operations so far (with their size accounting).
    batch: Mutex<WriteBatch>,
}

impl Handle for BatchObj {
    const KIND: &'static str = "sochdb_batch";
    type C = sochdb_batch;
}

/// Creates an empty batch.
///
/// Ownership: `*batch` receives a new handle (NULL on failure) to free with
/// `sochdb_batch_free`. Errors: `SOCHDB_INVALID_ARGUMENT` when `batch` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_batch_new(
    batch: *mut *mut sochdb_batch,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(batch, std::ptr::null_mut());
    guard_ok("sochdb_batch_new", err, || {
        let out = args::out(batch, "batch")?;
        args::set(
            out,
            handle::register(BatchObj {
                batch: Mutex::new(WriteBatch::new()),
            }),
        );
        Ok(())
    })
}

/// Adds a put to the batch (the bytes are copied).
///
/// Errors: `SOCHDB_INVALID_ARGUMENT`, `SOCHDB_CLOSED` (freed batch), `SOCHDB_TOO_LARGE`
/// (key over 65535 bytes, value over 15 MiB, or the batch over 256 MiB).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_batch_put(
    batch: *mut sochdb_batch,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_batch_put", err, || {
        let key = key_arg(key, key_len)?;
        let value = value_arg(value, value_len)?;
        handle::get::<BatchObj>(batch)?.batch.lock().put(key, value)
    })
}

/// Adds a delete to the batch. Errors: as `sochdb_batch_put`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_batch_delete(
    batch: *mut sochdb_batch,
    key: *const u8,
    key_len: usize,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_batch_delete", err, || {
        let key = key_arg(key, key_len)?;
        handle::get::<BatchObj>(batch)?.batch.lock().delete(key)
    })
}

/// The number of operations in the batch, into `*count`.
///
/// Errors: `SOCHDB_INVALID_ARGUMENT`, `SOCHDB_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_batch_count(
    batch: *mut sochdb_batch,
    count: *mut usize,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(count, 0);
    guard_ok("sochdb_batch_count", err, || {
        let out = args::out(count, "count")?;
        args::set(out, handle::get::<BatchObj>(batch)?.batch.lock().len());
        Ok(())
    })
}

/// Empties the batch, so it can be reused.
///
/// Errors: `SOCHDB_INVALID_ARGUMENT`, `SOCHDB_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_batch_clear(
    batch: *mut sochdb_batch,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_batch_clear", err, || {
        handle::get::<BatchObj>(batch)?.batch.lock().clear();
        Ok(())
    })
}

/// Commits every operation of the batch atomically, in one new transaction;
/// `*commit_ts` (may be NULL) receives its commit timestamp. The batch is left as it was.
///
/// Errors: `SOCHDB_INVALID_ARGUMENT`, `SOCHDB_CLOSED`, `SOCHDB_READ_ONLY`, `SOCHDB_IO`,
/// `SOCHDB_TOO_LARGE`, and any status of the backend.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_write_batch(
    db: *mut sochdb_db,
    batch: *mut sochdb_batch,
    commit_ts: *mut u64,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(commit_ts, 0);
    guard_ok("sochdb_write_batch", err, || {
        let db = db::get(db)?;
        let batch = handle::get::<BatchObj>(batch)?;
        // The batch stays locked (not copied) while it is written.
        let ops = batch.batch.lock();
        let ts = db.backend()?.write_batch(ops.ops())?;
        args::set(commit_ts, ts);
        Ok(())
    })
}

/// Frees a batch. NULL is ignored; so is a handle already freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_batch_free(batch: *mut sochdb_batch) {
    guard_void("sochdb_batch_free", || {
        if batch.is_null() {
            return Ok(());
        }
        drop(handle::take::<BatchObj>(batch)?);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::buf::sochdb_buf;
    use crate::ffi::db::{sochdb_close, sochdb_get, sochdb_put};
    use crate::ffi::status::{SOCHDB_CLOSED, SOCHDB_NOT_FOUND, SOCHDB_OK, SOCHDB_TOO_LARGE};
    use crate::ffi::testing::{call, db, take_buf};
    use std::ptr::{null, null_mut};

    #[test]
    fn a_batch_commits_atomically_and_can_be_reused() {
        let d = db();
        // SAFETY: valid pointers for each call; stale handles are rejected cleanly.
        unsafe {
            sochdb_put(d, null_mut(), b"gone".as_ptr(), 4, null(), 0, null_mut());
            let mut b = null_mut();
            assert_eq!(sochdb_batch_new(&mut b, null_mut()), SOCHDB_OK);
            sochdb_batch_put(b, b"a".as_ptr(), 1, b"1".as_ptr(), 1, null_mut());
            sochdb_batch_put(b, null(), 0, null(), 0, null_mut());
            sochdb_batch_delete(b, b"gone".as_ptr(), 4, null_mut());
            let mut n = 0;
            sochdb_batch_count(b, &mut n, null_mut());
            assert_eq!(n, 3);
            let big = vec![0u8; crate::storage::MAX_KEY_LEN + 1];
            let (st, _) = call(|e| sochdb_batch_put(b, big.as_ptr(), big.len(), null(), 0, e));
            assert_eq!(st, SOCHDB_TOO_LARGE);
            let mut ts = 0;
            assert_eq!(sochdb_write_batch(d, b, &mut ts, null_mut()), SOCHDB_OK);
            assert!(ts > 0);
            let mut v = sochdb_buf::EMPTY;
            assert_eq!(
                sochdb_get(d, null_mut(), b"a".as_ptr(), 1, &mut v, null_mut()),
                SOCHDB_OK
            );
            assert_eq!(take_buf(v), b"1");
            let mut v = sochdb_buf::EMPTY;
            assert_eq!(
                sochdb_get(d, null_mut(), b"gone".as_ptr(), 4, &mut v, null_mut()),
                SOCHDB_NOT_FOUND
            );
            sochdb_batch_clear(b, null_mut());
            sochdb_batch_count(b, &mut n, null_mut());
            assert_eq!(n, 0);
            sochdb_batch_free(b);
            sochdb_batch_free(b);
            sochdb_batch_free(null_mut());
            assert_eq!(
                call(|e| sochdb_batch_put(b, null(), 0, null(), 0, e)).0,
                SOCHDB_CLOSED
            );
            sochdb_close(d, null_mut());
        }
    }
}
