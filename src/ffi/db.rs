//! The database handle (one type for in-process and socket mode) and the operations
//! that need no transaction handle: close, single-key get/put/delete, checkpoint,
//! compaction, stats.

use std::ffi::c_char;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::args;
use super::buf::sochdb_buf;
use super::error::sochdb_error;
use super::guard::{guard, guard_ok};
use super::handle::{self, Handle};
use super::options::{self, sochdb_options};
use super::status::{SOCHDB_NOT_FOUND, SOCHDB_OK, sochdb_status};
use super::txn::{Scope, sochdb_txn};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::ipc::client::Client;
use crate::kernel::Database;
use crate::storage::{check_key, check_value};

/// A database: the engine running in this process (`sochdb_open`) or a connection to a
/// `sochdb serve` process (`sochdb_connect`). Every other function works the same on
/// either.
///
/// Thread-safety: safe to use from many threads at once. Ownership: close it with
/// `sochdb_close`, which also frees it.
pub struct sochdb_db {
    _opaque: [u8; 0],
}

/// What a database handle points to.
pub struct DbObj {
    /// The in-process kernel or the socket client.
    backend: Arc<dyn Backend>,
    /// Set by `sochdb_close`; transactions and iterators still holding the object then
    /// fail with `Closed`.
    closed: AtomicBool,
}

impl Handle for DbObj {
    const KIND: &'static str = "sochdb_db";
    type C = sochdb_db;
}

impl DbObj {
    /// The backend, or `Closed` once the handle was closed.
    pub(crate) fn backend(&self) -> Result<&Arc<dyn Backend>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed("the database handle was closed".into()));
        }
        Ok(&self.backend)
    }

    /// True once `sochdb_close` ran.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Registers a database handle over `backend`.
pub(crate) fn register(backend: Arc<dyn Backend>) -> *mut sochdb_db {
    handle::register(DbObj {
        backend,
        closed: AtomicBool::new(false),
    })
}

/// The object behind a database handle.
pub(crate) fn get(db: *const sochdb_db) -> Result<Arc<DbObj>> {
    handle::get::<DbObj>(db)
}

/// Checks a key argument: pointer, length and the maximum key size.
pub(crate) fn key_arg<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8]> {
    let key = args::bytes(ptr, len, "key")?;
    check_key(key)?;
    Ok(key)
}

/// Checks a value argument: pointer, length and the maximum value size.
pub(crate) fn value_arg<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8]> {
    let value = args::bytes(ptr, len, "value")?;
    check_value(value)?;
    Ok(value)
}

/// Opens (creating if needed) the database in directory `path`, running the engine in
/// this process. `opts` may be NULL for the defaults.
///
/// The directory is locked while open: a second open, from this or another process,
/// fails with `SOCHDB_LOCKED` (share a database between processes with `sochdb serve` and
/// `sochdb_connect`). Ownership: `*db` receives a new handle (NULL on failure) to close
/// with `sochdb_close`; `path` and `opts` are only borrowed. Errors:
/// `SOCHDB_INVALID_ARGUMENT` (NULL `path` or `db`, bad options), `SOCHDB_LOCKED`,
/// `SOCHDB_IO`, `SOCHDB_CORRUPTION` (recovery found damage; the message names the file
/// and offset).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_open(
    path: *const c_char,
    opts: *const sochdb_options,
    db: *mut *mut sochdb_db,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(db, std::ptr::null_mut());
    guard_ok("sochdb_open", err, || {
        let out = args::out(db, "db")?;
        let path = args::string(path, "path")?;
        let opts = options::read(opts)?.db_options()?;
        let database = Database::open(Path::new(path), opts)?;
        args::set(out, register(Arc::new(database)));
        Ok(())
    })
}

/// Connects to the `sochdb serve` (or `sochdb_server_start`) listening on the Unix socket
/// `socket_path`. `opts` may be NULL; only `connect_timeout_ms` and `request_timeout_ms`
/// apply (the server's options govern storage). The handle is used exactly like one from
/// `sochdb_open`; it is safe to share between threads (calls on one connection are
/// serialized). Transactions live on the connection: closing it aborts them.
///
/// Ownership: `*db` receives a new handle (NULL on failure) to close with
/// `sochdb_close`. Errors: `SOCHDB_INVALID_ARGUMENT` (NULL arguments, bad options),
/// `SOCHDB_IO` (no server listens there), `SOCHDB_PROTOCOL` (the peer refused the
/// connection or does not speak the protocol), `SOCHDB_TIMEOUT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_connect(
    socket_path: *const c_char,
    opts: *const sochdb_options,
    db: *mut *mut sochdb_db,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(db, std::ptr::null_mut());
    guard_ok("sochdb_connect", err, || {
        let out = args::out(db, "db")?;
        let path = args::string(socket_path, "socket_path")?;
        let opts = options::read(opts)?.client_options();
        let client = Client::connect(Path::new(path), opts)?;
        args::set(out, register(Arc::new(client)));
        Ok(())
    })
}

