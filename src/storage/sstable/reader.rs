//! Opens a block file, answers point lookups, and hands out iterators.

use std::cmp::Ordering;
use std::fmt::Display;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::storage::bloom::{BloomFilter, bloom_hash};
use crate::storage::cache::BlockCache;
use crate::storage::entry::cmp_internal;
use crate::storage::sstable::block::{Block, BlockCursor};
use crate::storage::sstable::compression::{BLOCK_RAW, block_contents};
use crate::storage::sstable::file::BlockSource;
use crate::storage::sstable::footer::{BlockHandle, FOOTER_LEN, Footer};
use crate::storage::sstable::index::{FlatIndex, decode_index};
use crate::storage::sstable::iter::TableIter;
use crate::storage::sstable::props::Properties;

/// An open, validated block file. Shared between readers through an `Arc`.
pub struct Table {
    /// The file.
    source: Arc<dyn BlockSource>,
    /// The file's number (the block cache key).
    file_id: u64,
    /// The decoded footer.
    footer: Footer,
    /// The index, one entry per data block, in flat form.
    index: FlatIndex,
    /// The Bloom filter over user keys.
    bloom: BloomFilter,
    /// The properties block.
    props: Properties,
    /// The shared block cache, if any.
    cache: Option<Arc<BlockCache>>,
}

/// What [`Table::verify`] checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifySummary {
    /// Data blocks read and checked.
    pub blocks: u64,
    /// Of those, the blocks stored compressed (each decompressed and checked).
    pub compressed_blocks: u64,
    /// Versions read and checked.
    pub entries: u64,
    /// Bytes of the file.
    pub bytes: u64,
}

impl Table {
    /// Opens the block file `source` known as `file_id`: reads and checks the footer,
    /// index, filter and properties. Data blocks are read (and checked) on demand,
    /// through `cache` when given.
    pub fn open(
        source: Arc<dyn BlockSource>,
        file_id: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Arc<Table>> {
        let len = source.len();
        let name = source.name().to_string();
        if len < FOOTER_LEN as u64 {
            return Err(Error::Corruption(format!(
                "block file {name}: {len} bytes is shorter than a footer"
            )));
        }
        let footer_at = len - FOOTER_LEN as u64;
        let mut buf = vec![0u8; FOOTER_LEN];
        source.read_at(footer_at, &mut buf)?;
        let footer = Footer::decode(&buf, len).map_err(|e| {
            Error::Corruption(format!(
                "block file {name}: footer at offset {footer_at}: {e}"
            ))
        })?;
        let corrupt = |offset: u64, what: &str, why: &dyn Display| {
            Error::Corruption(format!(
                "block file {name}: {what} at offset {offset}: {why}"
            ))
        };
        let src = source.as_ref();
        let raw = read_checked(src, footer.index, footer.version, "index block")?;
        let index = decode_index(&raw, footer.index.offset)
            .map_err(|e| corrupt(footer.index.offset, "index block", &e))?;
        let raw = read_checked(src, footer.filter, footer.version, "filter block")?;
        let bloom = BloomFilter::decode(&raw)
            .map_err(|e| corrupt(footer.filter.offset, "filter block", &e))?;
        let raw = read_checked(src, footer.props, footer.version, "properties block")?;
        let props = Properties::decode(&raw)
            .map_err(|e| corrupt(footer.props.offset, "properties block", &e))?;
        let last = index.last().map(|e| e.last_key.as_slice());
        if props.data_blocks != index.len() as u64 || last != Some(props.max_key.as_slice()) {
            return Err(corrupt(
                footer.props.offset,
                "properties block",
                &"disagrees with the index",
            ));
        }
        let index = FlatIndex::new(&index);
        let table = Table {
            source,
            file_id,
            footer,
            index,
            bloom,
            props,
            cache,
        };
        Ok(Arc::new(table))
    }

    fn corruption(&self, offset: u64, what: &str, why: impl Display) -> Error {
        Error::Corruption(format!(
            "block file {}: {what} at offset {offset}: {why}",
            self.source.name()
        ))
    }

    fn read_raw(&self, handle: BlockHandle, what: &str) -> Result<Vec<u8>> {
        read_checked(self.source.as_ref(), handle, self.footer.version, what)
    }

    /// Data block `i`, from the cache or read, checked and decoded (and then cached when
    /// `fill_cache`; without it the cache is only peeked: the lookup is not counted and
    /// the block not marked as used).
    pub(crate) fn data_block(&self, i: usize, fill_cache: bool) -> Result<Block> {
        let handle = self
            .index
            .handle(i)
            .ok_or_else(|| Error::Internal(format!("data block {i} out of range")))?;
        if let Some(cache) = &self.cache {
            let cached = if fill_cache {
                cache.get(self.file_id, handle.offset)
            } else {
                cache.peek(self.file_id, handle.offset)
            };
            if let Some(b) = cached {
                return Ok(b);
            }
        }
        let block = self.read_block(handle)?;
        if fill_cache && let Some(cache) = &self.cache {
            cache.insert(self.file_id, handle.offset, block.clone());
        }
        Ok(block)
    }

    /// Reads, checks, decompresses and decodes the data block at `handle`.
    fn read_block(&self, handle: BlockHandle) -> Result<Block> {
        let raw = self.read_raw(handle, "data block")?;
        Block::decode(raw).map_err(|e| self.corruption(handle.offset, "data block", e))
    }

    /// The Corruption error for a bad entry in data block `i`.
    pub(crate) fn block_corruption(&self, i: usize, why: impl Display) -> Error {
        let offset = self.index.handle(i).map_or(0, |h| h.offset);
        self.corruption(offset, "data block", why)
    }

    /// Index of the first data block whose last entry is at or after `(key, ts)`.
    pub(crate) fn find_block(&self, key: &[u8], ts: u64) -> usize {
        self.index.find(key, ts)
    }

    /// Number of data blocks.
    pub fn block_count(&self) -> usize {
        self.index.len()
    }

    /// False when the file certainly holds no version of `key` (Bloom filter).
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.bloom.may_contain(key)
    }

