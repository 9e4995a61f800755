//! Open and connect options: a plain C struct with a size field for forward
//! compatibility, its defaults, and its validation.

use std::time::Duration;

use super::args;
use super::guard::guard_void;
use crate::backend::Isolation;
use crate::error::{Error, Result};
use crate::ipc::client::ClientOptions;
use crate::kernel::DbOptions;
use crate::storage::Durability;

/// Durability `Sync`: a commit returns after its bytes are on stable storage (default).
pub const SOCHDB_DURABILITY_SYNC: u32 = 0;
/// Durability `Buffered`: written to the OS at commit, synced in the background within
/// `buffered_sync_interval_ms`; an OS crash may lose that interval.
pub const SOCHDB_DURABILITY_BUFFERED: u32 = 1;
/// Durability `None`: never synced per commit (bulk loads); recovery stays consistent.
pub const SOCHDB_DURABILITY_NONE: u32 = 2;

/// Isolation `Serializable` (optimistic; the default).
pub const SOCHDB_ISOLATION_SERIALIZABLE: u32 = 0;
/// Isolation `Snapshot` (write-write conflicts only).
pub const SOCHDB_ISOLATION_SNAPSHOT: u32 = 1;

/// Largest `struct_size` accepted (a guard against an uninitialized struct).
const MAX_STRUCT_SIZE: u32 = 4096;

/// Options of `sochdb_open` and `sochdb_connect`.
///
/// Initialize with `sochdb_options_init`, then change fields. `struct_size` lets a
/// program built against an older or newer header work with this library: fields past
/// `struct_size` take their defaults, and bytes past this library's struct must be zero.
/// A value of 0 in a budget, interval or timeout field means "the library's default".
/// Enum fields are validated: an unknown value fails with `SOCHDB_INVALID_ARGUMENT`.
/// In socket mode the server's own options govern storage; only `connect_timeout_ms`
/// and `request_timeout_ms` apply.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct sochdb_options {
    /// `sizeof(sochdb_options)` as the caller compiled it (set by `sochdb_options_init`).
    pub struct_size: u32,
    /// One of `SOCHDB_DURABILITY_*` (default `SOCHDB_DURABILITY_SYNC`).
    pub durability: u32,
    /// 1 to open read-only (writes fail with `SOCHDB_READ_ONLY`), 0 otherwise.
    pub read_only: u32,
    /// Isolation of transactions begun without an isolation flag: one of
    /// `SOCHDB_ISOLATION_*` (default `SOCHDB_ISOLATION_SERIALIZABLE`).
    pub default_isolation: u32,
    /// Bytes a memtable may hold before it is flushed (0: default, 64 MiB).
    pub memtable_budget: u64,
    /// Bytes of the block cache (0: default, 128 MiB).
    pub cache_budget: u64,
    /// Longest delay before a buffered commit is synced, in ms (0: default, 100 ms).
    pub buffered_sync_interval_ms: u64,
    /// A transaction open longer than this is aborted, in ms (0: the default limit).
    pub max_txn_age_ms: u64,
    /// A transaction that buffers more written bytes fails, in bytes (0: the default).
    pub max_txn_write_bytes: u64,
    /// Socket mode: how long `sochdb_connect` waits for the server, in ms (0: default,
    /// 5 s).
    pub connect_timeout_ms: u64,
    /// Socket mode: how long a reply may take, in ms (0: default, 2 minutes); a request
    /// that times out fails with `SOCHDB_TIMEOUT` and drops the connection.
    pub request_timeout_ms: u64,
}

impl Default for sochdb_options {
    fn default() -> Self {
        sochdb_options {
            struct_size: size_of::<sochdb_options>() as u32,
            durability: SOCHDB_DURABILITY_SYNC,
            read_only: 0,
            default_isolation: SOCHDB_ISOLATION_SERIALIZABLE,
            memtable_budget: 0,
            cache_budget: 0,
            buffered_sync_interval_ms: 0,
            max_txn_age_ms: 0,
            max_txn_write_bytes: 0,
            connect_timeout_ms: 0,
            request_timeout_ms: 0,
        }
    }
}

/// Fills `opts` with the defaults and sets `struct_size`. NULL is ignored.
///
/// Thread-safety: touches only `*opts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_options_init(opts: *mut sochdb_options) {
    guard_void("sochdb_options_init", || {
        args::set(opts, sochdb_options::default());
        Ok(())
    })
}

