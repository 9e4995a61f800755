//! The write-ahead log: segment files of checksummed records, one record per committed
//! batch, and the recovery that replays them at open.
//!
//! Formats are in [`segment`] and [`record`], and byte by byte in `docs/storage.md`.

pub mod record;
pub mod segment;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use self::record::Parsed;
use self::segment::{HeaderError, decode_header, encode_header, parse_segment_name, segment_name};
use super::batch::{BatchOp, decode_ops};
use super::io::{FileSystem, WritableFile};
use super::notice::notice;
use crate::error::{Error, Result};

/// Counters of log activity, shared with the engine's statistics.
#[derive(Debug, Default)]
pub struct WalCounters {
    /// Successful `fdatasync` calls on segments.
    pub syncs: AtomicU64,
    /// Successful appends to segments.
    pub writes: AtomicU64,
    /// Bytes of all live segments.
    pub bytes: AtomicU64,
    /// Segments created since open.
    pub segments_created: AtomicU64,
}

/// Appends to the newest segment and starts a new one when it is full.
pub struct WalWriter {
    /// The file layer.
    fs: Arc<dyn FileSystem>,
    /// The database directory.
    dir: PathBuf,
    /// The segment being appended to.
    file: Box<dyn WritableFile>,
    /// Its number.
    seq: u64,
    /// Size at which a new segment is started.
    segment_size: u64,
    /// Shared counters.
    counters: Arc<WalCounters>,
}

impl WalWriter {
    /// Creates segment `seq` (whose records follow commit `base_ts`), writes and syncs its
    /// header, and syncs the directory so the new name is durable.
    pub fn create(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        seq: u64,
        base_ts: u64,
        segment_size: u64,
        counters: Arc<WalCounters>,
    ) -> Result<WalWriter> {
        let file = start_segment(&*fs, dir, seq, base_ts, &counters)?;
        Ok(WalWriter {
            fs,
            dir: dir.to_path_buf(),
            file,
            seq,
            segment_size,
            counters,
        })
    }

    /// The number of the segment being appended to.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Appends framed records whose first commit timestamp is `first_ts`. Starts a new
    /// segment first when the current one has reached the segment size; the old one is
    /// synced before, whatever the durability, so that only the newest segment can ever
    /// have a torn tail.
    pub fn append(&mut self, records: &[u8], first_ts: u64) -> Result<()> {
        if self.file.len() >= self.segment_size && self.file.len() > segment::HEADER_LEN as u64 {
            self.sync()?;
            let seq = self.seq + 1;
            self.file = start_segment(
                &*self.fs,
                &self.dir,
                seq,
                first_ts.saturating_sub(1),
                &self.counters,
            )?;
            self.seq = seq;
        }
        self.file.append(records)?;
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Makes everything appended durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync()?;
        self.counters.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Creates a segment with its header, synced, and syncs the directory.
fn start_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    seq: u64,
    base_ts: u64,
    counters: &WalCounters,
) -> Result<Box<dyn WritableFile>> {
    let path = dir.join(segment_name(seq));
    let mut file = fs.create(&path)?;
    file.append(&encode_header(seq, base_ts))?;
    file.sync()?;
    fs.sync_dir(dir)?;
    counters.syncs.fetch_add(1, Ordering::Relaxed);
    counters
        .bytes
        .fetch_add(segment::HEADER_LEN as u64, Ordering::Relaxed);
    counters.segments_created.fetch_add(1, Ordering::Relaxed);
    Ok(file)
}

/// A torn tail found (and, unless read-only, cut off) at recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment it was in.
    pub file: PathBuf,
    /// Where the partial record started (0 when the segment header itself was partial
    /// and the file was removed).
    pub offset: u64,
    /// Bytes cut off.
    pub bytes: u64,
    /// What was wrong with them.
    pub reason: String,
}

/// What recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments read.
    pub segments: usize,
    /// Batch records replayed.
    pub records: u64,
    /// The newest commit timestamp found.
    pub last_ts: u64,
    /// The torn tail of the last segment, if there was one.
    pub torn_tail: Option<TornTail>,
}

/// The outcome of [`recover`].
#[derive(Debug)]
pub struct Recovered {
    /// What was found.
    pub report: RecoveryReport,
    /// The number the next segment gets.
    pub next_seq: u64,
    /// Bytes of the segments kept.
    pub wal_bytes: u64,
}

