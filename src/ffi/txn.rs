//! Transactions: begin with flags, commit with a timestamp, abort, free; and the scope
//! (database alone, or database plus transaction) that data functions run in.

use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::args;
use super::db::{self, DbObj, sochdb_db};
use super::error::sochdb_error;
use super::guard::{guard_ok, guard_void};
use super::handle::{self, Handle};
use super::options;
use super::status::sochdb_status;
use crate::backend::{Backend, TxnId, TxnOptions};
use crate::error::{Error, Result};

/// Begin flag: the transaction is read-only (it never conflicts; writes in it fail with
/// `SOCHDB_READ_ONLY`).
pub const SOCHDB_TXN_READ_ONLY: u32 = 1;
/// Begin flag: serializable isolation for this transaction.
pub const SOCHDB_TXN_SERIALIZABLE: u32 = 2;
/// Begin flag: snapshot isolation for this transaction (write-write conflicts only).
pub const SOCHDB_TXN_SNAPSHOT: u32 = 4;

/// A transaction on one database.
///
/// It ends with `sochdb_commit` or `sochdb_abort`; after that every call on it except
/// `sochdb_txn_free` fails with `SOCHDB_CLOSED`. Ownership: free it with
/// `sochdb_txn_free`, which aborts it first if it is still open. Thread-safety: it may be
/// used from any thread; calls on one transaction are serialized.
pub struct sochdb_txn {
    _opaque: [u8; 0],
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnState {
    /// Open: reads and writes allowed.
    Active,
    /// Committed at this timestamp.
    Committed(u64),
    /// Aborted, or its commit failed.
    Ended,
}

/// What a transaction handle points to.
pub struct TxnObj {
    /// The database the transaction belongs to.
    db: Arc<DbObj>,
    /// The backend's id of the transaction.
    id: TxnId,
    /// Open or ended; the lock also serializes calls on the transaction.
    state: Mutex<TxnState>,
}

impl Handle for TxnObj {
    const KIND: &'static str = "sochdb_txn";
    type C = sochdb_txn;
}

/// A held, open transaction: the backend and the transaction id, while the transaction's
/// lock is held.
pub(crate) struct ActiveTxn<'a> {
    /// The transaction's database.
    db: &'a DbObj,
    /// The transaction id.
    id: TxnId,
    /// Held for the duration of the call.
    state: MutexGuard<'a, TxnState>,
}

impl<'a> ActiveTxn<'a> {
    /// The backend and id, for one call.
    pub(crate) fn parts(&self) -> Result<(&'a dyn Backend, TxnId)> {
        Ok((self.db.backend()?.as_ref(), self.id))
    }
}

impl TxnObj {
    /// Locks the transaction and checks it is open and its database is not closed.
    pub(crate) fn active(&self) -> Result<ActiveTxn<'_>> {
        let state = self.state.lock();
        match *state {
            TxnState::Active => {}
            TxnState::Committed(ts) => {
                return Err(Error::Closed(format!(
                    "the transaction already committed (at timestamp {ts})"
                )));
            }
            TxnState::Ended => {
                return Err(Error::Closed("the transaction already ended".into()));
            }
        }
        self.db.backend()?;
        Ok(ActiveTxn {
            db: &self.db,
            id: self.id,
            state,
        })
    }
}

/// The scope of a data call: a database, and optionally one of its transactions.
pub(crate) struct Scope {
    /// The database.
    db: Arc<DbObj>,
    /// The transaction, when the caller passed one.
    txn: Option<Arc<TxnObj>>,
}

impl Scope {
    /// Resolves `db` and an optional `txn`, which must belong to `db`.
    pub(crate) fn resolve(db: *const sochdb_db, txn: *const sochdb_txn) -> Result<Scope> {
        let db = db::get(db)?;
        let txn = if txn.is_null() {
            None
        } else {
            let t = handle::get::<TxnObj>(txn)?;
            if !Arc::ptr_eq(&t.db, &db) {
                return Err(Error::InvalidArgument(
                    "the transaction belongs to another database handle".into(),
                ));
            }
            Some(t)
        };
        Ok(Scope { db, txn })
    }

