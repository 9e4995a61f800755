//! Frames: `u8 opcode`, `u32 length` (little-endian), then `length` payload bytes.
//!
//! [`FrameReader`] decodes frames incrementally from whatever bytes have arrived. It
//! checks an announced length against [`MAX_PAYLOAD`] as soon as the five header bytes
//! are there, and only grows its buffer as payload bytes actually arrive, so a peer that
//! announces a huge frame makes it allocate nothing.

use std::io::{self, Read};

use super::{HEADER_LEN, MAX_PAYLOAD};
use crate::error::{Error, Result};

/// Bytes read from the stream at a time when no larger frame is pending.
const READ_CHUNK: usize = 64 * 1024;
/// A buffer larger than this is given back when it empties (after a large frame).
const KEEP_CAPACITY: usize = 256 * 1024;

/// The five header bytes of a frame.
pub fn header(opcode: u8, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_le_bytes();
    [opcode, l[0], l[1], l[2], l[3]]
}

/// Appends a whole frame to `out`; `TooLarge` when the payload exceeds [`MAX_PAYLOAD`].
pub fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) -> Result<()> {
    let len = check_len(payload.len())?;
    out.extend_from_slice(&header(opcode, len));
    out.extend_from_slice(payload);
    Ok(())
}

/// Starts a frame in `out` whose payload the caller appends next; finish it with
/// [`end_frame`]. Returns the offset of the header.
pub fn begin_frame(out: &mut Vec<u8>, opcode: u8) -> usize {
    let at = out.len();
    out.extend_from_slice(&header(opcode, 0));
    at
}

/// Writes the payload length of the frame started at `at` by [`begin_frame`]. On
/// `TooLarge` the partial frame is removed from `out`.
pub fn end_frame(out: &mut Vec<u8>, at: usize) -> Result<()> {
    let len = out.len() - at - HEADER_LEN;
    match check_len(len) {
        Ok(l) => {
            out[at + 1..at + HEADER_LEN].copy_from_slice(&l.to_le_bytes());
            Ok(())
        }
        Err(e) => {
            out.truncate(at);
            Err(e)
        }
    }
}

fn check_len(len: usize) -> Result<u32> {
    if len > MAX_PAYLOAD {
        return Err(Error::TooLarge(format!(
            "frame payload of {len} bytes exceeds the maximum of {MAX_PAYLOAD}"
        )));
    }
    u32::try_from(len).map_err(|_| Error::TooLarge(format!("frame payload of {len} bytes")))
}

/// Parses the header at the front of `buf`: `Ok(None)` when fewer than five bytes are
/// there, the opcode and announced length otherwise, or `TooLarge` for an announced
/// length over [`MAX_PAYLOAD`].
pub fn parse_header(buf: &[u8]) -> Result<Option<(u8, usize)>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(Error::TooLarge(format!(
            "frame with opcode 0x{:02x} announces {len} payload bytes; the maximum is {MAX_PAYLOAD}",
            buf[0]
        )));
    }
    Ok(Some((buf[0], len)))
}

/// An incremental frame decoder over a byte stream.
#[derive(Debug, Default)]
pub struct FrameReader {
    /// Buffer; bytes `start..end` are received and not yet consumed, the rest is spare.
    buf: Vec<u8>,
    /// Offset of the first unconsumed byte.
    start: usize,
    /// Offset one past the last received byte.
    end: usize,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// The bytes received but not yet consumed as frames.
    pub fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Bytes of memory the buffer holds (for tests of the allocation bound).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends received bytes (used by tests and by callers that read themselves).
    pub fn extend(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.truncate(self.end);
        self.buf.extend_from_slice(bytes);
        self.end = self.buf.len();
    }

    /// The next complete frame as `(opcode, payload)`, `Ok(None)` when more bytes are
    /// needed, or `TooLarge` when the pending header announces too much (the stream
    /// cannot be resynchronised after that; close it).
    pub fn next_frame(&mut self) -> Result<Option<(u8, &[u8])>> {
        let Some((_, len)) = self.peek_header()? else {
            return Ok(None);
        };
        let from = self.start + HEADER_LEN;
        self.start = from + len;
        Ok(Some((
            self.buf[from - HEADER_LEN],
            &self.buf[from..from + len],
        )))
    }

    /// The next complete frame like [`FrameReader::next_frame`], left in place: the
    /// same frame is returned again until [`FrameReader::consume_frame`].
    pub fn peek_frame(&self) -> Result<Option<(u8, &[u8])>> {
        let Some((opcode, len)) = self.peek_header()? else {
            return Ok(None);
        };
        let from = self.start + HEADER_LEN;
        Ok(Some((opcode, &self.buf[from..from + len])))
    }

    /// Drops the frame [`FrameReader::peek_frame`] returned (nothing when no complete
    /// frame is pending).
    pub fn consume_frame(&mut self) {
        if let Ok(Some((_, len))) = self.peek_header() {
            self.start += HEADER_LEN + len;
        }
    }

    /// The header of the next frame when the whole frame has arrived.
    fn peek_header(&self) -> Result<Option<(u8, usize)>> {
        let pending = &self.buf[self.start..self.end];
        match parse_header(pending)? {
            Some((opcode, len)) if pending.len() >= HEADER_LEN + len => Ok(Some((opcode, len))),
            _ => Ok(None),
        }
    }

    /// Reads once from `r` into the buffer and returns the bytes read (0 is the end of
    /// the stream). The buffer grows at most to twice the bytes already received (or a
    /// fixed chunk), never straight to a length a header merely announces.
    pub fn fill_from(&mut self, r: &mut impl Read) -> io::Result<usize> {
        self.fill(r).map(|(n, _)| n)
    }

