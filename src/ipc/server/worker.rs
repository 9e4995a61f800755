//! Worker threads for the requests the event loops must not wait on: transaction
//! commits (a sync each, shared through the storage group commit), one-shot row writes,
//! table creation and removal, checkpoints, compactions, scans and queries.
//!
//! A connection hands its whole session to a worker together with the request, and
//! reads nothing more until the session comes back with the encoded reply: its requests
//! stay in order, and the session never needs a lock. Threads are started on demand, up
//! to a limit, and end after a while without work.

use std::collections::VecDeque;
use std::io;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::combiner::Acked;
use super::out::Out;
use super::poller::EventFd;
use super::session::Session;

/// A worker with nothing to do for this long ends.
const IDLE_EXIT: Duration = Duration::from_secs(10);

/// A request handed to a worker.
pub(crate) struct Job {
    /// The connection's slot in its loop.
    pub slot: usize,
    /// The connection's id (a slot is reused by later connections).
    pub id: u64,
    /// The connection's session, owned by the worker until the reply is encoded.
    pub session: Box<Session>,
    /// The request's opcode.
    pub opcode: u8,
    /// The request's payload.
    pub payload: Vec<u8>,
    /// Where the finished job goes.
    pub inbox: Arc<Inbox>,
}

/// A finished job, on its way back to the connection's loop.
pub(crate) struct Done {
    /// The connection's slot in its loop.
    pub slot: usize,
    /// The connection's id.
    pub id: u64,
    /// The session, back from the worker.
    pub session: Box<Session>,
    /// The encoded reply.
    pub out: Out,
    /// True when answering panicked: the connection is closed.
    pub panicked: bool,
}

/// Where one event loop receives finished jobs, the outcomes of its handed-over
/// writes, and connections accepted for it by another loop.
pub(crate) struct Inbox {
    /// Finished jobs not yet taken by the loop.
    done: Mutex<Vec<Done>>,
    /// Connections accepted by another loop for this one, not yet taken.
    streams: Mutex<Vec<UnixStream>>,
    /// Outcomes of handed-over writes not yet taken by the loop, one list per
    /// submission to the committer.
    acks: Mutex<Vec<Vec<Acked>>>,
    /// Wakes the loop.
    wake: EventFd,
}

impl Inbox {
    /// An empty inbox.
    pub fn new() -> io::Result<Inbox> {
        Ok(Inbox {
            done: Mutex::new(Vec::new()),
            streams: Mutex::new(Vec::new()),
            acks: Mutex::new(Vec::new()),
            wake: EventFd::new()?,
        })
    }

    /// The wake-up counter the loop watches.
    pub fn wake(&self) -> &EventFd {
        &self.wake
    }

    /// Delivers a finished job and wakes the loop.
    fn deliver(&self, done: Done) {
        self.done.lock().push(done);
        self.wake.notify();
    }

    /// Hands over a connection accepted for this loop (already counted in its share of
    /// [`super::Shared::loop_connections`]) and wakes the loop.
    pub fn hand_over(&self, stream: UnixStream) {
        self.streams.lock().push(stream);
        self.wake.notify();
    }

    /// Takes the connections handed over.
    pub fn take_streams(&self) -> Vec<UnixStream> {
        std::mem::take(&mut *self.streams.lock())
    }

    /// Takes every finished job.
    pub fn take(&self) -> Vec<Done> {
        std::mem::take(&mut *self.done.lock())
    }

    /// Delivers the outcomes of one submission's writes and wakes the loop.
    pub fn deliver_acks(&self, acks: Vec<Acked>) {
        self.acks.lock().push(acks);
        self.wake.notify();
    }

    /// Takes the outcomes delivered, one list per submission.
    pub fn take_acks(&self) -> Vec<Vec<Acked>> {
        std::mem::take(&mut *self.acks.lock())
    }
}

/// The pool's state.
#[derive(Default)]
struct PoolState {
    /// Jobs waiting for a thread.
    queue: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
    /// Threads alive.
    alive: usize,
    /// Handles of the threads started (finished ones are pruned when more start).
    threads: Vec<JoinHandle<()>>,
    /// Set by [`Workers::stop`]: idle threads end.
    stopping: bool,
}

/// The worker pool shared by a server's event loops.
pub(crate) struct Workers {
    /// Queue and thread accounting.
    state: Mutex<PoolState>,
    /// Signalled when a job is queued or the pool stops.
    work: Condvar,
    /// Most threads at once.
    max: usize,
}

impl Workers {
    /// A pool of at most `max` threads (at least one), none started yet.
    pub fn new(max: usize) -> Arc<Workers> {
        Arc::new(Workers {
            state: Mutex::new(PoolState::default()),
            work: Condvar::new(),
            max: max.max(1),
        })
    }

    /// Queues a job, starting a thread when none is free and the limit allows. Gives
    /// the job back when no thread exists to run it and none can be started.
    pub fn submit(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        let mut st = self.state.lock();
        if st.queue.len() < st.idle {
            st.queue.push_back(job);
            self.work.notify_one();
            return Ok(());
        }
        if st.alive < self.max {
            let pool = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("sochdb-worker".into())
                .spawn(move || pool.work());
            match spawned {
                Ok(h) => {
                    st.threads.retain(|t| !t.is_finished());
                    st.threads.push(h);
                    st.alive += 1;
                }
                Err(_) if st.alive == 0 => return Err(job),
                Err(_) => {}
            }
        }
        st.queue.push_back(job);
        self.work.notify_one();
        Ok(())
    }

    /// Ends every thread once the queue is empty and waits for them.
    pub fn stop(&self) {
        let threads = {
            let mut st = self.state.lock();
            st.stopping = true;
            self.work.notify_all();
            std::mem::take(&mut st.threads)
        };
        for t in threads {
            let _ = t.join();
        }
    }

    /// A worker thread: runs jobs until idle for [`IDLE_EXIT`] or the pool stops.
    fn work(&self) {
        loop {
            let job = {
                let mut st = self.state.lock();
                loop {
                    if let Some(j) = st.queue.pop_front() {
                        break j;
                    }
                    if st.stopping {
                        st.alive -= 1;
                        return;
                    }
                    st.idle += 1;
                    let timed_out = self.work.wait_for(&mut st, IDLE_EXIT).timed_out();
                    st.idle -= 1;
                    if timed_out && st.queue.is_empty() {
                        st.alive -= 1;
                        return;
                    }
                }
            };
            run(job);
        }
    }
}

/// Answers one job and sends it back to its loop.
pub(crate) fn run(job: Job) {
    let Job {
        slot,
        id,
        mut session,
        opcode,
        payload,
        inbox,
    } = job;
    let mut out = Out::new();
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        session.handle(opcode, &payload, &mut out)
    }))
    .is_err();
    inbox.deliver(Done {
        slot,
        id,
        session,
        out,
        panicked,
    });
}