/// Closes the database and frees the handle. In socket mode this closes the connection
/// (the server aborts its open transactions); in-process it closes the engine. NULL is
/// accepted (`SOCHDB_OK`).
///
/// Transactions, iterators and servers made from this handle stay valid to free, and
/// fail with `SOCHDB_CLOSED` for anything else; stop servers hosting this database first.
/// The handle is freed even when closing reports an error. A second close gives
/// `SOCHDB_CLOSED`. Thread-safety: calls already running on other threads finish or fail
/// with `SOCHDB_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_close(
    db: *mut sochdb_db,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_close", err, || {
        if db.is_null() {
            return Ok(());
        }
        let obj = handle::take::<DbObj>(db)?;
        obj.closed.store(true, Ordering::Release);
        obj.backend.close()
    })
}

/// Reads a key. On success `*value` receives a copy of the value (an empty value is
/// `SOCHDB_OK` with `len` 0); an absent key returns `SOCHDB_NOT_FOUND` with no error
/// object. `txn` may be NULL (the read runs on its own) or a transaction of this `db`.
///
/// Ownership: free `*value` with `sochdb_buf_free`; `key` is only borrowed.
/// Errors: `SOCHDB_INVALID_ARGUMENT` (NULL `db`/`value`, NULL key with a length, a
/// transaction of another database), `SOCHDB_TOO_LARGE` (key over 65535 bytes),
/// `SOCHDB_CLOSED`, and any status of the backend.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_get(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    key: *const u8,
    key_len: usize,
    value: *mut sochdb_buf,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(value, sochdb_buf::EMPTY);
    guard("sochdb_get", err, || {
        let value = args::out(value, "value")?;
        let key = key_arg(key, key_len)?;
        let scope = Scope::resolve(db, txn)?;
        match scope.run(|b, t| b.get(t, key))? {
            Some(v) => {
                args::set(value, sochdb_buf::from_vec(v));
                Ok(SOCHDB_OK)
            }
            None => Ok(SOCHDB_NOT_FOUND),
        }
    })
}

/// Writes a key (an empty value is a value). With `txn` NULL the write commits on its
/// own, durably per the database's durability; otherwise it joins the transaction.
///
/// Ownership: `key` and `value` are only borrowed. Errors: as `sochdb_get`, plus
/// `SOCHDB_TOO_LARGE` for a value over 15 MiB and `SOCHDB_READ_ONLY`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_put(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_put", err, || {
        let key = key_arg(key, key_len)?;
        let value = value_arg(value, value_len)?;
        Scope::resolve(db, txn)?.run(|b, t| b.put(t, key, value))
    })
}

/// Deletes a key; deleting an absent key is not an error. `txn` as in `sochdb_put`.
///
/// Errors: as `sochdb_put`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_delete(
    db: *mut sochdb_db,
    txn: *mut sochdb_txn,
    key: *const u8,
    key_len: usize,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_delete", err, || {
        let key = key_arg(key, key_len)?;
        Scope::resolve(db, txn)?.run(|b, t| b.delete(t, key))
    })
}

/// Flushes the memtable, syncs, and trims the log (in socket mode, on the server).
///
/// Errors: `SOCHDB_INVALID_ARGUMENT`, `SOCHDB_CLOSED`, `SOCHDB_IO`, `SOCHDB_READ_ONLY`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_checkpoint(
    db: *mut sochdb_db,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_checkpoint", err, || {
        get(db)?.backend()?.checkpoint()
    })
}

/// A full manual compaction (like RocksDB's `CompactRange` over every key, or SQLite's
/// `VACUUM`): flushes the memtable, then rewrites every level of block files into the
/// last one, dropping overwritten versions no open transaction can read and deleted
/// keys; in socket mode, on the server. Returns when done, which takes about as long as
/// reading and writing the whole database once; other threads (and, in socket mode,
/// other clients) keep reading, writing and committing meanwhile. Afterwards the
/// database takes about the space its live keys and values need.
///
/// Ownership: nothing is allocated but `*err` on failure. Errors:
/// `SOCHDB_INVALID_ARGUMENT` (not a database handle), `SOCHDB_CLOSED` (closed before or
/// during the call; nothing is lost), `SOCHDB_READ_ONLY` (opened read-only, or refusing
/// writes after a failed write), `SOCHDB_IO`, `SOCHDB_CORRUPTION` (a damaged block
/// file, named in the message; the files are left as they were), and in socket mode
/// `SOCHDB_PROTOCOL` when the connection fails. In socket mode the call waits for the
/// server's reply without the request timeout.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_compact(
    db: *mut sochdb_db,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_compact", err, || get(db)?.backend()?.compact())
}

