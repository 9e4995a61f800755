//! Group commit: timestamps, the log buffer, the leader that writes and syncs for a
//! group, and visibility in timestamp order.
//!
//! A committer takes the commit lock only to get its timestamp, run the validation
//! callback and append its framed record to the log buffer. Then, if it needs its
//! record written (or synced) and no one is doing I/O, it becomes the leader: it takes
//! the whole buffer, writes it with one `write` and syncs it with one `fdatasync`
//! outside the lock, and wakes everyone; records that arrived meanwhile go in the next
//! group, led by one of their committers. A lone writer pays exactly one write and one
//! sync per commit; N concurrent writers share them.
//!
//! The batch is applied to the memtable under the commit lock too, in timestamp order,
//! but readers never see it early: every read is clamped to the visible timestamp. The
//! visible timestamp advances over commits in timestamp order, each once its record has
//! reached what its durability mode asks (synced, written, or nothing), so a reader at
//! the visible timestamp sees every commit at or below it and nothing of the others. A
//! commit returns once visible.
//!
//! A failed write or sync fails every commit not yet durable and makes the pipeline
//! read-only until the engine is reopened; it is never retried.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::options::Durability;
use super::wal::WalWriter;
use super::wal::record::PreparedBatch;
use crate::error::{Error, Result};

/// A commit with [`Durability::None`] writes the log buffer itself once the buffer holds
/// this many bytes.
const NONE_FLUSH_BYTES: usize = 1 << 20;

/// How far a commit's record must get before the commit may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Handed to the operating system.
    Written,
    /// Synced to stable storage.
    Synced,
}

/// A failed log write or sync, remembered to fail later commits.
#[derive(Debug, Clone)]
struct Failure {
    /// What failed, with the file.
    context: String,
    /// The operating system's error kind.
    kind: io::ErrorKind,
    /// The raw error number, when there was one.
    errno: Option<i32>,
}

impl Failure {
    fn from_error(e: &Error) -> Failure {
        match e {
            Error::Io { context, source } => Failure {
                context: context.clone(),
                kind: source.kind(),
                errno: source.raw_os_error(),
            },
            other => Failure {
                context: other.to_string(),
                kind: io::ErrorKind::Other,
                errno: None,
            },
        }
    }

    /// The error for a commit whose record was lost to this failure.
    fn lost_commit(&self, ts: u64) -> Error {
        let source = match self.errno {
            Some(n) => io::Error::from_raw_os_error(n),
            None => io::Error::from(self.kind),
        };
        Error::io(
            format!(
                "commit {ts} is not durable: {}; the engine is read-only until reopened",
                self.context
            ),
            source,
        )
    }

    /// The error for a commit attempted after the failure.
    fn read_only(&self) -> Error {
        Error::ReadOnly(format!(
            "a write failed earlier ({}); reopen the database to continue writing",
            self.context
        ))
    }
}

/// State under the commit lock.
struct CommitState {
    /// The newest timestamp assigned.
    last_ts: u64,
    /// Framed records not yet handed to a leader, in timestamp order.
    buffer: Vec<u8>,
    /// Timestamp of the first record in `buffer`.
    buffer_first_ts: u64,
    /// True when a record in `buffer` asked for [`Durability::Sync`].
    buffer_wants_sync: bool,
    /// Segment boundaries asked for inside `buffer`: (byte offset in `buffer`, base
    /// timestamp of the new segment). Every record before the offset is at or below
    /// the timestamp, every record after it above.
    rolls: Vec<(usize, u64)>,
    /// True while a leader is writing or syncing.
    leader_active: bool,
    /// Every record at or below this timestamp has been written.
    written_ts: u64,
    /// Every record at or below this timestamp has been synced.
    synced_ts: u64,
    /// Commits not yet visible, in timestamp order, with what each waits for.
    invisible: VecDeque<(u64, Option<Reach>)>,
    /// Commits made visible whose committers have not yet returned. A would-be leader
    /// lets them leave first: they are about to return and often commit again at once,
    /// so the next group includes them instead of leaving them to the one after.
    exiting: usize,
    /// Callers of [`Pipeline::sync_all`] waiting to lead a sync. They may want a leader
    /// when the buffer is empty (records written, not synced), so a committer on its way
    /// out must wake them too.
    sync_waiters: usize,
    /// The failure that made the pipeline read-only, if any.
    failure: Option<Failure>,
    /// Set by close: no more timestamps are assigned.
    closed: bool,
}

