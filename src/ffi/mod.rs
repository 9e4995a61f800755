//! The C ABI. Every function here is `extern "C"`, catches panics, checks every pointer,
//! and validates every integer that stands for an enum. See `docs/c-api.md`.
//!
//! cbindgen reads this module (and the modules it declares) to generate
//! `include/sochdb.h`.

use std::ffi::c_char;

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