/// Figures about the database as a JSON object (NUL-terminated text): transactions,
/// memtable and log bytes, and in socket mode the server's connection counters.
///
/// Ownership: free `*json` with `sochdb_buf_free`. Errors: `SOCHDB_INVALID_ARGUMENT`,
/// `SOCHDB_CLOSED`, and any status of the backend.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_stats(
    db: *mut sochdb_db,
    json: *mut sochdb_buf,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(json, sochdb_buf::EMPTY);
    guard_ok("sochdb_stats", err, || {
        let json = args::out(json, "json")?;
        let stats = get(db)?.backend()?.stats()?;
        let text = serde_json::Value::Object(stats).to_string();
        args::set(json, sochdb_buf::from_text(text));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{SOCHDB_CLOSED, SOCHDB_INVALID_ARGUMENT, SOCHDB_TOO_LARGE};
    use crate::ffi::testing::{call, take_buf};
    use std::ptr::{null, null_mut};

    fn get_key(db: *mut sochdb_db, key: &[u8]) -> (i32, Vec<u8>) {
        let mut b = sochdb_buf::EMPTY;
        // SAFETY: valid pointers for the duration of the call.
        let (st, _) =
            call(|e| unsafe { sochdb_get(db, null_mut(), key.as_ptr(), key.len(), &mut b, e) });
        (st, take_buf(b))
    }

    #[test]
    fn put_get_delete_and_empty_versus_absent() {
        let db = crate::ffi::testing::db();
        // SAFETY: every pointer passed is valid or deliberately NULL.
        unsafe {
            assert_eq!(
                sochdb_put(
                    db,
                    null_mut(),
                    b"k".as_ptr(),
                    1,
                    b"v".as_ptr(),
                    1,
                    null_mut()
                ),
                SOCHDB_OK
            );
            assert_eq!(get_key(db, b"k"), (SOCHDB_OK, b"v".to_vec()));
            assert_eq!(
                sochdb_put(db, null_mut(), null(), 0, null(), 0, null_mut()),
                SOCHDB_OK
            );
            assert_eq!(get_key(db, b""), (SOCHDB_OK, Vec::new()));
            assert_eq!(get_key(db, b"absent"), (SOCHDB_NOT_FOUND, Vec::new()));
            assert_eq!(
                sochdb_delete(db, null_mut(), b"k".as_ptr(), 1, null_mut()),
                SOCHDB_OK
            );
            assert_eq!(get_key(db, b"k").0, SOCHDB_NOT_FOUND);
            assert_eq!(sochdb_checkpoint(db, null_mut()), SOCHDB_OK);
            let mut j = sochdb_buf::EMPTY;
            assert_eq!(sochdb_stats(db, &mut j, null_mut()), SOCHDB_OK);
            let stats: serde_json::Value = serde_json::from_slice(&take_buf(j)).unwrap();
            assert_eq!(stats["keys"], 1);
            assert_eq!(sochdb_close(db, null_mut()), SOCHDB_OK);
        }
    }

    #[test]
    fn bad_arguments_are_errors_with_messages() {
        let db = crate::ffi::testing::db();
        let big = vec![0u8; crate::storage::MAX_KEY_LEN + 1];
        // SAFETY: every pointer passed is valid or deliberately NULL / foreign.
        unsafe {
            let (st, msg) = call(|e| sochdb_put(db, null_mut(), null(), 3, null(), 0, e));
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
            assert!(
                msg.contains("sochdb_put") && msg.contains("key is NULL"),
                "{msg}"
            );
            let (st, _) =
                call(|e| sochdb_put(db, null_mut(), big.as_ptr(), big.len(), null(), 0, e));
            assert_eq!(st, SOCHDB_TOO_LARGE);
            let (st, _) = call(|e| sochdb_get(db, null_mut(), null(), 0, null_mut(), e));
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
            let (st, _) = call(|e| sochdb_put(null_mut(), null_mut(), null(), 0, null(), 0, e));
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
            let bogus = big.as_ptr() as *mut sochdb_db;
            let (st, msg) = call(|e| sochdb_checkpoint(bogus, e));
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
            assert!(msg.contains("not a live sochdb_db"), "{msg}");
            assert_eq!(sochdb_close(db, null_mut()), SOCHDB_OK);
        }
    }

    #[test]
    fn use_after_close_is_closed() {
        let db = crate::ffi::testing::db();
        // SAFETY: db is used after close on purpose: the registry rejects it.
        unsafe {
            assert_eq!(sochdb_close(null_mut(), null_mut()), SOCHDB_OK);
            assert_eq!(sochdb_close(db, null_mut()), SOCHDB_OK);
            let (st, msg) = call(|e| sochdb_put(db, null_mut(), null(), 0, null(), 0, e));
            assert_eq!(st, SOCHDB_CLOSED);
            assert!(msg.contains("closed"), "{msg}");
            assert_eq!(get_key(db, b"k").0, SOCHDB_CLOSED);
            assert_eq!(sochdb_close(db, null_mut()), SOCHDB_CLOSED);
        }
    }
}
