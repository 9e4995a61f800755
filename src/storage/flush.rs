//! Flushing: the background thread that writes frozen memtables to level-0 block
//! files, oldest first.
//!
//! For each frozen memtable: make the log durable up to its commits and start the log
//! segment after them; write its entries (through the compaction filter at the safe
//! timestamp, so versions no reader needs are not written) to one block file under a
//! temporary name, synced; rename it and open it; install a manifest that lists it and
//! says the block files hold every commit up to the memtable's last one; swap it into
//! the version in place of the memtable; remove the log segments it covers. Writes go
//! on meanwhile into the new memtable. A failure leaves the engine read-only (the log
//! still holds everything); the memtable stays readable.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use super::compaction::{CompactionOptions, write_files};
use super::state::Shared;
use super::version::{Frozen, MemIter};
use crate::error::Result;

/// Starts the flush thread.
pub(crate) fn start(shared: Arc<Shared>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sochdb-flush".into())
        .spawn(move || run(&shared))
}

/// The thread: waits for a frozen memtable and flushes it, until stopped. A flush in
/// progress at close is finished first (it is bounded by one memtable).
fn run(sh: &Shared) {
    loop {
        let frozen = {
            let mut g = sh.signals.lock();
            loop {
                if g.stop {
                    return;
                }
                if !sh.pipeline.failed()
                    && let Some(f) = sh.current().frozen.last().cloned()
                {
                    break f;
                }
                sh.flush_cv.wait(&mut g);
            }
        };
        match flush(sh, &frozen) {
            Ok(()) => {
                sh.bump_progress();
                sh.wake_compactor();
            }
            // A log failure already made the engine read-only (and was reported to the
            // committer it failed); the flush simply stops.
            Err(_) if sh.pipeline.failed() => sh.bump_progress(),
            Err(e) => sh.fail_background("flushing a memtable", &e),
        }
    }
}

/// Flushes one frozen memtable (the oldest) and installs the result.
pub(crate) fn flush(sh: &Shared, frozen: &Arc<Frozen>) -> Result<()> {
    // Every commit of the memtable durable (and visible), and the segment after it
    // started, before any of it reaches a block file.
    sh.pipeline.sync_and_roll()?;
    let opts = CompactionOptions {
        target_file_size: u64::MAX,
        ..sh.opts.compaction.clone()
    };
    let safe_ts = sh.safe_ts();
    let mut created = Vec::new();
    let written = {
        let mut src = MemIter::new(frozen.mem.cursor());
        write_files(&mut src, 0, false, safe_ts, &opts, &mut || {
            sh.new_output(&mut created, false)
        })
        .and_then(|out| sh.finish_outputs(&out.files))
    };
    let files = match written {
        Ok(files) => files,
        Err(e) => {
            sh.discard_outputs(&created);
            return Err(e);
        }
    };
    let bytes: u64 = files.iter().map(|f| f.meta.size).sum();
    sh.install_flush(frozen, files)?;
    sh.bg.flushes.fetch_add(1, Ordering::Relaxed);
    sh.bg.flush_bytes.fetch_add(bytes, Ordering::Relaxed);
    Ok(())
}
