//! Paths: values named hierarchically (`users/alice/email`), and segment-aware scans.

use std::ffi::c_char;

use super::args;
use super::buf::sochdb_buf;
use super::db::{sochdb_db, value_arg};
use super::error::sochdb_error;
use super::guard::{guard, guard_ok};
use super::iter::{self, SOCHDB_SCAN_REVERSE, sochdb_iter};
use super::status::{SOCHDB_NOT_FOUND, SOCHDB_OK, sochdb_status};
use super::txn::{Scope, sochdb_txn};

/// Writes the value at a path. The path is NUL-terminated UTF-8 made of non-empty
/// segments joined by `/` (no NUL inside); it is stored under the key of its bytes, so
/// `sochdb_get` of `"users/alice/email"` reads the same value. `txn` may be NULL (the
/// write commits on its own) or a transaction of `db`.
///
/// Ownership: everything is borrowed. Errors: `SOCHDB_INVALID_ARGUMENT` (a bad path,
/// naming the bad segment), `SOCHDB_TOO_LARGE`, `SOCHDB_CLOSED`, `SOCHDB_READ_ONLY`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_path_put(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    path: *const c_char,
    value: *const u8,
    value_len: usize,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_path_put", err, || {
        let path = args::string(path, "path")?;
        let value = value_arg(value, value_len)?;
        Scope::resolve(db, txn)?.run(|b, t| b.put_path(t, path, value))
    })
}

/// Reads the value at a path into `*value`. An absent path returns `SOCHDB_NOT_FOUND`
/// with no error object; an empty value is `SOCHDB_OK` with `len` 0.
///
/// Ownership: free `*value` with `sochdb_buf_free`. Errors: as `sochdb_path_put`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_path_get(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    path: *const c_char,
    value: *mut sochdb_buf,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(value, sochdb_buf::EMPTY);
    guard("sochdb_path_get", err, || {
        let out = args::out(value, "value")?;
        let path = args::string(path, "path")?;
        match Scope::resolve(db, txn)?.run(|b, t| b.get_path(t, path))? {
            Some(v) => {
                args::set(out, sochdb_buf::from_vec(v));
                Ok(SOCHDB_OK)
            }
            None => Ok(SOCHDB_NOT_FOUND),
        }
    })
}

/// Deletes the value at a path (deleting an absent path is not an error).
/// Errors: as `sochdb_path_put`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_path_delete(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    path: *const c_char,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_path_delete", err, || {
        let path = args::string(path, "path")?;
        Scope::resolve(db, txn)?.run(|b, t| b.delete_path(t, path))
    })
}

/// Starts an iterator over the entries below a path, segment-aware: the scan of `users`
/// covers `users/...` and never `users_archive/...`. Keys are the full paths. `flags` is
/// 0 or `SOCHDB_SCAN_REVERSE`; `limit` caps the entries (0: no limit).
///
/// Ownership: `*iter` receives a new iterator (NULL on failure) to free with
/// `sochdb_iter_free`. Errors: `SOCHDB_INVALID_ARGUMENT` (a bad path, unknown flags,
/// NULL arguments), `SOCHDB_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_path_scan(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    path: *const c_char,
    flags: u32,
    limit: u64,
    iter: *mut *mut sochdb_iter,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(iter, std::ptr::null_mut());
    guard_ok("sochdb_path_scan", err, || {
        let out = args::out(iter, "iter")?;
        let path = args::string(path, "path")?;
        args::flags(flags, SOCHDB_SCAN_REVERSE, "scan flags")?;
        let reverse = flags & SOCHDB_SCAN_REVERSE != 0;
        let limit = (limit != 0).then_some(limit);
        let scope = Scope::resolve(db, txn)?;
        let cursor = scope.run(|b, t| b.scan_path(t, path, reverse, limit))?;
        args::set(out, iter::register(&scope, cursor));
        Ok(())
    })
}
