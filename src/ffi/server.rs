//! Hosting the socket server for an open database from a C program.

use std::ffi::c_char;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::args;
use super::db::{self, sochdb_db};
use super::error::sochdb_error;
use super::guard::{guard_ok, guard_void};
use super::handle::{self, Handle};
use super::status::sochdb_status;
use crate::error::{Error, Result};
use crate::ipc::server::{Server, ServerHandle, ServerOptions};

/// Largest `struct_size` accepted (a guard against an uninitialized struct).
const MAX_STRUCT_SIZE: u32 = 4096;

/// Options of `sochdb_server_start`.
///
/// Initialize with `sochdb_server_options_init`, then change fields. `struct_size`
/// works as in `sochdb_options`. A 0 in a count or time field means the default.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sochdb_server_options {
    /// `sizeof(sochdb_server_options)` as the caller compiled it.
    pub struct_size: u32,
    /// 1 to write one line per notable event to stderr, 0 for silence (default).
    pub log: u32,
    /// Connections served at once; one more is refused with an error frame (0: 256).
    pub max_connections: u64,
    /// Transactions one connection may hold open (0: 64).
    pub max_txns_per_connection: u64,
    /// A connection idle this long is closed and its transactions aborted, in ms
    /// (0: 10 minutes).
    pub idle_timeout_ms: u64,
    /// How long `sochdb_server_stop` lets requests in flight finish, in ms (0: 5 s).
    pub shutdown_grace_ms: u64,
    /// Uids allowed to connect besides the server's own (may be NULL when the count is
    /// 0); the array is only read during `sochdb_server_start`.
    pub allowed_uids: *const u32,
    /// Number of `allowed_uids`.
    pub allowed_uid_count: usize,
}

impl Default for sochdb_server_options {
    fn default() -> Self {
        sochdb_server_options {
            struct_size: size_of::<sochdb_server_options>() as u32,
            log: 0,
            max_connections: 0,
            max_txns_per_connection: 0,
            idle_timeout_ms: 0,
            shutdown_grace_ms: 0,
            allowed_uids: std::ptr::null(),
            allowed_uid_count: 0,
        }
    }
}

/// Fills `opts` with the defaults and sets `struct_size`. NULL is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_server_options_init(opts: *mut sochdb_server_options) {
    guard_void("sochdb_server_options_init", || {
        args::set(opts, sochdb_server_options::default());
        Ok(())
    })
}

/// Reads the caller's struct: the first `struct_size` bytes over the defaults, with
/// bytes past this library's struct required to be zero.
fn read_raw(ptr: *const sochdb_server_options) -> Result<sochdb_server_options> {
    if ptr.is_null() {
        return Ok(sochdb_server_options::default());
    }
    if !ptr.is_aligned() {
        return Err(Error::InvalidArgument(
            "server options pointer is not aligned".into(),
        ));
    }
    // SAFETY: a non-NULL options pointer points to at least its `struct_size` field.
    let size = unsafe { ptr.cast::<u32>().read() };
    let ours = size_of::<sochdb_server_options>();
    if !(8..=MAX_STRUCT_SIZE).contains(&size) {
        return Err(Error::InvalidArgument(format!(
            "server options struct_size is {size}; initialize the struct with \
             sochdb_server_options_init"
        )));
    }
    let size = size as usize;
    let mut raw = sochdb_server_options::default();
    // SAFETY: the caller's struct holds `size` readable bytes and `raw` holds `ours`; the
    // copy is at most both. The fields are integers and a pointer, which every bit
    // pattern represents (the pointer is only used as documented, and checked).
    unsafe {
        std::ptr::copy_nonoverlapping(
            ptr.cast::<u8>(),
            (&mut raw as *mut sochdb_server_options).cast::<u8>(),
            size.min(ours),
        );
    }
    if size > ours {
        // SAFETY: the caller's struct holds `size` readable bytes.
        let extra = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>().add(ours), size - ours) };
        if extra.iter().any(|b| *b != 0) {
            return Err(Error::InvalidArgument(format!(
                "server options struct of {size} bytes sets fields this library ({ours} \
                 bytes) does not know"
            )));
        }
    }
    raw.struct_size = ours as u32;
    Ok(raw)
}

fn count(v: u64, what: &str) -> Result<Option<usize>> {
    if v == 0 {
        return Ok(None);
    }
    usize::try_from(v)
        .map(Some)
        .map_err(|_| Error::InvalidArgument(format!("{what} {v} is too large")))
}

