//! What the command line needs from the in-process database: opening it, rendering
//! query results, and checking it.

use std::path::Path;
use std::sync::Arc;

use sochdb::backend::{Backend, QueryResult};
use sochdb::{Error, Result};

/// Opens the database in `dir` in this process.
pub fn open_database(dir: &Path) -> Result<Arc<dyn Backend>> {
    Err(Error::Internal(format!(
        "opening {} in-process needs the kernel",
        dir.display()
    )))
}

/// A result as TOON, or as JSON when `json`.
pub fn render(res: &QueryResult, json: bool) -> Result<String> {
    let _ = (res, json);
    Err(Error::Internal("rendering needs the kernel".into()))
}
