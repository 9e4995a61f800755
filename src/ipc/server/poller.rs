//! Readiness notification for the event loops: an `epoll` instance, and an `eventfd`
//! that other threads write to wake a loop.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Readable (or the peer hung up or shut its writing side).
pub const READABLE: u32 =
    (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// The peer hung up, shut its writing side, or the socket failed.
pub const HANGUP: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// Writable (or failed).
pub const WRITABLE: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// An `epoll` instance.
pub struct Epoll {
    /// The instance's descriptor.
    fd: OwnedFd,
}

/// How a descriptor is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Readability, edge-triggered: reported once each time bytes arrive (a connection,
    /// whose loop reads until the socket is drained).
    Reads,
    /// Readability and writability, edge-triggered (a connection whose replies wait for
    /// room in its socket).
    ReadsAndWrites,
    /// Readability, level-triggered, waking only one of the instances that watch the
    /// descriptor (the listening socket, shared by every loop).
    ExclusiveReads,
    /// Readability, level-triggered (a wake-up counter).
    LevelReads,
}

impl Watch {
    /// The `epoll` event bits.
    fn bits(self) -> u32 {
        let bits = match self {
            Watch::Reads => libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET,
            Watch::ReadsAndWrites => {
                libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET
            }
            Watch::ExclusiveReads => libc::EPOLLIN | libc::EPOLLEXCLUSIVE,
            Watch::LevelReads => libc::EPOLLIN,
        };
        bits as u32
    }
}

impl Epoll {
    /// A new instance.
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 has no memory preconditions.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watches `fd`, reporting its events with `token`.
    pub fn add(&self, fd: RawFd, watch: Watch, token: u64) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_ADD, fd, watch, token)
    }

    /// Changes how `fd` is watched (an edge already present is reported at once).
    pub fn modify(&self, fd: RawFd, watch: Watch, token: u64) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_MOD, fd, watch, token)
    }

    fn control(&self, op: libc::c_int, fd: RawFd, watch: Watch, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: watch.bits(),
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stops watching `fd` (closing `fd` does too).
    pub fn remove(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: a null event pointer is allowed for EPOLL_CTL_DEL.
        let rc = unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` (-1: forever) for events and fills `events` with them
    /// as `(token, event bits)`. An interrupted wait returns no events.
    pub fn wait(&self, events: &mut Vec<(u64, u32)>, timeout_ms: i32) -> io::Result<()> {
        const MAX_EVENTS: usize = 256;
        let mut raw = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        events.clear();
        // SAFETY: `raw` holds MAX_EVENTS writable epoll_event structures.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                raw.as_mut_ptr(),
                MAX_EVENTS as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(e);
        }
        for ev in &raw[..n as usize] {
            // Copied out of the (packed) structure before use.
            let (token, bits) = (ev.u64, ev.events);
            events.push((token, bits));
        }
        Ok(())
    }
}

/// A wake-up counter (`eventfd`): any thread may [`EventFd::notify`]; the loop that
/// watches it [`EventFd::drain`]s it when woken.
pub struct EventFd {
    /// The counter's descriptor (non-blocking).
    fd: OwnedFd,
}

impl EventFd {
    /// A new counter at zero.
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd has no memory preconditions.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        Ok(EventFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The descriptor, to watch.
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Makes the counter readable (wakes the loop watching it).
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: `one` is eight readable bytes, as eventfd's write requires. A full
        // counter (EAGAIN) is already readable, so a failure loses no wake-up.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Resets the counter to zero.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: `v` is eight writable bytes, as eventfd's read requires; a counter at
        // zero fails with EAGAIN, which is fine.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8);
        }
    }
}
