//! A file system in memory that simulates power loss.
//!
//! [`SimFs`] keeps, for every file, the bytes made durable by a sync apart from the
//! bytes only appended since, and, for every directory, the entries made durable by a
//! directory sync apart from the creations, renames and removals made since. At any
//! moment [`SimFs::crash_image`] builds the disk a power loss would leave: the durable
//! state plus whichever unsynced pieces a chooser keeps: a write kept, lost, torn to
//! a prefix or, for an append, left as zeroes (the size reached the disk, the data did
//! not); a
//! directory operation kept or lost, in any combination, so a rename may survive
//! without the creation before it or the reverse. The image is a new `SimFs` on which
//! the engine is reopened.
//!
//! Two more tools for crash tests: [`SimFs::record_crash_points`] keeps a copy of the
//! whole state after every operation that changes it, so one run of a workload yields
//! every crash point along it; [`SimFs::set_capacity`] makes appends past a byte budget
//! fail with `ENOSPC` (a full disk that stays full).
//!
//! Model, stated once: files grow by appends, and bytes already in a file may be
//! overwritten in place ([`WritableFile::write_at`]: the log writes its records over
//! zeroes it wrote ahead); a file's
//! data lives apart from its names (an open file keeps working after a rename or a
//! removal), [`FileSystem::truncate`] is durable when it returns (as `OsFs` syncs it),
//! directories themselves are durable once created, and a rename is atomic (its new
//! name and the removal of its old one survive or vanish together).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{DirLock, FileSystem, ReadableFile, WritableFile, check_overwrite};
use crate::error::{Error, Result};

/// What a power loss does to one unsynced piece of state (see [`SimFs::crash_image`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The piece reached the disk.
    Keep,
    /// The piece never reached the disk.
    Lose,
    /// Only the first `n` bytes of an append reached the disk (for a directory
    /// operation this is [`Fate::Lose`]).
    Torn(usize),
    /// An append's length reached the disk but its data did not: zeroes (for a
    /// directory operation this is [`Fate::Lose`]).
    Zeroed,
}

/// The kind of an unsynced piece of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// A write to a file of `len` bytes: an append, or an overwrite of bytes already in
    /// it (for which [`Fate::Zeroed`] is [`Fate::Lose`]: the size does not change, the
    /// old bytes stay).
    Append {
        /// Bytes appended.
        len: usize,
    },
    /// A creation, rename or removal of a directory entry.
    DirOp,
}

/// One unsynced piece of state, as shown to the chooser of [`SimFs::crash_image`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// What it is.
    pub kind: PieceKind,
    /// Its position among the unsynced pieces asked about, from 0, in a fixed order
    /// (directories first, then files by creation).
    pub index: usize,
    /// A description naming the file or entry, for messages.
    pub what: String,
}

/// A copy of the whole state taken after an operation (see
/// [`SimFs::record_crash_points`]).
#[derive(Clone)]
pub struct CrashPoint {
    /// Operations that had changed the state when this copy was taken (1 for the
    /// first).
    pub op: u64,
    /// The operation just done.
    pub what: String,
    /// The state at that moment, with its unsynced pieces, as a file system of its own.
    pub fs: SimFs,
}

impl fmt::Debug for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "crash point {} after {}", self.op, self.what)
    }
}

/// A file's data.
#[derive(Debug, Clone, Default)]
struct Inode {
    /// The file's bytes, synced or not.
    data: Vec<u8>,
    /// The file's bytes as of its last sync.
    durable: Vec<u8>,
    /// The writes since the last sync, in order: the offset, the bytes, and whether it
    /// was an append (else an overwrite).
    writes: Vec<(usize, Vec<u8>, bool)>,
    /// The path the file was created under, for messages.
    origin: String,
}

impl Inode {
    /// Makes every write durable.
    fn sync(&mut self) {
        for (at, bytes, _) in self.writes.drain(..) {
            put_at(&mut self.durable, at, &bytes);
        }
    }
}

/// Writes `bytes` into `data` at `at`, growing it with zeroes as needed.
fn put_at(data: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    let stop = at + bytes.len();
    if data.len() < stop {
        data.resize(stop, 0);
    }
    data[at..stop].copy_from_slice(bytes);
}