impl CommitState {
    /// Advances the visible timestamp over every leading commit whose record has
    /// reached what it waits for.
    fn advance_visible(&mut self, visible: &AtomicU64) {
        let mut advanced = None;
        while let Some(&(ts, need)) = self.invisible.front() {
            let ready = match need {
                None => true,
                Some(Reach::Written) => self.written_ts >= ts,
                Some(Reach::Synced) => self.synced_ts >= ts,
            };
            if !ready {
                break;
            }
            advanced = Some(ts);
            self.invisible.pop_front();
            self.exiting += 1;
        }
        if let Some(ts) = advanced {
            visible.store(ts, Ordering::Release);
        }
    }
}

/// The commit pipeline of one engine.
pub(crate) struct Pipeline {
    /// Timestamps, log buffer, leader flag, progress.
    state: Mutex<CommitState>,
    /// Signalled when a leader finishes (progress, visibility or failure).
    changed: Condvar,
    /// The log writer; only the leader touches it. `None` once closed.
    wal: Mutex<Option<WalWriter>>,
    /// Every commit at or below this is applied and visible.
    visible: AtomicU64,
    /// Set with `failure` (readable without the commit lock, so threads holding other
    /// locks may ask).
    failed: AtomicBool,
    /// Commits acknowledged since open.
    commits: AtomicU64,
}

impl Pipeline {
    /// A pipeline continuing after commit `last_ts`, writing with `wal` (`None` for a
    /// read-only engine).
    pub(crate) fn new(last_ts: u64, wal: Option<WalWriter>) -> Pipeline {
        Pipeline {
            state: Mutex::new(CommitState {
                last_ts,
                buffer: Vec::new(),
                buffer_first_ts: 0,
                buffer_wants_sync: false,
                rolls: Vec::new(),
                leader_active: false,
                written_ts: last_ts,
                synced_ts: last_ts,
                invisible: VecDeque::new(),
                exiting: 0,
                sync_waiters: 0,
                failure: None,
                closed: false,
            }),
            changed: Condvar::new(),
            wal: Mutex::new(wal),
            visible: AtomicU64::new(last_ts),
            failed: AtomicBool::new(false),
            commits: AtomicU64::new(0),
        }
    }

