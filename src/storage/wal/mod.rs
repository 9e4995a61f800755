//! The write-ahead log: segment files of checksummed records, one record per committed
//! batch, and the recovery that replays them at open.
//!
//! A segment is written ahead with zeroes (up to [`ZEROES_AHEAD`] bytes past its last
//! record, synced with the header or with the record that needed them) and records are
//! written over those zeroes, so the sync of a commit carries data only: no change of
//! the file's size or extents, whose journaling would cost the file system a second
//! write. Recovery reads an all-zero rest of a segment as its end.
//!
//! Formats are in [`segment`] and [`record`], and byte by byte in `docs/storage.md`.

pub mod record;
pub mod segment;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

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
    /// Bytes appended to segments since open (headers included).
    pub appended: AtomicU64,
    /// Segments created since open.
    pub segments_created: AtomicU64,
    /// The live segments, oldest first.
    pub segments: Mutex<Vec<SegmentInfo>>,
}

/// A live log segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its number.
    pub seq: u64,
    /// The newest commit timestamp before it (from its header): every record of the
    /// previous segment is at or below this.
    pub base_ts: u64,
    /// Its bytes (final once a newer segment exists).
    pub bytes: u64,
}

/// Most zeroes written ahead of the last record of a segment (fewer when the segment
/// size is small: at most the segment size, at least 4 KiB).
pub const ZEROES_AHEAD: u64 = 1 << 20;