/// A change to a directory not yet made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DirOp {
    /// `name` was created for file `ino`.
    Create {
        /// The new name.
        name: String,
        /// The file.
        ino: u64,
    },
    /// File `ino` was renamed from `from` to `to`.
    Rename {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
        /// The file.
        ino: u64,
    },
    /// `name`, which named file `ino`, was removed.
    Remove {
        /// The removed name.
        name: String,
        /// The file it named.
        ino: u64,
    },
}

impl DirOp {
    /// Applies the operation to a name table.
    fn apply(&self, names: &mut BTreeMap<String, u64>) {
        match self {
            DirOp::Create { name, ino } => {
                names.insert(name.clone(), *ino);
            }
            DirOp::Rename { from, to, ino } => {
                if names.get(from) == Some(ino) {
                    names.remove(from);
                }
                names.insert(to.clone(), *ino);
            }
            DirOp::Remove { name, ino } => {
                if names.get(name) == Some(ino) {
                    names.remove(name);
                }
            }
        }
    }

    /// The file the operation concerns.
    fn ino(&self) -> u64 {
        match self {
            DirOp::Create { ino, .. } | DirOp::Rename { ino, .. } | DirOp::Remove { ino, .. } => {
                *ino
            }
        }
    }

    fn describe(&self, dir: &Path) -> String {
        match self {
            DirOp::Create { name, .. } => format!("create {}", dir.join(name).display()),
            DirOp::Rename { from, to, .. } => {
                format!("rename {} to {to}", dir.join(from).display())
            }
            DirOp::Remove { name, .. } => format!("remove {}", dir.join(name).display()),
        }
    }
}

/// A directory's entries.
#[derive(Debug, Clone, Default)]
struct Dir {
    /// Entries as the running system sees them.
    live: BTreeMap<String, u64>,
    /// Entries as of the last directory sync.
    durable: BTreeMap<String, u64>,
    /// Changes since the last directory sync, in order.
    pending: Vec<DirOp>,
}

/// The state behind a [`SimFs`].
#[derive(Debug, Clone, Default)]
struct State {
    /// Files by number.
    inodes: BTreeMap<u64, Inode>,
    /// The next file number.
    next_ino: u64,
    /// Directories by path.
    dirs: BTreeMap<PathBuf, Dir>,
    /// Directories locked by an open handle.
    locks: BTreeSet<PathBuf>,
    /// Operations that changed the state so far.
    ops: u64,
    /// Most bytes all files together may hold; `None` for no limit.
    capacity: Option<u64>,
    /// Copies taken after each operation, when recording.
    points: Option<Vec<CrashPoint>>,
}

impl State {
    /// The state without locks or recorded points, for a copy.
    fn copy(&self) -> State {
        State {
            inodes: self.inodes.clone(),
            next_ino: self.next_ino,
            dirs: self.dirs.clone(),
            locks: BTreeSet::new(),
            ops: self.ops,
            capacity: self.capacity,
            points: None,
        }
    }

    /// Counts an operation that changed the state, and records a crash point.
    fn changed(&mut self, what: impl FnOnce() -> String) {
        self.ops += 1;
        if self.points.is_some() {
            let point = CrashPoint {
                op: self.ops,
                what: what(),
                fs: SimFs::from_state(self.copy()),
            };
            if let Some(points) = self.points.as_mut() {
                points.push(point);
            }
        }
    }

    fn used_bytes(&self) -> u64 {
        self.inodes.values().map(|i| i.data.len() as u64).sum()
    }

    fn dir(&self, dir: &Path) -> Result<&Dir> {
        self.dirs.get(dir).ok_or_else(|| no_such(dir, "directory"))
    }

    fn dir_mut(&mut self, dir: &Path) -> Result<&mut Dir> {
        self.dirs
            .get_mut(dir)
            .ok_or_else(|| no_such(dir, "directory"))
    }

    /// The file a path names.
    fn lookup(&self, path: &Path) -> Result<u64> {
        let (dir, name) = split(path)?;
        self.dir(dir)?
            .live
            .get(&name)
            .copied()
            .ok_or_else(|| no_such(path, "file"))
    }
}

/// An in-memory [`FileSystem`] that can show the disk a power loss would leave.
/// Cloning shares the same state.
#[derive(Clone, Default)]
pub struct SimFs {
    /// The shared state.
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        write!(
            f,
            "SimFs({} files, {} directories, {} operations)",
            s.inodes.len(),
            s.dirs.len(),
            s.ops
        )
    }
}

