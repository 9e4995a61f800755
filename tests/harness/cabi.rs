//! The mixed workload's [`Target`] over the C ABI: every call goes through the
//! `extern "C"` functions a C program links against, with their status codes and error
//! objects.
#![allow(dead_code)]

use std::ffi::{CStr, CString, c_char};
use std::path::Path;

use sochdb::ffi::batch::{
    sochdb_batch, sochdb_batch_delete, sochdb_batch_free, sochdb_batch_new, sochdb_batch_put,
    sochdb_write_batch,
};
use sochdb::ffi::buf::{sochdb_buf, sochdb_buf_free};
use sochdb::ffi::db::{
    sochdb_checkpoint, sochdb_close, sochdb_db, sochdb_delete, sochdb_get, sochdb_open, sochdb_put,
};
use sochdb::ffi::error::{
    sochdb_error, sochdb_error_free, sochdb_error_message, sochdb_error_status,
};
use sochdb::ffi::status::{SOCHDB_NOT_FOUND, SOCHDB_OK, sochdb_status};
use sochdb::ffi::table::{sochdb_row_delete, sochdb_row_upsert};
use sochdb::ffi::txn::{sochdb_abort, sochdb_begin, sochdb_commit, sochdb_txn, sochdb_txn_free};
use sochdb::ffi::value::{SOCHDB_TYPE_TEXT, SOCHDB_TYPE_UINT64, sochdb_field, sochdb_value};
use sochdb::storage::BatchOp;
use sochdb::{Error, Result, Status};

use super::mixed::{TABLE, Target};

/// Turns a status and its error object into a `Result`, freeing the object.
fn check(status: sochdb_status, err: *mut sochdb_error) -> Result<()> {
    if status == SOCHDB_OK {
        assert!(err.is_null(), "an error object with SOCHDB_OK");
        return Ok(());
    }
    // SAFETY: `err` came from the library (or is NULL); it is freed once, here.
    let (code, msg) = unsafe {
        let code = sochdb_error_status(err);
        let msg = CStr::from_ptr(sochdb_error_message(err))
            .to_string_lossy()
            .into_owned();
        sochdb_error_free(err);
        (code, msg)
    };
    assert_eq!(code, status, "the error object disagrees with the status");
    let s = Status::from_code(status).unwrap_or(Status::Internal);
    Err(Error::from_status(s, msg))
}

/// A database handle from `sochdb_open`.
pub struct CDb {
    /// The handle.
    db: *mut sochdb_db,
    /// The table name, NUL-terminated.
    table: CString,
}

// SAFETY: the C ABI documents database handles as safe to use from many threads.
unsafe impl Send for CDb {}
// SAFETY: as above.
unsafe impl Sync for CDb {}

impl CDb {
    /// Opens the database in `dir` with default options.
    pub fn open(dir: &Path) -> Result<CDb> {
        let path = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::InvalidArgument("path with a NUL".into()))?;
        let mut db = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated path, NULL options, valid out-pointers.
        let st = unsafe { sochdb_open(path.as_ptr(), std::ptr::null(), &mut db, &mut err) };
        check(st, err)?;
        Ok(CDb {
            db,
            table: CString::new(TABLE).expect("no NUL in the table name"),
        })
    }

    fn txn(id: Option<u64>) -> *mut sochdb_txn {
        id.map_or(std::ptr::null_mut(), |t| t as usize as *mut sochdb_txn)
    }

    fn batch_of(ops: &[BatchOp]) -> Result<*mut sochdb_batch> {
        let mut b = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: valid out-pointers.
        check(unsafe { sochdb_batch_new(&mut b, &mut err) }, err)?;
        for op in ops {
            let mut err = std::ptr::null_mut();
            // SAFETY: `b` is a live batch; keys and values are valid for their lengths.
            let st = unsafe {
                match op {
                    BatchOp::Put { key, value } => sochdb_batch_put(
                        b,
                        key.as_ptr(),
                        key.len(),
                        value.as_ptr(),
                        value.len(),
                        &mut err,
                    ),
                    BatchOp::Delete { key } => {
                        sochdb_batch_delete(b, key.as_ptr(), key.len(), &mut err)
                    }
                }
            };
            if let Err(e) = check(st, err) {
                // SAFETY: `b` is live and freed once.
                unsafe { sochdb_batch_free(b) };
                return Err(e);
            }
        }
        Ok(b)
    }
}

impl Drop for CDb {
    fn drop(&mut self) {
        let mut err = std::ptr::null_mut();
        // SAFETY: the handle is live and closed once.
        let st = unsafe { sochdb_close(self.db, &mut err) };
        let _ = check(st, err);
    }
}

fn text_field(name: &CStr, v: &[u8]) -> sochdb_field {
    sochdb_field {
        name: name.as_ptr(),
        value: sochdb_value {
            kind: SOCHDB_TYPE_TEXT,
            boolean: 0,
            int64: 0,
            uint64: 0,
            float64: 0.0,
            data: v.as_ptr(),
            len: v.len(),
        },
    }
}

