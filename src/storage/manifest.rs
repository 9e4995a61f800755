//! The manifest: which block files are live, at which level, and which part of the log
//! they cover. It changes atomically by writing a whole new `MANIFEST-<n>` file and then
//! switching the `CURRENT` pointer to it.
//!
//! Install protocol (see `docs/storage.md`):
//!
//! 1. write `MANIFEST-<n>` (a fresh number), fsync it, fsync the directory;
//! 2. write `CURRENT.tmp` naming it, fsync it, rename it over `CURRENT`, fsync the
//!    directory;
//! 3. delete older manifests (best effort; leftovers are deleted by the next install).
//!
//! A crash before the rename is durable leaves `CURRENT` naming the previous manifest,
//! and any half-written `MANIFEST-<n>` or `CURRENT.tmp` is ignored. Recovery reads only
//! the manifest `CURRENT` names; a damaged `CURRENT` or manifest is
//! [`Error::Corruption`].

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::storage::MAX_KEY_LEN;
use crate::storage::coding::{DecodeError, Reader, put_u16, put_u32, put_u64};
use crate::storage::sstable::TableSummary;

/// Name of the pointer file.
pub const CURRENT: &str = "CURRENT";
/// Name of the pointer file while it is being replaced.
pub const CURRENT_TMP: &str = "CURRENT.tmp";
/// Magic number of manifest files: the ASCII bytes `SOCHMANI` read as a little-endian
/// u64.
pub const MANIFEST_MAGIC: u64 = u64::from_le_bytes(*b"SOCHMANI");
/// The manifest format version this code writes and reads.
pub const MANIFEST_VERSION: u32 = 1;
/// Most levels a manifest may describe.
pub const MAX_LEVELS: usize = 16;

/// The name of manifest number `n`: `MANIFEST-` and `n` in 20 decimal digits.
pub fn manifest_name(n: u64) -> String {
    format!("MANIFEST-{n:020}")
}

/// The manifest number in a file name, if it is a manifest's name.
pub fn parse_manifest_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("MANIFEST-")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One live block file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The file number (its name is derived from it by the engine).
    pub id: u64,
    /// The level the file is in.
    pub level: usize,
    /// Bytes of the file.
    pub size: u64,
    /// First user key.
    pub min_key: Vec<u8>,
    /// Last user key.
    pub max_key: Vec<u8>,
    /// Smallest timestamp.
    pub min_ts: u64,
    /// Largest timestamp.
    pub max_ts: u64,
    /// Versions stored.
    pub entry_count: u64,
    /// Distinct user keys.
    pub key_count: u64,
    /// Versions that are tombstones.
    pub tombstone_count: u64,
}

impl FileMeta {
    /// The metadata of a block file just written.
    pub fn from_summary(id: u64, level: usize, s: &TableSummary) -> FileMeta {
        FileMeta {
            id,
            level,
            size: s.file_size,
            min_key: s.props.min_key.clone(),
            max_key: s.props.max_key.clone(),
            min_ts: s.props.min_ts,
            max_ts: s.props.max_ts,
            entry_count: s.props.entry_count,
            key_count: s.props.key_count,
            tombstone_count: s.props.tombstone_count,
        }
    }

    /// True when the file's key range meets `[min, max]`.
    pub fn overlaps(&self, min: &[u8], max: &[u8]) -> bool {
        self.min_key.as_slice() <= max && min <= self.max_key.as_slice()
    }
}

/// Everything a manifest records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestState {
    /// The next unused block file number (log segments are numbered on their own).
    pub next_file_number: u64,
    /// The newest commit timestamp at the time of the change.
    pub last_commit_ts: u64,
    /// The lowest log segment number still needed: older segments are covered by the
    /// block files and may be deleted.
    pub log_number: u64,
    /// Every commit with a timestamp at or below this is in the block files.
    pub flushed_ts: u64,
    /// Live files per level. Level 0 is newest file first (files may overlap); every
    /// other level is in key order with non-overlapping key ranges.
    pub levels: Vec<Vec<FileMeta>>,
}

