//! What the command line needs from the in-process database: opening and closing it,
//! and rendering query results.

use std::path::Path;
use std::sync::Arc;

use sochdb::Result;
use sochdb::backend::{Backend, QueryResult};
use sochdb::kernel::{Database, DbOptions};

/// Opens the database in `dir` in this process (creating it if needed).
pub fn open_database(dir: &Path) -> Result<Arc<Database>> {
    Ok(Arc::new(Database::open(dir, DbOptions::default())?))
}

/// Closes the database: aborts open transactions, syncs every commit, and releases
/// the directory.
pub fn close_database(db: &Database) -> Result<()> {
    db.close()
}

/// A result as TOON, or as JSON when `json`.
pub fn render(res: &QueryResult, json: bool) -> String {
    if json { res.to_json() } else { res.to_toon() }
}
