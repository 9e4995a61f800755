//! Campaign 2, simulated power loss: the engine runs a workload on [`SimFs`], which
//! keeps a copy of the whole file system after every operation (a crash point). At
//! every crash point the campaign builds disk images a power loss could leave (only
//! the synced state, everything written, every keep/lose combination of the unsynced
//! pieces when there are few, each unsynced append torn or zeroed, random mixes with
//! lost or reordered directory entries) and reopens the engine on each. An image must
//! open to a prefix of the commits that holds every acknowledged one, with exactly the
//! data of that prefix, or be refused with a `Corruption` error; anything else is a
//! violation. Some images are also reopened with crash points of their own, so a power
//! loss during recovery (and during the first commit after it) is covered too.
//!
//! "Acknowledged" means promised durable: a `Sync` commit that returned, or any commit
//! followed by a `Sync` commit, a checkpoint or a close that returned.

mod churn;

mod harness;

use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use churn::{Churn, Contents, contents};
use harness::{Rng, Tally};
use sochdb::Status;
use sochdb::storage::io::{CrashPoint, Fate, PieceKind, SimFs};
use sochdb::storage::{Durability, Engine, EngineOptions, WriteBatch};

const CHURN: Churn = Churn {
    shared: 5,
    value_len: 20,
    value_spread: 13,
    empty_every: 4,
};

fn dir() -> PathBuf {
    PathBuf::from("/power/db")
}

fn options() -> EngineOptions {
    EngineOptions {
        // Small segments: crash points fall on segment rolls too.
        wal_segment_size: 700,
        // The background syncer never runs during the workload, so the run (and its
        // crash points) is deterministic; Buffered commits are made durable by the
        // next Sync commit, checkpoint or close.
        buffered_sync_interval: Duration::from_secs(3600),
        ..EngineOptions::default()
    }
}

fn open(fs: &SimFs) -> sochdb::Result<Engine> {
    Engine::open_with_fs(&dir(), options(), Arc::new(fs.clone()))
}

/// One step of the workload.
#[derive(Debug, Clone, Copy)]
enum Step {
    Commit(Durability),
    Checkpoint,
    Reopen,
}

fn plan(rng: &mut Rng, commits: u64) -> Vec<Step> {
    let mut steps = Vec::new();
    for _ in 0..commits {
        let d = match rng.below(20) {
            0..=13 => Durability::Sync,
            14..=16 => Durability::Buffered,
            _ => Durability::None,
        };
        steps.push(Step::Commit(d));
        match rng.below(20) {
            0 | 1 => steps.push(Step::Checkpoint),
            2 => steps.push(Step::Reopen),
            _ => {}
        }
    }
    steps
}

/// Runs the workload on `fs`, recording crash points; returns them and, per commit,
/// the operation count at which it was promised durable.
fn run(fs: &SimFs, steps: &[Step]) -> (Vec<CrashPoint>, Vec<u64>) {
    fs.record_crash_points(true);
    let mut engine = open(fs).unwrap();
    let mut durable_at: Vec<u64> = Vec::new();
    // Commits not yet promised durable.
    let mut waiting: Vec<usize> = Vec::new();
    let promise = |durable_at: &mut Vec<u64>, waiting: &mut Vec<usize>, at: u64| {
        for i in waiting.drain(..) {
            durable_at[i] = at;
        }
    };
    for step in steps {
        match *step {
            Step::Commit(d) => {
                let i = durable_at.len() as u64;
                let ts = engine
                    .commit_with(&CHURN.batch(i), Some(d), &mut |_| Ok(()))
                    .unwrap();
                assert_eq!(ts, i + 1, "timestamps are consecutive from 1");
                durable_at.push(u64::MAX);
                waiting.push(i as usize);
                if d == Durability::Sync {
                    promise(&mut durable_at, &mut waiting, fs.ops());
                }
            }
            Step::Checkpoint => {
                engine.checkpoint().unwrap();
                promise(&mut durable_at, &mut waiting, fs.ops());
            }
            Step::Reopen => {
                engine.close().unwrap();
                promise(&mut durable_at, &mut waiting, fs.ops());
                engine = open(fs).unwrap();
            }
        }
    }
    engine.close().unwrap();
    promise(&mut durable_at, &mut waiting, fs.ops());
    drop(engine);
    let points = fs.take_crash_points();
    fs.record_crash_points(false);
    (points, durable_at)
}

