//! The socket server: shares one [`Backend`] with every process that connects to a Unix
//! domain socket.
//!
//! [`Server::start`] takes the socket's lock file, binds the socket owner-only (0600,
//! never wider for an instant), and runs an accept thread; each admitted connection gets
//! its own thread, so a slow or stuck client only ever holds up itself. The accept
//! thread checks each peer's uid (`SO_PEERCRED`) and the connection limit, and answers a
//! refused client with an ERROR frame before closing. [`ServerHandle::stop`] stops
//! accepting, lets requests in flight finish, aborts every open transaction, and
//! removes the socket and the lock file.

mod conn;
pub mod log;
mod session;
mod stats;

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::protocol::frame::push_frame;
use super::protocol::rep;
use super::sys::{self, PeerCred, PidLock};
use crate::backend::Backend;
use crate::error::{Error, Result};
pub use stats::Counters;

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
    /// Open connections: a handle on each socket, to cut them at shutdown.
    conns: Mutex<HashMap<u64, UnixStream>>,
    /// Signalled whenever a connection ends.
    conn_ended: Condvar,
}

impl Shared {
    /// Writes a log line if logging is on.
    pub fn log(&self, msg: impl std::fmt::Display) {
        log::line(self.opts.log, msg);
    }

    /// Called by a connection thread as its last act.
    fn connection_ended(&self, id: u64) {
        let mut conns = self.conns.lock();
        conns.remove(&id);
        self.counters
            .connections_active
            .store(conns.len() as u64, Ordering::Relaxed);
        self.conn_ended.notify_all();
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
        let (wake_rx, wake_tx) = UnixStream::pair()
            .map_err(|e| Error::io("creating the server's wake-up socket pair", e))?;
        let shared = Arc::new(Shared {
            backend,
            opts,
            counters: Counters::default(),
            started: Instant::now(),
            socket_path: socket_path.to_path_buf(),
            stopping: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            conn_ended: Condvar::new(),
        });
        shared.log(format_args!(
            "listening on {} (pid {}, mode {:o}, at most {} connections)",
            socket_path.display(),
            std::process::id(),
            mode,
            shared.opts.max_connections
        ));
        let s2 = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("sochdb-accept".into())
            .spawn(move || accept_loop(s2, listener, wake_rx))
            .map_err(|e| Error::io("starting the accept thread", e))?;
        Ok(ServerHandle {
            shared,
            wake: Some(wake_tx),
            accept: Some(accept),
            lock: Some(lock),
        })
    }
}

/// A running server. Dropping it stops the server too (ignoring errors).
pub struct ServerHandle {
    /// State shared with the server's threads.
    shared: Arc<Shared>,
    /// Writing a byte here wakes the accept thread to shut down.
    wake: Option<UnixStream>,
    /// The accept thread, joined by `stop`.
    accept: Option<JoinHandle<Result<()>>>,
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

