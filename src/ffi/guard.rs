//! The boundary guard every fallible C function runs its body in: it clears the error
//! out-parameter, catches panics, and turns an `Error` into a status plus an error object.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::error::{c_message, new_error, set_last, sochdb_error};
use super::status::{SOCHDB_INTERNAL, SOCHDB_OK, code, sochdb_status};
use crate::error::{Error, Result};

/// Runs `body` as the C function `name`.
///
/// `*err` is set to NULL on entry (when `err` is not NULL). The body returns the status
/// to hand back on success (`SOCHDB_OK`, or `SOCHDB_NOT_FOUND` for an absent key, which
/// carries no error object). An `Err` becomes its status code and, when `err` is not
/// NULL, an error object whose message starts with `name`. A panic becomes
/// `SOCHDB_INTERNAL`; it never unwinds into the caller.
pub(crate) fn guard(
    name: &str,
    err: *mut *mut sochdb_error,
    body: impl FnOnce() -> Result<sochdb_status>,
) -> sochdb_status {
    if !err.is_null() {
        // SAFETY: a non-NULL `err` points to a writable `sochdb_error *` (the contract
        // of every function that takes it).
        unsafe { err.write(std::ptr::null_mut()) };
    }
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => return status,
        Ok(Err(e)) => e,
        Err(payload) => Error::Internal(format!("panic: {}", panic_text(&*payload))),
    };
    report(name, err, &error)
}

/// Like [`guard`] for bodies that only succeed with `SOCHDB_OK`.
pub(crate) fn guard_ok(
    name: &str,
    err: *mut *mut sochdb_error,
    body: impl FnOnce() -> Result<()>,
) -> sochdb_status {
    guard(name, err, || body().map(|()| SOCHDB_OK))
}

/// Records `error` (last error of the thread, and an error object if `err` is not NULL)
/// and returns its status code.
fn report(name: &str, err: *mut *mut sochdb_error, error: &Error) -> sochdb_status {
    let status = code(error.status());
    let message = c_message(&format!("{name}: {error}"));
    // Recording must not panic out of the boundary either.
    let recorded = catch_unwind(AssertUnwindSafe(|| {
        set_last(&message);
        if !err.is_null() {
            let obj = new_error(status, message);
            // SAFETY: as on entry, a non-NULL `err` is writable.
            unsafe { err.write(obj) };
        }
    }));
    if recorded.is_err() {
        return SOCHDB_INTERNAL;
    }
    status
}

/// Runs a body that returns nothing and reports nothing (the free functions): a panic is
/// caught and recorded as the thread's last error.
pub(crate) fn guard_void(name: &str, body: impl FnOnce() -> Result<()>) {
    let error = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(payload) => Error::Internal(format!("panic: {}", panic_text(&*payload))),
    };
    report(name, std::ptr::null_mut(), &error);
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::error::{sochdb_error_free, sochdb_error_message, sochdb_error_status};
    use crate::ffi::status::{SOCHDB_CONFLICT, SOCHDB_NOT_FOUND};
    use std::ffi::CStr;

    fn message(e: *const sochdb_error) -> String {
        // SAFETY: e is a live error handle from `guard`.
        unsafe { CStr::from_ptr(sochdb_error_message(e)) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn success_clears_err_and_passes_the_status() {
        let mut e: *mut sochdb_error = 8 as *mut sochdb_error;
        assert_eq!(
            guard("f", &mut e, || Ok(SOCHDB_NOT_FOUND)),
            SOCHDB_NOT_FOUND
        );
        assert!(e.is_null());
    }

    #[test]
    fn errors_become_objects_with_the_function_name() {
        let mut e = std::ptr::null_mut();
        let st = guard_ok("sochdb_thing", &mut e, || {
            Err(Error::Conflict("key k".into()))
        });
        assert_eq!(st, SOCHDB_CONFLICT);
        // SAFETY: e is a live error handle.
        unsafe {
            assert_eq!(sochdb_error_status(e), SOCHDB_CONFLICT);
            assert!(message(e).starts_with("sochdb_thing: transaction conflict: key k"));
            sochdb_error_free(e);
        }
        assert_eq!(
            guard_ok("f", std::ptr::null_mut(), || Err(Error::Busy("x".into()))),
            code(crate::error::Status::Busy)
        );
    }

    #[test]
    fn panics_become_internal() {
        let mut e = std::ptr::null_mut();
        let st = guard_ok("sochdb_boom", &mut e, || panic!("kaboom {}", 1));
        assert_eq!(st, SOCHDB_INTERNAL);
        assert!(message(e).contains("panic: kaboom 1"));
        // SAFETY: e is a live error handle.
        unsafe { sochdb_error_free(e) };
        guard_void("sochdb_x_free", || panic!("in free"));
    }
}
