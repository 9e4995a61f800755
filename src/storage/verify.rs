//! Offline verification of a database directory: every block of every block file the
//! manifest lists, the key order across the files of each level, and every record of
//! the log it needs. Nothing is changed and nothing is printed; the report says what
//! was checked and what is wrong (`sochdb verify DIR` prints it).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::{FsDir, FsSource, is_not_found, parse_temp_table_file_name};
use super::io::{FileSystem, OsFs};
use super::manifest::{FileMeta, Manifest, ManifestState};
use super::sstable::{BlockSource, Table, parse_table_file_name, table_file_name};
use super::wal::segment::{parse_segment_name, segment_name};
use super::wal::{self, RecoverOptions};
use crate::error::Result;

/// What [`verify`] checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The directory verified.
    pub dir: PathBuf,
    /// Block files checked.
    pub files: u64,
    /// Data blocks read and checked.
    pub blocks: u64,
    /// Of those, the blocks stored compressed (each decompressed and checked).
    pub compressed_blocks: u64,
    /// Versions (entries) read and checked in the block files.
    pub entries: u64,
    /// Bytes of the block files checked.
    pub bytes: u64,
    /// Block files and bytes per level (index = level), as the manifest lists them.
    pub levels: Vec<(u64, u64)>,
    /// Log segments checked.
    pub wal_segments: u64,
    /// Log records checked.
    pub wal_records: u64,
    /// Bytes of the log segments checked.
    pub wal_bytes: u64,
    /// The manifest's flushed timestamp (0 without a manifest).
    pub flushed_ts: u64,
    /// The newest commit timestamp found (manifest or log).
    pub last_ts: u64,
    /// Damage and inconsistencies: each names the file and, where it applies, the
    /// offset. Empty when the directory is sound.
    pub problems: Vec<String>,
    /// Findings that are not damage (a torn log tail that the next open cuts off,
    /// leftovers that the next open removes).
    pub notes: Vec<String>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_ok() {
            "OK".to_string()
        } else {
            format!("{} problem(s)", self.problems.len())
        };
        writeln!(f, "verify {}: {verdict}", self.dir.display())?;
        writeln!(
            f,
            "  block files: {} ({} blocks, {} of them compressed, {} entries, {} bytes)",
            self.files, self.blocks, self.compressed_blocks, self.entries, self.bytes
        )?;
        for (level, (files, bytes)) in self.levels.iter().enumerate() {
            if *files > 0 {
                writeln!(f, "    level {level}: {files} files, {bytes} bytes")?;
            }
        }
        writeln!(
            f,
            "  log: {} segments, {} records, {} bytes",
            self.wal_segments, self.wal_records, self.wal_bytes
        )?;
        writeln!(
            f,
            "  flushed through timestamp {}, newest commit {}",
            self.flushed_ts, self.last_ts
        )?;
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        for p in &self.problems {
            writeln!(f, "  problem: {p}")?;
        }
        Ok(())
    }
}

/// Verifies the database in `dir` without changing it: reads the manifest, every block
/// of every block file it lists (checksums, key order inside each file, index, filter
/// and properties), checks each file against the manifest and the key order across the
/// files of each level, and reads every record of the log segments the manifest needs.
///
/// Takes the directory lock for the duration (an open database is `Locked`). Returns an
/// error only when the directory cannot be examined at all; damage is listed in the
/// report's `problems`.
pub fn verify(dir: &Path) -> Result<VerifyReport> {
    let fs: Arc<dyn FileSystem> = Arc::new(OsFs::new());
    let _lock = fs.lock(dir)?;
    let names = fs.list(dir)?;
    let mut report = VerifyReport {
        dir: dir.to_path_buf(),
        ..VerifyReport::default()
    };
    let mut segs: Vec<u64> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
    segs.sort_unstable();
    let on_disk: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_table_file_name(n))
        .collect();

    let state = match Manifest::open(FsDir::new(Arc::clone(&fs), dir)) {
        Ok((_, Some(state))) => Some(state),
        Ok((_, None)) => {
            if segs.is_empty() {
                report.problems.push(if on_disk.is_empty() {
                    format!("{} holds no database (no manifest, no log)", dir.display())
                } else {
                    "block files exist but neither CURRENT nor a log: the manifest is lost"
                        .to_string()
                });
            } else if segs[0] > 1 {
                report.problems.push(format!(
                    "no CURRENT file, but the log starts at {}: the manifest is lost",
                    segment_name(segs[0])
                ));
            }
            None
        }
        Err(e) => {
            report.problems.push(format!("manifest: {e}"));
            None
        }
    };
    let state = state.unwrap_or_default();
    report.flushed_ts = state.flushed_ts;
    check_files(&fs, dir, &state, &mut report);
    for name in &names {
        let leftover = match parse_table_file_name(name) {
            Some(id) => !state.levels.iter().flatten().any(|f| f.id == id),
            None => parse_temp_table_file_name(name).is_some(),
        };
        if leftover {
            report.notes.push(format!(
                "{name} is not listed in the manifest (left by an interrupted flush or \
                 compaction; the next open removes it)"
            ));
        }
    }

    let log_number = state.log_number.max(1);
    if let Some(&first) = segs.iter().find(|&&s| s >= log_number)
        && first != log_number
        && state.log_number > 0
    {
        report.problems.push(format!(
            "the manifest needs the log from {}, but the oldest segment is {}",
            segment_name(log_number),
            segment_name(first)
        ));
    }
    let opts = RecoverOptions {
        repair: false,
        min_seq: log_number,
        after_ts: u64::MAX,
        quiet: true,
    };
    match wal::recover(&*fs, dir, &opts, &mut |_, _| Ok(())) {
        Ok(r) => {
            report.wal_segments = r.report.segments as u64;
            report.wal_records = r.report.records + r.report.skipped;
            report.wal_bytes = r.wal_bytes;
            report.last_ts = r.report.last_ts;
            if let Some(t) = r.report.torn_tail {
                report.notes.push(format!(
                    "log segment {} ends in a torn write of {} bytes at offset {} ({}); the \
                     next open cuts it off",
                    t.file.display(),
                    t.bytes,
                    t.offset,
                    t.reason
                ));
            }
        }
        Err(e) => report.problems.push(format!("log: {e}")),
    }
    report.last_ts = report.last_ts.max(state.flushed_ts);
    Ok(report)
}

