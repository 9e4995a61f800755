//! A file system that fails on purpose: wraps another [`FileSystem`] and makes the Nth
//! operation of a kind fail with `EIO` or `ENOSPC`, or tears the Nth write (writes a
//! prefix of it, then fails). Tests use it to check that every failure reaches the
//! caller and that nothing unacknowledged or half-written survives a reopen.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{DirLock, FileSystem, ReadableFile, WritableFile};
use crate::error::{Error, Result};

/// The kinds of operation that are counted and can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// [`WritableFile::append`].
    Write,
    /// [`WritableFile::sync`].
    Sync,
    /// [`FileSystem::sync_dir`].
    SyncDir,
    /// [`FileSystem::create`].
    Create,
    /// [`FileSystem::rename`].
    Rename,
    /// [`FileSystem::remove`].
    Remove,
    /// [`FileSystem::truncate`].
    Truncate,
    /// [`ReadableFile::read_at`].
    Read,
}

impl FaultOp {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultOp; 8] = [
        FaultOp::Write,
        FaultOp::Sync,
        FaultOp::SyncDir,
        FaultOp::Create,
        FaultOp::Rename,
        FaultOp::Remove,
        FaultOp::Truncate,
        FaultOp::Read,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The operation does nothing and fails with `EIO`.
    Eio,
    /// The operation does nothing and fails with `ENOSPC`.
    Enospc,
    /// A write stores only its first `keep` bytes, then fails with `EIO` (other
    /// operations just fail with `EIO`).
    Torn {
        /// Bytes of the write that reach the file.
        keep: usize,
    },
}

/// Counters and planned faults, shared by the file system and its open files.
#[derive(Debug, Default)]
struct FaultState {
    /// Operations seen so far, per [`FaultOp`].
    counts: [u64; FaultOp::ALL.len()],
    /// Planned faults: (kind of operation, 1-based ordinal, what happens).
    plans: Vec<(FaultOp, u64, FaultKind)>,
    /// Faults that fired, in order.
    fired: Vec<(FaultOp, u64)>,
}

impl FaultState {
    /// Counts one operation and returns the fault planned for it, if any.
    fn tick(&mut self, op: FaultOp) -> Option<FaultKind> {
        let n = &mut self.counts[op.index()];
        *n += 1;
        let n = *n;
        let pos = self.plans.iter().position(|p| p.0 == op && p.1 == n)?;
        let (_, _, kind) = self.plans.swap_remove(pos);
        self.fired.push((op, n));
        Some(kind)
    }
}

/// A [`FileSystem`] that injects faults into another one.
#[derive(Clone)]
pub struct FaultFs {
    /// The file system doing the real work.
    inner: Arc<dyn FileSystem>,
    /// Counters and plans.
    state: Arc<Mutex<FaultState>>,
}

impl FaultFs {
    /// Wraps `inner`, with no fault planned.
    pub fn new(inner: Arc<dyn FileSystem>) -> FaultFs {
        FaultFs {
            inner,
            state: Arc::new(Mutex::new(FaultState::default())),
        }
    }

    /// Plans a fault: the `nth` operation of kind `op` (1-based, counted from the
    /// creation of this file system) does `kind`. Each plan fires once.
    pub fn inject(&self, op: FaultOp, nth: u64, kind: FaultKind) {
        self.state.lock().plans.push((op, nth, kind));
    }

    /// Operations of kind `op` performed so far (failed ones included).
    pub fn count(&self, op: FaultOp) -> u64 {
        self.state.lock().counts[op.index()]
    }

    /// The faults that fired so far: kind of operation and ordinal.
    pub fn fired(&self) -> Vec<(FaultOp, u64)> {
        self.state.lock().fired.clone()
    }

    /// Forgets every planned fault that has not fired.
    pub fn clear(&self) {
        self.state.lock().plans.clear();
    }

    fn check(&self, op: FaultOp, what: impl FnOnce() -> String) -> Result<()> {
        let planned = self.state.lock().tick(op);
        match planned {
            None => Ok(()),
            Some(kind) => Err(injected(kind, what())),
        }
    }
}

/// The error an injected fault returns.
fn injected(kind: FaultKind, what: String) -> Error {
    let errno = match kind {
        FaultKind::Enospc => libc::ENOSPC,
        FaultKind::Eio | FaultKind::Torn { .. } => libc::EIO,
    };
    Error::io(
        format!("{what} (injected fault)"),
        std::io::Error::from_raw_os_error(errno),
    )
}

/// A file being appended to through a [`FaultFs`].
struct FaultWritable {
    /// The real file.
    inner: Box<dyn WritableFile>,
    /// The shared counters and plans.
    fs: FaultFs,
    /// The path, for error messages.
    name: String,
}

impl WritableFile for FaultWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        let planned = self.fs.state.lock().tick(FaultOp::Write);
        match planned {
            None => self.inner.append(data),
            Some(kind) => {
                if let FaultKind::Torn { keep } = kind {
                    self.inner.append(&data[..keep.min(data.len())])?;
                }
                Err(injected(
                    kind,
                    format!("writing {} at offset {}", self.name, self.inner.len()),
                ))
            }
        }
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let planned = self.fs.state.lock().tick(FaultOp::Write);
        match planned {
            None => self.inner.write_at(offset, data),
            Some(kind) => {
                if let FaultKind::Torn { keep } = kind {
                    self.inner.write_at(offset, &data[..keep.min(data.len())])?;
                }
                Err(injected(
                    kind,
                    format!("writing {} at offset {offset}", self.name),
                ))
            }
        }
    }

    fn sync(&mut self) -> Result<()> {
        self.fs
            .check(FaultOp::Sync, || format!("fdatasync of {}", self.name))?;
        self.inner.sync()
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }
}

/// A file being read through a [`FaultFs`].
struct FaultReadable {
    /// The real file.
    inner: Box<dyn ReadableFile>,
    /// The shared counters and plans.
    fs: FaultFs,
    /// The path, for error messages.
    name: String,
}

impl ReadableFile for FaultReadable {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.fs.check(FaultOp::Read, || {
            format!("reading {} at offset {offset}", self.name)
        })?;
        self.inner.read_at(offset, buf)
    }

    fn size(&self) -> Result<u64> {
        self.inner.size()
    }
}

impl FileSystem for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        self.check(FaultOp::Create, || format!("creating {}", path.display()))?;
        Ok(Box::new(FaultWritable {
            inner: self.inner.create(path)?,
            fs: self.clone(),
            name: path.display().to_string(),
        }))
    }

    fn open(&self, path: &Path) -> Result<Box<dyn ReadableFile>> {
        Ok(Box::new(FaultReadable {
            inner: self.inner.open(path)?,
            fs: self.clone(),
            name: path.display().to_string(),
        }))
    }

    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        self.check(FaultOp::Truncate, || {
            format!("truncating {} to {len} bytes", path.display())
        })?;
        self.inner.truncate(path, len)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.check(FaultOp::Rename, || {
            format!("renaming {} to {}", from.display(), to.display())
        })?;
        self.inner.rename(from, to)
    }

    fn remove(&self, path: &Path) -> Result<()> {
        self.check(FaultOp::Remove, || format!("removing {}", path.display()))?;
        self.inner.remove(path)
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        self.inner.list(dir)
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.check(FaultOp::SyncDir, || {
            format!("fsync of directory {}", dir.display())
        })?;
        self.inner.sync_dir(dir)
    }

    fn lock(&self, dir: &Path) -> Result<Box<dyn DirLock>> {
        self.inner.lock(dir)
    }
}
