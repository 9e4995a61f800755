//! Reply frames encoded for one connection and not yet sent.
//!
//! Replies accumulate here while a round of requests is answered; the event loop sends
//! the whole queue with one `send` per connection per round, and keeps whatever the
//! socket did not take for when it becomes writable again.

use crate::error::Result;
use crate::ipc::protocol::frame::{begin_frame, end_frame, push_frame};
use crate::ipc::protocol::rep;

/// A queue of encoded reply frames.
#[derive(Debug, Default)]
pub(crate) struct Out {
    /// Encoded frames; bytes before `sent` have been sent.
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already sent.
    sent: usize,
}

/// Capacity kept for the next round once the queue is empty.
const KEEP_CAPACITY: usize = 256 * 1024;

impl Out {
    /// An empty queue.
    pub fn new() -> Out {
        Out::default()
    }

    /// Queues a reply frame.
    pub fn frame(&mut self, opcode: u8, payload: &[u8]) {
        if let Err(e) = push_frame(&mut self.buf, opcode, payload) {
            // Only reachable with an oversized payload, which callers check first;
            // answer with the error rather than a broken frame.
            let msg = e.to_string();
            let _ = push_frame(&mut self.buf, rep::ERROR, msg.as_bytes());
        }
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

    /// Bytes queued and not yet sent.
    pub fn len(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// True when nothing waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes waiting to be sent.
    pub fn unsent(&self) -> &[u8] {
        &self.buf[self.sent..]
    }

    /// Records that the first `n` unsent bytes went out.
    pub fn advance(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.buf.len());
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        }
    }

    /// Appends another queue's unsent bytes (replies encoded away from the loop).
    pub fn append(&mut self, other: Out) {
        if self.is_empty() {
            *self = other;
        } else {
            self.buf.extend_from_slice(other.unsent());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Out;

    #[test]
    fn sends_in_parts_and_appends_in_order() {
        let mut a = Out::new();
        a.frame(0x80, b"one");
        assert_eq!(a.len(), 8);
        a.advance(3);
        assert_eq!(a.unsent(), &[0, 0, b'o', b'n', b'e']);
        let mut b = Out::new();
        b.frame(0x80, b"");
        a.append(b);
        assert_eq!(a.len(), 5 + 5);
        a.advance(10);
        assert!(a.is_empty());
        let mut c = Out::new();
        let mut d = Out::new();
        d.frame(0x86, b"");
        c.append(d);
        assert_eq!(c.unsent(), &[0x86, 0, 0, 0, 0]);
    }
}
