//! One connection: read whatever has arrived, answer every complete request in order,
//! write all the replies that are ready with one system call, repeat.
//!
//! This is what makes pipelining cheap: a client that sends a hundred requests gets
//! its hundred replies in a handful of writes. Replies are buffered up to
//! [`super::ServerOptions::reply_buffer_bytes`]; beyond that the connection writes
//! before it reads on (so a client that pipelines without reading is slowed down, and
//! one that stops reading altogether hits the write timeout and is disconnected).

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::session::Session;
use super::{Shared, describe_peer};
use crate::error::Result;
use crate::ipc::protocol::frame::{FrameReader, begin_frame, end_frame, push_frame};
use crate::ipc::protocol::rep;
use crate::ipc::sys::{self, PeerCred};

/// Most one-shot writes committed together from one connection's pipeline.
const MAX_GROUP: usize = 1024;

/// Replies waiting to be written to one connection.
pub(crate) struct Out<'s> {
    /// Encoded reply frames.
    buf: Vec<u8>,
    /// The connection.
    stream: &'s UnixStream,
    /// Flush once this many bytes are waiting.
    limit: usize,
    /// Server figures (bytes sent).
    shared: &'s Shared,
}

impl Out<'_> {
    /// Queues a reply frame; writes out the queue when it is over the limit.
    pub fn frame(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        if let Err(e) = push_frame(&mut self.buf, opcode, payload) {
            // Only reachable with an oversized payload, which callers check first;
            // answer with the error rather than a broken frame.
            let msg = e.to_string();
            let _ = push_frame(&mut self.buf, rep::ERROR, msg.as_bytes());
        }
        self.flush_if_full()
    }

    /// Starts a reply frame whose payload is appended through [`Out::buf`].
    pub fn begin(&mut self, opcode: u8) -> usize {
        begin_frame(&mut self.buf, opcode)
    }

    /// The queue, for appending a payload after [`Out::begin`].
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Finishes the frame started at `at`; an oversized one is removed and reported.
    pub fn end(&mut self, at: usize) -> Result<()> {
        end_frame(&mut self.buf, at)
    }

    /// Writes out the queue when it is over the limit.
    pub fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= self.limit {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes every queued byte with one `send` (more if the socket takes less).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        sys::send_all(self.stream, &self.buf)?;
        self.shared
            .counters
            .bytes_sent
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        self.buf.clear();
        if self.buf.capacity() > 4 * self.limit.max(64 * 1024) {
            self.buf = Vec::new();
        }
        Ok(())
    }
}

/// Why a connection ended.
enum End {
    ClientClosed,
    Shutdown,
    IdleTimeout,
    SlowFrame,
    BrokenFrame(String),
    ReadError(io::Error),
    WriteError(io::Error),
}

/// Serves one connection until it ends; aborts its transactions on the way out.
pub(crate) fn run(shared: &Arc<Shared>, mut stream: UnixStream, id: u64, peer: PeerCred) {
    let _ = stream.set_read_timeout(shared.opts.idle_timeout);
    let _ = stream.set_write_timeout(Some(shared.opts.write_timeout));
    shared.log(format_args!(
        "connection {id} opened by {}",
        describe_peer(&peer)
    ));
    let mut session = Session::new(Arc::clone(shared), id);
    let end = serve(shared, &mut stream, &mut session);
    let aborted = session.close();
    let why = match &end {
        End::ClientClosed => "closed by the client".to_string(),
        End::Shutdown => "closed for shutdown".to_string(),
        End::IdleTimeout => {
            shared
                .counters
                .idle_timeouts
                .fetch_add(1, Ordering::Relaxed);
            "closed after the idle timeout".to_string()
        }
        End::SlowFrame => {
            shared
                .counters
                .idle_timeouts
                .fetch_add(1, Ordering::Relaxed);
            "closed: a frame took longer than the idle timeout to arrive".to_string()
        }
        End::BrokenFrame(m) => {
            shared
                .counters
                .broken_frames
                .fetch_add(1, Ordering::Relaxed);
            format!("closed on a broken frame: {m}")
        }
        End::ReadError(e) => format!("closed on a read error: {e}"),
        End::WriteError(e) => format!("closed on a write error: {e}"),
    };
    let _ = stream.shutdown(std::net::Shutdown::Both);
    shared.log(format_args!(
        "connection {id} {why}{}; {} requests{}",
        session
            .client_name()
            .map(|c| format!(" (client {c})"))
            .unwrap_or_default(),
        session.requests(),
        if aborted > 0 {
            format!("; {aborted} open transactions aborted")
        } else {
            String::new()
        }
    ));
}

fn serve(shared: &Shared, stream: &mut UnixStream, session: &mut Session) -> End {
    let mut reader = FrameReader::new();
    let write_half = match stream.try_clone() {
        Ok(s) => s,
        Err(e) => return End::WriteError(e),
    };
    let mut out = Out {
        buf: Vec::new(),
        stream: &write_half,
        limit: shared.opts.reply_buffer_bytes.max(1),
        shared,
    };
    let mut group = Vec::new();
    // When the partial frame now pending started to arrive. A request must arrive
    // whole within the idle timeout: bytes trickled one at a time do not keep a
    // connection (and its slot) alive without ever making a request.
    let mut partial_since: Option<Instant> = None;
    loop {
        let mut extracted = false;
        loop {
            match reader.next_frame() {
                Ok(Some((opcode, payload))) => {
                    extracted = true;
                    let res = match session.groupable(opcode, payload) {
                        Some(w) => {
                            group.push(w);
                            if group.len() >= MAX_GROUP {
                                session.commit_group(&mut group, &mut out)
                            } else {
                                Ok(())
                            }
                        }
                        None => session
                            .commit_group(&mut group, &mut out)
                            .and_then(|_| session.handle(opcode, payload, &mut out)),
                    };
                    if let Err(e) = res {
                        return End::WriteError(e);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let msg = e.to_string();
                    let _ = session.commit_group(&mut group, &mut out);
                    let _ = out.frame(session.error_opcode(), &session.error_payload(&e));
                    let _ = out.flush();
                    return End::BrokenFrame(msg);
                }
            }
        }
        if let Err(e) = session
            .commit_group(&mut group, &mut out)
            .and_then(|_| out.flush())
        {
            return End::WriteError(e);
        }
        if reader.pending() == 0 {
            partial_since = None;
        } else if extracted || partial_since.is_none() {
            partial_since = Some(Instant::now());
        }
        if let (Some(limit), Some(since)) = (shared.opts.idle_timeout, partial_since)
            && since.elapsed() >= limit
        {
            return End::SlowFrame;
        }
        match reader.fill_from(stream) {
            Ok(0) => {
                if shared.stopping.load(Ordering::SeqCst) {
                    return End::Shutdown;
                }
                if reader.pending() > 0 {
                    return End::BrokenFrame(format!(
                        "the stream ended inside a frame ({} bytes pending)",
                        reader.pending()
                    ));
                }
                return End::ClientClosed;
            }
            Ok(n) => {
                shared
                    .counters
                    .bytes_received
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return End::IdleTimeout;
            }
            Err(e) => {
                if shared.stopping.load(Ordering::SeqCst) {
                    return End::Shutdown;
                }
                return End::ReadError(e);
            }
        }
    }
}
