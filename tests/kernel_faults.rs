//! Campaign 3, I/O faults at the kernel level: the mixed workload (one-shot writes,
//! batches, transactions, table rows, checkpoints, a reopen in the middle) runs on a
//! [`FaultFs`] over a [`SimFs`], once cleanly to count the operations of each kind, then
//! once for every N along it with the Nth write, sync, directory sync, creation, rename,
//! removal, truncation or read failing (EIO, ENOSPC, torn writes), and once per disk
//! size with a disk that fills up and stays full.
//!
//! Each run checks: every error reaching the caller is an I/O or read-only error; after
//! a failed log write or sync, writes are refused until reopened; reopened on the data
//! as left, and on the disk a power loss right after would leave, the database holds
//! every acknowledged operation and, of the failed one, all or nothing; it then writes
//! again and keeps what it wrote. Runs whose fault tore a log write are reopened once
//! more with each operation of the recovery itself failing in turn.

mod harness;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use harness::mixed::{self, Outcome, Prefix, Shape, State};
use harness::{Rng, Tally};
use sochdb::Status;
use sochdb::backend::Backend;
use sochdb::kernel::{Database, DbOptions};
use sochdb::storage::EngineOptions;
use sochdb::storage::io::{FaultFs, FaultKind, FaultOp, FileSystem, SimFs};

fn dir() -> PathBuf {
    PathBuf::from("/faults/db")
}

fn options() -> DbOptions {
    DbOptions {
        engine: EngineOptions {
            // Small segments: faults also hit segment creation and rolling.
            wal_segment_size: 1500,
            buffered_sync_interval: Duration::from_secs(3600),
            ..EngineOptions::default()
        },
        ..DbOptions::default()
    }
}

fn open(fs: Arc<dyn FileSystem>) -> sochdb::Result<Database> {
    Database::open_with_fs(&dir(), options(), fs)
}

/// A step of the workload.
#[derive(Debug, Clone)]
enum Step {
    Op(mixed::Op),
    Reopen,
}

fn plan(seed: u64, ops: u64) -> Vec<Step> {
    let mut rng = Rng(seed);
    let mut steps = Vec::new();
    for n in 0..ops {
        let shape = Shape::plan(&mut rng);
        steps.push(Step::Op(shape.op(0, &format!("f{n}"))));
        // Checkpoints (with block files: flushes, manifest updates, log trimming).
        if n % 10 == 9 {
            steps.push(Step::Op(mixed::Op::Checkpoint));
        }
        if n == ops / 2 {
            steps.push(Step::Reopen);
        }
    }
    steps
}

/// What one run of the workload saw.
struct Run {
    /// States after each acknowledged operation.
    prefix: Prefix,
    /// The operation whose outcome the failure left open.
    pending: Option<mixed::Op>,
    /// Errors that reached the caller.
    errors: Vec<sochdb::Error>,
    /// True once a commit failed in a way that must leave the database read-only.
    commit_failed: bool,
}

/// Runs the workload until the first failure that ends it. With `log_fault` (the fault
/// is in a write or sync, the log's path), a commit that fails must leave the database
/// read-only until reopened.
fn run(fs: &FaultFs, steps: &[Step], log_fault: bool) -> Run {
    let mut r = Run {
        prefix: Prefix::new(State::new()),
        pending: None,
        errors: Vec::new(),
        commit_failed: false,
    };
    let arc: Arc<dyn FileSystem> = Arc::new(fs.clone());
    let mut db = match open(Arc::clone(&arc)) {
        Ok(db) => db,
        Err(e) => {
            r.errors.push(e);
            return r;
        }
    };
    if let Err(e) = mixed::setup(&db) {
        r.errors.push(e);
        let _ = db.close();
        return r;
    }
    for step in steps {
        match step {
            Step::Op(op) => match mixed::execute(&db, op) {
                Outcome::Committed(_) => r.prefix.ack(op),
                // A planned abort: nothing to record.
                Outcome::NotCommitted(_) => {}
                // A failed read inside a transaction: nothing was committed, and the
                // workload goes on.
                Outcome::Failed(e) => r.errors.push(e),
                Outcome::Unknown(e) => {
                    r.commit_failed = log_fault
                        && e.status() == Status::Io
                        && !matches!(op, mixed::Op::Checkpoint);
                    r.errors.push(e);
                    r.pending = Some(op.clone());
                    break;
                }
            },
            Step::Reopen => {
                if let Err(e) = db.close() {
                    r.errors.push(e);
                    return r;
                }
                drop(db);
                db = match open(Arc::clone(&arc)) {
                    Ok(db) => db,
                    Err(e) => {
                        r.errors.push(e);
                        return r;
                    }
                };
            }
        }
    }
    if r.commit_failed {
        // Read-only until reopened.
        if let Err(e) = db.put(None, b"after/failure", b"x") {
            if e.status() != Status::ReadOnly {
                r.errors.push(e);
            }
        } else {
            r.errors.push(sochdb::Error::Internal(
                "a write was accepted after a failed commit".into(),
            ));
        }
    }
    if let Err(e) = db.close() {
        r.errors.push(e);
    }
    r
}