    /// The newest version of `key` with timestamp `<= read_ts`: `Some((ts, value))`,
    /// where a `None` value is a tombstone; `None` when the file holds no such version.
    pub fn get(&self, key: &[u8], read_ts: u64) -> Result<Option<(u64, Option<Vec<u8>>)>> {
        self.get_hashed(key, bloom_hash(key), read_ts)
    }

    /// [`Table::get`] with the key's [`bloom_hash`] already computed (a lookup that
    /// probes several files hashes the key once).
    pub fn get_hashed(
        &self,
        key: &[u8],
        hash: u64,
        read_ts: u64,
    ) -> Result<Option<(u64, Option<Vec<u8>>)>> {
        if !self.bloom.may_contain_hash(hash) {
            return Ok(None);
        }
        let i = self.find_block(key, read_ts);
        if i == self.index.len() {
            return Ok(None);
        }
        let handle = self
            .index
            .handle(i)
            .ok_or_else(|| Error::Internal(format!("data block {i} out of range")))?;
        // A cached block is searched in place, under the cache's shared lock.
        if let Some(cache) = &self.cache
            && let Some(r) = cache.with(self.file_id, handle.offset, |b| {
                self.get_in_block(b, i, key, read_ts)
            })
        {
            return r;
        }
        let block = self.read_block(handle)?;
        let r = self.get_in_block(&block, i, key, read_ts);
        if let Some(cache) = &self.cache {
            cache.insert(self.file_id, handle.offset, block);
        }
        r
    }

    /// The newest version of `key` at or below `read_ts` in data block `i`, which the
    /// index says ends at or after it.
    fn get_in_block(
        &self,
        block: &Block,
        i: usize,
        key: &[u8],
        read_ts: u64,
    ) -> Result<Option<(u64, Option<Vec<u8>>)>> {
        let found = block
            .find(key, read_ts)
            .map_err(|e| self.block_corruption(i, e))?
            .ok_or_else(|| self.block_corruption(i, "block ends before its index key"))?;
        if !found.same_key {
            return Ok(None);
        }
        let value = match found.value {
            None => None,
            Some(at) => Some(
                block
                    .value(at)
                    .ok_or_else(|| self.block_corruption(i, "value runs past the block"))?
                    .to_vec(),
            ),
        };
        Ok(Some((found.ts, value)))
    }

