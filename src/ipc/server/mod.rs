//! The socket server: shares one [`Backend`] with every process that connects to a Unix
//! domain socket.
//!
//! [`Server::start`] takes the socket's lock file, binds the socket owner-only (0600,
//! never wider for an instant), and starts a few event loops
//! ([`ServerOptions::event_loops`]) that own every connection between them: each loop
//! reads every ready socket, answers reads at once, hands the one-shot writes of all
//! its connections to the committer threads (which commit every loop's writes gathered
//! meanwhile together: one log append, one sync), hands long requests to a worker pool,
//! and writes each connection's replies with one system call. Sockets
//! are non-blocking, so a slow or stuck client only ever holds up itself. A loop checks
//! each new peer's uid (`SO_PEERCRED`) and the connection limit, and answers a refused
//! client with an ERROR frame before closing. [`ServerHandle::stop`] stops accepting,
//! lets requests in flight finish, aborts every open transaction, and removes the
//! socket and the lock file.
//!
//! - `event_loop`: the rounds; `conn`: one connection's state; `route`: which requests
//!   are combined, answered inline or handed to a worker; `combiner`: the gathered
//!   writes; `committer`: their commits, off the loops; `worker`: the pool; `session`:
//!   the answer to each request.

mod combiner;
mod committer;
mod conn;
mod event_loop;
pub mod log;
mod out;
mod poller;
mod route;
mod session;
mod stats;
mod worker;

use std::io;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::sys::{self, PeerCred, PidLock};
use crate::backend::Backend;
use crate::error::{Error, Result};
use committer::Committer;
use event_loop::EventLoop;
pub use stats::Counters;
use worker::{Inbox, Workers};

/// Limits and behaviour of a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Connections served at once; one more gets an ERROR frame and is closed.
    pub max_connections: usize,
    /// Transactions a connection may hold open at once (`Busy` beyond).
    pub max_txns_per_connection: usize,
    /// Scan cursors a connection may hold open at once (`Busy` beyond).
    pub max_cursors_per_connection: usize,
    /// Bytes of replies a connection buffers before it must write them out; a client
    /// that pipelines more than this waits for its replies to drain.
    pub reply_buffer_bytes: usize,
    /// A connection with no request for this long is closed (its transactions
    /// aborted), and so is one whose request has been arriving for this long without
    /// being complete (bytes trickled in do not keep it alive); `None` never closes
    /// idle connections.
    pub idle_timeout: Option<Duration>,
    /// A reply that cannot be written within this time closes the connection (a client
    /// that stopped reading).
    pub write_timeout: Duration,
    /// How long [`ServerHandle::stop`] waits for requests in flight before it cuts the
    /// remaining connections.
    pub shutdown_grace: Duration,
    /// Uids allowed besides the server's own. When non-empty the socket is created
    /// 0666 and the `SO_PEERCRED` check is what keeps other users out.
    pub allowed_uids: Vec<u32>,
    /// The lock file that makes the socket path one server's (default: the socket path
    /// with `.lock` appended).
    pub lock_path: Option<PathBuf>,
    /// Entries per scan page when the client leaves the choice to the server.
    pub scan_page_entries: u32,
    /// Bytes per scan page (a page holds at least one entry).
    pub scan_page_bytes: usize,
    /// Event loop threads; each owns the connections given to it (default: one per two
    /// cores, at least 1 and at most 8: the clients of a Unix socket run on the same
    /// machine and need processors too, as do the committer threads).
    pub event_loops: usize,
    /// How long an event loop that just served something keeps polling for more before
    /// it sleeps (zero: it sleeps at once). A request arriving meanwhile is served
    /// without the wake-up of a sleeping thread, which is most of a round trip's
    /// latency; the price is at most this much processor time per pause in traffic,
    /// and only one loop at a time polls.
    pub spin: Duration,
    /// Most worker threads answering long requests (transaction commits, checkpoints,
    /// compactions, scans, queries) at once; started on demand.
    pub max_workers: usize,
    /// Write one line per notable event to stderr.
    pub log: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: 256,
            max_txns_per_connection: 64,
            max_cursors_per_connection: 16,
            reply_buffer_bytes: 1024 * 1024,
            idle_timeout: Some(Duration::from_secs(600)),
            write_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            allowed_uids: Vec::new(),
            lock_path: None,
            scan_page_entries: 1000,
            scan_page_bytes: 1024 * 1024,
            event_loops: std::thread::available_parallelism()
                .map_or(1, |n| (n.get() / 2).clamp(1, 8)),
            spin: Duration::from_micros(50),
            max_workers: 64,
            log: false,
        }
    }
}