/// Commits promised durable by crash point `op`: they form a prefix.
fn must_have(durable_at: &[u64], op: u64) -> u64 {
    durable_at.iter().take_while(|&&at| at <= op).count() as u64
}

/// Opens an image and checks what it holds. With `nested`, also records crash points
/// while it recovers, commits once and closes, and checks images of those.
fn verify(
    img: &SimFs,
    must: u64,
    expected: &[Contents],
    what: &dyn Fn() -> String,
    nested: bool,
    t: &mut Tally,
) {
    t.add("images", 1);
    if nested {
        img.record_crash_points(true);
    }
    let engine = match open(img) {
        Ok(e) => e,
        Err(e) if e.status() == Status::Corruption => {
            if harness::verbose() {
                eprintln!("refused: {}: {e}", what());
            }
            t.add("refused_as_corrupt", 1);
            return;
        }
        Err(e) => {
            t.violation(format!("{}: open failed: {e}", what()));
            return;
        }
    };
    let m = engine.visible_ts();
    let got = match contents(&engine) {
        Ok(c) => c,
        Err(e) => {
            t.violation(format!("{}: reading failed after open: {e}", what()));
            return;
        }
    };
    if m < must {
        t.violation(format!(
            "{}: recovered {m} commits, but {must} were acknowledged",
            what()
        ));
        return;
    }
    match expected.get(m as usize) {
        Some(want) if *want == got => {}
        Some(want) => {
            t.violation(format!(
                "{}: recovered {m} commits with wrong data: {} keys, expected {}",
                what(),
                got.len(),
                want.len()
            ));
            return;
        }
        None => {
            t.violation(format!("{}: recovered {m} commits, more than ran", what()));
            return;
        }
    }
    t.add("opened", 1);
    if !nested {
        return;
    }
    // The image holds `m` durable commits: every crash during recovery, the commit
    // after it and the close must keep them, and the new commit once acknowledged.
    let extra = engine.commit(&CHURN.batch(m));
    let acked_at = img.ops();
    let closed = engine.close();
    drop(engine);
    let points = img.take_crash_points();
    img.record_crash_points(false);
    if let Err(e) = extra.and(closed) {
        t.violation(format!("{}: commit after recovery failed: {e}", what()));
        return;
    }
    for p in points {
        let must = m + u64::from(p.op >= acked_at);
        for (kind, sub) in [
            ("synced", p.fs.synced_image()),
            ("everything", p.fs.process_crash_image()),
        ] {
            let label = || format!("{} / recovery crash point {} ({kind})", what(), p.op);
            verify(&sub, must, expected, &label, false, t);
        }
    }
}

/// Every image the campaign builds for one crash point.
fn images_of(point: &CrashPoint, rng: &mut Rng, random: u64) -> Vec<(String, SimFs, bool)> {
    let fs = &point.fs;
    let mut pieces = Vec::new();
    fs.crash_image(&mut |p| {
        pieces.push(p.kind);
        Fate::Keep
    });
    let n = pieces.len();
    let mut out = vec![
        ("synced only".to_string(), fs.synced_image(), true),
        (
            "everything written".to_string(),
            fs.process_crash_image(),
            true,
        ),
    ];
    // Every keep/lose combination, when there are few.
    if (1..=6).contains(&n) {
        for mask in 1..(1u64 << n) - 1 {
            let img = fs.crash_image(&mut |p| {
                if mask >> p.index & 1 == 1 {
                    Fate::Keep
                } else {
                    Fate::Lose
                }
            });
            out.push((format!("keep mask {mask:#b}"), img, false));
        }
    }
    // Each append torn or zeroed, with everything before it kept and after it lost:
    // the order a disk usually writes in.
    for (j, kind) in pieces.iter().enumerate() {
        let PieceKind::Append { len } = *kind else {
            continue;
        };
        let mut fates = vec![Fate::Zeroed];
        for k in [1, len / 2, len.saturating_sub(1)] {
            if k > 0 && k < len {
                fates.push(Fate::Torn(k));
            }
        }
        for fate in fates {
            let img = fs.crash_image(&mut |p| match p.index.cmp(&j) {
                std::cmp::Ordering::Less => Fate::Keep,
                std::cmp::Ordering::Equal => fate,
                std::cmp::Ordering::Greater => Fate::Lose,
            });
            out.push((format!("piece {j} {fate:?}"), img, false));
        }
    }
    // Random mixes.
    if n > 0 {
        for r in 0..random {
            let img = fs.crash_image(&mut |p| match (p.kind, rng.below(10)) {
                (_, 0..=3) => Fate::Keep,
                (PieceKind::Append { len }, 7) => Fate::Torn(rng.below(len as u64 + 1) as usize),
                (PieceKind::Append { .. }, 8) => Fate::Zeroed,
                _ => Fate::Lose,
            });
            out.push((format!("random mix {r}"), img, r == 0));
        }
    }
    out
}

