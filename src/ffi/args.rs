//! Checked conversions of C arguments: byte ranges, strings, arrays, out-parameters and
//! integers that stand for enums or flags.

use std::ffi::{CStr, c_char};

use crate::error::{Error, Result};

/// Borrows `len` bytes at `ptr` for the duration of the call. NULL with length 0 is the
/// empty slice; NULL with a length is an error naming `what`.
pub(crate) fn bytes<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::InvalidArgument(format!(
            "{what} is NULL with a length of {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(Error::TooLarge(format!(
            "{what} has an impossible length of {len} bytes"
        )));
    }
    // SAFETY: the caller's contract: a non-NULL pointer is valid for `len` bytes during
    // the call; the length fits an isize (checked above).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows an array of `n` elements at `ptr` (NULL is allowed when `n` is 0).
pub(crate) fn array<'a, T>(ptr: *const T, n: usize, what: &str) -> Result<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::InvalidArgument(format!(
            "{what} is NULL with a count of {n}"
        )));
    }
    if n.checked_mul(size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Error::TooLarge(format!(
            "{what} has an impossible count of {n}"
        )));
    }
    if !ptr.is_aligned() {
        return Err(Error::InvalidArgument(format!("{what} is not aligned")));
    }
    // SAFETY: the caller's contract: a non-NULL pointer is valid for `n` elements during
    // the call; size and alignment are checked above.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// Borrows a NUL-terminated UTF-8 string; NULL and invalid UTF-8 are errors naming
/// `what`.
pub(crate) fn string<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::InvalidArgument(format!("{what} is NULL")));
    }
    // SAFETY: the caller's contract: a non-NULL string pointer is NUL-terminated and
    // valid during the call.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map_err(|e| Error::InvalidArgument(format!("{what} is not valid UTF-8: {e}")))
}

/// Checks that an out-parameter is not NULL.
pub(crate) fn out<T>(ptr: *mut T, what: &str) -> Result<*mut T> {
    if ptr.is_null() {
        return Err(Error::InvalidArgument(format!(
            "out-parameter {what} is NULL"
        )));
    }
    if !ptr.is_aligned() {
        return Err(Error::InvalidArgument(format!(
            "out-parameter {what} is not aligned"
        )));
    }
    Ok(ptr)
}

/// Writes `value` through an out-parameter that may be NULL (then nothing is written).
pub(crate) fn set<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() && ptr.is_aligned() {
        // SAFETY: a non-NULL out-parameter points to writable memory for a `T`.
        unsafe { ptr.write(value) };
    }
}

/// Validates flag bits against the set a function knows.
pub(crate) fn flags(value: u32, known: u32, what: &str) -> Result<u32> {
    if value & !known != 0 {
        return Err(Error::InvalidArgument(format!(
            "{what} {value:#x} has unknown bits {:#x}",
            value & !known
        )));
    }
    Ok(value)
}

/// Validates a 0/1 integer that stands for a boolean.
pub(crate) fn boolean(value: u32, what: &str) -> Result<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Error::InvalidArgument(format!(
            "{what} must be 0 or 1, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Status;

    #[test]
    fn byte_ranges() {
        assert_eq!(bytes(std::ptr::null(), 0, "k").unwrap(), b"");
        let e = bytes(std::ptr::null(), 3, "key").unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument);
        assert!(e.to_string().contains("key is NULL with a length of 3"));
        let data = *b"abc";
        assert_eq!(bytes(data.as_ptr(), 2, "k").unwrap(), b"ab");
        let e = bytes(data.as_ptr(), usize::MAX, "k").unwrap_err();
        assert_eq!(e.status(), Status::TooLarge);
    }

    #[test]
    fn strings_and_arrays() {
        assert_eq!(string(c"ab".as_ptr(), "s").unwrap(), "ab");
        assert!(string(std::ptr::null(), "s").is_err());
        let bad = [0xffu8, 0];
        assert!(string(bad.as_ptr().cast(), "s").is_err());
        let xs = [1u64, 2];
        assert_eq!(array(xs.as_ptr(), 2, "a").unwrap(), &[1, 2]);
        assert!(array::<u64>(std::ptr::null(), 1, "a").is_err());
        assert!(array::<u64>(std::ptr::null(), 0, "a").unwrap().is_empty());
        assert_eq!(
            array(xs.as_ptr(), usize::MAX / 4, "a")
                .unwrap_err()
                .status(),
            Status::TooLarge
        );
    }

    #[test]
    fn flags_and_booleans() {
        assert_eq!(flags(3, 3, "f").unwrap(), 3);
        assert!(flags(4, 3, "f").is_err());
        assert!(boolean(1, "b").unwrap());
        assert!(!boolean(0, "b").unwrap());
        assert!(boolean(2, "b").is_err());
        assert!(out(std::ptr::null_mut::<u64>(), "o").is_err());
    }
}
