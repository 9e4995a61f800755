//! Writes a block file from entries given in internal order.

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::storage::bloom::{BloomBuilder, DEFAULT_BITS_PER_KEY};
use crate::storage::coding::put_u32;
use crate::storage::entry::cmp_internal;
use crate::storage::sstable::block::{BlockBuilder, DEFAULT_RESTART_INTERVAL};
use crate::storage::sstable::compression::{BLOCK_RAW, BlockCompressor, Compression};
use crate::storage::sstable::file::FileSink;
use crate::storage::sstable::footer::{BlockHandle, FOOTER_LEN, FORMAT_VERSION, Footer};
use crate::storage::sstable::index::{IndexEntry, encode_index};
use crate::storage::sstable::props::Properties;
use crate::storage::{check_key, check_value};

/// How block files are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableOptions {
    /// A data block is closed once its contents reach this many bytes (default 4 KiB).
    pub block_size: usize,
    /// Entries between restart points inside a data block (default 16).
    pub restart_interval: usize,
    /// Bloom filter bits per distinct user key (default 10).
    pub bloom_bits_per_key: usize,
    /// How data and index blocks are compressed (default Snappy).
    pub compression: Compression,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_size: 4096,
            restart_interval: DEFAULT_RESTART_INTERVAL,
            bloom_bits_per_key: DEFAULT_BITS_PER_KEY,
            compression: Compression::default(),
        }
    }
}

/// What a finished block file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    /// Bytes of the file.
    pub file_size: u64,
    /// Its properties block.
    pub props: Properties,
}

/// Streams entries into a block file.
///
/// Add entries in strictly increasing internal order with [`TableBuilder::add`], then
/// call [`TableBuilder::finish`], which writes the index, filter, properties and footer
/// and syncs the sink. If anything fails, the partial file is garbage: the caller deletes
/// it (it is not yet named in any manifest).
pub struct TableBuilder<W: FileSink> {
    /// Where the file is written.
    sink: W,
    /// The file's name, for messages.
    name: String,
    /// Layout options.
    opts: TableOptions,
    /// Bytes written so far.
    offset: u64,
    /// The data block being filled.
    block: BlockBuilder,
    /// Scratch buffer for a finished block's contents.
    scratch: Vec<u8>,
    /// The block as written: stored bytes, type byte and CRC.
    out: Vec<u8>,
    /// Compresses blocks.
    compressor: BlockCompressor,
    /// Index entries of the blocks written.
    index: Vec<IndexEntry>,
    /// About the encoded size of `index` (kept as blocks are added, so the size
    /// estimate costs nothing per entry).
    index_bytes: u64,
    /// Filter over the distinct user keys.
    bloom: BloomBuilder,
    /// Running properties.
    props: Properties,
    /// Key of the last entry added.
    last_key: Vec<u8>,
    /// Timestamp of the last entry added.
    last_ts: u64,
}

impl<W: FileSink> TableBuilder<W> {
    /// A builder writing to `sink`, named `name` in messages.
    pub fn new(sink: W, name: impl Into<String>, opts: TableOptions) -> TableBuilder<W> {
        TableBuilder {
            sink,
            name: name.into(),
            opts,
            offset: 0,
            block: BlockBuilder::new(opts.restart_interval),
            scratch: Vec::new(),
            out: Vec::new(),
            compressor: BlockCompressor::new(opts.compression),
            index: Vec::new(),
            index_bytes: 0,
            bloom: BloomBuilder::new(opts.bloom_bits_per_key),
            props: Properties::default(),
            last_key: Vec::new(),
            last_ts: 0,
        }
    }

