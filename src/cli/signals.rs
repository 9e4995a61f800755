//! SIGTERM and SIGINT as bytes on a pipe: the handler only writes the signal number to
//! a pipe (an async-signal-safe call), and the main thread waits on the other end.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The write end of the pipe, for the handler (-1 before installation).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; `b` lives for the call. A full pipe
        // just drops the byte, and one byte already pending is enough to wake the waiter.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }
}

/// Receives the termination signals once installed.
pub struct Signals {
    /// The read end of the pipe.
    read: File,
}

impl Signals {
    /// Installs handlers for SIGTERM and SIGINT.
    pub fn install() -> std::io::Result<Signals> {
        let mut fds: [RawFd; 2] = [-1, -1];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fds[0] is a fresh descriptor we own from here on.
        let read = unsafe { File::from_raw_fd(fds[0]) };
        // The read end blocks; only the handler's write end must never block.
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(fds[0], libc::F_GETFL);
            libc::fcntl(fds[0], libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
        PIPE_WRITE.store(fds[1], Ordering::Relaxed);
        for sig in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: a zeroed sigaction is valid; we set the handler and an empty mask,
            // and `on_signal` only performs async-signal-safe work.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                libc::sigemptyset(&mut sa.sa_mask);
                sa.sa_flags = libc::SA_RESTART;
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(Signals { read })
    }

    /// Waits up to `timeout_ms` for a signal; returns its name when one came.
    pub fn wait(&mut self, timeout_ms: i32) -> Option<&'static str> {
        let mut p = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&self.read),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if rc <= 0 {
            return None;
        }
        let mut b = [0u8; 1];
        match self.read.read(&mut b) {
            Ok(1) => Some(match i32::from(b[0]) {
                libc::SIGTERM => "SIGTERM",
                libc::SIGINT => "SIGINT",
                _ => "a signal",
            }),
            _ => None,
        }
    }
}