/// Opens `fs` and checks it holds an acknowledged prefix (from `must`) or that plus the
/// pending operation. With `write`, also writes, reopens and checks the write stayed.
fn check_image(
    fs: &SimFs,
    r: &Run,
    must: usize,
    write: bool,
    what: &dyn Fn() -> String,
    t: &mut Tally,
) {
    t.add("reopens", 1);
    let db = match open(Arc::new(fs.clone())) {
        Ok(db) => db,
        Err(e) if e.status() == Status::Corruption => {
            t.add("refused_as_corrupt", 1);
            if harness::verbose() {
                eprintln!("refused: {}: {e}", what());
            }
            return;
        }
        Err(e) => return t.violation(format!("{}: reopen failed: {e}", what())),
    };
    let got = match mixed::observe(&db) {
        Ok(s) => s,
        Err(e) => return t.violation(format!("{}: reading after reopen failed: {e}", what())),
    };
    if let Err(m) = r.prefix.check(&got, must, r.pending.as_ref()) {
        return t.violation(format!("{}: {m}", what()));
    }
    if !write {
        return;
    }
    let w = db
        .put(None, b"after/reopen", b"kept")
        .and_then(|_| db.close());
    drop(db);
    if let Err(e) = w {
        return t.violation(format!("{}: writing after reopen failed: {e}", what()));
    }
    match open(Arc::new(fs.clone())).and_then(|db| {
        let v = db.get(None, b"after/reopen");
        db.close()?;
        v
    }) {
        Ok(Some(v)) if v == b"kept" => {}
        other => t.violation(format!(
            "{}: the write after reopen was not kept: {other:?}",
            what()
        )),
    }
}

/// Reopens `image` with each operation of its recovery failing in turn: the open fails
/// with an I/O error or succeeds, and a clean reopen afterwards still checks out.
fn faults_in_recovery(image: &SimFs, r: &Run, what: &dyn Fn() -> String, t: &mut Tally) {
    let counting = FaultFs::new(Arc::new(image.snapshot()));
    match open(Arc::new(counting.clone())) {
        Ok(db) => {
            let _ = db.close();
        }
        Err(_) => return,
    }
    for op in FaultOp::ALL {
        for n in 1..=counting.count(op) {
            let copy = image.snapshot();
            let fs = FaultFs::new(Arc::new(copy.clone()));
            fs.inject(op, n, FaultKind::Eio);
            t.add("recovery_fault_points", 1);
            match open(Arc::new(fs.clone())) {
                Ok(db) => {
                    if let Err(e) = db.close()
                        && !matches!(e.status(), Status::Io | Status::ReadOnly)
                    {
                        t.violation(format!("{}: recovery {op:?} #{n}: close: {e}", what()));
                    }
                }
                Err(e) if e.status() == Status::Io => {}
                Err(e) => t.violation(format!(
                    "{}: recovery {op:?} #{n}: open failed with {e}",
                    what()
                )),
            }
            let label = || format!("{} / recovery {op:?} #{n}", what());
            check_image(&copy, r, r.prefix.states.len() - 1, false, &label, t);
        }
    }
}