    /// True while the accept thread runs (it ends only on `stop` or a fatal error).
    pub fn is_running(&self) -> bool {
        self.accept.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Stops the server: no new connections, requests in flight finish, every open
    /// transaction is aborted, the socket and the lock file are removed. The backend is
    /// left open (its owner closes it).
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some(mut w) = self.wake.take() {
            let _ = w.write_all(&[1]);
        }
        let res = match self.accept.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("the accept thread panicked".into()))),
            None => Ok(()),
        };
        self.lock.take();
        res
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Accepts until woken, then shuts everything down in order.
fn accept_loop(shared: Arc<Shared>, listener: UnixListener, wake: UnixStream) -> Result<()> {
    let server_uid = sys::effective_uid();
    let mut next_id: u64 = 0;
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let fds = [listener.as_raw_fd(), wake.as_raw_fd()];
    let mut result = Ok(());
    loop {
        let ready = match sys::poll_readable(&fds, -1) {
            Ok(r) => r,
            Err(e) => {
                result = Err(Error::io("waiting for connections", e));
                break;
            }
        };
        if ready[1] {
            break;
        }
        if !ready[0] {
            continue;
        }
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Out of file descriptors or memory: say so, back off, keep serving.
                shared.log(format_args!("accept failed: {e}; retrying"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        threads.retain(|t| !t.is_finished());
        next_id += 1;
        if let Some(t) = admit(&shared, stream, next_id, server_uid) {
            threads.push(t);
        }
    }
    shared.stopping.store(true, Ordering::SeqCst);
    drop(listener);
    if let Err(e) = std::fs::remove_file(&shared.socket_path) {
        if e.kind() != io::ErrorKind::NotFound {
            shared.log(format_args!(
                "could not remove {}: {e}",
                shared.socket_path.display()
            ));
        }
    }
    drain_connections(&shared);
    for t in threads {
        let _ = t.join();
    }
    let c = &shared.counters;
    shared.log(format_args!(
        "stopped: {} connections and {} requests served",
        c.connections_total.load(Ordering::Relaxed),
        c.requests_total.load(Ordering::Relaxed)
    ));
    result
}

/// Ends every connection: reads are shut first so requests in flight finish and their
/// replies go out; after the grace period the rest are cut.
fn drain_connections(shared: &Shared) {
    let mut conns = shared.conns.lock();
    if !conns.is_empty() {
        shared.log(format_args!(
            "shutting down: closing {} connections",
            conns.len()
        ));
    }
    for s in conns.values() {
        let _ = s.shutdown(Shutdown::Read);
    }
    let deadline = Instant::now() + shared.opts.shutdown_grace;
    while !conns.is_empty() {
        if shared
            .conn_ended
            .wait_until(&mut conns, deadline)
            .timed_out()
        {
            for s in conns.values() {
                let _ = s.shutdown(Shutdown::Both);
            }
            break;
        }
    }
}

/// Checks a new connection and starts its thread, or refuses it with an ERROR frame.
fn admit(
    shared: &Arc<Shared>,
    stream: UnixStream,
    id: u64,
    server_uid: u32,
) -> Option<JoinHandle<()>> {
    let peer = match sys::peer_cred(&stream) {
        Ok(p) => p,
        Err(e) => {
            shared.log(format_args!(
                "connection {id} refused: reading its credentials failed: {e}"
            ));
            return None;
        }
    };
    let _ = stream.set_nonblocking(false);
    if !peer_allowed(peer.uid, server_uid, &shared.opts.allowed_uids) {
        shared
            .counters
            .connections_refused
            .fetch_add(1, Ordering::Relaxed);
        shared.log(format_args!(
            "connection {id} refused: uid {} (pid {}) is not allowed",
            peer.uid, peer.pid
        ));
        refuse(
            &stream,
            &format!(
                "Permission denied: uid {} may not use this server (allowed: uid {server_uid}{})",
                peer.uid,
                shared
                    .opts
                    .allowed_uids
                    .iter()
                    .map(|u| format!(", {u}"))
                    .collect::<String>()
            ),
        );
        return None;
    }
    let clone = match stream.try_clone() {
        Ok(c) => c,
        Err(e) => {
            shared.log(format_args!("connection {id} refused: {e}"));
            refuse(&stream, &format!("Server error: {e}"));
            return None;
        }
    };
    {
        let mut conns = shared.conns.lock();
        if conns.len() >= shared.opts.max_connections {
            drop(conns);
            shared
                .counters
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            shared.log(format_args!(
                "connection {id} refused: the limit of {} connections is reached",
                shared.opts.max_connections
            ));
            refuse(
                &stream,
                &format!(
                    "Server busy: the limit of {} connections is reached; try again later",
                    shared.opts.max_connections
                ),
            );
            return None;
        }
        conns.insert(id, clone);
        shared
            .counters
            .connections_active
            .store(conns.len() as u64, Ordering::Relaxed);
    }
    shared
        .counters
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    let s2 = Arc::clone(shared);
    let spawned = std::thread::Builder::new()
        .name(format!("sochdb-conn-{id}"))
        .spawn(move || {
            conn::run(&s2, stream, id, peer);
            s2.connection_ended(id);
        });
    match spawned {
        Ok(t) => Some(t),
        Err(e) => {
            shared.log(format_args!("connection {id} dropped: no thread: {e}"));
            shared.connection_ended(id);
            None
        }
    }
}

/// Sends a version 1 ERROR frame to a connection about to be closed.
fn refuse(stream: &UnixStream, message: &str) {
    let mut frame = Vec::new();
    if push_frame(&mut frame, rep::ERROR, message.as_bytes()).is_ok() {
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = sys::send_all(stream, &frame);
    }
    let _ = stream.shutdown(Shutdown::Both);
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
