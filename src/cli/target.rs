//! The database a command works on: `--db DIR` opens it in this process (holding the
//! database's pid lock for the duration), `--socket PATH` talks to a `sochdb serve`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sochdb::backend::Backend;
use sochdb::ipc::PidLock;
use sochdb::ipc::client::{Client, ClientOptions};
use sochdb::kernel::Database;

use super::CliError;
use super::args::{Args, Opt};
use super::local;

/// File in a database directory that names the process owning the database.
pub const DB_LOCK_FILE: &str = "sochdb.pid";
/// Default socket file in a database directory.
pub const DEFAULT_SOCKET: &str = "sochdb.sock";

/// The options every data command takes.
pub const TARGET_OPTS: [Opt; 3] = [
    Opt {
        name: "db",
        takes_value: true,
        help: "DIR open the database in DIR in this process",
    },
    Opt {
        name: "socket",
        takes_value: true,
        help: "PATH talk to the `sochdb serve` listening on PATH",
    },
    Opt {
        name: "timeout",
        takes_value: true,
        help: "SECS with --socket: longest wait for a reply (default 120)",
    },
];

/// An open database.
pub struct Target {
    /// The database.
    pub db: Arc<dyn Backend>,
    /// The same database when it is open in this process.
    local: Option<Arc<Database>>,
    /// The database's pid lock, held while it is open in-process.
    _lock: Option<PidLock>,
}

impl Target {
    /// Closes the database (syncing an in-process one), then releases the lock.
    pub fn close(self) -> Result<(), CliError> {
        match &self.local {
            Some(db) => local::close_database(db)?,
            None => self.db.close()?,
        }
        Ok(())
    }
}

/// Takes the pid lock of database directory `dir`, with a message that says who holds
/// it and what to do.
pub fn lock_database(dir: &Path) -> Result<PidLock, CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Db(sochdb::Error::io(format!("creating {}", dir.display()), e)))?;
    let lock_path = dir.join(DB_LOCK_FILE);
    PidLock::acquire(&lock_path, &format!("database {}", dir.display())).map_err(|e| {
        CliError::Other(format!(
            "{e}\nIf that process is `sochdb serve`, use --socket {} instead of --db.",
            dir.join(DEFAULT_SOCKET).display()
        ))
    })
}

/// Opens what `--db` or `--socket` names.
pub fn open(args: &Args) -> Result<Target, CliError> {
    match (args.value("db"), args.value("socket")) {
        (Some(_), Some(_)) => Err(CliError::Usage(
            "give either --db DIR or --socket PATH, not both".into(),
        )),
        (None, None) => Err(CliError::Usage(
            "give --db DIR (open in this process) or --socket PATH (a running `sochdb serve`)"
                .into(),
        )),
        (None, Some(sock)) => {
            let secs: u64 = args
                .number("timeout")
                .map_err(CliError::Usage)?
                .unwrap_or(120);
            let opts = ClientOptions {
                request_timeout: (secs > 0).then(|| Duration::from_secs(secs)),
                client_name: format!("sochdb-cli {}", sochdb::VERSION),
                ..ClientOptions::default()
            };
            let client = Client::connect(&PathBuf::from(sock), opts)?;
            Ok(Target {
                db: Arc::new(client),
                local: None,
                _lock: None,
            })
        }
        (Some(dir), None) => {
            let dir = PathBuf::from(dir);
            let lock = lock_database(&dir)?;
            let db = local::open_database(&dir)?;
            Ok(Target {
                db: db.clone(),
                local: Some(db),
                _lock: Some(lock),
            })
        }
    }
}