    /// A cursor over every version in the file that fills the block cache as it reads.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter::new(self.clone(), true)
    }

    /// A cursor that reads through the cache but does not fill it (for compaction and
    /// full scans, which would evict the hot blocks).
    pub fn iter_no_fill(self: &Arc<Self>) -> TableIter {
        TableIter::new(self.clone(), false)
    }

    /// The properties block.
    pub fn properties(&self) -> &Properties {
        &self.props
    }

    /// Key and timestamp of the file's last entry.
    pub fn last_entry(&self) -> (&[u8], u64) {
        match self.index.len().checked_sub(1) {
            Some(i) => (self.index.last_key(i), self.index.last_ts(i)),
            None => (&[][..], 0),
        }
    }

    /// The file's number.
    pub fn file_id(&self) -> u64 {
        self.file_id
    }

    /// Bytes of the file.
    pub fn file_size(&self) -> u64 {
        self.source.len()
    }

    /// The file's name, for messages.
    pub fn name(&self) -> &str {
        self.source.name()
    }

    /// The decoded footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// Bytes of memory held for the open file (index and filter).
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
            + self.bloom.memory_bytes()
            + self.props.min_key.len()
            + self.props.max_key.len()
    }

    /// The file's format version.
    pub fn format_version(&self) -> u32 {
        self.footer.version
    }

    /// Reads every data block (bypassing the cache) and checks every checksum, that
    /// compressed blocks decompress to well-formed blocks, that entries are in strictly
    /// increasing internal order, that each block ends at its index key, that the filter
    /// knows every key, and that the properties match.
    pub fn verify(&self) -> Result<VerifySummary> {
        let mut prev: Option<(Vec<u8>, u64)> = None;
        let mut seen = Properties::default();
        let mut compressed_blocks = 0;
        for (i, &handle) in self.index.handles().iter().enumerate() {
            let (raw, compressed) = read_stored(
                self.source.as_ref(),
                handle,
                self.footer.version,
                "data block",
            )?;
            compressed_blocks += u64::from(compressed);
            let block = Block::decode(raw).map_err(|e| self.block_corruption(i, e))?;
            let mut c = BlockCursor::new(block);
            c.seek_to_first().map_err(|e| self.block_corruption(i, e))?;
            while c.valid() {
                let (k, ts) = (c.key(), c.ts());
                let new_key = match &prev {
                    None => true,
                    Some((pk, pts)) => {
                        if cmp_internal(pk, *pts, k, ts) != Ordering::Less {
                            return Err(self.block_corruption(i, "entries out of order"));
                        }
                        pk.as_slice() != k
                    }
                };
                if new_key {
                    seen.key_count += 1;
                    if !self.bloom.may_contain(k) {
                        return Err(self.corruption(
                            self.footer.filter.offset,
                            "filter block",
                            "misses a stored key",
                        ));
                    }
                }
                if seen.entry_count == 0 {
                    seen.min_key = k.to_vec();
                    seen.min_ts = ts;
                }
                seen.entry_count += 1;
                seen.min_ts = seen.min_ts.min(ts);
                seen.max_ts = seen.max_ts.max(ts);
                seen.raw_key_bytes += k.len() as u64;
                match c.value() {
                    Some(v) => seen.raw_value_bytes += v.len() as u64,
                    None => seen.tombstone_count += 1,
                }
                prev = Some((k.to_vec(), ts));
                c.next_entry().map_err(|e| self.block_corruption(i, e))?;
            }
            let at_index = prev
                .as_ref()
                .is_some_and(|(k, ts)| k == self.index.last_key(i) && *ts == self.index.last_ts(i));
            if !at_index {
                return Err(self.block_corruption(i, "last entry differs from the index"));
            }
        }
        seen.data_blocks = self.index.len() as u64;
        seen.max_key = prev.map(|(k, _)| k).unwrap_or_default();
        if seen != self.props {
            return Err(self.corruption(
                self.footer.props.offset,
                "properties block",
                "disagrees with the data",
            ));
        }
        Ok(VerifySummary {
            blocks: self.index.len() as u64,
            compressed_blocks,
            entries: seen.entry_count,
            bytes: self.source.len(),
        })
    }
}

/// Reads a block from `source`, checks its CRC trailer and returns its contents: in a
/// version 1 file the bytes before the CRC; from version 2 on, the bytes before the
/// type byte, decompressed as the type byte says.
fn read_checked(
    source: &dyn BlockSource,
    handle: BlockHandle,
    version: u32,
    what: &str,
) -> Result<Vec<u8>> {
    read_stored(source, handle, version, what).map(|(contents, _)| contents)
}

/// [`read_checked`], also saying whether the block was stored compressed.
fn read_stored(
    source: &dyn BlockSource,
    handle: BlockHandle,
    version: u32,
    what: &str,
) -> Result<(Vec<u8>, bool)> {
    let corrupt = |why: &dyn Display| {
        Error::Corruption(format!(
            "block file {}: {what} at offset {}: {why}",
            source.name(),
            handle.offset
        ))
    };
    let len = usize::try_from(handle.len)
        .ok()
        .filter(|_| handle.end().is_some_and(|e| e <= source.len()))
        .ok_or_else(|| corrupt(&"extends past the file"))?;
    let mut buf = vec![0u8; len + 4];
    source.read_at(handle.offset, &mut buf)?;
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&buf[len..]);
    buf.truncate(len);
    if crc32fast::hash(&buf) != u32::from_le_bytes(crc) {
        return Err(corrupt(&"checksum mismatch"));
    }
    if version < 2 {
        return Ok((buf, false));
    }
    let kind = buf.pop().ok_or_else(|| corrupt(&"no type byte"))?;
    let contents = block_contents(kind, buf).map_err(|e| corrupt(&e))?;
    Ok((contents, kind != BLOCK_RAW))
}
