//! The committer: threads that commit the event loops' gathered one-shot writes, so no
//! loop ever waits for a sync.
//!
//! A loop hands over what it gathered in a round (a [`Combiner`]) and goes on reading
//! and answering its other connections; the writes' replies come back through the
//! loop's [`Inbox`] once their commit is durable. A committer thread takes everything
//! handed over by every loop since it last looked and commits it as ONE batch: writes
//! that arrive while a sync is in flight, from any loop, all go into the next commit.
//! With two threads, one applies the next batch to the memtable while the other's sync
//! runs (the storage group commit lets the second wait for the first's sync and then
//! lead its own).
//!
//! Two commits in flight at once may be given their timestamps in either order, so a
//! loop never hands over writes of a connection that still has writes in a commit not
//! yet answered: each connection's writes commit in its order.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use super::Shared;
use super::combiner::{Acked, Combiner};
use super::worker::Inbox;
use crate::error::Error;

/// Committer threads: one commits while the other syncs.
pub(crate) const THREADS: usize = 2;

/// One loop's writes handed over, and where their replies go.
struct Submission {
    /// The writes.
    writes: Combiner,
    /// The loop's inbox.
    inbox: Arc<Inbox>,
}

/// The queue's state.
#[derive(Default)]
struct State {
    /// Writes handed over and not yet taken by a thread.
    queue: Vec<Submission>,
    /// Set by [`Committer::stop`]: threads end once the queue is empty.
    stopping: bool,
}

/// The committer threads and their queue.
pub(crate) struct Committer {
    /// The server (its backend and counters).
    shared: Arc<Shared>,
    /// The queue.
    state: Mutex<State>,
    /// Signalled when writes are handed over or the committer stops.
    work: Condvar,
    /// The threads, joined by [`Committer::stop`].
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Committer {
    /// Starts `threads` committer threads (at least one) for `shared`'s backend.
    pub fn start(shared: Arc<Shared>, threads: usize) -> io::Result<Arc<Committer>> {
        let c = Arc::new(Committer {
            shared,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            threads: Mutex::new(Vec::new()),
        });
        for i in 0..threads.max(1) {
            let me = Arc::clone(&c);
            let spawned = std::thread::Builder::new()
                .name(format!("sochdb-commit-{i}"))
                .spawn(move || me.run());
            match spawned {
                Ok(h) => c.threads.lock().push(h),
                Err(e) => {
                    c.stop();
                    return Err(e);
                }
            }
        }
        Ok(c)
    }

    /// Hands over `writes`; each request's outcome is delivered to `inbox` once its
    /// commit is over (all of one submission's at once).
    pub fn submit(&self, writes: Combiner, inbox: Arc<Inbox>) {
        let mut st = self.state.lock();
        st.queue.push(Submission { writes, inbox });
        self.work.notify_one();
    }

    /// Commits what is queued, then ends the threads and waits for them.
    pub fn stop(&self) {
        {
            let mut st = self.state.lock();
            st.stopping = true;
            self.work.notify_all();
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            let _ = t.join();
        }
    }

    /// A committer thread.
    fn run(&self) {
        let mut merged = Combiner::new();
        // Each submission's inbox and number of requests, in `merged`'s order.
        let mut homes: Vec<(Arc<Inbox>, usize)> = Vec::new();
        let mut acked: Vec<Acked> = Vec::new();
        loop {
            let taken = {
                let mut st = self.state.lock();
                loop {
                    if !st.queue.is_empty() {
                        break std::mem::take(&mut st.queue);
                    }
                    if st.stopping {
                        return;
                    }
                    self.work.wait(&mut st);
                }
            };
            for s in taken {
                homes.push((s.inbox, s.writes.requests()));
                merged.absorb(s.writes);
            }
            self.commit(&mut merged, &mut acked);
            let mut rest = acked.drain(..);
            for (inbox, n) in homes.drain(..) {
                inbox.deliver_acks(rest.by_ref().take(n).collect());
            }
        }
    }

    /// Commits `merged` (left empty) and pushes every request's outcome to `acked`, in
    /// order; a panic fails the requests it left unanswered.
    fn commit(&self, merged: &mut Combiner, acked: &mut Vec<Acked>) {
        let db = &*self.shared.backend;
        let outcome = catch_unwind(AssertUnwindSafe(|| merged.commit(db, |a| acked.push(a))));
        let commits = match outcome {
            Ok(n) => n,
            Err(_) => {
                for (slot, id, ack) in merged.requests_from(acked.len()) {
                    acked.push(Acked {
                        slot,
                        id,
                        ack,
                        outcome: Err(Error::Internal(
                            "committing the combined writes failed unexpectedly".into(),
                        )),
                    });
                }
                merged.clear();
                1
            }
        };
        self.shared
            .counters
            .write_commits
            .fetch_add(commits, Ordering::Relaxed);
    }
}
