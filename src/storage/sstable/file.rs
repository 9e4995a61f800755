//! The minimal file access block files need: positional reads of an immutable file
//! ([`BlockSource`]) and appends that the caller can make durable ([`FileSink`]).
//!
//! The engine's file layer implements these for its own handles; [`FileSource`] and the
//! `std::fs::File` sink serve tests and tools, and [`MemSource`] serves in-memory use.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

/// An immutable file read at arbitrary offsets.
pub trait BlockSource: Send + Sync {
    /// Fills `buf` with the bytes at `offset`; fails when the file is shorter.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// Length of the file in bytes.
    fn len(&self) -> u64;
    /// True when the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A name for messages (usually the file's path).
    fn name(&self) -> &str;
}

/// Where a block file is written: appends, then one sync when the file is complete.
pub trait FileSink: Send {
    /// Appends all of `buf`.
    fn write_all(&mut self, buf: &[u8]) -> Result<()>;
    /// Makes everything appended so far durable (`fdatasync` for real files).
    fn sync(&mut self) -> Result<()>;
}

/// A real file opened for reading, with its length fixed at open.
#[derive(Debug)]
pub struct FileSource {
    /// The open file.
    file: File,
    /// Its path, for messages.
    name: String,
    /// Its length at open.
    len: u64,
}

impl FileSource {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> Result<FileSource> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(format!("opening {name}"), e))?;
        FileSource::from_file(file, name)
    }

    /// Wraps an already open file.
    pub fn from_file(file: File, name: String) -> Result<FileSource> {
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("reading the size of {name}"), e))?
            .len();
        Ok(FileSource { file, name, len })
    }
}

impl BlockSource for FileSource {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| {
            Error::io(
                format!(
                    "reading {} bytes of {} at offset {offset}",
                    buf.len(),
                    self.name
                ),
                e,
            )
        })
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// A block file held in memory.
#[derive(Debug, Clone)]
pub struct MemSource {
    /// A name for messages.
    name: String,
    /// The file's bytes.
    data: Vec<u8>,
}

impl MemSource {
    /// A source over `data`, called `name` in messages.
    pub fn new(name: impl Into<String>, data: Vec<u8>) -> MemSource {
        MemSource {
            name: name.into(),
            data,
        }
    }
}

impl BlockSource for MemSource {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let start = usize::try_from(offset).ok();
        let end = start.and_then(|s| s.checked_add(buf.len()));
        match (start, end) {
            (Some(s), Some(e)) if e <= self.data.len() => {
                buf.copy_from_slice(&self.data[s..e]);
                Ok(())
            }
            _ => Err(Error::io(
                format!(
                    "reading {} bytes of {} at offset {offset}",
                    buf.len(),
                    self.name
                ),
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            )),
        }
    }
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl FileSink for File {
    fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        Write::write_all(self, buf).map_err(|e| Error::io("appending to a block file", e))
    }
    fn sync(&mut self) -> Result<()> {
        self.sync_data()
            .map_err(|e| Error::io("syncing a block file", e))
    }
}

impl FileSink for BufWriter<File> {
    fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        Write::write_all(self, buf).map_err(|e| Error::io("appending to a block file", e))
    }
    fn sync(&mut self) -> Result<()> {
        self.flush()
            .map_err(|e| Error::io("flushing a block file", e))?;
        self.get_ref()
            .sync_data()
            .map_err(|e| Error::io("syncing a block file", e))
    }
}

impl FileSink for Vec<u8> {
    fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        self.extend_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }
}

impl<T: FileSink + ?Sized> FileSink for Box<T> {
    fn write_all(&mut self, buf: &[u8]) -> Result<()> {
        (**self).write_all(buf)
    }
    fn sync(&mut self) -> Result<()> {
        (**self).sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_source_reads_what_the_sink_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = File::create(&path).unwrap();
        FileSink::write_all(&mut f, b"hello world").unwrap();
        FileSink::sync(&mut f).unwrap();
        let src = FileSource::open(&path).unwrap();
        assert_eq!(src.len(), 11);
        let mut buf = [0u8; 5];
        src.read_at(6, &mut buf).unwrap();
        assert_eq!(&buf, b"world");
        assert!(src.read_at(7, &mut buf).is_err());
        assert!(src.name().ends_with("/f"));
    }

    #[test]
    fn mem_source_bounds() {
        let src = MemSource::new("m", b"abc".to_vec());
        let mut buf = [0u8; 2];
        src.read_at(1, &mut buf).unwrap();
        assert_eq!(&buf, b"bc");
        assert!(src.read_at(2, &mut buf).is_err());
        assert!(src.read_at(u64::MAX, &mut buf).is_err());
    }
}