    /// Like [`FrameReader::fill_from`], and also tells whether the read took less than
    /// the room offered: the source held no more bytes at that moment.
    pub fn fill(&mut self, r: &mut impl Read) -> io::Result<(usize, bool)> {
        self.compact();
        let pending = self.end - self.start;
        let missing = match parse_header(&self.buf[self.start..self.end]) {
            Ok(Some((_, len))) => (HEADER_LEN + len).saturating_sub(pending),
            _ => 0,
        };
        let want = missing.min(pending.max(READ_CHUNK)).max(READ_CHUNK);
        if self.buf.len() < self.end + want {
            self.buf.resize(self.end + want, 0);
        }
        let room = self.buf.len() - self.end;
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok((n, n < room))
    }

    /// Moves unconsumed bytes to the front, and gives back a large buffer once empty.
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }
}

/// Reads exactly one frame from a blocking stream (used by the client). `Ok(None)` at a
/// clean end of stream before any header byte; `Protocol` when the stream ends inside a
/// frame; `TooLarge` for an announced length over [`MAX_PAYLOAD`].
pub fn read_frame(r: &mut impl Read, what: &str) -> Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(Error::Protocol(format!(
                    "{what}: the stream ended inside a frame header"
                )));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(what, e)),
        }
    }
    let Some((opcode, len)) = parse_header(&head)? else {
        return Err(Error::Internal(
            "frame header of five bytes did not parse".into(),
        ));
    };
    let mut payload = Vec::new();
    let mut filled = 0;
    while filled < len {
        // Grow with the bytes that actually arrive, never straight to `len`.
        let step = (len - filled).min(READ_CHUNK * 16);
        payload.resize(filled + step, 0);
        match r.read(&mut payload[filled..filled + step]) {
            Ok(0) => {
                return Err(Error::Protocol(format!(
                    "{what}: the stream ended inside a frame ({filled} of {len} payload bytes)"
                )));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(what, e)),
        }
        payload.truncate(filled);
    }
    Ok(Some((opcode, payload)))
}

/// Maps a socket read or write error, naming timeouts as such.
pub fn io_error(what: &str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            Error::Timeout(format!("{what}: no answer within the time limit"))
        }
        _ => Error::io(what.to_string(), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_pieces() {
        let mut out = Vec::new();
        push_frame(&mut out, 0x01, b"hello").unwrap();
        let at = begin_frame(&mut out, 0x82);
        out.extend_from_slice(&[9; 300]);
        end_frame(&mut out, at).unwrap();
        push_frame(&mut out, 0x0E, b"").unwrap();
        let mut r = FrameReader::new();
        let mut seen = Vec::new();
        for b in &out {
            r.extend(std::slice::from_ref(b));
            while let Some((op, p)) = r.next_frame().unwrap() {
                seen.push((op, p.to_vec()));
            }
        }
        assert_eq!(
            seen,
            vec![
                (0x01, b"hello".to_vec()),
                (0x82, vec![9; 300]),
                (0x0E, vec![])
            ]
        );
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn a_peeked_frame_stays_until_consumed() {
        let mut out = Vec::new();
        push_frame(&mut out, 0x01, b"a").unwrap();
        push_frame(&mut out, 0x02, b"bc").unwrap();
        let mut r = FrameReader::new();
        r.extend(&out[..out.len() - 1]);
        assert_eq!(r.peek_frame().unwrap(), Some((0x01, &b"a"[..])));
        assert_eq!(r.peek_frame().unwrap(), Some((0x01, &b"a"[..])));
        r.consume_frame();
        assert_eq!(r.peek_frame().unwrap(), None);
        r.consume_frame();
        r.extend(&out[out.len() - 1..]);
        assert_eq!(r.next_frame().unwrap(), Some((0x02, &b"bc"[..])));
        assert_eq!(r.pending(), 0);
        let (n, drained) = r.fill(&mut &b"xyz"[..]).unwrap();
        assert_eq!((n, drained), (3, true));
    }

    #[test]
    fn oversized_header_is_refused_without_allocating() {
        let mut r = FrameReader::new();
        r.extend(&header(0x01, (MAX_PAYLOAD + 1) as u32));
        assert!(matches!(r.next_frame(), Err(Error::TooLarge(_))));
        let mut exact = FrameReader::new();
        exact.extend(&header(0x01, MAX_PAYLOAD as u32));
        assert!(exact.next_frame().unwrap().is_none());
        assert!(exact.capacity() < 1024);
    }

    #[test]
    fn read_frame_reports_truncation() {
        let mut out = Vec::new();
        push_frame(&mut out, 0x82, b"abcdef").unwrap();
        let mut whole = &out[..];
        assert_eq!(
            read_frame(&mut whole, "t").unwrap(),
            Some((0x82, b"abcdef".to_vec()))
        );
        let mut cut = &out[..7];
        assert!(matches!(read_frame(&mut cut, "t"), Err(Error::Protocol(_))));
        let mut empty: &[u8] = &[];
        assert!(read_frame(&mut empty, "t").unwrap().is_none());
        let big = header(0x82, u32::MAX);
        assert!(matches!(
            read_frame(&mut &big[..], "t"),
            Err(Error::TooLarge(_))
        ));
    }

    #[test]
    fn end_frame_rejects_oversized_payload() {
        let mut out = vec![1, 2];
        let at = begin_frame(&mut out, 0x82);
        out.resize(out.len() + MAX_PAYLOAD + 1, 0);
        assert!(matches!(end_frame(&mut out, at), Err(Error::TooLarge(_))));
        assert_eq!(out, vec![1, 2]);
    }
}
