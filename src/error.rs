//! The error type shared by every layer, and the stable status codes it maps to.
//!
//! Every error carries a message with context (which file, which key, which column).
//! [`Error::status`] gives the status code that the C ABI, the socket protocol and the
//! SDKs expose; those codes never change once released.

use std::io;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Stable status codes. `Ok` is 0; the numbering is part of the C ABI and never changes.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// The key, row, table or transaction does not exist.
    NotFound = 1,
    /// A concurrent transaction committed a conflicting write; retry the transaction.
    Conflict = 2,
    /// An argument is invalid (bad path, wrong column type, bad option, ...).
    InvalidArgument = 3,
    /// The operating system reported an I/O error.
    Io = 4,
    /// Stored data failed a checksum or a structural check.
    Corruption = 5,
    /// The database directory is locked by another open handle or process.
    Locked = 6,
    /// The handle was closed.
    Closed = 7,
    /// A limit on concurrent work was reached; try again later.
    Busy = 8,
    /// The peer violated the socket protocol, or the connection failed.
    Protocol = 9,
    /// A key, value, batch or frame exceeds its documented maximum.
    TooLarge = 10,
    /// An internal invariant failed (a bug); the message says where.
    Internal = 11,
    /// The database is read-only (opened so, or after a failed sync).
    ReadOnly = 12,
    /// An operation did not finish within its time limit.
    Timeout = 13,
    /// The object already exists (for example a table).
    AlreadyExists = 14,
}

impl Status {
    /// Every status, in code order.
    pub const ALL: [Status; 15] = [
        Status::Ok,
        Status::NotFound,
        Status::Conflict,
        Status::InvalidArgument,
        Status::Io,
        Status::Corruption,
        Status::Locked,
        Status::Closed,
        Status::Busy,
        Status::Protocol,
        Status::TooLarge,
        Status::Internal,
        Status::ReadOnly,
        Status::Timeout,
        Status::AlreadyExists,
    ];

    /// The status for a raw code, or `None` when the code is unknown.
    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| *s as i32 == code)
    }

    /// The fixed, upper-case name of the status (`"CONFLICT"`).
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::NotFound => "NOT_FOUND",
            Status::Conflict => "CONFLICT",
            Status::InvalidArgument => "INVALID_ARGUMENT",
            Status::Io => "IO",
            Status::Corruption => "CORRUPTION",
            Status::Locked => "LOCKED",
            Status::Closed => "CLOSED",
            Status::Busy => "BUSY",
            Status::Protocol => "PROTOCOL",
            Status::TooLarge => "TOO_LARGE",
            Status::Internal => "INTERNAL",
            Status::ReadOnly => "READ_ONLY",
            Status::Timeout => "TIMEOUT",
            Status::AlreadyExists => "ALREADY_EXISTS",
        }
    }
}

/// The error type of every SochDB operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// See [`Status::NotFound`].
    #[error("not found: {0}")]
    NotFound(String),
    /// See [`Status::Conflict`]. Always safe to retry the whole transaction.
    #[error("transaction conflict: {0}; the transaction left no trace and can be retried")]
    Conflict(String),
    /// See [`Status::InvalidArgument`].
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// See [`Status::Io`].
    #[error("I/O error: {context}: {source}")]
    Io {
        /// What was being done, and on which file.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// See [`Status::Corruption`].
    #[error("corruption: {0}")]
    Corruption(String),
    /// See [`Status::Locked`].
    #[error("locked: {0}")]
    Locked(String),
    /// See [`Status::Closed`].
    #[error("closed: {0}")]
    Closed(String),
    /// See [`Status::Busy`].
    #[error("busy: {0}")]
    Busy(String),
    /// See [`Status::Protocol`].
    #[error("protocol error: {0}")]
    Protocol(String),
    /// See [`Status::TooLarge`].
    #[error("too large: {0}")]
    TooLarge(String),
    /// See [`Status::Internal`].
    #[error("internal error: {0}")]
    Internal(String),
    /// See [`Status::ReadOnly`].
    #[error("read-only: {0}")]
    ReadOnly(String),
    /// See [`Status::Timeout`].
    #[error("timeout: {0}")]
    Timeout(String),
    /// See [`Status::AlreadyExists`].
    #[error("already exists: {0}")]
    AlreadyExists(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The stable status code of this error.
    pub fn status(&self) -> Status {
        match self {
            Error::NotFound(_) => Status::NotFound,
            Error::Conflict(_) => Status::Conflict,
            Error::InvalidArgument(_) => Status::InvalidArgument,
            Error::Io { .. } => Status::Io,
            Error::Corruption(_) => Status::Corruption,
            Error::Locked(_) => Status::Locked,
            Error::Closed(_) => Status::Closed,
            Error::Busy(_) => Status::Busy,
            Error::Protocol(_) => Status::Protocol,
            Error::TooLarge(_) => Status::TooLarge,
            Error::Internal(_) => Status::Internal,
            Error::ReadOnly(_) => Status::ReadOnly,
            Error::Timeout(_) => Status::Timeout,
            Error::AlreadyExists(_) => Status::AlreadyExists,
        }
    }

    /// Rebuilds an error from a status and a message (used by the socket client and the
    /// FFI layer, where only the code and the text cross the boundary).
    pub fn from_status(status: Status, message: String) -> Error {
        match status {
            Status::NotFound => Error::NotFound(message),
            Status::Conflict => Error::Conflict(message),
            Status::InvalidArgument => Error::InvalidArgument(message),
            Status::Io => Error::io(message, io::Error::other("reported by peer")),
            Status::Corruption => Error::Corruption(message),
            Status::Locked => Error::Locked(message),
            Status::Closed => Error::Closed(message),
            Status::Busy => Error::Busy(message),
            Status::Protocol => Error::Protocol(message),
            Status::TooLarge => Error::TooLarge(message),
            Status::ReadOnly => Error::ReadOnly(message),
            Status::Timeout => Error::Timeout(message),
            Status::AlreadyExists => Error::AlreadyExists(message),
            Status::Ok | Status::Internal => Error::Internal(message),
        }
    }

    /// True when retrying the whole transaction may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Conflict(_) | Error::Busy(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_round_trip() {
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(*s as i32, i as i32);
            assert_eq!(Status::from_code(i as i32), Some(*s));
        }
        assert_eq!(Status::from_code(-1), None);
        assert_eq!(Status::from_code(Status::ALL.len() as i32), None);
    }

    #[test]
    fn errors_map_to_their_status() {
        for s in Status::ALL.iter().copied().filter(|s| *s != Status::Ok) {
            let e = Error::from_status(s, "m".into());
            assert_eq!(e.status(), s, "{s:?}");
        }
        assert!(Error::Conflict("k".into()).to_string().contains("retried"));
    }
}
