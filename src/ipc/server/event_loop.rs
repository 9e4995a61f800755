//! An event loop: one thread that owns a set of connections and serves them in rounds.
//!
//! A round takes every connection with something to do (bytes arrived, room to write,
//! a worker's reply back, a commit answered), reads what has arrived, and decodes every
//! complete request in order: reads are answered at once, one-shot writes of every
//! connection go into the round's [`Combiner`], and long requests go to a worker (see
//! [`super::route`]). The round ends by handing the gathered writes to the
//! [`Committer`], which commits them (with whatever the other loops handed over
//! meanwhile) as ONE batch (one log append, one sync) while the loop goes on serving,
//! and with one `send` per connection of everything it has to receive; the writes'
//! replies come back through the loop's inbox once durable and go out with a later
//! round's sends. While a connection has a write not yet answered, its next request
//! other than another one-shot write of the same round waits for the commit, so a read
//! after a write sees it and replies keep request order; once its writes are handed
//! over, nothing more of it is decoded until they are answered, so its writes never sit
//! in two commits at once (their timestamps could come in either order).
//!
//! Sockets are non-blocking: a client that stops reading only fills its own reply
//! queue; once that holds [`super::ServerOptions::reply_buffer_bytes`] the connection's
//! requests wait, and after [`super::ServerOptions::write_timeout`] without progress it
//! is closed. Nothing a client does blocks the loop.

use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::combiner::{Acked, Combiner};
use super::committer::Committer;
use super::conn::{Conn, End};
use super::poller::{Epoll, HANGUP, READABLE, WRITABLE, Watch};
use super::route::{Route, route};
use super::session::Session;
use super::worker::{self, Done, Inbox, Job, Workers};
use super::{Shared, describe_peer, peer_allowed};
use crate::error::{Error, Result};
use crate::ipc::protocol::frame::push_frame;
use crate::ipc::protocol::rep;
use crate::ipc::sys;

/// The listening socket's token.
const LISTENER: u64 = u64::MAX;
/// The inbox's wake-up token.
const WAKE: u64 = u64::MAX - 1;
/// Requests one connection may have answered in a round before the others get theirs.
const ROUND_REQUESTS: usize = 1024;
/// Connections accepted per wake-up before the loop serves its others.
const ACCEPT_BURST: usize = 64;
/// How long accepting pauses after `accept` fails (out of descriptors, say).
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// One event loop's state.
pub(crate) struct EventLoop {
    /// The server.
    shared: Arc<Shared>,
    /// The listening socket (every loop accepts from it).
    listener: Arc<UnixListener>,
    /// Where workers return this loop's jobs (`peers[me]`).
    inbox: Arc<Inbox>,
    /// Every loop's inbox, this one's included, by loop number.
    peers: Arc<[Arc<Inbox>]>,
    /// This loop's number.
    me: usize,
    /// The server's worker pool.
    workers: Arc<Workers>,
    /// Readiness of the listener, the inbox and every connection.
    epoll: Epoll,
    /// Connections by slot (the slot is the `epoll` token).
    conns: Vec<Option<Conn>>,
    /// Slots free for reuse.
    free: Vec<usize>,
    /// Connections open in `conns`.
    live: usize,
    /// Connections to serve in the next round.
    ready: Vec<usize>,
    /// The list the round being served was taken from (kept for its allocation).
    spare: Vec<usize>,
    /// Connections with replies to send at the end of the round.
    dirty: Vec<usize>,
    /// The round's one-shot writes.
    combiner: Combiner,
    /// Commits the writes handed over.
    committer: Arc<Committer>,
    /// Submissions handed to the committer and not yet answered.
    in_flight: usize,
    /// The server's effective uid, for the peer check.
    server_uid: u32,
    /// The listener is watched.
    listening: bool,
    /// Accepting resumes at this time after a failure.
    accept_paused_until: Option<Instant>,
    /// Set when shutdown begins: the end of the grace period.
    draining_until: Option<Instant>,
    /// Set once the grace period ran out and every remaining connection was cut.
    cut: bool,
}

