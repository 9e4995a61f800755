//! The C ABI. Every function here is `extern "C"`, catches panics, checks every pointer,
//! and validates every integer that stands for an enum. See `docs/c-api.md`.
//!
//! cbindgen reads this module (and the modules it declares) to generate
//! `include/sochdb.h`.
//!
//! The conventions every function follows, stated once here and in the header:
//!
//! - A fallible function returns a [`sochdb_status`] and takes a trailing
//!   `sochdb_error **err`. `*err` is set to NULL on entry and, on failure, to a new error
//!   object that the caller frees with `sochdb_error_free`. `err` may be NULL.
//! - Handles are validated against a registry of live handles before any use, so a
//!   freed, closed or foreign pointer gives an error instead of undefined behaviour.
//! - Input pointers are borrowed for the duration of the call only.
//!
//! The safety contract of every `unsafe extern "C"` function is the same: each pointer is
//! NULL or valid for the documented length; strings are NUL-terminated. It is documented
//! once in the header and in `docs/c-api.md` rather than on every function.
#![allow(clippy::missing_safety_doc)]
#![allow(non_camel_case_types)]

use std::ffi::c_char;

// The order of these declarations is the order of the generated header.
pub mod status;

pub mod error;

pub mod buf;

pub mod options;

pub mod db;

pub mod txn;

pub mod batch;

pub mod iter;

pub mod path;

pub mod value;

pub mod table;

pub mod query;

pub mod server;

// Internal plumbing (no C items).
pub(crate) mod args;
pub(crate) mod guard;
pub(crate) mod handle;

#[cfg(test)]
mod testing;

pub use status::sochdb_status;

/// Major version of the library and header.
pub const SOCHDB_VERSION_MAJOR: u32 = 0;
/// Minor version of the library and header.
pub const SOCHDB_VERSION_MINOR: u32 = 1;
/// Patch version of the library and header.
pub const SOCHDB_VERSION_PATCH: u32 = 0;

static VERSION_CSTR: &[u8] = concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes();

/// The library version as a NUL-terminated `"major.minor.patch"` string.
///
/// Ownership: the string is static; do not free it. Thread-safety: safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn sochdb_version() -> *const c_char {
    VERSION_CSTR.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_crate_and_constants() {
        // SAFETY: sochdb_version returns a pointer to a static NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(sochdb_version()) };
        assert_eq!(s.to_str().ok(), Some(crate::VERSION));
        let expect =
            format!("{SOCHDB_VERSION_MAJOR}.{SOCHDB_VERSION_MINOR}.{SOCHDB_VERSION_PATCH}");
        assert_eq!(expect, crate::VERSION);
    }
}
