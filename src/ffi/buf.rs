//! Byte buffers the library hands to the caller, and borrowed views.

use super::guard::guard_void;

/// A byte buffer allocated by the library and owned by the caller.
///
/// Ownership: free it with `sochdb_buf_free` (exactly one function frees every buffer
/// the library returns). `data` is NULL only when nothing is allocated (`len` 0, `cap`
/// 0). Text results (JSON, TOON) are followed by a NUL byte not counted in `len`, so
/// `data` can be printed as a C string. Functions that fill a `sochdb_buf` set it to
/// all zeros first, so freeing it after a failed call is always safe.
#[repr(C)]
#[derive(Debug)]
pub struct sochdb_buf {
    /// The bytes (NULL when nothing is allocated).
    pub data: *mut u8,
    /// Number of bytes.
    pub len: usize,
    /// Allocation size, for `sochdb_buf_free`; do not change it.
    pub cap: usize,
}

impl sochdb_buf {
    /// The empty buffer (nothing allocated).
    pub const EMPTY: sochdb_buf = sochdb_buf {
        data: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    /// Hands a vector's allocation to the caller without copying.
    pub(crate) fn from_vec(v: Vec<u8>) -> sochdb_buf {
        if v.capacity() == 0 {
            return sochdb_buf::EMPTY;
        }
        let mut v = std::mem::ManuallyDrop::new(v);
        sochdb_buf {
            data: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }

    /// Hands text to the caller, followed by a NUL byte that `len` does not count.
    pub(crate) fn from_text(s: String) -> sochdb_buf {
        let mut v = s.into_bytes();
        let len = v.len();
        v.push(0);
        let mut b = sochdb_buf::from_vec(v);
        b.len = len;
        b
    }
}

/// A borrowed view of bytes owned by the library; never freed by the caller. Each
/// function that returns one says how long it stays valid.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sochdb_slice {
    /// The bytes: never NULL in a view the library filled, even when `len` is 0.
    pub data: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// What empty views point to.
static EMPTY_BYTE: u8 = 0;

impl sochdb_slice {
    /// The empty view.
    pub const EMPTY: sochdb_slice = sochdb_slice {
        data: std::ptr::null(),
        len: 0,
    };

    /// A view of `bytes` (an empty slice views a static byte, so `data` is not NULL).
    pub(crate) fn of(bytes: &[u8]) -> sochdb_slice {
        if bytes.is_empty() {
            return sochdb_slice {
                data: &EMPTY_BYTE,
                len: 0,
            };
        }
        sochdb_slice {
            data: bytes.as_ptr(),
            len: bytes.len(),
        }
    }
}

/// Frees a buffer the library returned and resets it to all zeros, so freeing it twice
/// is harmless. NULL, and a buffer with a NULL `data`, are ignored.
///
/// Thread-safety: a buffer belongs to its caller; free it once, from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_buf_free(buf: *mut sochdb_buf) {
    guard_void("sochdb_buf_free", || {
        if buf.is_null() || !buf.is_aligned() {
            return Ok(());
        }
        // SAFETY: a non-NULL `buf` points to a `sochdb_buf` the caller owns.
        let b = unsafe { buf.replace(sochdb_buf::EMPTY) };
        if !b.data.is_null() && b.cap > 0 {
            // SAFETY: `data` and `cap` come from `from_vec`, which gave up a Vec<u8>
            // with exactly this pointer and capacity; the length only needs to be at
            // most the capacity (0 is).
            drop(unsafe { Vec::from_raw_parts(b.data, 0, b.cap) });
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_round_trip_and_free_twice_safely() {
        let mut b = sochdb_buf::from_vec(b"hello".to_vec());
        // SAFETY: b.data is valid for b.len bytes until freed.
        assert_eq!(
            unsafe { std::slice::from_raw_parts(b.data, b.len) },
            b"hello"
        );
        // SAFETY: b is a buffer from from_vec.
        unsafe {
            sochdb_buf_free(&mut b);
            assert!(b.data.is_null() && b.len == 0 && b.cap == 0);
            sochdb_buf_free(&mut b);
            sochdb_buf_free(std::ptr::null_mut());
        }
    }

    #[test]
    fn text_is_nul_terminated_and_empty_is_null() {
        let mut t = sochdb_buf::from_text("ab".into());
        assert_eq!(t.len, 2);
        // SAFETY: text buffers hold len + 1 bytes.
        assert_eq!(unsafe { *t.data.add(2) }, 0);
        // SAFETY: t is a buffer from from_text.
        unsafe { sochdb_buf_free(&mut t) };
        let e = sochdb_buf::from_vec(Vec::new());
        assert!(e.data.is_null());
        let s = sochdb_slice::of(b"");
        assert!(!s.data.is_null() && s.len == 0);
    }
}
