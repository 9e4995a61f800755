//! The real file system: std files, `fdatasync` for syncs, `flock` for the lock.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::{DirLock, FileSystem, ReadableFile, WritableFile, check_overwrite};
use crate::error::{Error, Result};

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

impl OsFs {
    /// The real file system.
    pub fn new() -> OsFs {
        OsFs
    }
}

/// A file being appended to.
struct OsWritable {
    /// The open file.
    file: File,
    /// Its path, for error messages.
    path: PathBuf,
    /// Bytes in the file, counting every byte the OS accepted.
    len: u64,
}

impl WritableFile for OsWritable {
    fn append(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            match self.file.write(data) {
                Ok(0) => {
                    return Err(Error::io(
                        format!("writing {} at offset {}", self.path.display(), self.len),
                        std::io::Error::from(ErrorKind::WriteZero),
                    ));
                }
                Ok(n) => {
                    self.len += n as u64;
                    data = &data[n..];
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::io(
                        format!("writing {} at offset {}", self.path.display(), self.len),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        check_overwrite(&self.path, offset, data.len(), self.len)?;
        // The file is not opened with O_APPEND, so `pwrite` writes where it is told.
        self.file.write_all_at(data, offset).map_err(|e| {
            Error::io(
                format!("writing {} at offset {offset}", self.path.display()),
                e,
            )
        })
    }

    fn sync(&mut self) -> Result<()> {
        // `sync_data` is `fdatasync` on Linux.
        self.file
            .sync_data()
            .map_err(|e| Error::io(format!("fdatasync of {}", self.path.display()), e))
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// A file being read.
struct OsReadable {
    /// The open file.
    file: File,
    /// Its path, for error messages.
    path: PathBuf,
}

impl ReadableFile for OsReadable {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::io(
                        format!("reading {} at offset {offset}", self.path.display()),
                        e,
                    ));
                }
            }
        }
    }

    fn size(&self) -> Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::io(format!("reading the size of {}", self.path.display()), e))
    }
}

/// An `flock` held on a directory's descriptor; closing the descriptor releases it.
struct OsLock {
    /// The locked directory, kept open for as long as the lock is held.
    _dir: File,
}

impl DirLock for OsLock {}

impl FileSystem for OsFs {
    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating directory {}", dir.display()), e))
    }

    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok(Box::new(OsWritable {
            file,
            path: path.to_path_buf(),
            len: 0,
        }))
    }

    fn open(&self, path: &Path) -> Result<Box<dyn ReadableFile>> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Ok(Box::new(OsReadable {
            file,
            path: path.to_path_buf(),
        }))
    }

    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(format!("opening {} to truncate it", path.display()), e))?;
        file.set_len(len)
            .map_err(|e| Error::io(format!("truncating {} to {len} bytes", path.display()), e))?;
        file.sync_all()
            .map_err(|e| Error::io(format!("fsync of {} after truncating", path.display()), e))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        std::fs::rename(from, to).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", from.display(), to.display()),
                e,
            )
        })
    }

    fn remove(&self, path: &Path) -> Result<()> {
        std::fs::remove_file(path).map_err(|e| Error::io(format!("removing {}", path.display()), e))
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
            // Names that are not UTF-8 are not the engine's files.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let file = File::open(dir)
            .map_err(|e| Error::io(format!("opening directory {}", dir.display()), e))?;
        file.sync_all()
            .map_err(|e| Error::io(format!("fsync of directory {}", dir.display()), e))
    }

    fn lock(&self, dir: &Path) -> Result<Box<dyn DirLock>> {
        let file = File::open(dir)
            .map_err(|e| Error::io(format!("opening directory {} to lock it", dir.display()), e))?;
        // SAFETY: `flock` only reads the descriptor, which `file` keeps open for the
        // duration of the call; it touches no memory of ours.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Box::new(OsLock { _dir: file }));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(Error::Locked(format!(
                "the database in {} is already open in another handle or process; an \
                 embedded database has one owner at a time: for access from several \
                 processes, run `sochdb serve` and connect in socket mode",
                dir.display()
            )));
        }
        Err(Error::io(
            format!("locking directory {}", dir.display()),
            err,
        ))
    }
}