impl ManifestState {
    /// Checks the structure: levels within [`MAX_LEVELS`], each file's level matching
    /// its position, unique ids below `next_file_number`, sane key ranges, and levels
    /// 1 and deeper sorted and non-overlapping.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.levels.len() > MAX_LEVELS {
            return Err(format!("{} levels exceed the maximum", self.levels.len()));
        }
        let mut ids = HashSet::new();
        for (level, files) in self.levels.iter().enumerate() {
            for (i, f) in files.iter().enumerate() {
                if f.level != level {
                    return Err(format!(
                        "file {} listed at level {level} says {}",
                        f.id, f.level
                    ));
                }
                if f.id >= self.next_file_number || !ids.insert(f.id) {
                    return Err(format!(
                        "file number {} duplicated or not yet allocated",
                        f.id
                    ));
                }
                if f.min_key.len() > MAX_KEY_LEN || f.max_key.len() > MAX_KEY_LEN {
                    return Err(format!("file {} has a key longer than the maximum", f.id));
                }
                if f.min_key > f.max_key || f.min_ts > f.max_ts {
                    return Err(format!("file {} has an inverted range", f.id));
                }
                if level > 0 && i > 0 && files[i - 1].max_key >= f.min_key {
                    return Err(format!(
                        "files {} and {} overlap or are out of order at level {level}",
                        files[i - 1].id,
                        f.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// Encodes the whole manifest file: header, body, CRC.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        put_u64(&mut body, self.next_file_number);
        put_u64(&mut body, self.last_commit_ts);
        put_u64(&mut body, self.log_number);
        put_u64(&mut body, self.flushed_ts);
        put_u32(&mut body, self.levels.len() as u32);
        for files in &self.levels {
            put_u32(&mut body, files.len() as u32);
            for f in files {
                for v in [
                    f.id,
                    f.size,
                    f.min_ts,
                    f.max_ts,
                    f.entry_count,
                    f.key_count,
                    f.tombstone_count,
                ] {
                    put_u64(&mut body, v);
                }
                for k in [&f.min_key, &f.max_key] {
                    put_u16(&mut body, k.len() as u16);
                    body.extend_from_slice(k);
                }
            }
        }
        let mut out = Vec::with_capacity(body.len() + 24);
        put_u64(&mut out, MANIFEST_MAGIC);
        put_u32(&mut out, MANIFEST_VERSION);
        put_u64(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
        let crc = crc32fast::hash(&out);
        put_u32(&mut out, crc);
        out
    }

    /// Decodes a manifest file, checking magic, version, length, CRC and structure.
    pub fn decode(bytes: &[u8]) -> std::result::Result<ManifestState, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.u64()? != MANIFEST_MAGIC {
            return Err(DecodeError("bad magic number (not a manifest)"));
        }
        let version = r.u32()?;
        let body_len = r.u64()?;
        if r.remaining() < 4 || body_len != (r.remaining() - 4) as u64 {
            return Err(DecodeError(
                "length does not match the file size (torn write?)",
            ));
        }
        let crc_at = bytes.len() - 4;
        let mut tail = Reader::at(bytes, crc_at)?;
        if tail.u32()? != crc32fast::hash(&bytes[..crc_at]) {
            return Err(DecodeError("checksum mismatch"));
        }
        if version != MANIFEST_VERSION {
            return Err(DecodeError("unsupported manifest version"));
        }
        let mut body = Reader::new(&bytes[r.pos()..crc_at]);
        let mut st = ManifestState {
            next_file_number: body.u64()?,
            last_commit_ts: body.u64()?,
            log_number: body.u64()?,
            flushed_ts: body.u64()?,
            levels: Vec::new(),
        };
        let nlevels = body.u32()? as usize;
        if nlevels > MAX_LEVELS {
            return Err(DecodeError("too many levels"));
        }
        for level in 0..nlevels {
            let nfiles = body.u32()? as usize;
            // Each file takes at least 60 bytes: bound the allocation by the input.
            if nfiles > body.remaining() / 60 {
                return Err(DecodeError("file count larger than the manifest"));
            }
            let mut files = Vec::with_capacity(nfiles);
            for _ in 0..nfiles {
                let mut f = FileMeta {
                    id: body.u64()?,
                    level,
                    size: body.u64()?,
                    min_ts: body.u64()?,
                    max_ts: body.u64()?,
                    entry_count: body.u64()?,
                    key_count: body.u64()?,
                    tombstone_count: body.u64()?,
                    min_key: Vec::new(),
                    max_key: Vec::new(),
                };
                let n = usize::from(body.u16()?);
                f.min_key = body.bytes(n)?.to_vec();
                let n = usize::from(body.u16()?);
                f.max_key = body.bytes(n)?.to_vec();
                files.push(f);
            }
            st.levels.push(files);
        }
        if body.remaining() != 0 {
            return Err(DecodeError("trailing bytes after the levels"));
        }
        st.validate()
            .map_err(|_| DecodeError("inconsistent file list"))?;
        Ok(st)
    }
}

/// The content of `CURRENT` for manifest number `n`: one line, the manifest's name, a
/// space, the CRC32 of the name in 8 lowercase hex digits, a newline (39 bytes).
pub fn encode_current(n: u64) -> Vec<u8> {
    let name = manifest_name(n);
    format!("{name} {:08x}\n", crc32fast::hash(name.as_bytes())).into_bytes()
}

/// The manifest number `CURRENT` names, checking its exact form and CRC.
pub fn decode_current(bytes: &[u8]) -> std::result::Result<u64, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError("not text"))?;
    let line = text
        .strip_suffix('\n')
        .ok_or(DecodeError("missing final newline (torn write?)"))?;
    let (name, crc) = line
        .split_once(' ')
        .ok_or(DecodeError("missing checksum"))?;
    let n = parse_manifest_name(name).ok_or(DecodeError("malformed manifest name"))?;
    let crc_ok = crc.len() == 8
        && u32::from_str_radix(crc, 16).ok() == Some(crc32fast::hash(name.as_bytes()))
        && crc
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !crc_ok {
        return Err(DecodeError("checksum mismatch"));
    }
    Ok(n)
}

/// The few file-system operations the manifest needs, on one directory. The engine's
/// file layer implements it; [`DirFs`] is the plain implementation.
pub trait ManifestFs: Send + Sync {
    /// Creates or truncates `name`, writes `data`, and fsyncs the file.
    fn write_synced(&self, name: &str, data: &[u8]) -> Result<()>;
    /// The content of `name`, or `None` when it does not exist.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &str, to: &str) -> Result<()>;
    /// Fsyncs the directory, making created, renamed and removed names durable.
    fn sync_dir(&self) -> Result<()>;
    /// Removes `name` (no error when it does not exist).
    fn remove(&self, name: &str) -> Result<()>;
    /// Names of the files in the directory.
    fn list(&self) -> Result<Vec<String>>;
}

/// [`ManifestFs`] on a real directory.
#[derive(Debug, Clone)]
pub struct DirFs {
    /// The directory.
    dir: PathBuf,
}

impl DirFs {
    /// The directory `dir` (which must exist).
    pub fn new(dir: &Path) -> DirFs {
        DirFs {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl ManifestFs for DirFs {
    fn write_synced(&self, name: &str, data: &[u8]) -> Result<()> {
        let path = self.path(name);
        let ctx = |what: &str| format!("{what} {}", path.display());
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| Error::io(ctx("creating"), e))?;
        f.write_all(data)
            .map_err(|e| Error::io(ctx("writing"), e))?;
        f.sync_all().map_err(|e| Error::io(ctx("syncing"), e))
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(name);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (a, b) = (self.path(from), self.path(to));
        fs::rename(&a, &b)
            .map_err(|e| Error::io(format!("renaming {} to {}", a.display(), b.display()), e))
    }

    fn sync_dir(&self) -> Result<()> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(format!("syncing directory {}", self.dir.display()), e))
    }

    fn remove(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
        }
    }

    fn list(&self) -> Result<Vec<String>> {
        let ctx = || format!("listing {}", self.dir.display());
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(ctx(), e))? {
            let entry = entry.map_err(|e| Error::io(ctx(), e))?;
            if let Some(name) = entry.file_name().to_str() {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }
}

/// The manifest of one directory: loads the installed state and installs new ones.
pub struct Manifest<F: ManifestFs> {
    /// The directory's file system.
    fs: F,
    /// Number of the installed manifest (0 when none is).
    current: u64,
    /// The highest manifest number seen in the directory (installed or not).
    highest: u64,
}

impl<F: ManifestFs> Manifest<F> {
    /// Reads the installed state, if any: `Ok((manifest, None))` for a directory where no
    /// manifest was ever installed (no `CURRENT`). Writes nothing.
    pub fn open(fs: F) -> Result<(Manifest<F>, Option<ManifestState>)> {
        let highest = fs
            .list()?
            .iter()
            .filter_map(|n| parse_manifest_name(n))
            .max()
            .unwrap_or(0);
        let Some(cur) = fs.read(CURRENT)? else {
            let m = Manifest {
                fs,
                current: 0,
                highest,
            };
            return Ok((m, None));
        };
        let n = decode_current(&cur)
            .map_err(|e| Error::Corruption(format!("manifest pointer {CURRENT}: {e}")))?;
        let name = manifest_name(n);
        let bytes = fs.read(&name)?.ok_or_else(|| {
            Error::Corruption(format!("{CURRENT} names {name}, which does not exist"))
        })?;
        let state = ManifestState::decode(&bytes)
            .map_err(|e| Error::Corruption(format!("manifest {name}: {e}")))?;
        let m = Manifest {
            fs,
            current: n,
            highest: highest.max(n),
        };
        Ok((m, Some(state)))
    }

    /// Number of the installed manifest (0 when none is).
    pub fn current_number(&self) -> u64 {
        self.current
    }

    /// Atomically makes `state` the installed state (the protocol in the module docs).
    /// On error the previous state stays installed, or the new one is; which one is
    /// known only after reopening, so the engine must stop writing (read-only).
    pub fn install(&mut self, state: &ManifestState) -> Result<()> {
        state
            .validate()
            .map_err(|e| Error::Internal(format!("refusing to install a bad manifest: {e}")))?;
        let n = self.highest + 1;
        self.highest = n;
        self.fs.write_synced(&manifest_name(n), &state.encode())?;
        self.fs.sync_dir()?;
        self.fs.write_synced(CURRENT_TMP, &encode_current(n))?;
        self.fs.rename(CURRENT_TMP, CURRENT)?;
        self.fs.sync_dir()?;
        self.current = n;
        // Best effort: a failure here leaves a stale file that the next install removes.
        let _ = self.remove_obsolete();
        Ok(())
    }

    /// Removes every manifest but the installed one, and any `CURRENT.tmp`.
    pub fn remove_obsolete(&self) -> Result<()> {
        for name in self.fs.list()? {
            let stale = name == CURRENT_TMP
                || parse_manifest_name(&name).is_some_and(|n| n != self.current);
            if stale {
                self.fs.remove(&name)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use parking_lot::Mutex;

    use super::*;
    use crate::Status;

    fn file(id: u64, level: usize, min: &str, max: &str) -> FileMeta {
        FileMeta {
            id,
            level,
            size: 1000 + id,
            min_key: min.as_bytes().to_vec(),
            max_key: max.as_bytes().to_vec(),
            min_ts: id,
            max_ts: id + 10,
            entry_count: 100,
            key_count: 50,
            tombstone_count: 3,
        }
    }

    fn state(seed: u64) -> ManifestState {
        ManifestState {
            next_file_number: 100 + seed,
            last_commit_ts: 5000 + seed,
            log_number: 40 + seed,
            flushed_ts: 4900 + seed,
            levels: vec![
                vec![file(12, 0, "a", "z"), file(11, 0, "c", "d")],
                vec![file(5, 1, "a", "f"), file(6, 1, "g", "m")],
                vec![],
                vec![file(2, 3, "", "zz")],
            ],
        }
    }

    #[test]
    fn encode_decode_round_trip_and_every_flip_detected() {
        let s = state(0);
        let bytes = s.encode();
        assert_eq!(ManifestState::decode(&bytes), Ok(s));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(ManifestState::decode(&b).is_err(), "flip at {i}");
        }
        for cut in 0..bytes.len() {
            assert!(
                ManifestState::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn validate_rejects_overlaps_and_bad_ids() {
        let mut s = state(0);
        s.levels[1][1].min_key = b"e".to_vec();
        assert!(s.validate().is_err());
        let mut s = state(0);
        s.levels[3][0].id = 12;
        assert!(s.validate().is_err());
        let mut s = state(0);
        s.next_file_number = 12;
        assert!(s.validate().is_err());
        let mut s = state(0);
        s.levels[0][0].level = 1;
        assert!(s.validate().is_err());
    }

    #[test]
    fn current_pointer_format() {
        let c = encode_current(7);
        assert_eq!(c, b"MANIFEST-00000000000000000007 186dbe78\n");
        assert_eq!(decode_current(&c), Ok(7));
        for i in 0..c.len() {
            let mut b = c.clone();
            b[i] ^= 0x01;
            assert!(decode_current(&b).is_err(), "flip at {i}");
        }
        assert!(decode_current(&c[..38]).is_err());
    }

    #[test]
    fn install_and_reopen_on_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (mut m, st) = Manifest::open(DirFs::new(dir.path())).unwrap();
        assert!(st.is_none());
        m.install(&state(1)).unwrap();
        m.install(&state(2)).unwrap();
        let (m2, st) = Manifest::open(DirFs::new(dir.path())).unwrap();
        assert_eq!(st, Some(state(2)));
        assert_eq!(m2.current_number(), 2);
        let mut names = DirFs::new(dir.path()).list().unwrap();
        names.sort();
        assert_eq!(names, vec![CURRENT.to_string(), manifest_name(2)]);
    }

    #[test]
    fn damaged_current_or_manifest_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let fs = DirFs::new(dir.path());
        let (mut m, _) = Manifest::open(fs.clone()).unwrap();
        m.install(&state(1)).unwrap();
        fs.write_synced(CURRENT, b"MANIFEST-x\n").unwrap();
        let err = Manifest::open(fs.clone()).err().unwrap();
        assert_eq!(err.status(), Status::Corruption);
        fs.write_synced(CURRENT, &encode_current(9)).unwrap();
        let err = Manifest::open(fs.clone()).err().unwrap();
        assert!(err.to_string().contains("does not exist"), "{err}");
        fs.write_synced(CURRENT, &encode_current(1)).unwrap();
        let mut bytes = fs.read(&manifest_name(1)).unwrap().unwrap();
        bytes[30] ^= 0xff;
        fs.write_synced(&manifest_name(1), &bytes).unwrap();
        let err = Manifest::open(fs).err().unwrap();
        assert_eq!(err.status(), Status::Corruption);
        assert!(
            err.to_string().contains("MANIFEST-00000000000000000001"),
            "{err}"
        );
    }

    /// An in-memory directory whose `fail_at`-th operation fails.
    #[derive(Clone, Default)]
    struct FaultFs {
        files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
        ops: Arc<Mutex<(u64, u64)>>,
    }

    impl FaultFs {
        fn tick(&self) -> Result<()> {
            let mut ops = self.ops.lock();
            ops.0 += 1;
            if ops.0 == ops.1 {
                return Err(Error::io("injected", std::io::Error::other("fault")));
            }
            Ok(())
        }
    }

    impl ManifestFs for FaultFs {
        fn write_synced(&self, name: &str, data: &[u8]) -> Result<()> {
            self.tick()?;
            self.files.lock().insert(name.into(), data.to_vec());
            Ok(())
        }
        fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
            Ok(self.files.lock().get(name).cloned())
        }
        fn rename(&self, from: &str, to: &str) -> Result<()> {
            self.tick()?;
            let mut f = self.files.lock();
            let data = f.remove(from).ok_or_else(|| Error::NotFound(from.into()))?;
            f.insert(to.into(), data);
            Ok(())
        }
        fn sync_dir(&self) -> Result<()> {
            self.tick()
        }
        fn remove(&self, name: &str) -> Result<()> {
            self.tick()?;
            self.files.lock().remove(name);
            Ok(())
        }
        fn list(&self) -> Result<Vec<String>> {
            Ok(self.files.lock().keys().cloned().collect())
        }
    }

    #[test]
    fn a_failed_install_leaves_the_old_or_the_new_state() {
        for fail_at in 1..=12 {
            let fs = FaultFs::default();
            let (mut m, _) = Manifest::open(fs.clone()).unwrap();
            m.install(&state(1)).unwrap();
            *fs.ops.lock() = (0, fail_at);
            let res = m.install(&state(2));
            let (_, st) = Manifest::open(fs.clone()).unwrap();
            let st = st.unwrap();
            match res {
                Ok(()) => assert_eq!(st, state(2), "fail_at {fail_at}"),
                Err(_) => assert!(st == state(1) || st == state(2), "fail_at {fail_at}"),
            }
            // A later install succeeds and cleans up.
            *fs.ops.lock() = (0, 0);
            let (mut m, _) = Manifest::open(fs.clone()).unwrap();
            m.install(&state(3)).unwrap();
            assert_eq!(Manifest::open(fs.clone()).unwrap().1, Some(state(3)));
            assert_eq!(fs.list().unwrap().len(), 2, "fail_at {fail_at}");
        }
    }
}
