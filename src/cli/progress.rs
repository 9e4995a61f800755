//! A progress line on stderr for long work: rewritten in place on a terminal, one line
//! per update otherwise, at most once a second either way.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// A progress reporter.
pub struct Progress {
    /// What is being done (`import`).
    what: &'static str,
    /// When the work started.
    started: Instant,
    /// When the line was last written.
    last: Option<Instant>,
    /// True when stderr is a terminal (rewrite in place).
    tty: bool,
}

impl Progress {
    /// Starts reporting on `what`.
    pub fn new(what: &'static str) -> Progress {
        Progress {
            what,
            started: Instant::now(),
            last: None,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Reports `msg` if a second has passed since the last report.
    pub fn update(&mut self, msg: impl FnOnce() -> String) {
        let now = Instant::now();
        if self.last.is_some_and(|l| now - l < Duration::from_secs(1)) {
            return;
        }
        if self.last.is_none() && now - self.started < Duration::from_millis(500) {
            return;
        }
        self.last = Some(now);
        let line = format!("{}: {} ({:.1} s)", self.what, msg(), self.elapsed_secs());
        let mut e = std::io::stderr().lock();
        if self.tty {
            let _ = write!(e, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(e, "{line}");
        }
    }

    /// Ends the progress line with a final message.
    pub fn finish(&self, msg: &str) {
        let mut e = std::io::stderr().lock();
        if self.tty && self.last.is_some() {
            let _ = write!(e, "\r\x1b[2K");
        }
        let _ = writeln!(e, "{}: {msg} in {:.2} s", self.what, self.elapsed_secs());
    }

    /// Seconds since the start.
    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}