/// Validated options, in Rust types.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// Default durability of commits.
    pub durability: Durability,
    /// Open read-only.
    pub read_only: bool,
    /// Default isolation.
    pub isolation: Isolation,
    /// Memtable budget, if not the default.
    pub memtable_budget: Option<usize>,
    /// Block cache budget, if not the default.
    pub cache_budget: Option<usize>,
    /// Buffered sync interval, if not the default.
    pub buffered_sync_interval: Option<Duration>,
    /// Transaction age limit, if not the default.
    pub max_txn_age: Option<Duration>,
    /// Transaction write-set limit, if not the default.
    pub max_txn_write_bytes: Option<u64>,
    /// Connect timeout, if not the default.
    pub connect_timeout: Option<Duration>,
    /// Request timeout, if any.
    pub request_timeout: Option<Duration>,
}

impl Options {
    /// The in-process database options these stand for.
    pub(crate) fn db_options(&self) -> Result<DbOptions> {
        let mut o = DbOptions::default();
        o.engine.durability = self.durability;
        o.engine.read_only = self.read_only;
        if let Some(b) = self.memtable_budget {
            o.engine.memtable_budget = b;
        }
        if let Some(b) = self.cache_budget {
            o.engine.cache_budget = b;
        }
        if let Some(d) = self.buffered_sync_interval {
            o.engine.buffered_sync_interval = d;
        }
        o.default_isolation = self.isolation;
        if let Some(d) = self.max_txn_age {
            o.max_txn_age = d;
        }
        if let Some(b) = self.max_txn_write_bytes {
            o.max_txn_write_bytes = usize::try_from(b).map_err(|_| {
                Error::InvalidArgument(format!("max_txn_write_bytes of {b} does not fit memory"))
            })?;
        }
        Ok(o)
    }
}

impl Options {
    /// The socket client options these stand for.
    pub(crate) fn client_options(&self) -> ClientOptions {
        let mut o = ClientOptions::default();
        if let Some(d) = self.connect_timeout {
            o.connect_timeout = d;
        }
        if let Some(d) = self.request_timeout {
            o.request_timeout = Some(d);
        }
        o.client_name = format!("sochdb-c {}", crate::VERSION);
        o
    }
}

/// Reads and validates the caller's options; NULL gives the defaults.
pub(crate) fn read(ptr: *const sochdb_options) -> Result<Options> {
    if ptr.is_null() {
        return validate(&sochdb_options::default());
    }
    let raw = read_sized(ptr)?;
    validate(&raw)
}

/// Copies the first `struct_size` bytes of the caller's struct over the defaults,
/// checking that any bytes past this library's struct are zero.
fn read_sized(ptr: *const sochdb_options) -> Result<sochdb_options> {
    if !ptr.is_aligned() {
        return Err(Error::InvalidArgument(
            "options pointer is not aligned".into(),
        ));
    }
    // SAFETY: a non-NULL options pointer points to at least its `struct_size` field.
    let size = unsafe { ptr.cast::<u32>().read() };
    let ours = size_of::<sochdb_options>();
    if !(4..=MAX_STRUCT_SIZE).contains(&size) {
        return Err(Error::InvalidArgument(format!(
            "options struct_size is {size}; initialize the struct with sochdb_options_init"
        )));
    }
    let size = size as usize;
    let mut raw = sochdb_options::default();
    let n = size.min(ours);
    // SAFETY: the caller's struct holds `size` readable bytes and `raw` holds `ours`;
    // `n` is at most both. Every bit pattern is a valid `sochdb_options` (plain
    // integers).
    unsafe {
        std::ptr::copy_nonoverlapping(
            ptr.cast::<u8>(),
            (&mut raw as *mut sochdb_options).cast::<u8>(),
            n,
        );
    }
    if size > ours {
        // SAFETY: the caller's struct holds `size` readable bytes.
        let extra = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>().add(ours), size - ours) };
        if extra.iter().any(|b| *b != 0) {
            return Err(Error::InvalidArgument(format!(
                "options struct of {size} bytes sets fields this library ({ours} bytes, \
                 version {}) does not know",
                crate::VERSION
            )));
        }
    }
    raw.struct_size = ours as u32;
    Ok(raw)
}

/// Decodes a durability code.
pub(crate) fn durability(code: u32) -> Result<Durability> {
    match code {
        SOCHDB_DURABILITY_SYNC => Ok(Durability::Sync),
        SOCHDB_DURABILITY_BUFFERED => Ok(Durability::Buffered),
        SOCHDB_DURABILITY_NONE => Ok(Durability::None),
        other => Err(Error::InvalidArgument(format!(
            "durability {other} is not one of SOCHDB_DURABILITY_SYNC (0), BUFFERED (1), NONE (2)"
        ))),
    }
}

/// Decodes an isolation code.
pub(crate) fn isolation(code: u32) -> Result<Isolation> {
    match code {
        SOCHDB_ISOLATION_SERIALIZABLE => Ok(Isolation::Serializable),
        SOCHDB_ISOLATION_SNAPSHOT => Ok(Isolation::Snapshot),
        other => Err(Error::InvalidArgument(format!(
            "isolation {other} is not one of SOCHDB_ISOLATION_SERIALIZABLE (0), SNAPSHOT (1)"
        ))),
    }
}