#[test]
fn every_power_loss_image_recovers_the_acknowledged_prefix_or_is_refused() {
    let scale = harness::scale();
    let seed = harness::seed("power_loss");
    let mut t = Tally::new("power_loss");
    let mut rng = Rng(seed);
    // More workloads (each with its own plan), not longer ones, at larger scales.
    for w in 0..3 * scale {
        let mut wrng = rng.fork(w);
        let steps = plan(&mut wrng, 36);
        let commits = steps
            .iter()
            .filter(|s| matches!(s, Step::Commit(_)))
            .count() as u64;
        let expected = CHURN.states(commits + 1);
        let fs = SimFs::new();
        let (points, durable_at) = run(&fs, &steps);
        assert!(points.len() as u64 > commits, "{} points", points.len());
        t.add("workloads", 1);
        t.add("commits", commits);
        for point in &points {
            t.add("crash_points", 1);
            let must = must_have(&durable_at, point.op);
            for (label, img, nested) in images_of(point, &mut rng, 4) {
                let what = || format!("workload {w}, {point:?}, image {label}");
                verify(&img, must, &expected, &what, nested, &mut t);
            }
        }
    }
    assert!(t.get("opened") > 0);
    t.finish();
}

#[test]
fn power_loss_during_concurrent_group_commits_keeps_every_acknowledged_commit() {
    const WRITERS: u64 = 4;
    let scale = harness::scale();
    let seed = harness::seed("power_loss_concurrent");
    let mut rng = Rng(seed);
    let mut t = Tally::new("power_loss_concurrent");
    for round in 0..2 * scale {
        let fs = SimFs::new();
        fs.record_crash_points(true);
        let engine = open(&fs).unwrap();
        // Per writer: (sequence number, operation count when it was acknowledged).
        let acks: Vec<Vec<(u64, u64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let (engine, fs) = (engine.clone(), fs.clone());
                    s.spawn(move || {
                        let mut acks = Vec::new();
                        for seq in 1..=12u64 {
                            let mut b = WriteBatch::new();
                            let v = seq.to_le_bytes();
                            b.put(format!("w{w}/seq").as_bytes(), &v).unwrap();
                            for j in 0..3 {
                                b.put(format!("w{w}/k{j}").as_bytes(), &v).unwrap();
                            }
                            b.put(format!("w{w}/live/{seq:03}").as_bytes(), b"")
                                .unwrap();
                            b.delete(format!("w{w}/live/{:03}", seq - 1).as_bytes())
                                .unwrap();
                            engine.commit(&b).unwrap();
                            acks.push((seq, fs.ops()));
                        }
                        acks
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        engine.close().unwrap();
        drop(engine);
        let points = fs.take_crash_points();
        t.add("runs", 1);
        for point in &points {
            t.add("crash_points", 1);
            let mut imgs = vec![point.fs.synced_image(), point.fs.process_crash_image()];
            for _ in 0..2 {
                imgs.push(point.fs.crash_image(&mut |_| {
                    if rng.chance(1, 2) {
                        Fate::Keep
                    } else {
                        Fate::Lose
                    }
                }));
            }
            for img in imgs {
                t.add("images", 1);
                let e = match open(&img) {
                    Ok(e) => e,
                    Err(e) if e.status() == Status::Corruption => {
                        t.add("refused_as_corrupt", 1);
                        continue;
                    }
                    Err(e) => {
                        t.violation(format!("round {round}, {point:?}: open failed: {e}"));
                        continue;
                    }
                };
                t.add("opened", 1);
                for w in 0..WRITERS {
                    let acked = acks[w as usize]
                        .iter()
                        .filter(|(_, at)| *at <= point.op)
                        .map(|(s, _)| *s)
                        .max()
                        .unwrap_or(0);
                    let get = |k: String| {
                        e.get(k.as_bytes(), u64::MAX)
                            .unwrap()
                            .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
                    };
                    let seq = get(format!("w{w}/seq")).unwrap_or(0);
                    let problem = if seq < acked {
                        Some(format!("acknowledged {acked}, recovered {seq}"))
                    } else if (0..3).any(|j| get(format!("w{w}/k{j}")).unwrap_or(0) != seq) {
                        Some(format!("half a batch at {seq}"))
                    } else {
                        let live: Vec<Vec<u8>> = e
                            .iter(
                                Bound::Included(format!("w{w}/live/").into_bytes()),
                                Bound::Excluded(format!("w{w}/live0").into_bytes()),
                                u64::MAX,
                                false,
                            )
                            .unwrap()
                            .map(|r| r.unwrap().0)
                            .collect();
                        let want: Vec<Vec<u8>> = if seq == 0 {
                            Vec::new()
                        } else {
                            vec![format!("w{w}/live/{seq:03}").into_bytes()]
                        };
                        (live != want).then(|| format!("deleted keys came back at {seq}"))
                    };
                    if let Some(p) = problem {
                        t.violation(format!("round {round}, {point:?}, writer {w}: {p}"));
                    }
                }
            }
        }
    }
    t.finish();
}

/// The kernel's mixed workload (tables, transactions, batches, checkpoints) on a
/// `SimFs`: at every crash point, the synced-only image, the everything-written image
/// and random mixes reopen as a `Database` holding a prefix of the acknowledged
/// operations that includes every one acknowledged by then.
#[test]
fn power_loss_under_the_kernel_workload_keeps_every_acknowledged_operation() {
    use harness::mixed::{self, Outcome, Prefix, Shape, State};
    use sochdb::backend::Backend;
    use sochdb::kernel::{Database, DbOptions};

    let scale = harness::scale();
    let seed = harness::seed("power_loss_kernel");
    let mut t = Tally::new("power_loss_kernel");
    let db_options = || DbOptions {
        engine: options(),
        ..DbOptions::default()
    };
    for w in 0..2 * scale {
        let mut rng = Rng(seed).fork(w);
        let fs = SimFs::new();
        fs.record_crash_points(true);
        let db = Database::open_with_fs(&dir(), db_options(), Arc::new(fs.clone())).unwrap();
        mixed::setup(&db).unwrap();
        let mut prefix = Prefix::new(State::new());
        // The operation count at which each acknowledged operation returned.
        let mut acked_at = Vec::new();
        for n in 0..40 {
            let op = if n % 10 == 9 {
                mixed::Op::Checkpoint
            } else {
                Shape::plan(&mut rng).op(0, &format!("p{w}.{n}"))
            };
            match mixed::execute(&db, &op) {
                Outcome::Committed(_) => {
                    prefix.ack(&op);
                    acked_at.push(fs.ops());
                }
                Outcome::NotCommitted(_) => {}
                other => panic!("operation {n}: {other:?}"),
            }
        }
        db.close().unwrap();
        drop(db);
        let points = fs.take_crash_points();
        fs.record_crash_points(false);
        t.add("workloads", 1);
        for p in &points {
            t.add("crash_points", 1);
            let must = acked_at.iter().filter(|&&at| at <= p.op).count();
            let mut images = vec![
                ("synced only", p.fs.synced_image()),
                ("everything written", p.fs.process_crash_image()),
            ];
            for _ in 0..2 {
                images.push((
                    "random mix",
                    p.fs.crash_image(&mut |piece| match (piece.kind, rng.below(4)) {
                        (_, 0 | 1) => Fate::Keep,
                        (PieceKind::Append { len }, 2) => Fate::Torn(len / 2),
                        _ => Fate::Lose,
                    }),
                ));
            }
            for (label, img) in images {
                t.add("images", 1);
                let what = || format!("workload {w}, {p:?}, image {label}");
                let db = match Database::open_with_fs(&dir(), db_options(), Arc::new(img)) {
                    Ok(db) => db,
                    Err(e) if e.status() == Status::Corruption => {
                        t.add("refused_as_corrupt", 1);
                        continue;
                    }
                    Err(e) => {
                        t.violation(format!("{}: open failed: {e}", what()));
                        continue;
                    }
                };
                match mixed::observe(&db) {
                    Ok(got) => {
                        if let Err(m) = prefix.check(&got, must, None) {
                            t.violation(format!("{}: {m}", what()));
                        } else {
                            t.add("opened", 1);
                        }
                    }
                    // Before the table was created durably, the image has no table.
                    Err(e) if e.status() == Status::NotFound && must == 0 => {
                        t.add("opened", 1);
                    }
                    Err(e) => t.violation(format!("{}: reading failed: {e}", what())),
                }
                let _ = db.close();
            }
        }
    }
    t.finish();
}
