//! `sochdb serve`: opens the database, serves it on a socket until SIGTERM or SIGINT,
//! then shuts down in order and exits 0.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sochdb::ipc::server::{Server, ServerOptions, log};

use super::CliError;
use super::args::Args;
use super::local;
use super::signals::Signals;
use super::target::{DEFAULT_SOCKET, lock_database};

/// Runs the server in the foreground.
pub fn serve(a: &Args) -> Result<(), CliError> {
    if !a.positional.is_empty() {
        return Err(CliError::Usage(format!(
            "unexpected argument {:?}",
            a.positional[0]
        )));
    }
    let dir = PathBuf::from(
        a.value("db")
            .ok_or_else(|| CliError::Usage("serve needs --db DIR".into()))?,
    );
    let socket = a
        .value("socket")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join(DEFAULT_SOCKET));
    let mut opts = ServerOptions {
        log: !a.flag("quiet"),
        ..ServerOptions::default()
    };
    if let Some(n) = a.number("max-connections").map_err(CliError::Usage)? {
        opts.max_connections = n;
    }
    if let Some(n) = a.number::<usize>("event-loops").map_err(CliError::Usage)? {
        if n == 0 {
            return Err(CliError::Usage("--event-loops needs at least 1".into()));
        }
        opts.event_loops = n;
    }
    if let Some(us) = a.number::<u64>("spin-us").map_err(CliError::Usage)? {
        opts.spin = Duration::from_micros(us);
    }
    if let Some(n) = a.number("max-txns").map_err(CliError::Usage)? {
        opts.max_txns_per_connection = n;
    }
    if let Some(s) = a.number::<u64>("idle-timeout").map_err(CliError::Usage)? {
        opts.idle_timeout = (s > 0).then(|| Duration::from_secs(s));
    }
    for u in a.values("allow-uid") {
        opts.allowed_uids.push(
            u.parse()
                .map_err(|_| CliError::Usage(format!("--allow-uid needs a uid, not {u:?}")))?,
        );
    }
    let verbose = opts.log;
    let mut signals = Signals::install()
        .map_err(|e| CliError::Db(sochdb::Error::io("installing signal handlers", e)))?;
    let lock = lock_database(&dir)?;
    let started = Instant::now();
    let db = local::open_database(&dir)?;
    log::line(
        verbose,
        format_args!(
            "opened database {} in {} ms",
            dir.display(),
            started.elapsed().as_millis()
        ),
    );
    let handle = match Server::start(db.clone(), &socket, opts) {
        Ok(h) => h,
        Err(e) => {
            let _ = local::close_database(&db);
            return Err(e.into());
        }
    };
    let why = loop {
        if let Some(sig) = signals.wait(1000) {
            break format!("received {sig}");
        }
        if !handle.is_running() {
            break "the accept loop ended".to_string();
        }
    };
    log::line(verbose, format_args!("{why}: shutting down"));
    let stopped = handle.stop();
    let closed = local::close_database(&db);
    drop(lock);
    stopped?;
    closed?;
    log::line(
        verbose,
        format_args!("database {} closed; exiting", dir.display()),
    );
    Ok(())
}