impl EventLoop {
    /// Loop number `me`, which accepts from `listener` (giving each connection to the
    /// loop of `peers` with the fewest), wakes on its inbox `peers[me]`, and hands its
    /// one-shot writes to `committer`.
    pub fn new(
        shared: Arc<Shared>,
        listener: Arc<UnixListener>,
        peers: Arc<[Arc<Inbox>]>,
        me: usize,
        workers: Arc<Workers>,
        committer: Arc<Committer>,
    ) -> Result<EventLoop> {
        let inbox = peers
            .get(me)
            .cloned()
            .ok_or_else(|| Error::InvalidArgument(format!("no event loop number {me}")))?;
        let epoll = Epoll::new().map_err(|e| Error::io("creating an epoll instance", e))?;
        epoll
            .add(listener.as_raw_fd(), Watch::ExclusiveReads, LISTENER)
            .map_err(|e| Error::io("watching the listening socket", e))?;
        epoll
            .add(inbox.wake().raw(), Watch::LevelReads, WAKE)
            .map_err(|e| Error::io("watching the loop's wake-up counter", e))?;
        Ok(EventLoop {
            shared,
            listener,
            inbox,
            peers,
            me,
            workers,
            epoll,
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            ready: Vec::new(),
            spare: Vec::new(),
            dirty: Vec::new(),
            combiner: Combiner::new(),
            committer,
            in_flight: 0,
            server_uid: sys::effective_uid(),
            listening: true,
            accept_paused_until: None,
            draining_until: None,
            cut: false,
        })
    }