    /// Runs `f` on the backend, inside the transaction (held for the call) if any.
    pub(crate) fn run<R>(
        &self,
        f: impl FnOnce(&dyn Backend, Option<TxnId>) -> Result<R>,
    ) -> Result<R> {
        match &self.txn {
            None => f(self.db.backend()?.as_ref(), None),
            Some(t) => {
                let active = t.active()?;
                let (backend, id) = active.parts()?;
                f(backend, Some(id))
            }
        }
    }

    /// The database.
    pub(crate) fn db(&self) -> &Arc<DbObj> {
        &self.db
    }

    /// The transaction, if any.
    pub(crate) fn txn(&self) -> Option<&Arc<TxnObj>> {
        self.txn.as_ref()
    }
}

/// Decodes begin flags into transaction options.
fn txn_options(flags: u32) -> Result<TxnOptions> {
    let known = SOCHDB_TXN_READ_ONLY | SOCHDB_TXN_SERIALIZABLE | SOCHDB_TXN_SNAPSHOT;
    args::flags(flags, known, "begin flags")?;
    let isolation = match (
        flags & SOCHDB_TXN_SERIALIZABLE != 0,
        flags & SOCHDB_TXN_SNAPSHOT != 0,
    ) {
        (false, false) => None,
        (true, false) => Some(options::isolation(options::SOCHDB_ISOLATION_SERIALIZABLE)?),
        (false, true) => Some(options::isolation(options::SOCHDB_ISOLATION_SNAPSHOT)?),
        (true, true) => {
            return Err(Error::InvalidArgument(
                "begin flags ask for both SOCHDB_TXN_SERIALIZABLE and SOCHDB_TXN_SNAPSHOT".into(),
            ));
        }
    };
    Ok(TxnOptions {
        isolation,
        read_only: flags & SOCHDB_TXN_READ_ONLY != 0,
    })
}

/// Begins a transaction. `flags` is 0 or a combination of `SOCHDB_TXN_READ_ONLY` and one
/// of `SOCHDB_TXN_SERIALIZABLE` / `SOCHDB_TXN_SNAPSHOT` (neither: the database's default
/// isolation). Reads see a snapshot taken now plus the transaction's own writes.
///
/// Ownership: `*txn` receives a new handle (NULL on failure) to free with
/// `sochdb_txn_free`. Errors: `SOCHDB_INVALID_ARGUMENT` (NULL arguments, unknown or
/// contradictory flags), `SOCHDB_CLOSED`, `SOCHDB_BUSY` (too many open transactions).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_begin(
    db: *mut sochdb_db,
    flags: u32,
    txn: *mut *mut sochdb_txn,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(txn, std::ptr::null_mut());
    guard_ok("sochdb_begin", err, || {
        let out = args::out(txn, "txn")?;
        let opts = txn_options(flags)?;
        let db = db::get(db)?;
        let id = db.backend()?.begin(opts)?;
        let obj = TxnObj {
            db,
            id,
            state: Mutex::new(TxnState::Active),
        };
        args::set(out, handle::register(obj));
        Ok(())
    })
}

/// Commits the transaction; `*commit_ts` (may be NULL) receives the commit timestamp
/// (for a read-only transaction, its snapshot timestamp). The transaction has ended
/// when this returns, whatever the outcome.
///
/// Errors: `SOCHDB_CONFLICT` (a concurrent commit conflicted: nothing of this
/// transaction is visible; begin a new one and retry), `SOCHDB_CLOSED` (already ended, or
/// the database was closed), `SOCHDB_IO`, `SOCHDB_READ_ONLY`, `SOCHDB_TIMEOUT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_commit(
    txn: *mut sochdb_txn,
    commit_ts: *mut u64,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(commit_ts, 0);
    guard_ok("sochdb_commit", err, || {
        let t = handle::get::<TxnObj>(txn)?;
        let mut active = t.active()?;
        let (backend, id) = active.parts()?;
        let result = backend.commit(id);
        let state = &mut *active.state;
        match result {
            Ok(ts) => {
                *state = TxnState::Committed(ts);
                args::set(commit_ts, ts);
                Ok(())
            }
            Err(e) => {
                *state = TxnState::Ended;
                // The commit failed: make sure the backend holds nothing of it. An
                // error here only says it is already gone.
                let _ = backend.abort(id);
                Err(e)
            }
        }
    })
}

