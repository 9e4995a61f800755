//! Status codes as the C ABI exposes them: the values of [`crate::error::Status`].

use std::ffi::c_char;

use crate::error::Status;

/// A status code returned by every fallible function. `SOCHDB_OK` (0) is success; the
/// other values are the `SOCHDB_*` status constants. The numbering never changes.
pub type sochdb_status = i32;

/// Success.
pub const SOCHDB_OK: i32 = 0;
/// The key, row, table or transaction does not exist. Lookups (`sochdb_get`,
/// `sochdb_path_get`, `sochdb_row_get`) and `sochdb_iter_next` return it without an
/// error object when the key or row is simply absent or the iterator is exhausted.
pub const SOCHDB_NOT_FOUND: i32 = 1;
/// A concurrent transaction committed a conflicting write; retry the whole transaction.
pub const SOCHDB_CONFLICT: i32 = 2;
/// An argument is invalid (NULL pointer, bad enum value, bad path, wrong column type...).
pub const SOCHDB_INVALID_ARGUMENT: i32 = 3;
/// The operating system reported an I/O error.
pub const SOCHDB_IO: i32 = 4;
/// Stored data failed a checksum or a structural check.
pub const SOCHDB_CORRUPTION: i32 = 5;
/// The database directory is locked by another open handle or process (use socket mode
/// to share a database between processes).
pub const SOCHDB_LOCKED: i32 = 6;
/// The handle was closed or freed, or its transaction has already ended.
pub const SOCHDB_CLOSED: i32 = 7;
/// A limit on concurrent work was reached; try again later.
pub const SOCHDB_BUSY: i32 = 8;
/// The server violated the socket protocol, or the connection failed.
pub const SOCHDB_PROTOCOL: i32 = 9;
/// A key, value, batch or frame exceeds its documented maximum.
pub const SOCHDB_TOO_LARGE: i32 = 10;
/// An internal invariant failed (a bug, or a panic caught at the boundary).
pub const SOCHDB_INTERNAL: i32 = 11;
/// The database is read-only (opened so, or after a failed sync), or the transaction is.
pub const SOCHDB_READ_ONLY: i32 = 12;
/// An operation did not finish within its time limit.
pub const SOCHDB_TIMEOUT: i32 = 13;
/// The object already exists (for example a table, or a row on insert).
pub const SOCHDB_ALREADY_EXISTS: i32 = 14;

/// Static NUL-terminated names, indexed by status code.
static NAMES: [&[u8]; 15] = [
    b"OK\0",
    b"NOT_FOUND\0",
    b"CONFLICT\0",
    b"INVALID_ARGUMENT\0",
    b"IO\0",
    b"CORRUPTION\0",
    b"LOCKED\0",
    b"CLOSED\0",
    b"BUSY\0",
    b"PROTOCOL\0",
    b"TOO_LARGE\0",
    b"INTERNAL\0",
    b"READ_ONLY\0",
    b"TIMEOUT\0",
    b"ALREADY_EXISTS\0",
];

static UNKNOWN: &[u8] = b"UNKNOWN\0";

/// The fixed upper-case name of a status code (`"CONFLICT"`), or `"UNKNOWN"` for a code
/// that is not a status.
///
/// Ownership: the string is static; do not free it. Thread-safety: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn sochdb_status_str(status: sochdb_status) -> *const c_char {
    let name = match Status::from_code(status) {
        Some(s) => NAMES.get(s as usize).copied().unwrap_or(UNKNOWN),
        None => UNKNOWN,
    };
    name.as_ptr().cast()
}

/// The C status code of a crate status.
pub(crate) fn code(status: Status) -> sochdb_status {
    status as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn name_of(code: sochdb_status) -> String {
        // SAFETY: sochdb_status_str always returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(sochdb_status_str(code)) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn constants_equal_the_crate_status_codes() {
        let consts = [
            (SOCHDB_OK, Status::Ok),
            (SOCHDB_NOT_FOUND, Status::NotFound),
            (SOCHDB_CONFLICT, Status::Conflict),
            (SOCHDB_INVALID_ARGUMENT, Status::InvalidArgument),
            (SOCHDB_IO, Status::Io),
            (SOCHDB_CORRUPTION, Status::Corruption),
            (SOCHDB_LOCKED, Status::Locked),
            (SOCHDB_CLOSED, Status::Closed),
            (SOCHDB_BUSY, Status::Busy),
            (SOCHDB_PROTOCOL, Status::Protocol),
            (SOCHDB_TOO_LARGE, Status::TooLarge),
            (SOCHDB_INTERNAL, Status::Internal),
            (SOCHDB_READ_ONLY, Status::ReadOnly),
            (SOCHDB_TIMEOUT, Status::Timeout),
            (SOCHDB_ALREADY_EXISTS, Status::AlreadyExists),
        ];
        assert_eq!(consts.len(), Status::ALL.len());
        for (c, s) in consts {
            assert_eq!(c, code(s));
            assert_eq!(name_of(c), s.name());
        }
    }

    #[test]
    fn unknown_codes_have_the_unknown_name() {
        assert_eq!(name_of(-1), "UNKNOWN");
        assert_eq!(name_of(15), "UNKNOWN");
        assert_eq!(name_of(i32::MAX), "UNKNOWN");
        assert_eq!(name_of(i32::MIN), "UNKNOWN");
    }
}
