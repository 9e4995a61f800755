//! One connection as an event loop holds it: its socket, the bytes received and not yet
//! decoded, the replies not yet sent, its session, and what it waits for.

use std::io;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use super::out::Out;
use super::session::Session;
use crate::ipc::protocol::frame::FrameReader;
use crate::ipc::sys;

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The client closed its end.
    ClientClosed,
    /// The server is shutting down.
    Shutdown,
    /// The shutdown's grace period ran out with the connection still busy.
    Cut,
    /// No request within the idle timeout.
    IdleTimeout,
    /// A request took longer than the idle timeout to arrive whole.
    SlowFrame,
    /// A frame that cannot be decoded (too long, or the stream ended inside it).
    BrokenFrame(String),
    /// Reading failed.
    ReadError(io::Error),
    /// Writing failed.
    WriteError(io::Error),
    /// Replies waited longer than the write timeout for the client to read them.
    WriteTimeout(Duration),
    /// Answering a request panicked.
    Panicked,
}

impl End {
    /// The log line's wording.
    pub fn describe(&self) -> String {
        match self {
            End::ClientClosed => "closed by the client".into(),
            End::Shutdown => "closed for shutdown".into(),
            End::Cut => "cut at the end of the shutdown grace period".into(),
            End::IdleTimeout => "closed after the idle timeout".into(),
            End::SlowFrame => "closed: a frame took longer than the idle timeout to arrive".into(),
            End::BrokenFrame(m) => format!("closed on a broken frame: {m}"),
            End::ReadError(e) => format!("closed on a read error: {e}"),
            End::WriteError(e) => format!("closed on a write error: {e}"),
            End::WriteTimeout(d) => format!(
                "closed: its replies waited {} ms for the client to read them",
                d.as_millis()
            ),
            End::Panicked => "closed: answering a request failed unexpectedly".into(),
        }
    }

    /// True when replies already queued should still be sent before the close.
    pub fn graceful(&self) -> bool {
        matches!(
            self,
            End::ClientClosed | End::Shutdown | End::BrokenFrame(_)
        )
    }
}

/// One connection.
pub(crate) struct Conn {
    /// Connection number (for log lines and to tell a slot's successive tenants apart).
    pub id: u64,
    /// The socket (non-blocking).
    pub stream: UnixStream,
    /// Bytes received and not yet decoded.
    pub reader: FrameReader,
    /// Replies not yet sent.
    pub out: Out,
    /// The session; `None` while a worker answers one of its requests.
    pub session: Option<Box<Session>>,
    /// The socket may hold bytes not yet read.
    pub readable: bool,
    /// The socket may take more bytes.
    pub writable: bool,
    /// The loop watches the socket's writability (while replies wait for room).
    pub watching_out: bool,
    /// The peer hung up or shut its writing side (reported by `epoll`): reads go on
    /// until they meet the end of the stream.
    pub hangup: bool,
    /// The client will send nothing more (or the server shut the reading side).
    pub eof: bool,
    /// One-shot writes of this connection gathered or committing, not yet answered.
    pub writes_pending: usize,
    /// Its gathered writes are at the committer (nothing more of it is decoded until
    /// they are answered).
    pub committing: bool,
    /// In the loop's list of connections to serve.
    pub queued: bool,
    /// In the loop's list of connections to send replies to.
    pub dirty: bool,
    /// When the last request arrived (or the connection opened).
    pub last_request: Instant,
    /// When the partial frame now pending started to arrive.
    pub partial_since: Option<Instant>,
    /// Since when queued replies have waited for the socket without progress.
    pub stalled_since: Option<Instant>,
    /// Set once the connection is to close (after its queued replies, when graceful).
    pub closing: Option<End>,
}

impl Conn {
    /// A fresh connection.
    pub fn new(id: u64, stream: UnixStream, session: Box<Session>) -> Conn {
        Conn {
            id,
            stream,
            reader: FrameReader::new(),
            out: Out::new(),
            session: Some(session),
            readable: true,
            writable: true,
            watching_out: false,
            hangup: false,
            eof: false,
            writes_pending: 0,
            committing: false,
            queued: false,
            dirty: false,
            last_request: Instant::now(),
            partial_since: None,
            stalled_since: None,
            closing: None,
        }
    }

    /// Reads once from the socket. Returns the bytes read; 0 when nothing could be
    /// read (the socket is drained, or the client finished, which sets `eof`).
    pub fn read(&mut self) -> Result<usize, End> {
        loop {
            match self.reader.fill(&mut self.stream) {
                Ok((0, _)) => {
                    self.eof = true;
                    self.readable = false;
                    return Ok(0);
                }
                Ok((n, drained)) => {
                    if drained && !self.hangup {
                        // Edge-triggered: bytes arriving later raise a new event.
                        self.readable = false;
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Ok(0);
                }
                Err(e) => return Err(End::ReadError(e)),
            }
        }
    }

    /// Sends queued replies with one `send`. Returns the bytes sent.
    pub fn flush(&mut self, now: Instant) -> Result<usize, End> {
        if self.out.is_empty() {
            self.stalled_since = None;
            return Ok(0);
        }
        if !self.writable {
            self.stalled_since.get_or_insert(now);
            return Ok(0);
        }
        let sent = loop {
            match sys::send_some(&self.stream, self.out.unsent()) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break 0,
                Err(e) => return Err(End::WriteError(e)),
            }
        };
        self.out.advance(sent);
        if self.out.is_empty() {
            self.stalled_since = None;
        } else {
            // The socket is full: wait for its writable edge.
            self.writable = false;
            if sent > 0 || self.stalled_since.is_none() {
                self.stalled_since = Some(now);
            }
        }
        Ok(sent)
    }
}
