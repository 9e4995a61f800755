//! The error object: a status and a message, allocated for the caller on failure.
//!
//! Error objects carry the detail of one failure to the caller that made the call, with
//! no per-thread state, so they are safe for runtimes that move callers between threads
//! (Go). A per-thread "last error" message is also kept as a C convenience.

use std::cell::RefCell;
use std::ffi::{CString, c_char};

use super::handle::{self, Handle};
use super::status::{SOCHDB_OK, sochdb_status};

/// An error object: the status and message of one failed call.
///
/// Created by a failing function through its `sochdb_error **err` out-parameter and
/// owned by the caller, who frees it with `sochdb_error_free`. Immutable; safe to read
/// from any thread.
pub struct sochdb_error {
    _opaque: [u8; 0],
}

/// What an error handle points to.
pub struct ErrorObj {
    /// The status code of the failure.
    pub status: sochdb_status,
    /// The message, NUL-terminated, with context (which key, which column, ...).
    pub message: CString,
}

impl Handle for ErrorObj {
    const KIND: &'static str = "sochdb_error";
    type C = sochdb_error;
}

/// Turns a message into a C string, escaping any NUL byte in it.
pub(crate) fn c_message(message: &str) -> CString {
    CString::new(message.replace('\0', "\\0")).unwrap_or_default()
}

thread_local! {
    static LAST: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error message.
pub(crate) fn set_last(message: &CString) {
    LAST.with(|l| l.borrow_mut().clone_from(message));
}

/// Allocates an error object for the caller.
pub(crate) fn new_error(status: sochdb_status, message: CString) -> *mut sochdb_error {
    handle::register(ErrorObj { status, message })
}

static EMPTY: &[u8] = b"\0";
static NOT_AN_ERROR: &[u8] = b"not a live sochdb_error handle\0";

/// The status code of an error object. Returns `SOCHDB_OK` for NULL and
/// `SOCHDB_INVALID_ARGUMENT` for a pointer that is not a live error object.
///
/// Thread-safety: safe from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_error_status(err: *const sochdb_error) -> sochdb_status {
    if err.is_null() {
        return SOCHDB_OK;
    }
    let r = std::panic::catch_unwind(|| handle::get::<ErrorObj>(err));
    match r {
        Ok(Ok(e)) => e.status,
        _ => super::status::SOCHDB_INVALID_ARGUMENT,
    }
}

/// The message of an error object, NUL-terminated UTF-8: what failed and why, with
/// context. Returns `""` for NULL, and a fixed explanation for a pointer that is not a
/// live error object.
///
/// Ownership: the string belongs to the error object and is valid until
/// `sochdb_error_free` frees it. Thread-safety: safe from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_error_message(err: *const sochdb_error) -> *const c_char {
    if err.is_null() {
        return EMPTY.as_ptr().cast();
    }
    let r = std::panic::catch_unwind(|| handle::get::<ErrorObj>(err));
    match r {
        // The registry keeps the object (and so the string) alive until it is freed.
        Ok(Ok(e)) => e.message.as_ptr(),
        _ => NOT_AN_ERROR.as_ptr().cast(),
    }
}

/// Frees an error object. NULL is ignored, and so is a pointer that is not a live error
/// object (a second free is harmless while the handle is remembered as freed).
///
/// Thread-safety: safe from any thread; the message pointer dies with the object.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_error_free(err: *mut sochdb_error) {
    if err.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(|| drop(handle::take::<ErrorObj>(err)));
}

/// The message of the last failed call made on the calling thread, or `""` when none
/// failed yet. A convenience for C programs that pass NULL for `err`; it is per thread,
/// so callers whose code may move between threads (Go) must use error objects instead.
///
/// Ownership: valid until the next failing call on this thread; do not free.
#[unsafe(no_mangle)]
pub extern "C" fn sochdb_last_error_message() -> *const c_char {
    let r = std::panic::catch_unwind(|| LAST.with(|l| l.borrow().as_ptr()));
    // The thread-local string lives until the thread ends; its buffer is replaced only
    // by the next failure on this thread.
    r.unwrap_or(EMPTY.as_ptr().cast())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{SOCHDB_CONFLICT, SOCHDB_INVALID_ARGUMENT};
    use std::ffi::CStr;

    fn text(p: *const c_char) -> String {
        // SAFETY: every function tested returns a NUL-terminated string.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    #[test]
    fn error_objects_report_status_and_message_until_freed() {
        let e = new_error(SOCHDB_CONFLICT, c_message("key a\0b"));
        // SAFETY: e is a live error handle; the others are NULL or foreign pointers,
        // which the functions reject without dereferencing.
        unsafe {
            assert_eq!(sochdb_error_status(e), SOCHDB_CONFLICT);
            assert_eq!(text(sochdb_error_message(e)), "key a\\0b");
            sochdb_error_free(e);
            assert_eq!(sochdb_error_status(e), SOCHDB_INVALID_ARGUMENT);
            assert!(text(sochdb_error_message(e)).contains("not a live"));
            sochdb_error_free(e);
            sochdb_error_free(std::ptr::null_mut());
            assert_eq!(sochdb_error_status(std::ptr::null()), SOCHDB_OK);
            assert_eq!(text(sochdb_error_message(std::ptr::null())), "");
        }
    }

    #[test]
    fn last_error_is_per_thread() {
        set_last(&c_message("first"));
        assert_eq!(text(sochdb_last_error_message()), "first");
        std::thread::spawn(|| assert_eq!(text(sochdb_last_error_message()), ""))
            .join()
            .unwrap();
    }
}