/// Replays every segment of `dir` in order, calling `apply` for each batch record.
///
/// A partial or damaged record at the very end of the newest segment, with no valid
/// record after it, is a torn tail: it is cut off (when `repair`), reported on standard
/// error and in the report. Anything else that does not check out is
/// [`Error::Corruption`] naming the file and the offset.
pub fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    repair: bool,
    apply: &mut dyn FnMut(u64, &[BatchOp]) -> Result<()>,
) -> Result<Recovered> {
    let mut seqs: Vec<u64> = fs
        .list(dir)?
        .iter()
        .filter_map(|n| parse_segment_name(n))
        .collect();
    seqs.sort_unstable();
    for w in seqs.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(Error::Corruption(format!(
                "log segment {} is missing (found {} and then {}) in {}",
                segment_name(w[0] + 1),
                segment_name(w[0]),
                segment_name(w[1]),
                dir.display()
            )));
        }
    }
    let mut report = RecoveryReport {
        segments: seqs.len(),
        ..RecoveryReport::default()
    };
    let mut wal_bytes = 0u64;
    let mut next_seq = seqs.last().map_or(1, |s| s + 1);
    // True once a segment header was read (later ones must continue from it).
    let mut read_one = false;
    for (i, &seq) in seqs.iter().enumerate() {
        let is_last = i + 1 == seqs.len();
        let path = dir.join(segment_name(seq));
        let data = fs.read_file(&path)?;
        let corrupt = |offset: usize, what: &str| {
            Error::Corruption(format!(
                "log segment {} at offset {offset}: {what}",
                path.display()
            ))
        };
        let header = match decode_header(&data) {
            Ok(h) => h,
            Err(e) => {
                let reason = match e {
                    HeaderError::Incomplete => {
                        format!("partial segment header ({} bytes)", data.len())
                    }
                    HeaderError::Bad(why) => why,
                };
                if !is_last {
                    return Err(corrupt(0, &reason));
                }
                if let Some(at) = find_valid_record(&data, 1, report.last_ts) {
                    return Err(corrupt(
                        0,
                        &format!("{reason}, yet a valid record follows at offset {at}"),
                    ));
                }
                // A segment whose creation was cut short: it holds no record.
                let torn = TornTail {
                    file: path.clone(),
                    offset: 0,
                    bytes: data.len() as u64,
                    reason,
                };
                notice(&format!(
                    "log segment {} was cut short while being created ({}); {}",
                    path.display(),
                    torn.reason,
                    if repair {
                        "removed it"
                    } else {
                        "ignoring it (read-only)"
                    }
                ));
                if repair {
                    fs.remove(&path)?;
                    fs.sync_dir(dir)?;
                    // The next segment takes its number, so numbers stay consecutive.
                    next_seq = seq;
                }
                report.torn_tail = Some(torn);
                continue;
            }
        };
        if header.seq != seq {
            return Err(corrupt(
                16,
                &format!(
                    "header names segment {} but the file is segment {seq}",
                    header.seq
                ),
            ));
        }
        // A segment starts right after the last commit of the one before it.
        if read_one && header.base_ts != report.last_ts {
            return Err(corrupt(
                24,
                &format!(
                    "base timestamp {} does not continue from commit {} at the end of the \
                     previous segment",
                    header.base_ts, report.last_ts
                ),
            ));
        }
        read_one = true;
        report.last_ts = header.base_ts;
        let mut pos = segment::HEADER_LEN;
        while pos < data.len() {
            match record::parse(&data[pos..]) {
                Parsed::Record { payload, len, .. } => {
                    let (ts, ops) = record::split_batch(payload)
                        .ok_or_else(|| corrupt(pos, "batch record shorter than its timestamp"))?;
                    let ops = decode_ops(ops).map_err(|why| corrupt(pos, &why))?;
                    // Timestamps in the log are consecutive: every assigned timestamp
                    // is written in order, and nothing is written after a failure.
                    if Some(ts) != report.last_ts.checked_add(1) {
                        return Err(corrupt(
                            pos,
                            &format!(
                                "commit timestamp {ts} does not follow the previous commit {}",
                                report.last_ts
                            ),
                        ));
                    }
                    apply(ts, &ops)?;
                    report.last_ts = ts;
                    report.records += 1;
                    pos += len;
                }
                bad => {
                    let reason = match bad {
                        Parsed::Bad(why) => why,
                        _ => format!("partial record ({} bytes at the end)", data.len() - pos),
                    };
                    if !is_last {
                        return Err(corrupt(
                            pos,
                            &format!(
                                "{reason}; the segment is not the newest, so this is not a torn tail"
                            ),
                        ));
                    }
                    if let Some(at) = find_valid_record(&data, pos + 1, report.last_ts) {
                        return Err(corrupt(
                            pos,
                            &format!(
                                "{reason}, followed by a valid record at offset {at}; refusing \
                                 to open rather than drop committed data"
                            ),
                        ));
                    }
                    let torn = TornTail {
                        file: path.clone(),
                        offset: pos as u64,
                        bytes: (data.len() - pos) as u64,
                        reason,
                    };
                    notice(&format!(
                        "log segment {}: torn tail of {} bytes at offset {} ({}); {}",
                        path.display(),
                        torn.bytes,
                        torn.offset,
                        torn.reason,
                        if repair {
                            "cut it off"
                        } else {
                            "ignoring it (read-only)"
                        }
                    ));
                    if repair {
                        fs.truncate(&path, pos as u64)?;
                    }
                    report.torn_tail = Some(torn);
                    break;
                }
            }
        }
        wal_bytes += pos.min(data.len()) as u64;
    }
    Ok(Recovered {
        report,
        next_seq,
        wal_bytes,
    })
}

/// The offset of the first whole, checksummed, decodable batch record at or after
/// `from` whose timestamp is newer than `after`, if any.
fn find_valid_record(data: &[u8], from: usize, after: u64) -> Option<usize> {
    (from..data.len().saturating_sub(record::HEADER_LEN - 1)).find(|&at| {
        // Cheap rejections first: almost every offset fails on the type byte.
        if data[at + 8] != record::TYPE_BATCH {
            return false;
        }
        match record::parse(&data[at..]) {
            Parsed::Record { payload, .. } => record::split_batch(payload)
                .is_some_and(|(ts, ops)| ts > after && decode_ops(ops).is_ok()),
            _ => false,
        }
    })
}