fn nonzero_usize(v: u64, what: &str) -> Result<Option<usize>> {
    if v == 0 {
        return Ok(None);
    }
    usize::try_from(v)
        .map(Some)
        .map_err(|_| Error::InvalidArgument(format!("{what} of {v} bytes does not fit memory")))
}

fn millis(v: u64) -> Option<Duration> {
    (v != 0).then(|| Duration::from_millis(v))
}

fn validate(raw: &sochdb_options) -> Result<Options> {
    Ok(Options {
        durability: durability(raw.durability)?,
        read_only: args::boolean(raw.read_only, "options read_only")?,
        isolation: isolation(raw.default_isolation)?,
        memtable_budget: nonzero_usize(raw.memtable_budget, "memtable_budget")?,
        cache_budget: nonzero_usize(raw.cache_budget, "cache_budget")?,
        buffered_sync_interval: millis(raw.buffered_sync_interval_ms),
        max_txn_age: millis(raw.max_txn_age_ms),
        max_txn_write_bytes: (raw.max_txn_write_bytes != 0).then_some(raw.max_txn_write_bytes),
        connect_timeout: millis(raw.connect_timeout_ms),
        request_timeout: millis(raw.request_timeout_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Status;

    fn init() -> sochdb_options {
        let mut o = sochdb_options {
            struct_size: 0,
            durability: 9,
            read_only: 9,
            default_isolation: 9,
            memtable_budget: 9,
            cache_budget: 9,
            buffered_sync_interval_ms: 9,
            max_txn_age_ms: 9,
            max_txn_write_bytes: 9,
            connect_timeout_ms: 9,
            request_timeout_ms: 9,
        };
        // SAFETY: o is a valid, writable options struct.
        unsafe { sochdb_options_init(&mut o) };
        o
    }

    #[test]
    fn init_gives_defaults_and_null_means_defaults() {
        let o = init();
        assert_eq!(o, sochdb_options::default());
        assert_eq!(read(&o).unwrap(), Options::default());
        assert_eq!(read(std::ptr::null()).unwrap(), Options::default());
        // SAFETY: NULL is accepted and ignored.
        unsafe { sochdb_options_init(std::ptr::null_mut()) };
    }

    #[test]
    fn fields_are_validated() {
        let mut o = init();
        o.durability = SOCHDB_DURABILITY_BUFFERED;
        o.default_isolation = SOCHDB_ISOLATION_SNAPSHOT;
        o.read_only = 1;
        o.memtable_budget = 1 << 20;
        o.request_timeout_ms = 250;
        let p = read(&o).unwrap();
        assert_eq!(p.durability, Durability::Buffered);
        assert_eq!(p.isolation, Isolation::Snapshot);
        assert!(p.read_only);
        assert_eq!(p.memtable_budget, Some(1 << 20));
        assert_eq!(p.request_timeout, Some(Duration::from_millis(250)));
        let d = p.db_options().unwrap();
        assert_eq!(d.engine.durability, Durability::Buffered);
        assert!(d.engine.read_only);
        assert_eq!(d.engine.memtable_budget, 1 << 20);
        assert_eq!(d.default_isolation, Isolation::Snapshot);
        assert_eq!(
            d.max_txn_age,
            crate::kernel::DbOptions::default().max_txn_age
        );
        for bad in [
            sochdb_options {
                durability: 3,
                ..init()
            },
            sochdb_options {
                default_isolation: 2,
                ..init()
            },
            sochdb_options {
                read_only: 2,
                ..init()
            },
            sochdb_options {
                struct_size: 0,
                ..init()
            },
            sochdb_options {
                struct_size: 1 << 20,
                ..init()
            },
        ] {
            assert_eq!(read(&bad).unwrap_err().status(), Status::InvalidArgument);
        }
    }

    #[test]
    fn older_and_newer_struct_sizes() {
        // An older caller knows only the first three fields: the rest are defaults.
        let mut o = init();
        o.struct_size = 12;
        o.durability = SOCHDB_DURABILITY_NONE;
        o.memtable_budget = 5;
        let p = read(&o).unwrap();
        assert_eq!(p.durability, Durability::None);
        assert_eq!(p.memtable_budget, None);

        // A newer caller: trailing zero bytes are accepted, non-zero ones refused.
        #[repr(C)]
        struct Newer {
            base: sochdb_options,
            extra: u64,
        }
        let mut n = Newer {
            base: init(),
            extra: 0,
        };
        n.base.struct_size = size_of::<Newer>() as u32;
        assert!(read((&n as *const Newer).cast()).is_ok());
        n.extra = 1;
        let e = read((&n as *const Newer).cast()).unwrap_err();
        assert!(e.to_string().contains("does not know"), "{e}");
    }
}
