//! The background compaction thread: picks a compaction for the current layout
//! (`compaction::pick_compaction`, at the engine's safe timestamp), runs it, installs
//! the result through the manifest, and repeats until nothing is due. One compaction
//! runs at a time (also with [`crate::storage::Engine::compact`]); reads never wait for
//! it, and writers are only slowed by the throttle when it falls behind.
//!
//! A compaction that fails (an I/O error, a damaged input) leaves its outputs removed
//! and the layout unchanged; it is retried after a pause that doubles up to 10 s. A
//! failed manifest install leaves the engine read-only. At close, a compaction in
//! progress is abandoned (its output writes fail) and its outputs removed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::compaction::{
    CompactionJob, CompactionOptions, pick_compaction, pick_full, pick_full_cleanup, run_compaction,
};
use super::manifest::FileMeta;
use super::notice::notice;
use super::state::Shared;
use crate::error::{Error, Result};

/// How often the thread looks for work when nothing wakes it (the safe timestamp may
/// have moved, making old versions collectable).
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// The longest pause after a failed compaction.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Starts the compaction thread.
pub(crate) fn start(shared: Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sochdb-compact".into())
        .spawn(move || run(&shared))
}

/// The thread: runs compactions while any is due, then waits to be woken.
fn run(sh: &Shared) {
    let mut backoff = Duration::ZERO;
    let mut retry_at: Option<Instant> = None;
    loop {
        {
            let mut g = sh.signals.lock();
            loop {
                if g.stop {
                    return;
                }
                if let Some(at) = retry_at {
                    let now = Instant::now();
                    if at <= now {
                        break;
                    }
                    sh.compact_cv.wait_for(&mut g, at - now);
                    continue;
                }
                if g.compact || sh.compact_cv.wait_for(&mut g, IDLE_CHECK).timed_out() {
                    break;
                }
            }
            g.compact = false;
        }
        retry_at = None;
        loop {
            if sh.pipeline.failed() || sh.stopping() {
                break;
            }
            match compact_once(sh) {
                Ok(true) => backoff = Duration::ZERO,
                Ok(false) => {
                    backoff = Duration::ZERO;
                    break;
                }
                Err(e) => {
                    if sh.stopping() || sh.pipeline.failed() {
                        break;
                    }
                    backoff = (backoff * 2).clamp(Duration::from_millis(100), MAX_BACKOFF);
                    notice(&format!(
                        "compaction in {} failed: {e}; retrying in {backoff:?}",
                        sh.dir.display()
                    ));
                    *sh.bg_error.lock() = Some(format!("compaction: {e}"));
                    retry_at = Some(Instant::now() + backoff);
                    break;
                }
            }
        }
    }
}

/// Runs the compaction due now, if any, and installs it. Returns whether one ran.
/// A failed install leaves the engine read-only.
pub(crate) fn compact_once(sh: &Shared) -> Result<bool> {
    run_picked(sh, &mut |levels, safe_ts, opts| {
        pick_compaction(levels, safe_ts, opts)
    })
}

/// Runs a full compaction (every file into the last level, then the last level's files
/// that hold droppable versions rewritten). Files flushed meanwhile may stay above: the
/// number of steps is bounded. Returns how many compactions ran; fails with `Closed`
/// once close has begun.
pub(crate) fn compact_all(sh: &Shared) -> Result<u64> {
    let mut n = 0;
    let steps = 2 * sh.opts.compaction.num_levels as u64;
    while n < steps && run_picked(sh, &mut |levels, _, opts| pick_full(levels, opts))? {
        n += 1;
    }
    if run_picked(sh, &mut pick_full_cleanup)? {
        n += 1;
    }
    Ok(n)
}

/// `Closed` once close has begun: no compaction starts then (close waits for the turn
/// of the one running, so none installs anything after it).
fn check_running(sh: &Shared) -> Result<()> {
    if sh.stopping() {
        return Err(Error::Closed(format!(
            "the compaction of {} was stopped: the database is closing",
            sh.dir.display()
        )));
    }
    Ok(())
}

/// What chooses a compaction: the layout, the safe timestamp and the options in, a job
/// or nothing out.
type Picker<'a> =
    dyn FnMut(&[Vec<FileMeta>], u64, &CompactionOptions) -> Option<CompactionJob> + 'a;

/// Runs the compaction `pick` chooses for the current layout, if any, and installs it.
fn run_picked(sh: &Shared, pick: &mut Picker<'_>) -> Result<bool> {
    let _one = sh.compaction_lock.lock();
    check_running(sh)?;
    let version = sh.current();
    let safe_ts = sh.safe_ts();
    let opts = &sh.opts.compaction;
    let Some(job) = pick(&version.metas(), safe_ts, opts) else {
        return Ok(false);
    };
    let mut created = Vec::new();
    let ran = {
        let mut open = |meta: &FileMeta| {
            version
                .file(meta.id)
                .map(|f| Arc::clone(&f.table))
                .ok_or_else(|| {
                    Error::Internal(format!(
                        "compaction input {} is not in the version",
                        meta.id
                    ))
                })
        };
        run_compaction(&job, &mut open, safe_ts, opts, &mut || {
            sh.new_output(&mut created, true)
        })
        .and_then(|out| {
            let files = if job.trivial_move {
                Vec::new()
            } else {
                sh.finish_outputs(&out.files)?
            };
            Ok((out, files))
        })
    };
    let (out, files) = match ran {
        Ok(r) => r,
        Err(e) => {
            sh.discard_outputs(&created);
            return Err(e);
        }
    };
    drop(version);
    if let Err(e) = sh.install_compaction(&job, &out, files) {
        sh.fail_background("installing a compaction", &e);
        return Err(e);
    }
    sh.bg.compactions.fetch_add(1, Ordering::Relaxed);
    sh.bg
        .compaction_read
        .fetch_add(out.bytes_read, Ordering::Relaxed);
    sh.bg
        .compaction_written
        .fetch_add(out.bytes_written, Ordering::Relaxed);
    Ok(true)
}
