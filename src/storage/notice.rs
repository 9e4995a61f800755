//! Notices: things the engine reports to the operator without failing (a torn log tail
//! cut at recovery, a failed background sync). They go to standard error, one line each.

/// Prints one notice line to standard error.
pub(crate) fn notice(message: &str) {
    eprintln!("sochdb: {message}");
}