/// Checks one run: its errors, then the data as left and after a power loss.
fn check_run(sim: &SimFs, fs: &FaultFs, r: &Run, what: &dyn Fn() -> String, t: &mut Tally) {
    t.add("fault_points", 1);
    let fired = !fs.fired().is_empty();
    if fired {
        t.add("faults_fired", 1);
    }
    for e in &r.errors {
        if !matches!(e.status(), Status::Io | Status::ReadOnly) {
            t.violation(format!("{}: an error of the wrong kind: {e}", what()));
        }
    }
    if fired && r.errors.is_empty() {
        t.add("faults_absorbed", 1);
    }
    if !fired && !r.errors.is_empty() {
        t.violation(format!(
            "{}: errors without a fault: {:?}",
            what(),
            r.errors
        ));
    }
    let acked = r.prefix.states.len() - 1;
    let after = sim.snapshot();
    let power = after.synced_image();
    let label = || format!("{} (data as left)", what());
    check_image(&after.snapshot(), r, acked, true, &label, t);
    let label = || format!("{} (power loss after the fault)", what());
    check_image(&power, r, acked, false, &label, t);
}

#[test]
fn every_fault_along_a_kernel_workload_is_reported_and_loses_nothing_acknowledged() {
    let scale = harness::scale();
    let seed = harness::seed("kernel_faults");
    let mut t = Tally::new("kernel_faults");
    for w in 0..scale {
        // The first workload is fixed; longer runs add random ones.
        let plan_seed = if w == 0 {
            7
        } else {
            Rng(seed).fork(w).next_u64()
        };
        let steps = plan(plan_seed, 40);
        t.add("workloads", 1);
        // A clean run counts the operations.
        let sim = SimFs::new();
        let clean = FaultFs::new(Arc::new(sim.clone()));
        let r = run(&clean, &steps, false);
        assert!(r.errors.is_empty(), "clean run: {:?}", r.errors);
        assert!(r.prefix.states.len() > 30);
        let total_bytes: u64 = sim.listing().iter().map(|(_, n)| *n as u64).sum();
        let mut plans = Vec::new();
        for op in FaultOp::ALL {
            let count = clean.count(op);
            t.add(&format!("clean_{op:?}").to_lowercase(), count);
            for n in 1..=count {
                let kinds: &[FaultKind] = match op {
                    FaultOp::Write => &[
                        FaultKind::Eio,
                        FaultKind::Enospc,
                        FaultKind::Torn { keep: 7 },
                    ],
                    FaultOp::Sync | FaultOp::Create => &[FaultKind::Eio, FaultKind::Enospc],
                    _ => &[FaultKind::Eio],
                };
                for kind in kinds {
                    plans.push((op, n, *kind));
                }
            }
        }
        for (op, n, kind) in plans {
            let sim = SimFs::new();
            let fs = FaultFs::new(Arc::new(sim.clone()));
            fs.inject(op, n, kind);
            let r = run(&fs, &steps, matches!(op, FaultOp::Write | FaultOp::Sync));
            let what = || format!("workload {w}, {op:?} #{n} {kind:?}");
            check_run(&sim, &fs, &r, &what, &mut t);
            if matches!(kind, FaultKind::Torn { .. }) {
                faults_in_recovery(&sim.snapshot(), &r, &what, &mut t);
            }
        }
        // A disk that fills up and stays full, at every size along the run.
        let step = (total_bytes / (40 * scale.min(4))).max(1);
        let mut cap = 0;
        while cap < total_bytes {
            let sim = SimFs::new();
            sim.create_dir_all(&dir()).unwrap();
            sim.set_capacity(Some(cap));
            let fs = FaultFs::new(Arc::new(sim.clone()));
            let r = run(&fs, &steps, true);
            t.add("disk_full_points", 1);
            for e in &r.errors {
                if !matches!(e.status(), Status::Io | Status::ReadOnly) {
                    t.violation(format!("disk full at {cap} bytes: wrong error: {e}"));
                }
            }
            if r.errors.is_empty() {
                t.violation(format!(
                    "disk full at {cap} bytes: no error reached the caller"
                ));
            }
            sim.set_capacity(None);
            let acked = r.prefix.states.len() - 1;
            let what = || format!("workload {w}, disk full at {cap} bytes");
            check_image(&sim, &r, acked, true, &what, &mut t);
            cap += step;
        }
    }
    assert!(t.get("faults_fired") > 100, "{:?}", t.figures);
    t.finish();
}