/// Checks every block file the manifest lists, and the key order of each level.
fn check_files(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    state: &ManifestState,
    report: &mut VerifyReport,
) {
    for (level, files) in state.levels.iter().enumerate() {
        report
            .levels
            .push((files.len() as u64, files.iter().map(|f| f.size).sum()));
        // (file id, first key, last key) of the previous file that could be read.
        let mut prev: Option<(u64, Vec<u8>)> = None;
        for meta in files {
            let path = dir.join(table_file_name(meta.id));
            let Some(range) = check_file(&**fs, &path, meta, state.flushed_ts, report) else {
                continue;
            };
            if level > 0 {
                if let Some((pid, pmax)) = &prev
                    && *pmax >= range.0
                {
                    report.problems.push(format!(
                        "level {level}: block file {} starts at or before the end of file {} \
                         (keys out of order across the level)",
                        path.display(),
                        table_file_name(*pid)
                    ));
                }
                prev = Some((meta.id, range.1));
            }
        }
    }
}

/// Checks one block file: every block, then its properties against the manifest.
/// Returns its first and last key when it could be read.
fn check_file(
    fs: &dyn FileSystem,
    path: &Path,
    meta: &FileMeta,
    flushed_ts: u64,
    report: &mut VerifyReport,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let name = path.display();
    let source = match FsSource::open(fs, path) {
        Ok(s) => s,
        Err(e) if is_not_found(&e) => {
            report.problems.push(format!(
                "block file {name} is listed in the manifest but missing"
            ));
            return None;
        }
        Err(e) => {
            report.problems.push(e.to_string());
            return None;
        }
    };
    if source.len() != meta.size {
        report.problems.push(format!(
            "block file {name}: {} bytes, but the manifest records {}",
            source.len(),
            meta.size
        ));
    }
    let table = match Table::open(Arc::new(source), meta.id, None) {
        Ok(t) => t,
        Err(e) => {
            report.problems.push(e.to_string());
            return None;
        }
    };
    report.files += 1;
    report.bytes += table.file_size();
    match table.verify() {
        Ok(v) => {
            report.blocks += v.blocks;
            report.compressed_blocks += v.compressed_blocks;
            report.entries += v.entries;
        }
        Err(e) => {
            report.problems.push(e.to_string());
            return None;
        }
    }
    let p = table.properties();
    let agrees = p.min_key == meta.min_key
        && p.max_key == meta.max_key
        && p.min_ts == meta.min_ts
        && p.max_ts == meta.max_ts
        && p.entry_count == meta.entry_count
        && p.key_count == meta.key_count
        && p.tombstone_count == meta.tombstone_count;
    if !agrees {
        report.problems.push(format!(
            "block file {name}: its properties disagree with the manifest's record of it"
        ));
    }
    if p.max_ts > flushed_ts {
        report.problems.push(format!(
            "block file {name} holds commit {} but the manifest says the files hold only \
             commits up to {flushed_ts}",
            p.max_ts
        ));
    }
    Some((p.min_key.clone(), p.max_key.clone()))
}
