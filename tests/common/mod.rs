//! Shared helpers of the socket tests: a server on a temporary socket and a raw frame
//! connection that writes and reads bytes exactly.
#![allow(dead_code)]

pub mod memdb;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sochdb::backend::Backend;
use sochdb::ipc::server::{Server, ServerHandle, ServerOptions};

/// A started server with its temporary directory.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub handle: Option<ServerHandle>,
    pub backend: Arc<dyn Backend>,
}

impl TestServer {
    pub fn start(backend: Arc<dyn Backend>, opts: ServerOptions) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("t.sock");
        let handle = Server::start(Arc::clone(&backend), &socket, opts).unwrap();
        TestServer {
            dir,
            socket,
            handle: Some(handle),
            backend,
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