impl SimFs {
    /// An empty file system (no directory yet).
    pub fn new() -> SimFs {
        SimFs::default()
    }

    fn from_state(state: State) -> SimFs {
        SimFs {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// An independent copy of the current state, unsynced pieces included (locks and
    /// recorded crash points are not copied).
    pub fn snapshot(&self) -> SimFs {
        SimFs::from_state(self.state.lock().copy())
    }

    /// Operations that changed the state so far (appends, syncs, creations, renames,
    /// removals, truncations, directory syncs).
    pub fn ops(&self) -> u64 {
        self.state.lock().ops
    }

    /// Starts (or stops, dropping those not taken) keeping a copy of the whole state
    /// after every operation that changes it; [`SimFs::take_crash_points`] hands them
    /// over.
    pub fn record_crash_points(&self, on: bool) {
        let mut s = self.state.lock();
        if on {
            s.points.get_or_insert_with(Vec::new);
        } else {
            s.points = None;
        }
    }

    /// The crash points recorded since the last call, in order.
    pub fn take_crash_points(&self) -> Vec<CrashPoint> {
        let mut s = self.state.lock();
        match s.points.as_mut() {
            Some(p) => std::mem::take(p),
            None => Vec::new(),
        }
    }

    /// Limits the bytes all files together may hold: an append past the limit writes
    /// what fits and fails with `ENOSPC`. `None` removes the limit.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state.lock().capacity = bytes;
    }

    /// Unsynced pieces of state: directory operations not covered by a directory sync,
    /// and appends not covered by a file sync (of files that have a name in some image).
    pub fn unsynced(&self) -> usize {
        let mut n = 0;
        let _ = self.crash_image(&mut |_| {
            n += 1;
            Fate::Keep
        });
        n
    }

    /// The disk a power loss would leave now: every synced byte and directory entry,
    /// plus each unsynced piece as `choose` decides. Directory operations are asked
    /// about first (in order, directory by directory), then the appends of every file
    /// that has a name in some image (in order, file by file), whatever the earlier
    /// answers: the pieces and their indices are the same for every chooser, as
    /// [`SimFs::unsynced`] counts them. The image is a new file system with everything
    /// durable and nothing locked.
    pub fn crash_image(&self, choose: &mut dyn FnMut(&Piece) -> Fate) -> SimFs {
        let s = self.state.lock();
        let mut index = 0;
        let mut ask = |kind: PieceKind, what: String| {
            let piece = Piece { kind, index, what };
            index += 1;
            choose(&piece)
        };
        let mut dirs = BTreeMap::new();
        for (path, dir) in &s.dirs {
            let mut names = dir.durable.clone();
            for op in &dir.pending {
                if ask(PieceKind::DirOp, op.describe(path)) == Fate::Keep {
                    op.apply(&mut names);
                }
            }
            dirs.insert(
                path.clone(),
                Dir {
                    live: names.clone(),
                    durable: names,
                    pending: Vec::new(),
                },
            );
        }
        // Every file that has a name in some image is asked about, whatever the
        // directory fates were, so a piece's index never depends on other choices.
        let mut candidates: BTreeSet<u64> = BTreeSet::new();
        for dir in s.dirs.values() {
            candidates.extend(dir.durable.values().copied());
            candidates.extend(dir.pending.iter().map(DirOp::ino));
        }
        let reachable: BTreeSet<u64> = dirs
            .values()
            .flat_map(|d: &Dir| d.live.values().copied())
            .collect();
        let mut inodes = BTreeMap::new();
        for ino in candidates {
            let Some(src) = s.inodes.get(&ino) else {
                continue;
            };
            let mut data = src.durable.clone();
            for (n, (start, bytes, append)) in src.writes.iter().enumerate() {
                let (start, len) = (*start, bytes.len());
                let what = if *append { "append" } else { "overwrite" };
                let fate = ask(
                    PieceKind::Append { len },
                    format!(
                        "{what} #{n} of {len} bytes at offset {start} to {}",
                        src.origin
                    ),
                );
                match fate {
                    Fate::Keep => put_at(&mut data, start, bytes),
                    Fate::Lose => {}
                    Fate::Torn(k) => put_at(&mut data, start, &bytes[..k.min(len)]),
                    Fate::Zeroed if *append => put_at(&mut data, start, &vec![0; len]),
                    Fate::Zeroed => {}
                }
            }
            if !reachable.contains(&ino) {
                continue;
            }
            inodes.insert(
                ino,
                Inode {
                    durable: data.clone(),
                    data,
                    writes: Vec::new(),
                    origin: src.origin.clone(),
                },
            );
        }
        SimFs::from_state(State {
            inodes,
            next_ino: s.next_ino,
            dirs,
            locks: BTreeSet::new(),
            ops: 0,
            capacity: None,
            points: None,
        })
    }

    /// The disk after a power loss that kept only what was synced.
    pub fn synced_image(&self) -> SimFs {
        self.crash_image(&mut |_| Fate::Lose)
    }

    /// The disk after the process (not the machine) died: everything written is there.
    pub fn process_crash_image(&self) -> SimFs {
        self.crash_image(&mut |_| Fate::Keep)
    }

    /// Every file name with its durable size, sorted: for tests and messages.
    pub fn listing(&self) -> Vec<(PathBuf, usize)> {
        let s = self.state.lock();
        let mut out = Vec::new();
        for (path, dir) in &s.dirs {
            for (name, ino) in &dir.live {
                let len = s.inodes.get(ino).map_or(0, |i| i.data.len());
                out.push((path.join(name), len));
            }
        }
        out
    }
}

/// The directory and the name of a file path.
fn split(path: &Path) -> Result<(&Path, String)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::InvalidArgument(format!(
            "{} is not a file path",
            path.display()
        )));
    };
    let name = name
        .to_str()
        .ok_or_else(|| Error::InvalidArgument(format!("{} is not valid UTF-8", path.display())))?;
    Ok((dir, name.to_owned()))
}

