//! Byte encodings shared by the on-disk formats: little-endian fixed-width integers,
//! LEB128 varints, and a bounds-checked reader that never panics on bad input.

use std::fmt;

/// Why a byte sequence could not be decoded (a static description; the caller adds the
/// file and offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Appends `v` as 2 little-endian bytes.
pub fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as 4 little-endian bytes.
pub fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as 8 little-endian bytes.
pub fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as an unsigned LEB128 varint (7 bits per byte, low bits first, high bit
/// set on every byte but the last; 1 to 10 bytes).
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Number of bytes [`put_varint`] writes for `v`.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// A cursor over a byte slice; every read checks bounds and fails with a
/// [`DecodeError`] instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    /// The bytes being decoded.
    buf: &'a [u8],
    /// Position of the next byte to read.
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// A reader at `pos` in `buf`, or an error when `pos` is past the end.
    pub fn at(buf: &'a [u8], pos: usize) -> Result<Reader<'a>, DecodeError> {
        if pos > buf.len() {
            return Err(DecodeError("position past the end"));
        }
        Ok(Reader { buf, pos })
    }

    /// Position of the next byte to read.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError("length runs past the end"));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a 2-byte little-endian integer.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// Reads a 4-byte little-endian integer.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads an 8-byte little-endian integer.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes that fits in 64 bits.
    #[inline]
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        // Fast paths: lengths and small numbers take one byte, timestamps a few.
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if let Some(&b0) = rest.first()
            && b0 < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b0));
        }
        if let Some(&[b0, b1]) = rest.first_chunk::<2>()
            && b1 < 0x80
        {
            self.pos += 2;
            return Ok(u64::from(b0 & 0x7f) | u64::from(b1) << 7);
        }
        if let Some(&[b0, b1, b2]) = rest.first_chunk::<3>()
            && b1 >= 0x80
            && b2 < 0x80
        {
            self.pos += 3;
            return Ok(u64::from(b0 & 0x7f) | u64::from(b1 & 0x7f) << 7 | u64::from(b2) << 14);
        }
        self.varint_slow()
    }

    #[cold]
    fn varint_slow(&mut self) -> Result<u64, DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let mut v: u64 = 0;
        for (i, &b) in rest.iter().take(10).enumerate() {
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(DecodeError("varint overflows 64 bits"));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(v);
            }
        }
        if rest.len() < 10 {
            Err(DecodeError("length runs past the end"))
        } else {
            Err(DecodeError("varint longer than 10 bytes"))
        }
    }

    /// Reads a varint that must fit in `usize` and be at most `max`.
    #[inline]
    pub fn varint_len(&mut self, max: usize) -> Result<usize, DecodeError> {
        let v = self.varint()?;
        match usize::try_from(v) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(DecodeError("length field too large")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_width() {
        let mut values = vec![0u64, 1, 127, 128, 255, 300, 16_383, 16_384, u64::MAX];
        for shift in 0..64 {
            values.push(1u64 << shift);
            values.push((1u64 << shift) - 1);
        }
        for v in values {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v));
            let mut r = Reader::new(&buf);
            assert_eq!(r.varint(), Ok(v));
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn varints_after_other_bytes_and_cut_short() {
        for v in [
            0u64,
            5,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            u64::MAX,
        ] {
            let mut buf = vec![0xaa, 0x01];
            put_varint(&mut buf, v);
            buf.push(0x7f);
            let mut r = Reader::at(&buf, 2).unwrap();
            assert_eq!(r.varint(), Ok(v));
            assert_eq!(r.u8(), Ok(0x7f));
            for cut in 3..buf.len() - 1 {
                let mut r = Reader::at(&buf[..cut], 2).unwrap();
                assert!(r.varint().is_err(), "{v} cut at {cut}");
            }
        }
    }

    #[test]
    fn bad_varints_and_short_reads_are_errors() {
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert!(Reader::new(&too_big).varint().is_err());
        assert!(Reader::new(&[1, 2, 3]).u32().is_err());
        assert!(Reader::new(&[1, 2, 3]).bytes(4).is_err());
        assert!(Reader::at(&[1], 2).is_err());
        let mut r = Reader::new(&[5]);
        assert!(r.varint_len(4).is_err());
    }

    #[test]
    fn fixed_width_is_little_endian() {
        let mut buf = Vec::new();
        put_u16(&mut buf, 0x0102);
        put_u32(&mut buf, 0x0304_0506);
        put_u64(&mut buf, 0x0708_090a_0b0c_0d0e);
        assert_eq!(
            buf,
            [2, 1, 6, 5, 4, 3, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 9, 8, 7]
        );
        let mut r = Reader::new(&buf);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u32(), Ok(0x0304_0506));
        assert_eq!(r.u64(), Ok(0x0708_090a_0b0c_0d0e));
    }
}