/// Whether a peer may use the server: its uid is the server's own or an allowed one.
pub fn peer_allowed(peer_uid: u32, server_uid: u32, allowed: &[u32]) -> bool {
    peer_uid == server_uid || allowed.contains(&peer_uid)
}

/// What every thread of one server shares.
pub(crate) struct Shared {
    /// The database served.
    pub backend: Arc<dyn Backend>,
    /// Limits and behaviour.
    pub opts: ServerOptions,
    /// Figures for STATS.
    pub counters: Counters,
    /// When the server started.
    pub started: Instant,
    /// The socket path (for log lines).
    pub socket_path: PathBuf,
    /// Set once shutdown begins.
    pub stopping: AtomicBool,
    /// The last connection number handed out.
    pub next_conn_id: AtomicU64,
    /// Held by the event loop polling before it sleeps (see [`ServerOptions::spin`]).
    pub spinning: AtomicBool,
    /// Per event loop, the connections assigned to it: open, or accepted by another
    /// loop and handed over but not yet taken. The loop that accepts a connection gives
    /// it to the loop with the fewest.
    pub loop_connections: Box<[AtomicUsize]>,
}

impl Shared {
    /// Writes a log line if logging is on.
    pub fn log(&self, msg: impl std::fmt::Display) {
        log::line(self.opts.log, msg);
    }
}

/// The library entry point of the server.
pub struct Server;

impl Server {
    /// Starts serving `backend` on `socket_path` and returns at once; the server runs
    /// on its own threads until [`ServerHandle::stop`].
    ///
    /// Fails with `Locked` when a live server holds the socket's lock file, with
    /// `AlreadyExists` when something other than a socket sits at `socket_path`, and
    /// with `Io` when the socket cannot be bound. A stale socket (no live server holds
    /// the lock) is replaced.
    pub fn start(
        backend: Arc<dyn Backend>,
        socket_path: &Path,
        opts: ServerOptions,
    ) -> Result<ServerHandle> {
        let lock_path = opts.lock_path.clone().unwrap_or_else(|| {
            let mut p = socket_path.as_os_str().to_os_string();
            p.push(".lock");
            PathBuf::from(p)
        });
        let lock = PidLock::acquire(&lock_path, &format!("socket {}", socket_path.display()))?;
        let mode = if opts.allowed_uids.is_empty() {
            0o600
        } else {
            0o666
        };
        let listener = sys::bind_private(socket_path, mode)?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io(format!("making {} non-blocking", socket_path.display()), e))?;
        let listener = Arc::new(listener);
        let opts_loops = opts.event_loops.max(1);
        let shared = Arc::new(Shared {
            backend,
            opts,
            counters: Counters::default(),
            started: Instant::now(),
            socket_path: socket_path.to_path_buf(),
            stopping: AtomicBool::new(false),
            next_conn_id: AtomicU64::new(0),
            spinning: AtomicBool::new(false),
            loop_connections: (0..opts_loops).map(|_| AtomicUsize::new(0)).collect(),
        });
        let workers = Workers::new(shared.opts.max_workers);
        let committer = Committer::start(Arc::clone(&shared), committer::THREADS)
            .map_err(|e| Error::io("starting the committer threads", e))?;
        let mut handle = ServerHandle {
            shared: Arc::clone(&shared),
            listener: Some(Arc::clone(&listener)),
            loops: Vec::new(),
            inboxes: Vec::new(),
            workers: Arc::clone(&workers),
            committer: Arc::clone(&committer),
            lock: Some(lock),
        };
        let mut inboxes = Vec::new();
        for _ in 0..opts_loops {
            inboxes.push(Arc::new(
                Inbox::new().map_err(|e| Error::io("creating a wake-up counter", e))?,
            ));
        }
        let peers: Arc<[Arc<Inbox>]> = inboxes.into();
        for (i, inbox) in peers.iter().enumerate() {
            let el = EventLoop::new(
                Arc::clone(&shared),
                Arc::clone(&listener),
                Arc::clone(&peers),
                i,
                Arc::clone(&workers),
                Arc::clone(&committer),
            )?;
            let t = std::thread::Builder::new()
                .name(format!("sochdb-loop-{i}"))
                .spawn(move || el.run())
                .map_err(|e| Error::io("starting an event loop thread", e))?;
            handle.loops.push(t);
            handle.inboxes.push(Arc::clone(inbox));
        }
        shared.log(format_args!(
            "listening on {} (pid {}, mode {:o}, at most {} connections, {} event loop{})",
            socket_path.display(),
            std::process::id(),
            mode,
            shared.opts.max_connections,
            handle.loops.len(),
            if handle.loops.len() == 1 { "" } else { "s" }
        ));
        Ok(handle)
    }
}