fn os_error(context: String, errno: i32) -> Error {
    Error::io(context, std::io::Error::from_raw_os_error(errno))
}

fn no_such(path: &Path, what: &str) -> Error {
    os_error(format!("no such {what}: {}", path.display()), libc::ENOENT)
}

/// A file being appended to.
struct SimWritable {
    /// The file system.
    fs: SimFs,
    /// The file.
    ino: u64,
    /// The path it was created under, for messages.
    path: PathBuf,
    /// Bytes in the file.
    len: u64,
}

impl WritableFile for SimWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        let mut s = self.fs.state.lock();
        let room = match s.capacity {
            Some(cap) => usize::try_from(cap.saturating_sub(s.used_bytes())).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let take = data.len().min(room);
        let inode = s
            .inodes
            .get_mut(&self.ino)
            .ok_or_else(|| Error::Internal(format!("{} lost its data", self.path.display())))?;
        if take > 0 {
            let start = inode.data.len();
            inode.data.extend_from_slice(&data[..take]);
            inode.writes.push((start, data[..take].to_vec(), true));
            self.len += take as u64;
            let path = &self.path;
            s.changed(|| format!("append of {take} bytes to {}", path.display()));
        }
        if take < data.len() {
            return Err(os_error(
                format!(
                    "writing {} at offset {} (simulated disk full)",
                    self.path.display(),
                    self.len
                ),
                libc::ENOSPC,
            ));
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        let mut s = self.fs.state.lock();
        let inode = s
            .inodes
            .get_mut(&self.ino)
            .ok_or_else(|| Error::Internal(format!("{} lost its data", self.path.display())))?;
        inode.sync();
        let path = &self.path;
        s.changed(|| format!("sync of {}", path.display()));
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        check_overwrite(&self.path, offset, data.len(), self.len)?;
        let mut s = self.fs.state.lock();
        let inode = s
            .inodes
            .get_mut(&self.ino)
            .ok_or_else(|| Error::Internal(format!("{} lost its data", self.path.display())))?;
        // `check_overwrite` keeps the range within the file, which is in memory.
        let at = offset as usize;
        inode.data[at..at + data.len()].copy_from_slice(data);
        inode.writes.push((at, data.to_vec(), false));
        let path = &self.path;
        let n = data.len();
        s.changed(|| {
            format!(
                "overwrite of {n} bytes at offset {at} of {}",
                path.display()
            )
        });
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// A file being read: reads see every byte appended so far, as on a real system.
struct SimReadable {
    /// The file system.
    fs: SimFs,
    /// The file.
    ino: u64,
    /// The path it was opened under, for messages.
    path: PathBuf,
}

impl ReadableFile for SimReadable {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let s = self.fs.state.lock();
        let inode = s
            .inodes
            .get(&self.ino)
            .ok_or_else(|| Error::Internal(format!("{} lost its data", self.path.display())))?;
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= inode.data.len() {
            return Ok(0);
        }
        let n = buf.len().min(inode.data.len() - start);
        buf[..n].copy_from_slice(&inode.data[start..start + n]);
        Ok(n)
    }

    fn size(&self) -> Result<u64> {
        let s = self.fs.state.lock();
        s.inodes
            .get(&self.ino)
            .map(|i| i.data.len() as u64)
            .ok_or_else(|| Error::Internal(format!("{} lost its data", self.path.display())))
    }
}

/// A held directory lock.
struct SimLock {
    /// The file system.
    fs: SimFs,
    /// The locked directory.
    dir: PathBuf,
}

impl DirLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.fs.state.lock().locks.remove(&self.dir);
    }
}

