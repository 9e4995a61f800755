//! Running a closure in a transaction, retrying it when the commit conflicts.

use std::time::Duration;

use crate::backend::{Backend, TxnId, TxnOptions};
use crate::error::{Error, Result};

/// Default number of attempts of [`run_in_txn`] callers use when they have no reason to
/// choose another.
pub const DEFAULT_ATTEMPTS: u32 = 10;

/// Runs `f` in a fresh transaction and commits it; on a retryable error (`Conflict`,
/// `Busy`) from `f` or from the commit, aborts and runs it again in a new transaction,
/// up to `attempts` times in all, with a short randomized back-off between attempts.
/// Any other error aborts and is returned at once. Returns `f`'s value and the commit
/// timestamp.
///
/// `f` may run several times: it must do all its work through the transaction it is
/// given and keep no effects outside it (or make them idempotent).
pub fn run_in_txn<T>(
    db: &dyn Backend,
    opts: TxnOptions,
    attempts: u32,
    mut f: impl FnMut(TxnId) -> Result<T>,
) -> Result<(T, u64)> {
    let attempts = attempts.max(1);
    let mut seed = seed();
    let mut last: Option<Error> = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            back_off(attempt, &mut seed);
        }
        let txn = db.begin(opts)?;
        let outcome = f(txn).and_then(|v| db.commit(txn).map(|ts| (v, ts)));
        match outcome {
            Ok(done) => return Ok(done),
            Err(e) => {
                // After a failed commit the transaction is gone; after a failed closure
                // it is still open. Either way nothing of it must stay behind.
                let _ = db.abort(txn);
                if !e.is_retryable() {
                    return Err(e);
                }
                last = Some(e);
            }
        }
    }
    Err(match last {
        Some(Error::Conflict(m)) => {
            Error::Conflict(format!("{m} (gave up after {attempts} attempts)"))
        }
        Some(Error::Busy(m)) => Error::Busy(format!("{m} (gave up after {attempts} attempts)")),
        Some(e) => e,
        None => Error::Internal("run_in_txn made no attempt".into()),
    })
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    // Distinct per thread too, so that colliding threads do not back off in lockstep.
    let local = 0u8;
    (nanos ^ (&local as *const u8 as u64).rotate_left(17)) | 1
}

/// Sleeps a random time up to `min(2^attempt, 64)` × 50 µs.
fn back_off(attempt: u32, seed: &mut u64) {
    // xorshift64
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let ceiling = 50u64 << attempt.min(6);
    let micros = *seed % ceiling + 1;
    std::thread::sleep(Duration::from_micros(micros));
}