/// A running server. Dropping it stops the server too (ignoring errors).
pub struct ServerHandle {
    /// State shared with the server's threads.
    shared: Arc<Shared>,
    /// The listening socket, closed once the loops are done.
    listener: Option<Arc<UnixListener>>,
    /// The event loop threads, joined by `stop`.
    loops: Vec<JoinHandle<Result<()>>>,
    /// Each loop's inbox, to wake it for shutdown.
    inboxes: Vec<Arc<Inbox>>,
    /// The worker pool, stopped after the loops.
    workers: Arc<Workers>,
    /// The committer threads, stopped after the loops.
    committer: Arc<Committer>,
    /// The socket's lock file, released last.
    lock: Option<PidLock>,
}

impl ServerHandle {
    /// The socket path served.
    pub fn socket_path(&self) -> &Path {
        &self.shared.socket_path
    }

    /// The server's figures so far.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// True while every event loop runs (they end only on `stop` or a fatal error).
    pub fn is_running(&self) -> bool {
        !self.loops.is_empty() && self.loops.iter().all(|h| !h.is_finished())
    }

    /// Stops the server: no new connections, requests in flight finish, every open
    /// transaction is aborted, the socket and the lock file are removed. The backend is
    /// left open (its owner closes it).
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if self.lock.is_none() {
            return Ok(());
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Err(e) = std::fs::remove_file(&self.shared.socket_path) {
            if e.kind() != io::ErrorKind::NotFound {
                self.shared.log(format_args!(
                    "could not remove {}: {e}",
                    self.shared.socket_path.display()
                ));
            }
        }
        for inbox in &self.inboxes {
            inbox.wake().notify();
        }
        let mut res = Ok(());
        for h in self.loops.drain(..) {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("an event loop thread panicked".into())));
            if res.is_ok() {
                res = r;
            }
        }
        self.workers.stop();
        self.committer.stop();
        self.listener.take();
        let c = &self.shared.counters;
        self.shared.log(format_args!(
            "stopped: {} connections and {} requests served",
            c.connections_total.load(Ordering::Relaxed),
            c.requests_total.load(Ordering::Relaxed)
        ));
        self.lock.take();
        res
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Describes a peer for log lines.
pub(crate) fn describe_peer(p: &PeerCred) -> String {
    format!("pid {} uid {}", p.pid, p.uid)
}

#[cfg(test)]
mod tests {
    use super::peer_allowed;

    #[test]
    fn peers_are_checked_by_uid() {
        assert!(peer_allowed(1000, 1000, &[]));
        assert!(!peer_allowed(1001, 1000, &[]));
        assert!(peer_allowed(1001, 1000, &[1001, 1002]));
        assert!(!peer_allowed(0, 1000, &[1001]));
    }
}
