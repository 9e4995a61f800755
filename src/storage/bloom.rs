//! A Bloom filter over user keys, used by block files to skip point lookups of absent
//! keys.
//!
//! Hash: [`bloom_hash`] is 64-bit FNV-1a over the key bytes (offset basis
//! `0xcbf29ce484222325`, prime `0x100000001b3`), followed by the MurmurHash3 `fmix64`
//! finalizer so that every output bit depends on every input bit.
//!
//! Layout (a blocked filter: every probe of a key falls in one 64-byte cache line, so a
//! lookup costs one memory access): the bit array is `b` blocks of 512 bits. With `h` the
//! 64-bit hash, the key's block is `(h >> 32) * b >> 32` (the high half of the hash
//! scaled to `0..b`). With `lo = h mod 2^32` and `delta = lo.rotate_right(17)` (32-bit),
//! probe `i` (for `i` in `0..k`) tests bit `(lo + i * delta) mod 512` of that block
//! (32-bit wrapping arithmetic). Bit `j` of block `n` is bit `j % 8` (least significant
//! first) of byte `64 * n + j / 8`.
//!
//! Encoding: the `64 * b` bytes of the bit array, then one byte `k` (1..=30). An encoding
//! of one byte (`k` only, no blocks) is the filter of an empty key set and matches
//! nothing.

use crate::storage::coding::DecodeError;

/// Bits per key used by default: about a 1% false-positive rate with 7 probes.
pub const DEFAULT_BITS_PER_KEY: usize = 10;

/// The 64-bit hash the filter uses (FNV-1a 64, then the `fmix64` finalizer).
pub fn bloom_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The number of probes for a bits-per-key setting: `round(bits_per_key * ln 2)`,
/// clamped to `1..=30`.
pub fn probes_for(bits_per_key: usize) -> u8 {
    let k = (bits_per_key as f64 * std::f64::consts::LN_2).round();
    k.clamp(1.0, 30.0) as u8
}

/// Bytes of one filter block (a cache line).
const BLOCK_BYTES: usize = 64;

/// The byte offsets and bit masks of the `k` probes of hash `h` in a filter of
/// `blocks` blocks.
fn probes(h: u64, k: u8, blocks: usize) -> impl Iterator<Item = (usize, u8)> {
    let block = (((h >> 32) * blocks as u64) >> 32) as usize;
    let lo = h as u32;
    let delta = lo.rotate_right(17);
    (0..u32::from(k)).map(move |i| {
        let bit = (lo.wrapping_add(i.wrapping_mul(delta)) % 512) as usize;
        (block * BLOCK_BYTES + bit / 8, 1u8 << (bit % 8))
    })
}

/// Collects key hashes and produces an encoded filter.
#[derive(Debug, Clone)]
pub struct BloomBuilder {
    /// Hashes of the keys added so far.
    hashes: Vec<u64>,
    /// Bits of filter per key.
    bits_per_key: usize,
}

impl BloomBuilder {
    /// A builder using `bits_per_key` bits per key (at least 1).
    pub fn new(bits_per_key: usize) -> BloomBuilder {
        BloomBuilder {
            hashes: Vec::new(),
            bits_per_key: bits_per_key.max(1),
        }
    }

    /// Adds a key (callers add each distinct key once).
    pub fn add_key(&mut self, key: &[u8]) {
        self.hashes.push(bloom_hash(key));
    }

    /// Number of keys added.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True when no key was added.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The encoded filter of the keys added.
    pub fn finish(&self) -> Vec<u8> {
        let k = probes_for(self.bits_per_key);
        if self.hashes.is_empty() {
            return vec![k];
        }
        let bits = self.hashes.len().saturating_mul(self.bits_per_key);
        let blocks = bits.div_ceil(BLOCK_BYTES * 8).max(1);
        let bytes = blocks * BLOCK_BYTES;
        let mut out = vec![0u8; bytes + 1];
        for &h in &self.hashes {
            for (byte, mask) in probes(h, k, blocks) {
                out[byte] |= mask;
            }
        }
        out[bytes] = k;
        out
    }
}

/// A decoded filter, ready for lookups.
#[derive(Debug, Clone)]
pub struct BloomFilter {
    /// The bit array.
    bits: Vec<u8>,
    /// Number of probes.
    k: u8,
}

impl BloomFilter {
    /// Decodes a filter produced by [`BloomBuilder::finish`].
    pub fn decode(encoded: &[u8]) -> Result<BloomFilter, DecodeError> {
        let Some((&k, bits)) = encoded.split_last() else {
            return Err(DecodeError("empty bloom filter block"));
        };
        if !(1..=30).contains(&k) {
            return Err(DecodeError("bloom filter probe count out of range"));
        }
        if bits.len() % BLOCK_BYTES != 0 {
            return Err(DecodeError(
                "bloom filter size is not a whole number of blocks",
            ));
        }
        Ok(BloomFilter {
            bits: bits.to_vec(),
            k,
        })
    }

    /// False when `key` was certainly not added; true when it may have been.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(bloom_hash(key))
    }

    /// [`BloomFilter::may_contain`] for a hash computed with [`bloom_hash`].
    pub fn may_contain_hash(&self, h: u64) -> bool {
        if self.bits.is_empty() {
            return false;
        }
        let blocks = self.bits.len() / BLOCK_BYTES;
        probes(h, self.k, blocks).all(|(byte, mask)| self.bits[byte] & mask != 0)
    }

    /// Bytes of memory the bit array uses.
    pub fn memory_bytes(&self) -> usize {
        self.bits.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> Vec<u8> {
        format!("user/{i:012}").into_bytes()
    }

    #[test]
    fn no_false_negatives_and_low_false_positive_rate() {
        let mut b = BloomBuilder::new(DEFAULT_BITS_PER_KEY);
        for i in 0..20_000 {
            b.add_key(&key(i));
        }
        let f = BloomFilter::decode(&b.finish()).unwrap();
        assert!((0..20_000).all(|i| f.may_contain(&key(i))));
        let fp = (20_000..120_000)
            .filter(|&i| f.may_contain(&key(i)))
            .count();
        let rate = fp as f64 / 100_000.0;
        assert!(rate < 0.02, "false-positive rate {rate}");
    }

    #[test]
    fn empty_filter_matches_nothing_and_bad_encodings_fail() {
        let f = BloomFilter::decode(&BloomBuilder::new(10).finish()).unwrap();
        assert!(!f.may_contain(b""));
        assert!(BloomFilter::decode(&[]).is_err());
        assert!(BloomFilter::decode(&[0, 0, 0]).is_err());
        assert!(BloomFilter::decode(&[0, 0, 7]).is_err(), "not whole blocks");
        let mut b = BloomBuilder::new(10);
        b.add_key(b"x");
        assert_eq!(b.finish().len(), 65);
        assert!(BloomFilter::decode(&[0, 31]).is_err());
    }

    #[test]
    fn hash_is_stable() {
        // The on-disk format depends on these exact values (computed independently).
        assert_eq!(bloom_hash(b""), 0xefd0_1f60_ba99_2926);
        assert_eq!(bloom_hash(b"a"), 0x82a2_a958_a9be_ce5b);
        assert_eq!(bloom_hash(b"sochdb"), 0xcea2_2e7f_ec08_89dc);
        assert_eq!(probes_for(10), 7);
        assert_eq!(probes_for(0), 1);
    }
}