/// Appends to the newest segment and starts a new one when it is full, or at a boundary
/// the engine asked for.
pub struct WalWriter {
    /// The file layer.
    fs: Arc<dyn FileSystem>,
    /// The database directory.
    dir: PathBuf,
    /// The segment being appended to.
    file: Box<dyn WritableFile>,
    /// Its number.
    seq: u64,
    /// Where its next record goes (the file goes on with zeroes past it).
    pos: u64,
    /// Zeroes to keep written ahead of the records.
    ahead: u64,
    /// Size at which a new segment is started.
    segment_size: u64,
    /// Shared counters.
    counters: Arc<WalCounters>,
    /// A boundary asked for by [`WalWriter::request_roll`]: the next record goes to a
    /// new segment whose base timestamp is this.
    pending_roll: Option<u64>,
    /// True when bytes were appended since the last sync.
    dirty: bool,
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
        let ahead = zeroes_ahead(segment_size);
        let file = start_segment(&*fs, dir, seq, base_ts, ahead, &counters)?;
        Ok(WalWriter {
            fs,
            dir: dir.to_path_buf(),
            file,
            seq,
            pos: segment::HEADER_LEN as u64,
            ahead,
            segment_size,
            counters,
            pending_roll: None,
            dirty: false,
        })
    }

    /// The number of the segment being appended to.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// True when the current segment holds at least one record.
    fn has_records(&self) -> bool {
        self.pos > segment::HEADER_LEN as u64
    }

    /// Appends framed records whose first commit timestamp is `first_ts`. Starts a new
    /// segment first when one was asked for, or when the current one has reached the
    /// segment size; the old one is synced before, whatever the durability, so that
    /// only the newest segment can ever have a torn tail.
    pub fn append(&mut self, records: &[u8], first_ts: u64) -> Result<()> {
        let asked = self.pending_roll.take();
        if self.has_records() {
            if let Some(base) = asked {
                self.roll(base)?;
            } else if self.pos >= self.segment_size {
                self.roll(first_ts.saturating_sub(1))?;
            }
        }
        self.write_records(records)?;
        self.dirty = true;
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        let n = records.len() as u64;
        self.counters.bytes.fetch_add(n, Ordering::Relaxed);
        self.counters.appended.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Writes `records` at `pos`, over the zeroes ahead; when they do not fit, writes
    /// the rest with a new stretch of zeroes after it, at the end of the file.
    fn write_records(&mut self, records: &[u8]) -> Result<()> {
        let n = records.len() as u64;
        let end = self.file.len();
        if self.pos + n <= end {
            self.file.write_at(self.pos, records)?;
        } else {
            // `pos <= end` always: records are written back to back from the header.
            let fit = (end - self.pos) as usize;
            if fit > 0 {
                self.file.write_at(self.pos, &records[..fit])?;
            }
            let mut tail = Vec::with_capacity(records.len() - fit + self.ahead as usize);
            tail.extend_from_slice(&records[fit..]);
            tail.resize(tail.len() + self.ahead as usize, 0);
            self.file.append(&tail)?;
        }
        self.pos += n;
        Ok(())
    }

    /// Asks that the next record go to a new segment with base timestamp `base_ts`
    /// (every record appended so far is at or below it). Used when a memtable is
    /// frozen, so that its records end at a segment boundary and the segments it covers
    /// can be removed once it is flushed.
    pub fn request_roll(&mut self, base_ts: u64) {
        self.pending_roll = Some(base_ts);
    }

    /// Starts the segment asked for by [`WalWriter::request_roll`] now, without waiting
    /// for the next record.
    pub fn roll_now(&mut self) -> Result<()> {
        if let Some(base) = self.pending_roll.take()
            && self.has_records()
        {
            self.roll(base)?;
        }
        Ok(())
    }

    /// Syncs the current segment and starts the next one with base timestamp `base_ts`.
    fn roll(&mut self, base_ts: u64) -> Result<()> {
        self.sync()?;
        let seq = self.seq + 1;
        let len = self.pos;
        self.file = start_segment(
            &*self.fs,
            &self.dir,
            seq,
            base_ts,
            self.ahead,
            &self.counters,
        )?;
        self.seq = seq;
        self.pos = segment::HEADER_LEN as u64;
        let mut segs = self.counters.segments.lock();
        if let Some(s) = segs.iter_mut().find(|s| s.seq == seq - 1) {
            s.bytes = len;
        }
        Ok(())
    }

    /// Makes everything appended durable (nothing to do when nothing was appended since
    /// the last sync).
    pub fn sync(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        self.file.sync()?;
        self.dirty = false;
        self.counters.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The zeroes a writer keeps ahead of its records for segments of `segment_size`.
fn zeroes_ahead(segment_size: u64) -> u64 {
    segment_size.clamp(4096, ZEROES_AHEAD)
}

/// Creates a segment with its header and `ahead` zeroes, synced, and syncs the
/// directory.
fn start_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    seq: u64,
    base_ts: u64,
    ahead: u64,
    counters: &WalCounters,
) -> Result<Box<dyn WritableFile>> {
    let path = dir.join(segment_name(seq));
    let mut file = fs.create(&path)?;
    let mut start = encode_header(seq, base_ts).to_vec();
    start.resize(start.len() + ahead as usize, 0);
    file.append(&start)?;
    file.sync()?;
    fs.sync_dir(dir)?;
    counters.syncs.fetch_add(1, Ordering::Relaxed);
    let header = segment::HEADER_LEN as u64;
    counters.bytes.fetch_add(header, Ordering::Relaxed);
    counters.appended.fetch_add(header, Ordering::Relaxed);
    counters.segments_created.fetch_add(1, Ordering::Relaxed);
    counters.segments.lock().push(SegmentInfo {
        seq,
        base_ts,
        bytes: header,
    });
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
    /// Batch records replayed into the memtable.
    pub records: u64,
    /// Batch records found that the block files already hold (at or below the
    /// manifest's flushed timestamp), so not replayed.
    pub skipped: u64,
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
    /// The segments kept, oldest first.
    pub segments: Vec<SegmentInfo>,
}

/// How [`recover`] treats what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoverOptions {
    /// Cut a torn tail off (and remove a segment cut short while being created);
    /// otherwise only report it.
    pub repair: bool,
    /// Segments numbered below this are ignored (the block files cover them).
    pub min_seq: u64,
    /// Records at or below this timestamp are checked but not applied (the block
    /// files hold them).
    pub after_ts: u64,
    /// Report a torn tail only in the result, not on standard error.
    pub quiet: bool,
}