/// Validated server options.
pub(crate) fn read(ptr: *const sochdb_server_options) -> Result<ServerOptions> {
    let raw = read_raw(ptr)?;
    let mut o = ServerOptions {
        log: args::boolean(raw.log, "server options log")?,
        ..ServerOptions::default()
    };
    if let Some(n) = count(raw.max_connections, "max_connections")? {
        o.max_connections = n;
    }
    if let Some(n) = count(raw.max_txns_per_connection, "max_txns_per_connection")? {
        o.max_txns_per_connection = n;
    }
    if raw.idle_timeout_ms != 0 {
        o.idle_timeout = Some(Duration::from_millis(raw.idle_timeout_ms));
    }
    if raw.shutdown_grace_ms != 0 {
        o.shutdown_grace = Duration::from_millis(raw.shutdown_grace_ms);
    }
    o.allowed_uids = args::array(raw.allowed_uids, raw.allowed_uid_count, "allowed_uids")?.to_vec();
    Ok(o)
}

/// A socket server hosting one open database, so that other processes can
/// `sochdb_connect` to it.
///
/// Ownership: stop it with `sochdb_server_stop`, which also frees it. Thread-safety: it
/// runs on its own threads; the handle may be stopped from any thread.
pub struct sochdb_server {
    _opaque: [u8; 0],
}

/// What a server handle points to.
pub struct ServerObj {
    /// The running server; taken by stop.
    running: Mutex<Option<ServerHandle>>,
}

impl Handle for ServerObj {
    const KIND: &'static str = "sochdb_server";
    type C = sochdb_server;
}

/// Starts serving `db` on the Unix socket `socket_path` (created owner-only unless
/// `allowed_uids` are given) and returns at once; the server runs on its own threads.
/// `opts` may be NULL for the defaults. Stop the server before closing `db`.
///
/// Ownership: `*server` receives a new handle (NULL on failure) to stop with
/// `sochdb_server_stop`. Errors: `SOCHDB_INVALID_ARGUMENT` (NULL arguments, bad
/// options), `SOCHDB_LOCKED` (a live server holds that socket), `SOCHDB_ALREADY_EXISTS`
/// (something other than a socket is at the path), `SOCHDB_IO`, `SOCHDB_CLOSED`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_server_start(
    db: *mut sochdb_db,
    socket_path: *const c_char,
    opts: *const sochdb_server_options,
    server: *mut *mut sochdb_server,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    args::set(server, std::ptr::null_mut());
    guard_ok("sochdb_server_start", err, || {
        let out = args::out(server, "server")?;
        let path = args::string(socket_path, "socket_path")?;
        let opts = read(opts)?;
        let db = db::get(db)?;
        let backend = Arc::clone(db.backend()?);
        let running = Server::start(backend, Path::new(path), opts)?;
        args::set(
            out,
            handle::register(ServerObj {
                running: Mutex::new(Some(running)),
            }),
        );
        Ok(())
    })
}

/// Stops the server (no new connections, requests in flight finish, open transactions
/// are aborted, the socket is removed) and frees the handle. The database stays open.
/// NULL is accepted (`SOCHDB_OK`); a second stop gives `SOCHDB_CLOSED`.
///
/// Errors: `SOCHDB_CLOSED`, `SOCHDB_INVALID_ARGUMENT`, `SOCHDB_IO` (the handle is freed
/// in any case).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sochdb_server_stop(
    server: *mut sochdb_server,
    err: *mut *mut sochdb_error,
) -> sochdb_status {
    guard_ok("sochdb_server_stop", err, || {
        if server.is_null() {
            return Ok(());
        }
        let obj = handle::take::<ServerObj>(server)?;
        let running = obj.running.lock().take();
        match running {
            Some(h) => h.stop(),
            None => Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Status;

    #[test]
    fn options_are_read_and_validated() {
        let mut o = sochdb_server_options {
            struct_size: 0,
            log: 7,
            max_connections: 7,
            max_txns_per_connection: 7,
            idle_timeout_ms: 7,
            shutdown_grace_ms: 7,
            allowed_uids: std::ptr::null(),
            allowed_uid_count: 0,
        };
        // SAFETY: o is a valid, writable struct.
        unsafe { sochdb_server_options_init(&mut o) };
        assert_eq!(o.struct_size as usize, size_of::<sochdb_server_options>());
        let d = read(&o).unwrap();
        assert_eq!(d.max_connections, ServerOptions::default().max_connections);
        let uids = [1000u32, 1001];
        o.max_connections = 3;
        o.allowed_uids = uids.as_ptr();
        o.allowed_uid_count = 2;
        o.log = 1;
        let d = read(&o).unwrap();
        assert_eq!((d.max_connections, d.log), (3, true));
        assert_eq!(d.allowed_uids, uids);
        assert!(read(std::ptr::null()).is_ok());
        for bad in [
            sochdb_server_options { log: 2, ..o },
            sochdb_server_options {
                struct_size: 1,
                ..o
            },
            sochdb_server_options {
                allowed_uids: std::ptr::null(),
                ..o
            },
        ] {
            assert_eq!(read(&bad).unwrap_err().status(), Status::InvalidArgument);
        }
    }
}