/// Aborts the transaction, discarding its writes. It has ended when this returns.
///
/// Errors: `SOCHDB_CLOSED` when it already ended, `SOCHDB_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_abort(
    txn: *mut sochdb_txn,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_abort", err, || {
        let t = handle::get::<TxnObj>(txn)?;
        let mut active = t.active()?;
        let (backend, id) = active.parts()?;
        let result = backend.abort(id);
        *active.state = TxnState::Ended;
        result
    })
}

/// Frees a transaction handle, aborting the transaction if it is still open. NULL is
/// ignored; so is a handle already freed.
///
/// Thread-safety: do not free a transaction while another thread still uses it (the
/// other call fails with `SOCHDB_CLOSED` or completes first).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_txn_free(txn: *mut sochdb_txn) {
    guard_void("sochdb_txn_free", || {
        if txn.is_null() {
            return Ok(());
        }
        let t = handle::take::<TxnObj>(txn)?;
        let mut state = t.state.lock();
        if *state == TxnState::Active {
            *state = TxnState::Ended;
            if !t.db.is_closed() {
                t.db.backend()?.abort(t.id)?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Isolation;
    use crate::ffi::buf::sochdb_buf;
    use crate::ffi::db::{sochdb_close, sochdb_get, sochdb_put};
    use crate::ffi::status::{
        SOCHDB_CLOSED, SOCHDB_CONFLICT, SOCHDB_INVALID_ARGUMENT, SOCHDB_NOT_FOUND, SOCHDB_OK,
        SOCHDB_READ_ONLY,
    };
    use crate::ffi::testing::{call, db, take_buf};
    use std::ptr::{null, null_mut};

    fn begin(db: *mut sochdb_db, flags: u32) -> *mut sochdb_txn {
        let mut t = null_mut();
        // SAFETY: valid out-pointer.
        assert_eq!(
            unsafe { sochdb_begin(db, flags, &mut t, null_mut()) },
            SOCHDB_OK
        );
        assert!(!t.is_null());
        t
    }

    fn put(db: *mut sochdb_db, t: *mut sochdb_txn, k: &[u8], v: &[u8]) -> (i32, String) {
        // SAFETY: valid slices for the call.
        call(|e| unsafe { sochdb_put(db, t, k.as_ptr(), k.len(), v.as_ptr(), v.len(), e) })
    }

    fn get(db: *mut sochdb_db, t: *mut sochdb_txn, k: &[u8]) -> (i32, Vec<u8>) {
        let mut b = sochdb_buf::EMPTY;
        // SAFETY: valid slices and out-pointer for the call.
        let (st, _) = call(|e| unsafe { sochdb_get(db, t, k.as_ptr(), k.len(), &mut b, e) });
        (st, take_buf(b))
    }

    #[test]
    fn commit_makes_writes_visible_and_ends_the_transaction() {
        let d = db();
        let t = begin(d, 0);
        assert_eq!(put(d, t, b"a", b"1").0, SOCHDB_OK);
        assert_eq!(get(d, t, b"a"), (SOCHDB_OK, b"1".to_vec()));
        assert_eq!(get(d, null_mut(), b"a").0, SOCHDB_NOT_FOUND);
        let mut ts = 0;
        // SAFETY: t is a live transaction; later calls on it are rejected cleanly.
        unsafe {
            assert_eq!(sochdb_commit(t, &mut ts, null_mut()), SOCHDB_OK);
            assert!(ts > 0);
            assert_eq!(get(d, null_mut(), b"a"), (SOCHDB_OK, b"1".to_vec()));
            let (st, msg) = put(d, t, b"b", b"2");
            assert_eq!(st, SOCHDB_CLOSED);
            assert!(msg.contains("already committed"), "{msg}");
            assert_eq!(call(|e| sochdb_commit(t, null_mut(), e)).0, SOCHDB_CLOSED);
            assert_eq!(call(|e| sochdb_abort(t, e)).0, SOCHDB_CLOSED);
            sochdb_txn_free(t);
            sochdb_txn_free(t);
            sochdb_txn_free(null_mut());
            assert_eq!(call(|e| sochdb_abort(t, e)).0, SOCHDB_CLOSED);
            sochdb_close(d, null_mut());
        }
    }

    #[test]
    fn abort_conflict_read_only_and_free_of_an_open_transaction() {
        let d = db();
        // SAFETY: handles are live or deliberately stale.
        unsafe {
            let t = begin(d, SOCHDB_TXN_SNAPSHOT);
            put(d, t, b"x", b"1");
            assert_eq!(sochdb_abort(t, null_mut()), SOCHDB_OK);
            sochdb_txn_free(t);
            assert_eq!(get(d, null_mut(), b"x").0, SOCHDB_NOT_FOUND);

            let t = begin(d, 0);
            put(d, t, b"conflict", b"1");
            let mut ts = 7;
            let (st, msg) = call(|e| sochdb_commit(t, &mut ts, e));
            assert_eq!((st, ts), (SOCHDB_CONFLICT, 0));
            assert!(msg.contains("retried"), "{msg}");
            assert_eq!(put(d, t, b"y", b"1").0, SOCHDB_CLOSED);
            sochdb_txn_free(t);

            let t = begin(d, SOCHDB_TXN_READ_ONLY);
            assert_eq!(put(d, t, b"z", b"1").0, SOCHDB_READ_ONLY);
            sochdb_txn_free(t);

            let t = begin(d, 0);
            put(d, t, b"w", b"1");
            sochdb_txn_free(t);
            assert_eq!(get(d, null_mut(), b"w").0, SOCHDB_NOT_FOUND);

            let mut out = null_mut();
            let (st, _) = call(|e| sochdb_begin(d, 64, &mut out, e));
            assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
            assert!(out.is_null());
            assert_eq!(
                call(|e| sochdb_begin(d, 0, null_mut(), e)).0,
                SOCHDB_INVALID_ARGUMENT
            );
            sochdb_close(d, null_mut());
        }
    }

    #[test]
    fn a_transaction_belongs_to_its_database_and_dies_with_it() {
        let (d1, d2) = (db(), db());
        let t = begin(d1, 0);
        let (st, msg) = put(d2, t, b"k", b"v");
        assert_eq!(st, SOCHDB_INVALID_ARGUMENT);
        assert!(msg.contains("another database"), "{msg}");
        // SAFETY: handles are live or deliberately closed.
        unsafe {
            sochdb_close(d1, null_mut());
            assert_eq!(call(|e| sochdb_commit(t, null_mut(), e)).0, SOCHDB_CLOSED);
            sochdb_txn_free(t);
            sochdb_close(d2, null_mut());
            let (st, _) = call(|e| sochdb_put(d2, null_mut(), null(), 0, null(), 0, e));
            assert_eq!(st, SOCHDB_CLOSED);
        }
    }

    #[test]
    fn flags_decode_and_validate() {
        assert_eq!(txn_options(0).unwrap(), TxnOptions::default());
        let o = txn_options(SOCHDB_TXN_READ_ONLY | SOCHDB_TXN_SNAPSHOT).unwrap();
        assert!(o.read_only);
        assert_eq!(o.isolation, Some(Isolation::Snapshot));
        assert_eq!(
            txn_options(SOCHDB_TXN_SERIALIZABLE).unwrap().isolation,
            Some(Isolation::Serializable)
        );
        assert!(txn_options(SOCHDB_TXN_SERIALIZABLE | SOCHDB_TXN_SNAPSHOT).is_err());
        assert!(txn_options(8).is_err());
    }
}