    /// Every commit at or below this is visible.
    pub(crate) fn visible_ts(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    /// Commits acknowledged since open.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Waits until every commit at or below `ts` is visible, the pipeline fails or is
    /// closed, or `timeout` passes. Returns whether `ts` is visible.
    pub(crate) fn wait_visible(&self, ts: u64, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut st = self.state.lock();
        while self.visible_ts() < ts {
            if st.failure.is_some() || st.closed || ts > st.last_ts {
                break;
            }
            if self.changed.wait_until(&mut st, deadline).timed_out() {
                break;
            }
        }
        self.visible_ts() >= ts
    }

    /// True once a log write or sync (or a flush or manifest install) failed. Takes no
    /// lock.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Runs one commit: under the commit lock, assigns its timestamp, runs `validate`,
    /// appends its record to the log buffer and calls `apply` with the timestamp; then
    /// makes the record durable per `durability` (leading a group when no one else is)
    /// and returns once the commit is visible. When `apply` returns true (it froze the
    /// memtable), the log starts a new segment after this record.
    pub(crate) fn commit(
        &self,
        prepared: &PreparedBatch,
        durability: Durability,
        validate: &mut dyn FnMut(u64) -> Result<()>,
        apply: &mut dyn FnMut(u64) -> bool,
    ) -> Result<u64> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Error::Closed("the engine is closed".into()));
        }
        if let Some(f) = &st.failure {
            return Err(f.read_only());
        }
        let ts = st
            .last_ts
            .checked_add(1)
            .ok_or_else(|| Error::Internal("commit timestamps are exhausted".into()))?;
        validate(ts)?;
        if st.buffer.is_empty() {
            st.buffer_first_ts = ts;
        }
        prepared.frame(ts, &mut st.buffer);
        st.last_ts = ts;
        if apply(ts) {
            let at = st.buffer.len();
            st.rolls.push((at, ts));
        }
        let need = match durability {
            Durability::Sync => {
                st.buffer_wants_sync = true;
                Some(Reach::Synced)
            }
            Durability::Buffered => Some(Reach::Written),
            Durability::None => None,
        };
        st.invisible.push_back((ts, need));
        // A `None` commit still hands a full buffer to the operating system: once it is
        // visible (and has left the exiting count), it waits for its record to be written.
        let flush = need.is_none() && st.buffer.len() >= NONE_FLUSH_BYTES;
        let before = self.visible_ts();
        st.advance_visible(&self.visible);
        if self.visible_ts() != before {
            // Visibility moved without a leader (a `None` commit): wake visibility waiters.
            self.changed.notify_all();
        }
        let mut outcome = self.drive(st, ts, need, true);
        if outcome.is_ok() && flush {
            outcome = self.drive(self.state.lock(), ts, Some(Reach::Written), false);
        }
        if outcome.is_ok() {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        outcome.map(|()| ts)
    }

    /// Waits (leading groups whenever no one else is) until the record of `ts` has
    /// reached `need` and, when `until_visible`, until `ts` is visible.
    fn drive<'a>(
        &'a self,
        mut st: MutexGuard<'a, CommitState>,
        ts: u64,
        need: Option<Reach>,
        until_visible: bool,
    ) -> Result<()> {
        loop {
            let reached = match need {
                None => true,
                Some(Reach::Written) => st.written_ts >= ts,
                Some(Reach::Synced) => st.synced_ts >= ts,
            };
            if reached && !until_visible {
                self.pass_leadership(&st);
                return Ok(());
            }
            if reached && self.visible_ts() >= ts {
                st.exiting -= 1;
                self.pass_leadership(&st);
                return Ok(());
            }
            if let Some(f) = &st.failure {
                return Err(f.lost_commit(ts));
            }
            // Lead when no one does, no finished committer is still on its way out (a
            // `None` commit that must still write a full buffer has left that count
            // before it waits here), and there is something to do (this commit's own
            // need, or records that an earlier commit this one waits for may be among).
            let can_lead =
                !st.leader_active && st.exiting == 0 && (!reached || !st.buffer.is_empty());
            if !can_lead {
                self.changed.wait(&mut st);
                continue;
            }
            let (guard, outcome) = self.lead(st, need == Some(Reach::Synced), false);
            st = guard;
            outcome?;
        }
    }

    /// Leads one group: takes the whole log buffer, writes it (starting new segments at
    /// the boundaries asked for) and syncs it when `sync` or a record asks, outside the
    /// commit lock; then records the progress and wakes everyone. With `roll_now`, a
    /// boundary asked for at the very end of the buffer starts its segment at once.
    /// The caller has checked that no other leader is active.
    fn lead<'a>(
        &'a self,
        mut st: MutexGuard<'a, CommitState>,
        sync: bool,
        roll_now: bool,
    ) -> (MutexGuard<'a, CommitState>, Result<()>) {
        st.leader_active = true;
        let records = std::mem::take(&mut st.buffer);
        let rolls = std::mem::take(&mut st.rolls);
        let first_ts = st.buffer_first_ts;
        let covers = if records.is_empty() {
            st.written_ts
        } else {
            st.last_ts
        };
        let sync = sync || st.buffer_wants_sync;
        st.buffer_wants_sync = false;
        drop(st);

        let outcome = self.write_group(&records, first_ts, &rolls, sync, roll_now);

        let mut st = self.state.lock();
        st.leader_active = false;
        match outcome {
            Ok(()) => {
                st.written_ts = st.written_ts.max(covers);
                if sync {
                    st.synced_ts = st.synced_ts.max(covers);
                }
                st.advance_visible(&self.visible);
                if st.buffer.is_empty() {
                    // Give the allocation back for the next group.
                    let mut spare = records;
                    spare.clear();
                    st.buffer = spare;
                }
                self.changed.notify_all();
                (st, Ok(()))
            }
            Err(e) => {
                if st.failure.is_none() {
                    st.failure = Some(Failure::from_error(&e));
                    self.failed.store(true, Ordering::Release);
                }
                self.changed.notify_all();
                (st, Err(e))
            }
        }
    }

    /// Wakes one waiter to lead the next group when leading is possible and needed.
    /// Called by every committer on its way out, so that the wake-up that made the
    /// leader slot available is never lost on a thread that then does not lead.
    fn pass_leadership(&self, st: &CommitState) {
        if st.leader_active || st.exiting > 0 {
            return;
        }
        if st.sync_waiters > 0 {
            // A sync may be due with nothing buffered: wake every waiter, so that the
            // one that wants it is among them.
            self.changed.notify_all();
        } else if !st.buffer.is_empty() {
            self.changed.notify_one();
        }
    }

    fn write_group(
        &self,
        records: &[u8],
        first_ts: u64,
        rolls: &[(usize, u64)],
        sync: bool,
        roll_now: bool,
    ) -> Result<()> {
        let mut wal = self.wal.lock();
        let Some(wal) = wal.as_mut() else {
            return Err(Error::Closed("the engine's log is closed".into()));
        };
        let (mut at, mut at_ts) = (0, first_ts);
        for &(offset, base_ts) in rolls {
            if offset > at {
                wal.append(&records[at..offset], at_ts)?;
            }
            wal.request_roll(base_ts);
            at = offset;
            at_ts = base_ts + 1;
        }
        if at < records.len() {
            wal.append(&records[at..], at_ts)?;
        }
        if sync {
            wal.sync()?;
        }
        if roll_now {
            wal.roll_now()?;
        }
        Ok(())
    }

    /// Runs `f` with the newest assigned timestamp while no commit can be assigned one
    /// (under the commit lock). When `f` returns true (it froze the memtable), the log
    /// starts a new segment before the next record. Fails when closed or failed.
    pub(crate) fn exclusive<R>(&self, f: impl FnOnce(u64) -> (R, bool)) -> Result<R> {
        let mut st = self.state.lock();
        if st.closed {
            return Err(Error::Closed("the engine is closed".into()));
        }
        if let Some(failure) = &st.failure {
            return Err(failure.read_only());
        }
        let (r, boundary) = f(st.last_ts);
        if boundary {
            let at = st.buffer.len();
            let ts = st.last_ts;
            st.rolls.push((at, ts));
        }
        Ok(r)
    }

    /// Makes every record assigned so far durable and starts the segment of a boundary
    /// asked for after the last of them, so the segments before it hold only records
    /// at or below its base timestamp (used before a flush).
    pub(crate) fn sync_and_roll(&self) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if let Some(f) = &st.failure {
                return Err(f.read_only());
            }
            if !st.leader_active {
                break;
            }
            self.changed.wait(&mut st);
        }
        let (st, outcome) = self.lead(st, true, true);
        self.pass_leadership(&st);
        outcome
    }

    /// Makes the pipeline read-only after a failure outside the log (a block file or
    /// manifest write): later commits fail with `ReadOnly` until the engine is reopened.
    pub(crate) fn fail(&self, e: &Error) {
        let mut st = self.state.lock();
        if st.failure.is_none() {
            st.failure = Some(Failure::from_error(e));
            self.failed.store(true, Ordering::Release);
        }
        self.changed.notify_all();
    }

    /// The failure that made the pipeline read-only, as text.
    pub(crate) fn failure(&self) -> Option<String> {
        self.state
            .lock()
            .failure
            .as_ref()
            .map(|f| f.context.clone())
    }

    /// Makes every record assigned so far durable (used by the background syncer, by
    /// checkpoint and by close). Does nothing when everything is synced already.
    pub(crate) fn sync_all(&self) -> Result<()> {
        let mut st = self.state.lock();
        if st.synced_ts >= st.last_ts {
            return Ok(());
        }
        let target = st.last_ts;
        st.sync_waiters += 1;
        let outcome = self.drive(st, target, Some(Reach::Synced), false);
        self.state.lock().sync_waiters -= 1;
        outcome
    }

    /// True when some assigned record is not yet synced.
    pub(crate) fn has_unsynced(&self) -> bool {
        let st = self.state.lock();
        st.synced_ts < st.last_ts && st.failure.is_none()
    }

    /// Stops assigning timestamps (later commits fail with `Closed`), syncs everything
    /// assigned, and releases the log writer.
    pub(crate) fn close(&self) -> Result<()> {
        self.state.lock().closed = true;
        let synced = if self.failed() {
            Ok(())
        } else {
            self.sync_all()
        };
        // Wait for a leader still writing, then drop the writer.
        let mut st = self.state.lock();
        while st.leader_active {
            self.changed.wait(&mut st);
        }
        self.pass_leadership(&st);
        drop(st);
        self.wal.lock().take();
        synced
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::storage::io::{FileSystem, SimFs};
    use crate::storage::wal::WalCounters;

    fn pipeline() -> Pipeline {
        let fs: Arc<dyn FileSystem> = Arc::new(SimFs::new());
        let dir = PathBuf::from("/db");
        fs.create_dir_all(&dir).unwrap();
        let counters = Arc::new(WalCounters::default());
        let wal = WalWriter::create(fs, &dir, 1, 0, 1 << 20, counters).unwrap();
        Pipeline::new(0, Some(wal))
    }

    /// A background sync that finds committers still on their way out waits for them;
    /// the last one to leave, with nothing buffered, must wake it. (It once did not, and
    /// the sync, and the close that joined it, waited forever.)
    #[test]
    fn the_last_committer_out_wakes_a_waiting_sync() {
        let p = Arc::new(pipeline());
        let batch = PreparedBatch::new(vec![0; 8]).unwrap();
        let ts = p
            .commit(&batch, Durability::Buffered, &mut |_| Ok(()), &mut |_| {
                false
            })
            .unwrap();
        {
            // As if a committer made visible by a leader had not yet returned.
            let mut st = p.state.lock();
            assert!(st.written_ts >= ts && st.synced_ts < ts && st.buffer.is_empty());
            st.exiting += 1;
        }
        let (tx, rx) = mpsc::channel();
        let syncer = {
            let p = Arc::clone(&p);
            std::thread::spawn(move || tx.send(p.sync_all()).unwrap())
        };
        // Wait until the sync is parked behind the exiting committer.
        while p.state.lock().sync_waiters == 0 {
            std::thread::yield_now();
        }
        {
            // The committer leaves, as `drive` does.
            let mut st = p.state.lock();
            st.exiting -= 1;
            p.pass_leadership(&st);
        }
        let outcome = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the sync was never woken");
        outcome.unwrap();
        syncer.join().unwrap();
        assert!(p.state.lock().synced_ts >= ts);
    }
}
