//! The file layer: every byte the engine writes, reads, syncs, renames or removes goes
//! through a [`FileSystem`].
//!
//! - [`OsFs`] is the real one (std and libc: `fdatasync`, `flock`).
//! - [`FaultFs`] wraps another file system and fails or tears the Nth operation of a
//!   kind, so tests can check what the engine does when the disk says no.
//! - [`SimFs`] keeps the whole file system in memory, written apart from synced, and
//!   builds the disk a power loss would leave (see `sim.rs`).
//!
//! The trait is shaped so that a file system that simulates power loss fits behind it:
//! writes go through [`WritableFile::append`], durability only through
//! [`WritableFile::sync`] and [`FileSystem::sync_dir`], and names only through
//! [`FileSystem::create`], [`FileSystem::rename`] and [`FileSystem::remove`]. Such a
//! layer can keep, per file, the bytes written apart from the bytes synced, and per
//! directory the entries made apart from the entries synced, and build any crash image
//! from them; the engine needs no change for it.

mod fault;
mod os;
mod sim;

use std::path::Path;

use crate::error::{Error, Result};

pub use fault::{FaultFs, FaultKind, FaultOp};
pub use os::OsFs;
pub use sim::{CrashPoint, Fate, Piece, PieceKind, SimFs};

/// A file opened for appending. Bytes appended are handed to the operating system but
/// are durable only after [`WritableFile::sync`] returns `Ok`.
pub trait WritableFile: Send {
    /// Appends `data` at the end of the file. On error, any prefix of `data` may have
    /// been written.
    fn append(&mut self, data: &[u8]) -> Result<()>;
    /// Overwrites `data.len()` bytes at `offset`, all within the file as it is
    /// (`offset + data.len() <= len()`); the length does not change. Durable only after
    /// [`WritableFile::sync`]. On error, any part of `data` may have been written. A
    /// range beyond the end is refused with `Internal` before anything is written.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()>;
    /// Makes every byte written so far durable (`fdatasync`).
    fn sync(&mut self) -> Result<()>;
    /// Bytes in the file, counting everything appended.
    fn len(&self) -> u64;
    /// True when the file holds no byte.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks that an overwrite of `n` bytes at `offset` lies within a file of `len`
/// bytes (see [`WritableFile::write_at`]).
pub(crate) fn check_overwrite(path: &Path, offset: u64, n: usize, len: u64) -> Result<()> {
    match offset.checked_add(n as u64) {
        Some(end) if end <= len => Ok(()),
        _ => Err(Error::Internal(format!(
            "overwrite of {n} bytes at offset {offset} of {}: beyond its end ({len} bytes)",
            path.display()
        ))),
    }
}

/// A file opened for reading at offsets.
pub trait ReadableFile: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read (0 at the
    /// end of the file).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize>;
    /// Bytes in the file.
    fn size(&self) -> Result<u64>;
}

/// A held lock on a directory; dropping it releases the lock.
pub trait DirLock: Send + Sync {}

/// Every file operation the engine performs.
pub trait FileSystem: Send + Sync {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&self, dir: &Path) -> Result<()>;
    /// Creates a new, empty file for appending; fails if it exists. The new name is
    /// durable only after [`FileSystem::sync_dir`] on its directory.
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>>;
    /// Opens an existing file for reading.
    fn open(&self, path: &Path) -> Result<Box<dyn ReadableFile>>;
    /// Cuts the file to `len` bytes and makes the new length durable.
    fn truncate(&self, path: &Path, len: u64) -> Result<()>;
    /// Renames `from` to `to`, replacing `to` atomically. Durable after
    /// [`FileSystem::sync_dir`].
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Removes a file. Durable after [`FileSystem::sync_dir`].
    fn remove(&self, path: &Path) -> Result<()>;
    /// Names of the entries of `dir` (not paths), in no particular order.
    fn list(&self, dir: &Path) -> Result<Vec<String>>;
    /// Makes the entries of `dir` (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// Takes the exclusive lock on `dir`, without waiting. Fails with
    /// [`Error::Locked`] when another handle, in this process or another, holds it.
    fn lock(&self, dir: &Path) -> Result<Box<dyn DirLock>>;

    /// Reads a whole file.
    fn read_file(&self, path: &Path) -> Result<Vec<u8>> {
        let file = self.open(path)?;
        let len = file.size()?;
        let len = usize::try_from(len).map_err(|_| {
            Error::TooLarge(format!(
                "{} is {len} bytes, more than this platform can hold in memory",
                path.display()
            ))
        })?;
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            let n = file.read_at(done as u64, &mut buf[done..])?;
            if n == 0 {
                // The file shrank while being read: keep what is there.
                buf.truncate(done);
                break;
            }
            done += n;
        }
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn os_fs_round_trip_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let path = dir.path().join("a");
        let mut f = fs.create(&path).unwrap();
        f.append(b"hello ").unwrap();
        f.append(b"world").unwrap();
        f.sync().unwrap();
        assert_eq!(f.len(), 11);
        assert!(fs.create(&path).is_err(), "create must not replace a file");
        assert_eq!(fs.read_file(&path).unwrap(), b"hello world");
        fs.truncate(&path, 5).unwrap();
        assert_eq!(fs.read_file(&path).unwrap(), b"hello");
        fs.rename(&path, &dir.path().join("b")).unwrap();
        assert_eq!(fs.list(dir.path()).unwrap(), vec!["b".to_string()]);
        fs.sync_dir(dir.path()).unwrap();
        fs.remove(&dir.path().join("b")).unwrap();
        assert!(fs.list(dir.path()).unwrap().is_empty());

        let held = fs.lock(dir.path()).unwrap();
        let err = fs.lock(dir.path()).err().unwrap();
        assert!(matches!(err, Error::Locked(_)), "{err}");
        assert!(err.to_string().contains("sochdb serve"), "{err}");
        drop(held);
        fs.lock(dir.path()).unwrap();
    }

    #[test]
    fn fault_fs_fails_and_tears_the_nth_operation() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultFs::new(Arc::new(OsFs::new()));
        fs.inject(FaultOp::Write, 2, FaultKind::Torn { keep: 3 });
        fs.inject(FaultOp::Sync, 1, FaultKind::Enospc);
        let path = dir.path().join("f");
        let mut f = fs.create(&path).unwrap();
        f.append(b"abc").unwrap();
        let err = f.append(b"defgh").err().unwrap();
        assert!(err.to_string().contains("injected"), "{err}");
        let err = f.sync().err().unwrap();
        match err {
            Error::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(libc::ENOSPC)),
            other => panic!("unexpected {other}"),
        }
        // One-shot: the next operations succeed.
        f.append(b"!").unwrap();
        f.sync().unwrap();
        assert_eq!(fs.read_file(&path).unwrap(), b"abcdef!");
        assert_eq!(fs.count(FaultOp::Write), 3);
        assert_eq!(fs.count(FaultOp::Sync), 2);
    }
}
