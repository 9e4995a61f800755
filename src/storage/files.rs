//! Block files and the manifest on the engine's file layer: the small traits of the
//! block-file and manifest code ([`BlockSource`], [`FileSink`], [`ManifestFs`])
//! implemented on [`FileSystem`] handles, so that fault injection (and any crash
//! simulation behind the trait) covers every byte of them, plus the names of the
//! files in a database directory.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::io::{FileSystem, ReadableFile, WritableFile};
use super::manifest::ManifestFs;
use super::sstable::{BlockSource, FileSink, parse_table_file_name, table_file_name};
use crate::error::{Error, Result};

/// Suffix of a block file while it is being written.
const TEMP_SUFFIX: &str = ".tmp";

/// Bytes a block file sink gathers before handing them to the file layer.
const SINK_BUFFER: usize = 256 * 1024;

/// The name of block file `id` while it is being written (`<20 digits>.sst.tmp`).
pub fn temp_table_file_name(id: u64) -> String {
    format!("{}{TEMP_SUFFIX}", table_file_name(id))
}

/// The file number in the name of a block file being written, if it is one.
pub fn parse_temp_table_file_name(name: &str) -> Option<u64> {
    parse_table_file_name(name.strip_suffix(TEMP_SUFFIX)?)
}

/// True when `e` says that a file does not exist.
pub(crate) fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == ErrorKind::NotFound)
}

/// A block file opened through the file layer, its length fixed at open.
pub(crate) struct FsSource {
    /// The open file.
    file: Box<dyn ReadableFile>,
    /// Its path, for messages.
    name: String,
    /// Its length at open.
    len: u64,
}

impl FsSource {
    /// Opens `path` through `fs`.
    pub(crate) fn open(fs: &dyn FileSystem, path: &Path) -> Result<FsSource> {
        let file = fs.open(path)?;
        let len = file.size()?;
        Ok(FsSource {
            file,
            name: path.display().to_string(),
            len,
        })
    }
}

impl BlockSource for FsSource {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.file.read_at(offset + done as u64, &mut buf[done..])?;
            if n == 0 {
                return Err(Error::io(
                    format!(
                        "reading {} bytes of {} at offset {offset}: the file ends first",
                        buf.len(),
                        self.name
                    ),
                    std::io::Error::from(ErrorKind::UnexpectedEof),
                ));
            }
            done += n;
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// A block file being written through the file layer, with a write buffer, that fails
/// as soon as `cancel` is set (so a closing engine abandons a long compaction).
pub(crate) struct FsSink {
    /// The file.
    file: Box<dyn WritableFile>,
    /// Its path, for messages.
    name: String,
    /// Bytes not yet handed to the file.
    buf: Vec<u8>,
    /// Set to abandon the write.
    cancel: Option<Arc<AtomicBool>>,
}

impl FsSink {
    /// A sink on `file` (called `name` in messages), abandoned once `cancel` is set.
    pub(crate) fn new(
        file: Box<dyn WritableFile>,
        name: String,
        cancel: Option<Arc<AtomicBool>>,
    ) -> FsSink {
        FsSink {
            file,
            name,
            buf: Vec::with_capacity(SINK_BUFFER),
            cancel,
        }
    }

    fn drain(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.file.append(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl FileSink for FsSink {
    fn write_all(&mut self, data: &[u8]) -> Result<()> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(Error::Closed(format!(
                "writing {} was abandoned: the database is closing",
                self.name
            )));
        }
        if self.buf.len() + data.len() > SINK_BUFFER {
            self.drain()?;
        }
        if data.len() >= SINK_BUFFER {
            return self.file.append(data);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.drain()?;
        self.file.sync()
    }
}

/// The manifest's directory operations on the engine's file layer.
pub(crate) struct FsDir {
    /// The file layer.
    fs: Arc<dyn FileSystem>,
    /// The database directory.
    dir: PathBuf,
}

impl FsDir {
    /// The directory `dir` through `fs`.
    pub(crate) fn new(fs: Arc<dyn FileSystem>, dir: &Path) -> FsDir {
        FsDir {
            fs,
            dir: dir.to_path_buf(),
        }
    }
}

impl ManifestFs for FsDir {
    fn write_synced(&self, name: &str, data: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        // `create` refuses to replace a file: remove a leftover first.
        self.remove(name)?;
        let mut file = self.fs.create(&path)?;
        file.append(data)?;
        file.sync()
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.fs.read_file(&self.dir.join(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.fs.rename(&self.dir.join(from), &self.dir.join(to))
    }

    fn sync_dir(&self) -> Result<()> {
        self.fs.sync_dir(&self.dir)
    }

    fn remove(&self, name: &str) -> Result<()> {
        match self.fs.remove(&self.dir.join(name)) {
            Err(e) if !is_not_found(&e) => Err(e),
            _ => Ok(()),
        }
    }

    fn list(&self) -> Result<Vec<String>> {
        self.fs.list(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::io::OsFs;
    use crate::storage::manifest::{Manifest, ManifestState};

    #[test]
    fn temp_names_round_trip() {
        assert_eq!(temp_table_file_name(7), "00000000000000000007.sst.tmp");
        assert_eq!(
            parse_temp_table_file_name(&temp_table_file_name(7)),
            Some(7)
        );
        assert_eq!(parse_temp_table_file_name(&table_file_name(7)), None);
        assert_eq!(parse_temp_table_file_name("7.sst.tmp"), None);
    }

    #[test]
    fn sink_and_source_round_trip_and_cancel() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let path = dir.path().join("f");
        let cancel = Arc::new(AtomicBool::new(false));
        let mut sink = FsSink::new(fs.create(&path).unwrap(), "f".into(), Some(cancel.clone()));
        let big = vec![3u8; SINK_BUFFER + 10];
        sink.write_all(b"abc").unwrap();
        sink.write_all(&big).unwrap();
        sink.write_all(b"xyz").unwrap();
        sink.sync().unwrap();
        let src = FsSource::open(&fs, &path).unwrap();
        assert_eq!(src.len(), (SINK_BUFFER + 16) as u64);
        let mut buf = [0u8; 3];
        src.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"abc");
        src.read_at(src.len() - 3, &mut buf).unwrap();
        assert_eq!(&buf, b"xyz");
        assert!(src.read_at(src.len() - 2, &mut buf).is_err());
        cancel.store(true, Ordering::Relaxed);
        assert_eq!(
            sink.write_all(b"more").unwrap_err().status(),
            crate::Status::Closed
        );
    }

    #[test]
    fn manifest_installs_through_the_file_layer() {
        let dir = tempfile::tempdir().unwrap();
        let fs: Arc<dyn FileSystem> = Arc::new(OsFs::new());
        let (mut m, state) = Manifest::open(FsDir::new(fs.clone(), dir.path())).unwrap();
        assert!(state.is_none());
        let st = ManifestState {
            next_file_number: 3,
            flushed_ts: 9,
            last_commit_ts: 9,
            log_number: 2,
            levels: vec![Vec::new()],
        };
        m.install(&st).unwrap();
        m.install(&st).unwrap();
        let (_, again) = Manifest::open(FsDir::new(fs, dir.path())).unwrap();
        assert_eq!(again, Some(st));
    }
}