    /// Serves until shutdown has closed every connection of this loop.
    pub fn run(mut self) -> Result<()> {
        let tick = self.tick();
        let mut events = Vec::new();
        let mut next_sweep = Instant::now() + tick;
        loop {
            let timeout = if self.ready.is_empty() {
                let mut until = next_sweep;
                if let Some(t) = self.accept_paused_until {
                    until = until.min(t);
                }
                if let Some(t) = self.draining_until.filter(|_| !self.cut) {
                    until = until.min(t);
                }
                let ms = until.saturating_duration_since(Instant::now()).as_millis();
                ms.min(i32::MAX as u128) as i32 + 1
            } else {
                0
            };
            let served = !events.is_empty();
            events.clear();
            // Not while writes are at the committer: their answers come after a sync,
            // later than a spin lasts, and the committer needs the processor meanwhile.
            if timeout != 0 && served && self.in_flight == 0 {
                self.spin(&mut events)?;
            }
            if events.is_empty() {
                self.epoll
                    .wait(&mut events, timeout)
                    .map_err(|e| Error::io("waiting for socket events", e))?;
            }
            for &(token, bits) in &events {
                self.event(token, bits);
            }
            if self.draining_until.is_none() && self.shared.stopping.load(Ordering::SeqCst) {
                self.begin_shutdown();
            }
            self.round();
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + tick;
            }
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.resume_accepting();
            }
            if let Some(deadline) = self.draining_until {
                if !self.cut && now >= deadline {
                    self.cut_all();
                }
                if self.live == 0 && self.in_flight == 0 {
                    return Ok(());
                }
            }
        }
    }

    /// Polls for events without sleeping for up to [`super::ServerOptions::spin`],
    /// unless another loop is already doing so; `events` is left empty when none came.
    fn spin(&self, events: &mut Vec<(u64, u32)>) -> Result<()> {
        let spin = self.shared.opts.spin;
        let token = &self.shared.spinning;
        if spin.is_zero()
            || token
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        let until = Instant::now() + spin;
        let polled = loop {
            if let Err(e) = self.epoll.wait(events, 0) {
                break Err(Error::io("polling for socket events", e));
            }
            if !events.is_empty() || Instant::now() >= until {
                break Ok(());
            }
            std::hint::spin_loop();
        };
        token.store(false, Ordering::Release);
        polled
    }

    /// How often timeouts are checked: a quarter of the shortest, within 5 to 250 ms.
    fn tick(&self) -> Duration {
        let o = &self.shared.opts;
        let mut t = o.write_timeout;
        if let Some(i) = o.idle_timeout {
            t = t.min(i);
        }
        (t / 4).clamp(Duration::from_millis(5), Duration::from_millis(250))
    }

    /// Records one readiness event.
    fn event(&mut self, token: u64, bits: u32) {
        match token {
            LISTENER => self.accept(),
            WAKE => {
                self.inbox.wake().drain();
                for done in self.inbox.take() {
                    self.job_done(done);
                }
                for stream in self.inbox.take_streams() {
                    if self.draining_until.is_some() {
                        // Shutdown began after it was accepted: it closes unserved.
                        self.leave();
                    } else {
                        self.admit(stream);
                    }
                }
                for acks in self.inbox.take_acks() {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.answer_writes(acks);
                }
            }
            slot => {
                let slot = slot as usize;
                let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                    return;
                };
                if bits & READABLE != 0 {
                    c.readable = true;
                }
                if bits & HANGUP != 0 {
                    c.hangup = true;
                }
                if bits & WRITABLE != 0 {
                    c.writable = true;
                }
                queue(c, &mut self.ready, slot);
            }
        }
    }

    /// Serves every connection that has something to do, commits the writes gathered,
    /// and sends every connection its replies.
    fn round(&mut self) {
        let mut ready = std::mem::replace(&mut self.ready, std::mem::take(&mut self.spare));
        for &slot in &ready {
            if let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                c.queued = false;
                self.serve(slot);
                if self.combiner.is_full() {
                    self.submit();
                }
            }
        }
        ready.clear();
        self.spare = ready;
        self.submit();
        self.send_replies();
    }

    /// Reads and answers what one connection sent, as far as it can go this round.
    fn serve(&mut self, slot: usize) {
        let limit = self.shared.opts.reply_buffer_bytes.max(1);
        let stopping = self.draining_until.is_some();
        let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if c.closing.is_some() || c.session.is_none() {
            return;
        }
        let mut answered = 0;
        let mut again = false;
        let end = loop {
            if c.committing {
                // Its writes are at the committer: nothing more until they are answered.
                break None;
            }
            if c.out.len() >= limit {
                // Resumes once the client has read enough.
                break None;
            }
            if answered >= ROUND_REQUESTS || self.combiner.is_full() {
                again = true;
                break None;
            }
            let frame = match c.reader.peek_frame() {
                Ok(f) => f,
                Err(e) => {
                    if c.writes_pending > 0 {
                        break None;
                    }
                    if let Some(s) = c.session.as_ref() {
                        c.out.frame(s.error_opcode(), &s.error_payload(&e));
                    }
                    break Some(End::BrokenFrame(e.to_string()));
                }
            };
            let Some((opcode, payload)) = frame else {
                if c.readable && !c.eof {
                    match c.read() {
                        Ok(n) => {
                            self.shared
                                .counters
                                .bytes_received
                                .fetch_add(n as u64, Ordering::Relaxed);
                            continue;
                        }
                        Err(end) => break Some(end),
                    }
                }
                if !c.eof || c.writes_pending > 0 {
                    break None;
                }
                if c.reader.pending() > 0 {
                    break Some(End::BrokenFrame(format!(
                        "the stream ended inside a frame ({} bytes pending)",
                        c.reader.pending()
                    )));
                }
                break Some(if stopping {
                    End::Shutdown
                } else {
                    End::ClientClosed
                });
            };
            let route = route(opcode, payload);
            if c.writes_pending > 0 && !matches!(route, Route::Combine(..)) {
                // After the round's commit.
                break None;
            }
            answered += 1;
            match route {
                Route::Combine(ops, ack) => {
                    c.reader.consume_frame();
                    self.combiner.add(slot, c.id, ops, ack);
                    c.writes_pending += 1;
                }
                Route::Get => {
                    if let Some(s) = c.session.as_mut() {
                        s.get_v1(payload, &mut c.out);
                    }
                    c.reader.consume_frame();
                }
                Route::Inline => {
                    if let Some(s) = c.session.as_mut() {
                        s.handle(opcode, payload, &mut c.out);
                    }
                    c.reader.consume_frame();
                }
                Route::Worker => {
                    let payload = payload.to_vec();
                    c.reader.consume_frame();
                    let Some(session) = c.session.take() else {
                        break None;
                    };
                    let job = Job {
                        slot,
                        id: c.id,
                        session,
                        opcode,
                        payload,
                        inbox: Arc::clone(&self.inbox),
                    };
                    if let Err(job) = self.workers.submit(job) {
                        // No worker thread could be started: answer here.
                        worker::run(job);
                    }
                    break None;
                }
            }
        };
        let now = Instant::now();
        if answered > 0 {
            c.last_request = now;
        }
        let partial = c.reader.pending() > 0 && matches!(c.reader.peek_frame(), Ok(None));
        if !partial {
            c.partial_since = None;
        } else if answered > 0 || c.partial_since.is_none() {
            c.partial_since = Some(now);
        }
        if !c.out.is_empty() {
            mark_dirty(c, &mut self.dirty, slot);
        }
        if again {
            queue(c, &mut self.ready, slot);
        }
        if let Some(end) = end {
            self.finish(slot, end);
        }
    }

    /// Hands the gathered one-shot writes to the committer; their connections take no
    /// more requests until the answer is back. A loop serving a single connection
    /// commits here instead (no one else could be served meanwhile, and the hand-over
    /// would only add two thread wake-ups to the connection's wait).
    fn submit(&mut self) {
        if self.combiner.is_empty() {
            return;
        }
        if self.live <= 1 {
            let backend = Arc::clone(&self.shared.backend);
            let mut acks = Vec::with_capacity(self.combiner.requests());
            let commits = self.combiner.commit(&*backend, |a| acks.push(a));
            self.shared
                .counters
                .write_commits
                .fetch_add(commits, Ordering::Relaxed);
            self.answer_writes(acks);
            return;
        }
        for (slot, id) in self.combiner.connections() {
            if let Some(c) = self
                .conns
                .get_mut(slot)
                .and_then(Option::as_mut)
                .filter(|c| c.id == id)
            {
                c.committing = true;
            }
        }
        let writes = std::mem::take(&mut self.combiner);
        self.committer.submit(writes, Arc::clone(&self.inbox));
        self.in_flight += 1;
    }

    /// Queues the replies of committed writes; a connection whose writes are all
    /// answered goes on with its requests held behind them.
    fn answer_writes(&mut self, acks: Vec<Acked>) {
        for a in acks {
            let Some(c) = self
                .conns
                .get_mut(a.slot)
                .and_then(Option::as_mut)
                .filter(|c| c.id == a.id)
            else {
                // Closed meanwhile (the slot may have a new tenant).
                continue;
            };
            if c.writes_pending == 0 {
                continue;
            }
            c.writes_pending -= 1;
            if let Some(s) = c.session.as_mut() {
                s.write_done(a.ack, a.outcome, &mut c.out);
            }
            mark_dirty(c, &mut self.dirty, a.slot);
            if c.writes_pending == 0 {
                c.committing = false;
                queue(c, &mut self.ready, a.slot);
            }
        }
    }

    /// Sends every connection with new replies what it has queued, one `send` each.
    fn send_replies(&mut self) {
        let limit = self.shared.opts.reply_buffer_bytes.max(1);
        let now = Instant::now();
        let mut dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            c.dirty = false;
            if let Some(s) = c.session.as_mut() {
                s.flush_counts();
            }
            let before = c.out.len();
            match c.flush(now) {
                Ok(n) => {
                    self.shared
                        .counters
                        .bytes_sent
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(end) => {
                    self.close(slot, end);
                    continue;
                }
            }
            let waiting = !c.out.is_empty();
            if waiting != c.watching_out {
                let watch = if waiting {
                    Watch::ReadsAndWrites
                } else {
                    Watch::Reads
                };
                match self.epoll.modify(c.stream.as_raw_fd(), watch, slot as u64) {
                    Ok(()) => c.watching_out = waiting,
                    Err(e) => {
                        self.close(slot, End::WriteError(e));
                        continue;
                    }
                }
            }
            if c.closing.is_some() {
                if !waiting {
                    let end = c.closing.take().unwrap_or(End::ClientClosed);
                    self.close(slot, end);
                }
            } else if before >= limit && c.out.len() < limit {
                // It stopped answering for a full queue: it goes on.
                queue(c, &mut self.ready, slot);
            }
        }
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    /// A worker finished a request: the session and its reply come back.
    fn job_done(&mut self, done: Done) {
        let Done {
            slot,
            id,
            mut session,
            out,
            panicked,
        } = done;
        let Some(c) = self
            .conns
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|c| c.id == id && c.session.is_none())
        else {
            // Not reachable: a connection with a job out is never released.
            session.close();
            return;
        };
        c.session = Some(session);
        c.out.append(out);
        c.last_request = Instant::now();
        mark_dirty(c, &mut self.dirty, slot);
        queue(c, &mut self.ready, slot);
        if panicked {
            self.close(slot, End::Panicked);
        } else if let Some(end) = c.closing.take() {
            self.close(slot, end);
        }
    }

    /// Ends a connection: at once, or once its queued replies are sent when the end
    /// is graceful.
    fn finish(&mut self, slot: usize, end: End) {
        let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if end.graceful() && !c.out.is_empty() {
            c.closing = Some(end);
            mark_dirty(c, &mut self.dirty, slot);
        } else {
            self.close(slot, end);
        }
    }

    /// Closes a connection now, aborting its open transactions. One whose session is at
    /// a worker is cut off and closed when the session comes back.
    fn close(&mut self, slot: usize, end: End) {
        let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
        if c.session.is_none() {
            c.closing = Some(end);
            return;
        }
        let Some(mut c) = self.conns[slot].take() else {
            return;
        };
        self.free.push(slot);
        self.live -= 1;
        self.leave();
        let aborted = c.session.as_mut().map_or(0, |s| s.close());
        let counters = &self.shared.counters;
        match &end {
            End::IdleTimeout | End::SlowFrame => {
                counters.idle_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            End::BrokenFrame(_) => {
                counters.broken_frames.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        counters.connections_active.fetch_sub(1, Ordering::Relaxed);
        if self.shared.opts.log {
            let (client, requests) = c
                .session
                .as_ref()
                .map(|s| (s.client_name().map(str::to_string), s.requests()))
                .unwrap_or_default();
            self.shared.log(format_args!(
                "connection {} {}{}; {requests} requests{}",
                c.id,
                end.describe(),
                client.map(|c| format!(" (client {c})")).unwrap_or_default(),
                if aborted > 0 {
                    format!("; {aborted} open transactions aborted")
                } else {
                    String::new()
                }
            ));
        }
    }

    /// Closes connections past their idle or write timeout.
    fn sweep(&mut self, now: Instant) {
        let write_timeout = self.shared.opts.write_timeout;
        let idle = self.shared.opts.idle_timeout;
        for slot in 0..self.conns.len() {
            let Some(c) = self.conns[slot].as_ref() else {
                continue;
            };
            if c.session.is_none() {
                // A worker answers it: not idle.
                continue;
            }
            let end = if let Some(since) = c.stalled_since.filter(|_| !c.out.is_empty()) {
                let waited = now.saturating_duration_since(since);
                (waited >= write_timeout).then_some(End::WriteTimeout(waited))
            } else if c.closing.is_some() {
                None
            } else if let Some(limit) = idle {
                match c.partial_since {
                    Some(since) if now.saturating_duration_since(since) >= limit => {
                        Some(End::SlowFrame)
                    }
                    _ if c.out.is_empty()
                        && c.writes_pending == 0
                        && c.reader.pending() == 0
                        && now.saturating_duration_since(c.last_request) >= limit =>
                    {
                        Some(End::IdleTimeout)
                    }
                    _ => None,
                }
            } else {
                None
            };
            if let Some(end) = end {
                self.close(slot, end);
            }
        }
    }

    /// Accepts waiting connections.
    fn accept(&mut self) {
        if !self.listening {
            return;
        }
        for _ in 0..ACCEPT_BURST {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let to = self.least_loaded();
                    if let Some(n) = self.shared.loop_connections.get(to) {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    match self.peers.get(to) {
                        Some(peer) if to != self.me => peer.hand_over(stream),
                        _ => self.admit(stream),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors or memory: say so, pause, keep serving.
                    self.shared
                        .log(format_args!("accept failed: {e}; retrying"));
                    let _ = self.epoll.remove(self.listener.as_raw_fd());
                    self.listening = false;
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    /// The loop with the fewest connections assigned (this one on a tie), so that
    /// connections accepted in a burst spread over every loop.
    fn least_loaded(&self) -> usize {
        let counts = &self.shared.loop_connections;
        let mut best = self.me;
        let mut fewest = counts.get(self.me).map_or(0, |n| n.load(Ordering::Relaxed));
        for (i, n) in counts.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n < fewest {
                best = i;
                fewest = n;
            }
        }
        best
    }

    /// A connection assigned to this loop is gone (closed, or refused).
    fn leave(&self) {
        if let Some(n) = self.shared.loop_connections.get(self.me) {
            n.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Watches the listener again after a pause.
    fn resume_accepting(&mut self) {
        self.accept_paused_until = None;
        if self.draining_until.is_some() || self.listening {
            return;
        }
        if self
            .epoll
            .add(self.listener.as_raw_fd(), Watch::ExclusiveReads, LISTENER)
            .is_ok()
        {
            self.listening = true;
        } else {
            self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
        }
    }

    /// Checks a new connection assigned to this loop (counted in its share of
    /// `loop_connections`) and takes it on, or refuses it with an ERROR frame.
    fn admit(&mut self, stream: UnixStream) {
        if !self.take_on(stream) {
            self.leave();
        }
    }

    /// [`EventLoop::admit`]'s work: false when the connection was refused.
    fn take_on(&mut self, stream: UnixStream) -> bool {
        let shared = &self.shared;
        let counters = &shared.counters;
        let id = shared.next_conn_id.fetch_add(1, Ordering::Relaxed) + 1;
        let peer = match sys::peer_cred(&stream) {
            Ok(p) => p,
            Err(e) => {
                shared.log(format_args!(
                    "connection {id} refused: reading its credentials failed: {e}"
                ));
                return false;
            }
        };
        let allowed = &shared.opts.allowed_uids;
        if !peer_allowed(peer.uid, self.server_uid, allowed) {
            counters.connections_refused.fetch_add(1, Ordering::Relaxed);
            shared.log(format_args!(
                "connection {id} refused: uid {} (pid {}) is not allowed",
                peer.uid, peer.pid
            ));
            refuse(
                &stream,
                &format!(
                    "Permission denied: uid {} may not use this server (allowed: uid {}{})",
                    peer.uid,
                    self.server_uid,
                    allowed.iter().map(|u| format!(", {u}")).collect::<String>()
                ),
            );
            return false;
        }
        let max = shared.opts.max_connections as u64;
        if counters.connections_active.fetch_add(1, Ordering::Relaxed) >= max {
            counters.connections_active.fetch_sub(1, Ordering::Relaxed);
            counters.connections_refused.fetch_add(1, Ordering::Relaxed);
            shared.log(format_args!(
                "connection {id} refused: the limit of {max} connections is reached"
            ));
            refuse(
                &stream,
                &format!("Server busy: the limit of {max} connections is reached; try again later"),
            );
            return false;
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let watched = stream.set_nonblocking(true).and_then(|()| {
            self.epoll
                .add(stream.as_raw_fd(), Watch::Reads, slot as u64)
        });
        if let Err(e) = watched {
            counters.connections_active.fetch_sub(1, Ordering::Relaxed);
            self.free.push(slot);
            shared.log(format_args!("connection {id} refused: {e}"));
            refuse(&stream, &format!("Server error: {e}"));
            return false;
        }
        counters.connections_total.fetch_add(1, Ordering::Relaxed);
        shared.log(format_args!(
            "connection {id} opened by {}",
            describe_peer(&peer)
        ));
        let session = Box::new(Session::new(Arc::clone(shared), id));
        let mut c = Conn::new(id, stream, session);
        queue(&mut c, &mut self.ready, slot);
        self.conns[slot] = Some(c);
        self.live += 1;
        true
    }

    /// Shutdown begins: no more accepting; every connection's reading side is shut, so
    /// requests already received are answered and then each connection ends.
    fn begin_shutdown(&mut self) {
        let grace = self.shared.opts.shutdown_grace;
        self.draining_until = Some(Instant::now() + grace);
        self.accept_paused_until = None;
        if self.listening {
            let _ = self.epoll.remove(self.listener.as_raw_fd());
            self.listening = false;
        }
        if self.live > 0 {
            self.shared.log(format_args!(
                "shutting down: closing {} connections",
                self.live
            ));
        }
        for slot in 0..self.conns.len() {
            if let Some(c) = self.conns[slot].as_mut() {
                let _ = c.stream.shutdown(std::net::Shutdown::Read);
                c.readable = true;
                c.hangup = true;
                queue(c, &mut self.ready, slot);
            }
        }
    }

    /// The grace period is over: every connection still open is cut.
    fn cut_all(&mut self) {
        self.cut = true;
        for slot in 0..self.conns.len() {
            if self.conns[slot].is_some() {
                self.close(slot, End::Cut);
            }
        }
    }
}

/// Puts a connection on the list to serve in the next round (once).
fn queue(c: &mut Conn, ready: &mut Vec<usize>, slot: usize) {
    if !c.queued {
        c.queued = true;
        ready.push(slot);
    }
}

/// Puts a connection on the list to send replies to at the end of the round (once).
fn mark_dirty(c: &mut Conn, dirty: &mut Vec<usize>, slot: usize) {
    if !c.dirty {
        c.dirty = true;
        dirty.push(slot);
    }
}

/// Sends a version 1 ERROR frame to a connection about to be closed (without waiting:
/// a fresh socket always has room for it).
fn refuse(stream: &UnixStream, message: &str) {
    let mut frame = Vec::new();
    if push_frame(&mut frame, rep::ERROR, message.as_bytes()).is_ok()
        && stream.set_nonblocking(true).is_ok()
    {
        let _ = sys::send_some(stream, &frame);
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
