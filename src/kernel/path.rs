//! Paths: hierarchical names for values (`users/alice/email`).
//!
//! A path is stored under the key made of its UTF-8 bytes, so a path and the plain key
//! with the same bytes are the same entry. A valid path is non-empty, made of non-empty
//! segments joined by `/`, with no NUL anywhere and no leading or trailing `/`. A path
//! scan is segment-aware: the scan of `users` covers the keys starting with `users/`, so
//! it never returns `users_archive/...`.

use crate::error::{Error, Result};
use crate::storage::MAX_KEY_LEN;

/// The separator between segments.
pub const SEPARATOR: char = '/';

/// Checks a path, with a message that says what is wrong and where.
pub fn validate(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Error::InvalidArgument("path is empty".into()));
    }
    if path.len() > MAX_KEY_LEN {
        return Err(Error::TooLarge(format!(
            "path of {} bytes exceeds the maximum key length of {MAX_KEY_LEN}",
            path.len()
        )));
    }
    for (i, segment) in path.split(SEPARATOR).enumerate() {
        check_segment(segment)
            .map_err(|why| Error::InvalidArgument(format!("path {path:?}: segment {i} {why}")))?;
    }
    Ok(())
}

fn check_segment(segment: &str) -> std::result::Result<(), &'static str> {
    if segment.is_empty() {
        return Err("is empty (leading, trailing or doubled '/')");
    }
    if segment.contains('\0') {
        return Err("contains a NUL character");
    }
    Ok(())
}

/// Joins segments into a path, checking each (a segment may not contain `/` or NUL).
pub fn join<S: AsRef<str>>(segments: &[S]) -> Result<String> {
    if segments.is_empty() {
        return Err(Error::InvalidArgument("path has no segments".into()));
    }
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        let segment = segment.as_ref();
        if segment.contains(SEPARATOR) {
            return Err(Error::InvalidArgument(format!(
                "path segment {i} ({segment:?}) contains '/'"
            )));
        }
        check_segment(segment)
            .map_err(|why| Error::InvalidArgument(format!("path segment {i} {why}")))?;
        if i > 0 {
            out.push(SEPARATOR);
        }
        out.push_str(segment);
    }
    validate(&out)?;
    Ok(out)
}

/// The key prefix a scan of `path` covers: the path followed by `/`.
pub fn scan_prefix(path: &str) -> Result<Vec<u8>> {
    validate(path)?;
    let mut prefix = Vec::with_capacity(path.len() + 1);
    prefix.extend_from_slice(path.as_bytes());
    prefix.push(SEPARATOR as u8);
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths() {
        for p in ["a", "users/alice/email", "a b/c", "ü/☃", "x/../y"] {
            assert!(validate(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn invalid_paths_say_why() {
        for (p, why) in [
            ("", "empty"),
            ("/a", "segment 0 is empty"),
            ("a/", "segment 1 is empty"),
            ("a//b", "segment 1 is empty"),
            ("a/b\0c", "NUL"),
        ] {
            let e = validate(p).unwrap_err();
            assert!(e.to_string().contains(why), "{p:?}: {e}");
        }
        let long = "a".repeat(MAX_KEY_LEN + 1);
        assert!(matches!(validate(&long), Err(Error::TooLarge(_))));
    }

    #[test]
    fn join_checks_segments() {
        assert_eq!(
            join(&["users", "alice", "email"]).unwrap(),
            "users/alice/email"
        );
        assert!(join(&["a/b"]).is_err());
        assert!(join(&["a", ""]).is_err());
        assert!(join::<&str>(&[]).is_err());
    }

    #[test]
    fn scan_prefix_is_segment_aware() {
        assert_eq!(scan_prefix("users").unwrap(), b"users/".to_vec());
        assert!(!b"users_archive/x".starts_with(&scan_prefix("users").unwrap()));
    }
}
