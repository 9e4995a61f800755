//! Shared helpers of the socket tests: a server on a temporary socket and a raw frame
//! connection that writes and reads bytes exactly.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sochdb::backend::Backend;
use sochdb::ipc::client::{Client, ClientOptions};
use sochdb::ipc::server::{Server, ServerHandle, ServerOptions};
use sochdb::kernel::{Database, DbOptions};

/// A started server with its temporary directory.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub handle: Option<ServerHandle>,
    pub backend: Arc<dyn Backend>,
    pub db: Arc<Database>,
}

impl TestServer {
    /// Serves a fresh database (in the temporary directory's `db`).
    pub fn start(opts: ServerOptions) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::open(&dir.path().join("db"), DbOptions::default()).unwrap());
        let backend: Arc<dyn Backend> = db.clone();
        let socket = dir.path().join("t.sock");
        let handle = Server::start(Arc::clone(&backend), &socket, opts).unwrap();
        TestServer {
            dir,
            socket,
            handle: Some(handle),
            backend,
            db,
        }
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(&self.socket)
    }

    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop().unwrap();
        }
    }

    /// Stops the server, closes the database and opens it again in this process.
    pub fn reopen(&mut self) -> Database {
        self.stop();
        self.db.close().unwrap();
        self.db.engine().close().unwrap();
        Database::open(&self.dir.path().join("db"), DbOptions::default()).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A connection that speaks frames byte by byte.
pub struct Raw {
    pub s: UnixStream,
}

impl Raw {
    pub fn connect(path: &Path) -> Raw {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Raw { s }
    }

    pub fn send(&mut self, op: u8, payload: &[u8]) {
        let mut f = vec![op];
        f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        f.extend_from_slice(payload);
        self.s.write_all(&f).unwrap();
    }

    pub fn send_bytes(&mut self, b: &[u8]) {
        self.s.write_all(b).unwrap();
    }

    /// The next reply frame, or `None` when the server closed the connection.
    pub fn recv(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut h = [0u8; 5];
        if let Err(e) = self.s.read_exact(&mut h) {
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ),
                "{e}"
            );
            return None;
        }
        let n = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
        let mut p = vec![0u8; n];
        self.s.read_exact(&mut p).unwrap();
        Some((h[0], p))
    }

    /// Sends and returns the one reply frame.
    pub fn call(&mut self, op: u8, payload: &[u8]) -> (u8, Vec<u8>) {
        self.send(op, payload);
        self.recv().expect("the server closed the connection")
    }

    /// True once the server has closed the connection (reads end).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.s.read(&mut b), Ok(0) | Err(_))
    }
}

pub fn u64le(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

pub fn put_payload(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut p = (key.len() as u32).to_le_bytes().to_vec();
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    p
}

/// A `sochdb serve` child process.
pub struct ServeProc {
    pub child: std::process::Child,
    pub socket: PathBuf,
}

impl ServeProc {
    /// Starts `sochdb serve --db DIR` with extra arguments and waits until it answers.
    pub fn start(db: &Path, extra: &[&str]) -> ServeProc {
        let socket = db.join("sochdb.sock");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_sochdb"))
            .arg("serve")
            .arg("--db")
            .arg(db)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut p = ServeProc { child, socket };
        p.wait_ready();
        p
    }

    fn wait_ready(&mut self) {
        for _ in 0..3000 {
            if let Ok(Some(st)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(e) = self.child.stderr.as_mut() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("sochdb serve exited early with {st}: {err}");
            }
            if let Ok(c) = sochdb::ipc::client::Client::connect(
                &self.socket,
                sochdb::ipc::client::ClientOptions::default(),
            ) {
                let _ = sochdb::backend::Backend::close(&c);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("sochdb serve did not start listening within 30 s");
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0);
    }

    /// Waits (at most 60 s) for the process to exit; returns its status and stderr.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        for _ in 0..6000 {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(e) = self.child.stderr.as_mut() {
                    e.read_to_string(&mut err).unwrap();
                }
                return (st, err);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        panic!("sochdb serve did not exit within 60 s");
    }
}

impl Drop for ServeProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the `sochdb` binary; returns exit code, stdout, stderr.
pub fn cli(args: &[&str]) -> (i32, String, String) {
    cli_stdin(args, None)
}

/// Runs the `sochdb` binary with bytes on stdin.
pub fn cli_stdin(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_sochdb"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(b) = stdin {
        child.stdin.take().unwrap().write_all(b).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What one writer saw acknowledged before its server died.
#[derive(Debug, Default)]
pub struct Acked {
    /// Keys whose write was acknowledged, with the value.
    pub puts: Vec<(String, String)>,
    /// Keys whose delete was acknowledged.
    pub deletes: Vec<String>,
}

/// A writer of [`kill_while_writing`]: writes through the server at the socket as
/// writer number `t` until `stop`, counting acknowledged operations in `ops`.
pub type Writer = fn(PathBuf, usize, Arc<AtomicBool>, Arc<AtomicU64>) -> Acked;

/// Serves `dir` with `sochdb serve`, runs `writers` threads of `writer`, kills the server
/// with SIGKILL once `kill_after` operations are acknowledged, restarts it, and checks
/// that every acknowledged put reads back and no acknowledged delete came back. Then
/// stops the new server with SIGTERM, which must exit cleanly.
pub fn kill_while_writing(dir: &Path, writers: usize, kill_after: u64, writer: Writer) {
    let server = ServeProc::start(dir, &["--quiet"]);
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let (socket, stop, ops) = (server.socket.clone(), Arc::clone(&stop), Arc::clone(&ops));
            std::thread::spawn(move || writer(socket, t, stop, ops))
        })
        .collect();
    // Let the writers get going, then kill the server in the middle of their work.
    for _ in 0..2000 {
        if ops.load(Ordering::Relaxed) >= kill_after {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    server.signal(libc::SIGKILL);
    let (status, _) = server.wait();
    assert!(!status.success());
    stop.store(true, Ordering::Relaxed);
    let results: Vec<Acked> = threads.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        ops.load(Ordering::Relaxed) > 0,
        "no write was acknowledged before the kill"
    );
    // The dead server left its socket file behind; a new server replaces it.
    assert!(dir.join("sochdb.sock").exists());

    let server = ServeProc::start(dir, &["--quiet"]);
    let c = Client::connect(&server.socket, ClientOptions::default()).unwrap();
    let mut checked = 0;
    for a in &results {
        for (k, v) in &a.puts {
            assert_eq!(
                c.get(None, k.as_bytes()).unwrap().as_deref(),
                Some(v.as_bytes()),
                "acknowledged write of {k} lost"
            );
            checked += 1;
        }
        for k in &a.deletes {
            assert_eq!(
                c.get(None, k.as_bytes()).unwrap(),
                None,
                "deleted {k} came back"
            );
        }
    }
    assert!(checked > 0);
    c.close().unwrap();
    server.signal(libc::SIGTERM);
    let (status, err) = server.wait();
    assert!(status.success(), "{status}: {err}");
}