impl Target for CDb {
    fn get(&self, txn: Option<u64>, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut buf = sochdb_buf {
            data: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        };
        let mut err = std::ptr::null_mut();
        // SAFETY: live handles, key valid for its length, valid out-pointers.
        let st = unsafe {
            sochdb_get(
                self.db,
                Self::txn(txn),
                key.as_ptr(),
                key.len(),
                &mut buf,
                &mut err,
            )
        };
        if st == SOCHDB_NOT_FOUND && err.is_null() {
            return Ok(None);
        }
        check(st, err)?;
        let v = if buf.len == 0 {
            Vec::new()
        } else {
            // SAFETY: the library filled `buf` with `len` bytes at `data`.
            unsafe { std::slice::from_raw_parts(buf.data, buf.len) }.to_vec()
        };
        // SAFETY: `buf` came from the library and is freed once.
        unsafe { sochdb_buf_free(&mut buf) };
        Ok(Some(v))
    }

    fn put(&self, txn: Option<u64>, key: &[u8], value: &[u8]) -> Result<()> {
        let mut err = std::ptr::null_mut();
        // SAFETY: live handles, inputs valid for their lengths.
        let st = unsafe {
            sochdb_put(
                self.db,
                Self::txn(txn),
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
                &mut err,
            )
        };
        check(st, err)
    }

    fn delete(&self, txn: Option<u64>, key: &[u8]) -> Result<()> {
        let mut err = std::ptr::null_mut();
        // SAFETY: live handles, key valid for its length.
        let st =
            unsafe { sochdb_delete(self.db, Self::txn(txn), key.as_ptr(), key.len(), &mut err) };
        check(st, err)
    }

    fn batch(&self, ops: &[BatchOp]) -> Result<u64> {
        let b = Self::batch_of(ops)?;
        let mut ts = 0u64;
        let mut err = std::ptr::null_mut();
        // SAFETY: live handles, valid out-pointers; the batch is freed once after.
        let r = unsafe {
            let st = sochdb_write_batch(self.db, b, &mut ts, &mut err);
            sochdb_batch_free(b);
            check(st, err)
        };
        r.map(|_| ts)
    }

    fn begin(&self) -> Result<u64> {
        let mut txn = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: live handle, valid out-pointers.
        check(unsafe { sochdb_begin(self.db, 0, &mut txn, &mut err) }, err)?;
        Ok(txn as usize as u64)
    }

    fn commit(&self, txn: u64) -> Result<u64> {
        let t = Self::txn(Some(txn));
        let mut ts = 0u64;
        let mut err = std::ptr::null_mut();
        // SAFETY: `t` is a live transaction from `begin`, freed once after its end.
        let r = unsafe {
            let st = sochdb_commit(t, &mut ts, &mut err);
            let r = check(st, err);
            sochdb_txn_free(t);
            r
        };
        r.map(|_| ts)
    }

    fn abort(&self, txn: u64) -> Result<()> {
        let t = Self::txn(Some(txn));
        let mut err = std::ptr::null_mut();
        // SAFETY: as in `commit`.
        unsafe {
            let st = sochdb_abort(t, &mut err);
            let r = check(st, err);
            sochdb_txn_free(t);
            r
        }
    }

    fn upsert_row(&self, txn: Option<u64>, rid: u64, owner: &[u8]) -> Result<()> {
        let rid_name = c"rid";
        let owner_name = c"owner";
        let mut rid_field = text_field(rid_name, b"");
        rid_field.value.kind = SOCHDB_TYPE_UINT64;
        rid_field.value.uint64 = rid;
        rid_field.value.data = std::ptr::null();
        let fields = [rid_field, text_field(owner_name, owner)];
        let mut out = 0u64;
        let mut err = std::ptr::null_mut();
        // SAFETY: live handles; the fields and their bytes outlive the call.
        let st = unsafe {
            sochdb_row_upsert(
                self.db,
                Self::txn(txn),
                self.table.as_ptr(),
                &rid,
                fields.as_ptr(),
                fields.len(),
                &mut out,
                &mut err,
            )
        };
        check(st, err)
    }

    fn delete_row(&self, txn: Option<u64>, rid: u64) -> Result<()> {
        let mut existed = false;
        let mut err = std::ptr::null_mut();
        // SAFETY: live handles, valid out-pointers.
        let st = unsafe {
            sochdb_row_delete(
                self.db,
                Self::txn(txn),
                self.table.as_ptr() as *const c_char,
                rid,
                &mut existed,
                &mut err,
            )
        };
        check(st, err)
    }

    fn checkpoint(&self) -> Result<()> {
        let mut err = std::ptr::null_mut();
        // SAFETY: live handle.
        check(unsafe { sochdb_checkpoint(self.db, &mut err) }, err)
    }
}
