//! The few system calls the socket layer needs beyond `std`: sends that never raise
//! SIGPIPE, peer credentials, a pid lock file, and binding a socket whose mode
//! is never wider than asked.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Longest socket path Linux accepts (`sun_path` is 108 bytes with the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Sends all of `buf` with `MSG_NOSIGNAL`, so a peer that went away is an `EPIPE`
/// error rather than a signal that kills the process hosting the library.
pub fn send_all(stream: &UnixStream, mut buf: &[u8]) -> io::Result<()> {
    let fd = stream.as_raw_fd();
    while !buf.is_empty() {
        // SAFETY: `buf` is a valid, initialised slice for its whole length, and `fd` is
        // an open socket owned by `stream` for the duration of the call.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "socket accepted no bytes",
            ));
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Sends what the socket takes of `buf` at once, with `MSG_NOSIGNAL | MSG_DONTWAIT`:
/// returns the bytes sent, or `WouldBlock` when the socket takes none.
pub fn send_some(stream: &UnixStream, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, initialised slice for its whole length, and the socket
    // is owned by `stream` for the duration of the call.
    let n = unsafe {
        libc::send(
            stream.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Connects to the Unix socket at `path`, waiting at most `timeout` for a server whose
/// accept queue is full. The returned stream is blocking.
pub fn connect(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain old data; all-zero is a valid (empty) value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "socket path of {} bytes is too long or holds a NUL",
                bytes.len()
            ),
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: socket() has no memory preconditions.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket we own; OwnedFd closes it on every path below.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let deadline = Instant::now() + timeout;
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    loop {
        // SAFETY: `addr` is a valid sockaddr_un and `len` does not exceed its size.
        let rc = unsafe {
            libc::connect(
                owned.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        if rc == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) | Some(libc::EINPROGRESS) | Some(libc::EALREADY) => {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the server did not accept the connection in time",
                    ));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Some(libc::EISCONN) => break,
            _ => return Err(e),
        }
    }
    let stream = UnixStream::from(owned);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// The credentials of the process at the other end of a connected Unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Reads `SO_PEERCRED` of a connected socket.
pub fn peer_cred(stream: &UnixStream) -> io::Result<PeerCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` holds the size of `cred`,
    // as getsockopt(SO_PEERCRED) requires.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCred {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// The effective uid of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// True when the peer of `stream` has closed its end (checked without blocking and
/// without consuming data).
pub fn peer_closed(stream: &UnixStream) -> bool {
    let mut p = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd.
    let rc = unsafe { libc::poll(&mut p, 1, 0) };
    if rc <= 0 {
        return false;
    }
    if p.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
        return true;
    }
    let mut b = [0u8; 1];
    // SAFETY: `b` is valid for one byte of writes; MSG_PEEK leaves the data queued.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            b.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n == 0
}

/// An exclusive `flock` on a file that holds the owner's pid. The file is removed when
/// the lock is dropped (while still held, so a waiting process re-checks and retries).
#[derive(Debug)]
pub struct PidLock {
    /// The open, locked file.
    file: File,
    /// Where it lives.
    path: PathBuf,
}

impl PidLock {
    /// Takes the lock, or fails with `Locked` naming the pid that holds it.
    pub fn acquire(path: &Path, what: &str) -> Result<PidLock> {
        for _ in 0..100 {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(path)
                .map_err(|e| Error::io(format!("opening lock file {}", path.display()), e))?;
            // SAFETY: flock on an fd we own; LOCK_NB makes it return at once.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    let mut s = String::new();
                    let _ = file.read_to_string(&mut s);
                    let pid = s.trim();
                    let holder = if pid.is_empty() {
                        "another process".to_string()
                    } else {
                        format!("process {pid}")
                    };
                    return Err(Error::Locked(format!(
                        "{what} is already in use by {holder} (lock file {})",
                        path.display()
                    )));
                }
                return Err(Error::io(format!("locking {}", path.display()), e));
            }
            // The previous holder may have removed the file between our open and our
            // flock: then we locked an orphan inode; try again.
            let same = match (file.metadata(), fs::metadata(path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if !same {
                continue;
            }
            let pid = std::process::id();
            file.set_len(0)
                .and_then(|_| file.rewind())
                .and_then(|_| writeln!(file, "{pid}"))
                .and_then(|_| file.sync_data())
                .map_err(|e| Error::io(format!("writing pid to {}", path.display()), e))?;
            return Ok(PidLock {
                file,
                path: path.to_path_buf(),
            });
        }
        Err(Error::Locked(format!(
            "could not take the lock file {} (it keeps being replaced)",
            path.display()
        )))
    }
}

impl Drop for PidLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        let _ = &self.file;
    }
}

static BIND_SEQ: AtomicU64 = AtomicU64::new(0);

/// Binds a listening socket at `path` whose mode is `mode` (0600 by default), with no
/// moment in which the file is reachable with a wider mode: the socket is bound inside
/// a fresh 0700 directory beside `path`, given its mode, then renamed into place
/// (replacing a stale socket, which the caller has made sure no live server owns).
pub fn bind_private(path: &Path, mode: u32) -> Result<UnixListener> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() > MAX_SOCKET_PATH {
        return Err(Error::InvalidArgument(format!(
            "socket path {} is {} bytes; Unix sockets allow at most {MAX_SOCKET_PATH}",
            path.display(),
            bytes.len()
        )));
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {}
        Ok(_) => {
            return Err(Error::AlreadyExists(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("inspecting {}", path.display()), e)),
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let seq = BIND_SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = parent.join(format!(".sk{}.{seq}", std::process::id()));
    let tmp = dir.join("s");
    if tmp.as_os_str().len() > MAX_SOCKET_PATH {
        return bind_with_umask(path, mode);
    }
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let result = (|| {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(format!("setting the mode of {}", dir.display()), e))?;
        let listener = UnixListener::bind(&tmp)
            .map_err(|e| Error::io(format!("binding {}", tmp.display()), e))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(format!("setting the mode of {}", tmp.display()), e))?;
        fs::rename(&tmp, path).map_err(|e| {
            Error::io(
                format!("moving socket {} to {}", tmp.display(), path.display()),
                e,
            )
        })?;
        Ok(listener)
    })();
    let _ = fs::remove_file(&tmp);
    let _ = fs::remove_dir(&dir);
    result
}

/// Fallback of [`bind_private`] when the temporary path would be too long: binds with
/// the process umask narrowed to the mode for the duration of the `bind`.
fn bind_with_umask(path: &Path, mode: u32) -> Result<UnixListener> {
    if fs::symlink_metadata(path).is_ok() {
        fs::remove_file(path)
            .map_err(|e| Error::io(format!("removing stale socket {}", path.display()), e))?;
    }
    let mask = (!mode & 0o777) as libc::mode_t;
    // SAFETY: umask has no preconditions; the previous mask is restored below.
    let old = unsafe { libc::umask(mask) };
    let res = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = res.map_err(|e| Error::io(format!("binding {}", path.display()), e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(format!("setting the mode of {}", path.display()), e))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let a = PidLock::acquire(&p, "the test socket").unwrap();
        let e = PidLock::acquire(&p, "the test socket").unwrap_err();
        assert!(matches!(e, Error::Locked(_)));
        assert!(
            e.to_string().contains(&std::process::id().to_string()),
            "{e}"
        );
        drop(a);
        assert!(!p.exists());
        let _b = PidLock::acquire(&p, "the test socket").unwrap();
    }

    #[test]
    fn bound_socket_has_the_mode_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sock");
        let l1 = bind_private(&p, 0o600).unwrap();
        drop(l1);
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let l2 = bind_private(&p, 0o600).unwrap();
        let c = UnixStream::connect(&p).unwrap();
        let (s, _) = l2.accept().unwrap();
        assert_eq!(peer_cred(&s).unwrap().uid, effective_uid());
        drop(c);
        assert!(peer_closed(&s));
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
        let f = dir.path().join("file");
        fs::write(&f, b"x").unwrap();
        assert!(bind_private(&f, 0o600).is_err());
    }
}