    /// Adds one version. Entries must come in strictly increasing internal order
    /// (user key ascending, timestamp descending, no duplicate `(key, ts)`).
    pub fn add(&mut self, key: &[u8], ts: u64, value: Option<&[u8]>) -> Result<()> {
        check_key(key)?;
        if let Some(v) = value {
            check_value(v)?;
        }
        let new_key = if self.props.entry_count == 0 {
            self.props.min_key = key.to_vec();
            self.props.min_ts = ts;
            self.props.max_ts = ts;
            true
        } else {
            if cmp_internal(&self.last_key, self.last_ts, key, ts) != Ordering::Less {
                return Err(Error::InvalidArgument(format!(
                    "block file {}: entry ({:?}, {ts}) does not follow ({:?}, {})",
                    self.name,
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(&self.last_key),
                    self.last_ts
                )));
            }
            key != self.last_key.as_slice()
        };
        if new_key {
            self.bloom.add_key(key);
            self.props.key_count += 1;
        }
        let p = &mut self.props;
        p.entry_count += 1;
        p.min_ts = p.min_ts.min(ts);
        p.max_ts = p.max_ts.max(ts);
        p.raw_key_bytes += key.len() as u64;
        match value {
            Some(v) => p.raw_value_bytes += v.len() as u64,
            None => p.tombstone_count += 1,
        }
        self.block.add(key, ts, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.last_ts = ts;
        if self.block.size_estimate() >= self.opts.block_size {
            self.flush_block()?;
        }
        Ok(())
    }

    /// Versions added so far.
    pub fn entry_count(&self) -> u64 {
        self.props.entry_count
    }

    /// The last user key added, if any.
    pub fn last_key(&self) -> Option<&[u8]> {
        (self.props.entry_count > 0).then_some(self.last_key.as_slice())
    }

    /// About the size of the file if finished now.
    pub fn estimated_size(&self) -> u64 {
        self.offset
            + self.block.size_estimate() as u64
            + self.index_bytes
            + (self.bloom.len() * self.opts.bloom_bits_per_key / 8) as u64
            + FOOTER_LEN as u64
    }

    /// Writes a block (the contents in `self.scratch`, or `contents` when given):
    /// its stored bytes (compressed when `compress` and worth it), its type byte and the
    /// CRC of both.
    fn write_block(&mut self, contents: Option<&[u8]>, compress: bool) -> Result<BlockHandle> {
        let contents = contents.unwrap_or(&self.scratch);
        self.out.clear();
        let kind = if compress {
            self.compressor.store_into(contents, &mut self.out)
        } else {
            self.out.extend_from_slice(contents);
            BLOCK_RAW
        };
        self.out.push(kind);
        let len = self.out.len() as u64;
        let crc = crc32fast::hash(&self.out);
        put_u32(&mut self.out, crc);
        let handle = BlockHandle {
            offset: self.offset,
            len,
        };
        let at = format!("block file {} at offset {}", self.name, self.offset);
        self.sink
            .write_all(&self.out)
            .map_err(|e| add_context(e, &at))?;
        self.offset += self.out.len() as u64;
        Ok(handle)
    }

    fn flush_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let (last_key, last_ts) = {
            let (k, t) = self.block.last();
            (k.to_vec(), t)
        };
        self.scratch.clear();
        self.block.finish_into(&mut self.scratch);
        // Stored bytes (never more than the contents) and the type byte must fit the
        // index's u32 length.
        if self.scratch.len() >= u32::MAX as usize {
            return Err(Error::TooLarge(format!(
                "block file {}: a data block of {} bytes exceeds 4 GiB",
                self.name,
                self.scratch.len()
            )));
        }
        let handle = self.write_block(None, true)?;
        self.index_bytes += last_key.len() as u64 + 22;
        self.index.push(IndexEntry {
            last_key,
            last_ts,
            handle,
        });
        Ok(())
    }

    /// Writes the remaining blocks and the footer, syncs the sink and returns it with a
    /// summary. A file needs at least one entry.
    pub fn finish(mut self) -> Result<(W, TableSummary)> {
        if self.props.entry_count == 0 {
            return Err(Error::InvalidArgument(format!(
                "block file {}: a block file needs at least one entry",
                self.name
            )));
        }
        self.flush_block()?;
        self.props.max_key = self.last_key.clone();
        self.props.data_blocks = self.index.len() as u64;
        // The filter's bits do not compress, and the properties block is small.
        let index = self.write_block(Some(&encode_index(&self.index)), true)?;
        let filter = self.write_block(Some(&self.bloom.finish()), false)?;
        let props = self.write_block(Some(&self.props.encode()), false)?;
        let footer = Footer {
            index,
            filter,
            props,
            version: FORMAT_VERSION,
        }
        .encode();
        let at = format!(
            "footer of block file {} at offset {}",
            self.name, self.offset
        );
        self.sink
            .write_all(&footer)
            .map_err(|e| add_context(e, &at))?;
        self.offset += footer.len() as u64;
        let at = format!("block file {}", self.name);
        self.sink.sync().map_err(|e| add_context(e, &at))?;
        let summary = TableSummary {
            file_size: self.offset,
            props: self.props,
        };
        Ok((self.sink, summary))
    }
}

/// Adds where an I/O error happened to its context.
fn add_context(e: Error, at: &str) -> Error {
    match e {
        Error::Io { context, source } => Error::io(format!("{context}: {at}"), source),
        other => other,
    }
}