impl FileSystem for SimFs {
    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        let mut s = self.state.lock();
        for d in dir.ancestors() {
            if d.as_os_str().is_empty() {
                continue;
            }
            s.dirs.entry(d.to_path_buf()).or_default();
        }
        Ok(())
    }

    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let mut s = self.state.lock();
        let (dir, name) = split(path)?;
        if s.dir(dir)?.live.contains_key(&name) {
            return Err(os_error(
                format!("creating {}: the file exists", path.display()),
                libc::EEXIST,
            ));
        }
        let ino = s.next_ino;
        s.next_ino += 1;
        s.inodes.insert(
            ino,
            Inode {
                origin: path.display().to_string(),
                ..Inode::default()
            },
        );
        let d = s.dir_mut(dir)?;
        d.live.insert(name.clone(), ino);
        d.pending.push(DirOp::Create { name, ino });
        s.changed(|| format!("creation of {}", path.display()));
        Ok(Box::new(SimWritable {
            fs: self.clone(),
            ino,
            path: path.to_path_buf(),
            len: 0,
        }))
    }

    fn open(&self, path: &Path) -> Result<Box<dyn ReadableFile>> {
        let ino = self.state.lock().lookup(path)?;
        Ok(Box::new(SimReadable {
            fs: self.clone(),
            ino,
            path: path.to_path_buf(),
        }))
    }

    fn truncate(&self, path: &Path, len: u64) -> Result<()> {
        let mut s = self.state.lock();
        let ino = s.lookup(path)?;
        let inode = s
            .inodes
            .get_mut(&ino)
            .ok_or_else(|| Error::Internal(format!("{} lost its data", path.display())))?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len < inode.data.len() {
            inode.data.truncate(len);
        } else {
            inode.data.resize(len, 0);
        }
        // Durable on return, like `OsFs::truncate` (which syncs the file).
        inode.durable = inode.data.clone();
        inode.writes.clear();
        s.changed(|| format!("truncation of {} to {len} bytes", path.display()));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let mut s = self.state.lock();
        let (from_dir, from_name) = split(from)?;
        let (to_dir, to_name) = split(to)?;
        if from_dir != to_dir {
            return Err(Error::InvalidArgument(format!(
                "renaming {} to {}: the simulated file system renames within one directory",
                from.display(),
                to.display()
            )));
        }
        let d = s.dir_mut(from_dir)?;
        let ino = d
            .live
            .remove(&from_name)
            .ok_or_else(|| no_such(from, "file"))?;
        d.live.insert(to_name.clone(), ino);
        d.pending.push(DirOp::Rename {
            from: from_name,
            to: to_name,
            ino,
        });
        s.changed(|| format!("rename of {} to {}", from.display(), to.display()));
        Ok(())
    }

    fn remove(&self, path: &Path) -> Result<()> {
        let mut s = self.state.lock();
        let (dir, name) = split(path)?;
        let d = s.dir_mut(dir)?;
        let ino = d.live.remove(&name).ok_or_else(|| no_such(path, "file"))?;
        d.pending.push(DirOp::Remove { name, ino });
        s.changed(|| format!("removal of {}", path.display()));
        Ok(())
    }

    fn list(&self, dir: &Path) -> Result<Vec<String>> {
        let s = self.state.lock();
        Ok(s.dir(dir)?.live.keys().cloned().collect())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut s = self.state.lock();
        let d = s.dir_mut(dir)?;
        d.durable = d.live.clone();
        d.pending.clear();
        s.changed(|| format!("sync of directory {}", dir.display()));
        Ok(())
    }

    fn lock(&self, dir: &Path) -> Result<Box<dyn DirLock>> {
        let mut s = self.state.lock();
        s.dir(dir)?;
        if !s.locks.insert(dir.to_path_buf()) {
            return Err(Error::Locked(format!(
                "the database in {} is already open in another handle (simulated file \
                 system); for access from several processes, run `sochdb serve`",
                dir.display()
            )));
        }
        Ok(Box::new(SimLock {
            fs: self.clone(),
            dir: dir.to_path_buf(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/sim/db")
    }

    fn fs_with_dir() -> SimFs {
        let fs = SimFs::new();
        fs.create_dir_all(&dir()).unwrap();
        fs
    }

    fn names(fs: &SimFs) -> Vec<String> {
        fs.list(&dir()).unwrap()
    }

    #[test]
    fn behaves_like_a_file_system_while_running() {
        let fs = fs_with_dir();
        let a = dir().join("a");
        let mut f = fs.create(&a).unwrap();
        f.append(b"hello ").unwrap();
        f.append(b"world").unwrap();
        assert_eq!(f.len(), 11);
        assert!(fs.create(&a).is_err());
        assert_eq!(fs.read_file(&a).unwrap(), b"hello world");
        fs.truncate(&a, 5).unwrap();
        assert_eq!(fs.read_file(&a).unwrap(), b"hello");
        fs.rename(&a, &dir().join("b")).unwrap();
        assert_eq!(names(&fs), vec!["b".to_string()]);
        let e = fs.open(&a).err().unwrap();
        match e {
            Error::Io { source, .. } => assert_eq!(source.kind(), std::io::ErrorKind::NotFound),
            other => panic!("{other}"),
        }
        // The open file keeps writing to the renamed file.
        f.append(b"!").unwrap();
        assert_eq!(fs.read_file(&dir().join("b")).unwrap(), b"hello!");
        fs.remove(&dir().join("b")).unwrap();
        assert!(names(&fs).is_empty());
        assert!(fs.create(&PathBuf::from("/nowhere/x")).is_err());

        let held = fs.lock(&dir()).unwrap();
        assert!(matches!(fs.lock(&dir()), Err(Error::Locked(_))));
        drop(held);
        fs.lock(&dir()).unwrap();
    }

    #[test]
    fn a_power_loss_keeps_synced_bytes_and_entries_only() {
        let fs = fs_with_dir();
        let mut f = fs.create(&dir().join("log")).unwrap();
        f.append(b"durable").unwrap();
        f.sync().unwrap();
        // The name is not durable yet.
        assert!(names(&fs.synced_image()).is_empty());
        fs.sync_dir(&dir()).unwrap();
        f.append(b"+lost").unwrap();
        let img = fs.synced_image();
        assert_eq!(img.read_file(&dir().join("log")).unwrap(), b"durable");
        let img = fs.process_crash_image();
        assert_eq!(img.read_file(&dir().join("log")).unwrap(), b"durable+lost");
        // An image is fully durable, and independent.
        assert_eq!(img.unsynced(), 0);
        assert_eq!(img.synced_image().listing(), img.listing());
        img.remove(&dir().join("log")).unwrap();
        assert_eq!(fs.read_file(&dir().join("log")).unwrap(), b"durable+lost");
    }

    #[test]
    fn unsynced_appends_can_be_torn_zeroed_or_lost_in_any_combination() {
        let fs = fs_with_dir();
        let mut f = fs.create(&dir().join("log")).unwrap();
        fs.sync_dir(&dir()).unwrap();
        f.append(b"aaa").unwrap();
        f.append(b"bbb").unwrap();
        f.append(b"ccc").unwrap();
        assert_eq!(fs.unsynced(), 3);
        let image = |fates: [Fate; 3]| {
            let img = fs.crash_image(&mut |p| {
                assert!(matches!(p.kind, PieceKind::Append { len: 3 }), "{p:?}");
                fates[p.index]
            });
            img.read_file(&dir().join("log")).unwrap()
        };
        use Fate::*;
        assert_eq!(image([Keep, Keep, Keep]), b"aaabbbccc");
        assert_eq!(image([Keep, Torn(1), Lose]), b"aaab");
        // A lost middle append leaves a hole of zeroes before a kept one.
        assert_eq!(image([Keep, Lose, Keep]), b"aaa\0\0\0ccc");
        assert_eq!(image([Lose, Lose, Torn(2)]), b"\0\0\0\0\0\0cc");
        assert_eq!(image([Zeroed, Keep, Lose]), b"\0\0\0bbb");
        assert_eq!(image([Lose, Lose, Lose]), b"");
    }

    #[test]
    fn directory_operations_survive_in_any_subset() {
        let fs = fs_with_dir();
        let mut old = fs.create(&dir().join("CURRENT")).unwrap();
        old.append(b"old").unwrap();
        old.sync().unwrap();
        fs.sync_dir(&dir()).unwrap();
        let mut tmp = fs.create(&dir().join("CURRENT.tmp")).unwrap();
        tmp.append(b"new").unwrap();
        tmp.sync().unwrap();
        fs.rename(&dir().join("CURRENT.tmp"), &dir().join("CURRENT"))
            .unwrap();
        fs.remove(&dir().join("CURRENT")).unwrap();
        let mut other = fs.create(&dir().join("x")).unwrap();
        other.append(b"x").unwrap();
        // Pieces: create tmp, rename, remove, create x, then the append to x (only when
        // x is in the image).
        let image = |keep: [bool; 4]| {
            let img = fs.crash_image(&mut |p| match p.kind {
                PieceKind::DirOp => {
                    if keep[p.index] {
                        Fate::Keep
                    } else {
                        Fate::Lose
                    }
                }
                PieceKind::Append { .. } => Fate::Keep,
            });
            let mut out: Vec<(String, Vec<u8>)> = names(&img)
                .into_iter()
                .map(|n| {
                    let data = img.read_file(&dir().join(&n)).unwrap();
                    (n, data)
                })
                .collect();
            out.sort();
            out
        };
        let e = |n: &str, d: &[u8]| (n.to_string(), d.to_vec());
        assert_eq!(image([false; 4]), vec![e("CURRENT", b"old")]);
        assert_eq!(
            image([true, false, false, false]),
            vec![e("CURRENT", b"old"), e("CURRENT.tmp", b"new")]
        );
        // The rename alone (reordered before the creation) still replaces CURRENT.
        assert_eq!(
            image([false, true, false, false]),
            vec![e("CURRENT", b"new")]
        );
        assert_eq!(image([true, true, true, false]), Vec::new());
        assert_eq!(
            image([false, false, true, true]),
            vec![e("CURRENT", b"old"), e("x", b"x")],
            "a remove of the renamed file leaves the old one alone"
        );
    }

    #[test]
    fn crash_points_record_every_change() {
        let fs = fs_with_dir();
        fs.record_crash_points(true);
        let mut f = fs.create(&dir().join("f")).unwrap();
        f.append(b"1").unwrap();
        f.sync().unwrap();
        fs.sync_dir(&dir()).unwrap();
        let points = fs.take_crash_points();
        assert_eq!(points.len(), 4);
        assert_eq!(fs.ops(), 4);
        assert!(points[1].what.contains("append"), "{:?}", points[1]);
        assert_eq!(points[0].fs.synced_image().listing(), Vec::new());
        assert_eq!(points[1].fs.unsynced(), 2);
        assert_eq!(points[3].fs.unsynced(), 0);
        assert_eq!(
            points[3].fs.synced_image().listing(),
            vec![(dir().join("f"), 1)]
        );
        assert!(fs.take_crash_points().is_empty());
    }

    #[test]
    fn a_full_disk_writes_what_fits_and_stays_full() {
        let fs = fs_with_dir();
        fs.set_capacity(Some(5));
        let mut f = fs.create(&dir().join("f")).unwrap();
        f.append(b"abc").unwrap();
        let e = f.append(b"defg").err().unwrap();
        match e {
            Error::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(libc::ENOSPC)),
            other => panic!("{other}"),
        }
        assert!(f.append(b"h").is_err());
        assert_eq!(fs.read_file(&dir().join("f")).unwrap(), b"abcde");
        fs.set_capacity(None);
        f.append(b"h").unwrap();
        assert_eq!(f.len(), 6);
    }
}