impl Default for RecoverOptions {
    fn default() -> Self {
        RecoverOptions {
            repair: true,
            min_seq: 0,
            after_ts: 0,
            quiet: false,
        }
    }
}

/// Replays the segments of `dir` numbered `opts.min_seq` or more, in order, calling
/// `apply` for each batch record newer than `opts.after_ts`.
///
/// A partial or damaged record at the very end of the newest segment, with no valid
/// record after it, is a torn tail: it is cut off (when `opts.repair`), reported on
/// standard error (unless `opts.quiet`) and in the report. Anything else that does not
/// check out is [`Error::Corruption`] naming the file and the offset.
pub fn recover(
    fs: &dyn FileSystem,
    dir: &Path,
    opts: &RecoverOptions,
    apply: &mut dyn FnMut(u64, Vec<BatchOp>) -> Result<()>,
) -> Result<Recovered> {
    let repair = opts.repair;
    let say = |text: &str| {
        if !opts.quiet {
            notice(text);
        }
    };
    let mut seqs: Vec<u64> = fs
        .list(dir)?
        .iter()
        .filter_map(|n| parse_segment_name(n))
        .filter(|&n| n >= opts.min_seq)
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
    let mut segments = Vec::new();
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
                say(&format!(
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
            if is_zero_tail(&data[pos..]) {
                // The zeroes written ahead of the records: the segment ends here.
                break;
            }
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
                    if ts > opts.after_ts {
                        apply(ts, ops)?;
                        report.records += 1;
                    } else {
                        report.skipped += 1;
                    }
                    report.last_ts = ts;
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
                    say(&format!(
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
        let bytes = pos.min(data.len()) as u64;
        wal_bytes += bytes;
        segments.push(SegmentInfo {
            seq,
            base_ts: header.base_ts,
            bytes,
        });
    }
    Ok(Recovered {
        report,
        next_seq,
        wal_bytes,
        segments,
    })
}

/// True when `rest` holds only zeroes: what the writer wrote ahead, with no record
/// written over it (no record is all zeroes: its type byte is never 0).
fn is_zero_tail(rest: &[u8]) -> bool {
    // The type byte first: a record there makes this false at once.
    rest.get(record::HEADER_LEN - 1).is_none_or(|&t| t == 0) && rest.iter().all(|&b| b == 0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::{WriteBatch, encode_ops};
    use crate::storage::io::SimFs;
    use crate::storage::wal::record::PreparedBatch;

    /// The framed record of a one-put batch at `ts` whose value is `len` bytes.
    fn record(ts: u64, len: usize) -> Vec<u8> {
        let mut b = WriteBatch::new();
        b.put(&ts.to_be_bytes(), &vec![ts as u8; len]).unwrap();
        let mut out = Vec::new();
        PreparedBatch::new(encode_ops(b.ops(), b.byte_size()))
            .unwrap()
            .frame(ts, &mut out);
        out
    }

    fn setup() -> (Arc<dyn FileSystem>, PathBuf) {
        let fs = SimFs::new();
        let dir = PathBuf::from("/db");
        fs.create_dir_all(&dir).unwrap();
        (Arc::new(fs), dir)
    }

    /// Replays `dir`, returning the timestamps applied and the report.
    fn replay(fs: &dyn FileSystem, dir: &Path) -> Result<(Vec<u64>, RecoveryReport)> {
        let mut got = Vec::new();
        let opts = RecoverOptions {
            quiet: true,
            ..RecoverOptions::default()
        };
        let r = recover(fs, dir, &opts, &mut |ts, _| {
            got.push(ts);
            Ok(())
        })?;
        Ok((got, r.report))
    }

    /// Writes records of `sizes` (timestamps from 1) to a writer with `segment_size`.
    fn write(fs: &Arc<dyn FileSystem>, dir: &Path, segment_size: u64, sizes: &[usize]) {
        let counters = Arc::new(WalCounters::default());
        let mut w = WalWriter::create(Arc::clone(fs), dir, 1, 0, segment_size, counters).unwrap();
        for (i, &len) in sizes.iter().enumerate() {
            let ts = i as u64 + 1;
            w.append(&record(ts, len), ts).unwrap();
            w.sync().unwrap();
        }
    }

    #[test]
    fn records_go_over_zeroes_written_ahead_and_replay_to_the_end() {
        let (fs, dir) = setup();
        // Small records within the zeroes, then ones larger than the zeroes ahead.
        let sizes = [10, 20, 5000, 30, 9000, 1];
        write(&fs, &dir, 1 << 30, &sizes);
        let data = fs.read_file(&dir.join(segment_name(1))).unwrap();
        let logical: usize = segment::HEADER_LEN
            + (1..=sizes.len())
                .map(|i| record(i as u64, sizes[i - 1]).len())
                .sum::<usize>();
        assert!(data.len() > logical, "zeroes follow the records");
        assert!(data[logical..].iter().all(|&b| b == 0));
        let (got, report) = replay(&*fs, &dir).unwrap();
        assert_eq!(got, (1..=sizes.len() as u64).collect::<Vec<_>>());
        assert!(
            report.torn_tail.is_none(),
            "zeroes ahead are not a torn tail"
        );
    }

    #[test]
    fn zero_tail_torn_record_and_damage_are_told_apart() {
        // Several segments (a small segment size), each ending in zeroes.
        let (fs, dir) = setup();
        write(&fs, &dir, 200, &[100; 6]);
        let names: Vec<String> = {
            let mut v: Vec<String> = fs
                .list(&dir)
                .unwrap()
                .into_iter()
                .filter(|n| parse_segment_name(n).is_some())
                .collect();
            v.sort();
            v
        };
        assert!(names.len() >= 3);
        let (got, report) = replay(&*fs, &dir).unwrap();
        assert_eq!(got, (1..=6).collect::<Vec<_>>());
        assert!(report.torn_tail.is_none());

        let rewrite = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
            let path = dir.join(name);
            let mut data = fs.read_file(&path).unwrap();
            f(&mut data);
            fs.remove(&path).unwrap();
            let mut w = fs.create(&path).unwrap();
            w.append(&data).unwrap();
            w.sync().unwrap();
        };
        let newest = names.last().unwrap().clone();
        let first_record = segment::HEADER_LEN;

        // The newest segment's last record torn over the zeroes: a torn tail, cut off.
        let keep = fs.read_file(&dir.join(&newest)).unwrap();
        let mut last = first_record;
        while let Parsed::Record { len, .. } = record::parse(&keep[last..]) {
            if keep[last + len..].iter().all(|&b| b == 0) {
                break;
            }
            last += len;
        }
        let rec_len = record(6, 100).len();
        rewrite(&newest, &|d| {
            for b in &mut d[last + rec_len - 7..last + rec_len] {
                *b = 0;
            }
        });
        let (got, report) = replay(&*fs, &dir).unwrap();
        assert_eq!(got, (1..=5).collect::<Vec<_>>());
        let torn = report.torn_tail.expect("torn tail");
        assert_eq!(torn.offset, last as u64);
        rewrite(&newest, &|d| *d = keep.clone());

        // Damage in the zeroes of an older segment: corruption, not an end.
        let older = names[names.len() - 2].clone();
        rewrite(&older, &|d| {
            let last = d.len() - 1;
            d[last] = 0x5a;
        });
        let err = replay(&*fs, &dir).unwrap_err();
        assert!(matches!(err, Error::Corruption(_)), "{err}");
        assert!(err.to_string().contains(&older), "{err}");
        rewrite(&older, &|d| {
            let last = d.len() - 1;
            d[last] = 0;
        });

        // An older segment whose last record is missing (zeroes where it was): the
        // next segment does not continue from it, which is corruption.
        rewrite(&older, &|d| {
            for b in &mut d[first_record..] {
                *b = 0;
            }
        });
        let err = replay(&*fs, &dir).unwrap_err();
        assert!(err.to_string().contains("does not continue"), "{err}");
    }
}
