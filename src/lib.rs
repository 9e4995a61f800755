//! SochDB: an embedded, transactional key-value database.
//!
//! Layers, one direction (see `docs/architecture.md`):
//!
//! - [`storage`]: a versioned, ordered store of byte keys: write-ahead log, memtable,
//!   block files, compaction. Durable by default ("sync-first").
//! - [`kernel`]: transactions, paths, tables, queries rendered as TOON; the only caller of
//!   `storage`, and the in-process implementation of [`backend::Backend`].
//! - [`ipc`]: the socket protocol, its server and its client (the remote `Backend`).
//! - `ffi`: the C ABI over `Backend`, one handle type for both modes.
#![warn(missing_docs)]

pub mod backend;
pub mod error;
pub mod ffi;
pub mod ipc;
pub mod kernel;
pub mod storage;

pub use error::{Error, Result, Status};

/// The library version (`major.minor.patch`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
