//! Shared parts of the reliability campaigns (`docs/reliability.md`): how big a run is,
//! a seeded generator, and the tally every campaign prints and checks.
//!
//! A campaign runs at scale 1 in the test suite. `SOCHDB_CAMPAIGN_SCALE=N` (set by
//! `scripts/campaigns.sh`) multiplies its work; `SOCHDB_CAMPAIGN_SEED` replays a run.
//! Every campaign ends with one line on standard error,
//! `campaign NAME: figure=N ... violations=N`, which the script collects.
#![allow(dead_code)]

pub mod cabi;
pub mod history;
pub mod mixed;

use std::time::{SystemTime, UNIX_EPOCH};

/// The work multiplier: 1 in the test suite, larger for long runs.
pub fn scale() -> u64 {
    std::env::var("SOCHDB_CAMPAIGN_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1)
}

/// True when `SOCHDB_CAMPAIGN_VERBOSE` is set: campaigns then print every refusal and
/// tolerated outcome, not just the summary.
pub fn verbose() -> bool {
    std::env::var_os("SOCHDB_CAMPAIGN_VERBOSE").is_some()
}

/// The seed of this run: `SOCHDB_CAMPAIGN_SEED`, or the clock. Printed, so a failing
/// run can be replayed.
pub fn seed(campaign: &str) -> u64 {
    let seed = std::env::var("SOCHDB_CAMPAIGN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("campaign {campaign}: seed {seed} (SOCHDB_CAMPAIGN_SEED={seed} replays it)");
    seed
}

/// A small deterministic generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A generator for a sub-stream (a thread, a round), independent of this one's use.
    pub fn fork(&self, salt: u64) -> Rng {
        let mut r = Rng(self.0 ^ salt.wrapping_mul(0xD134_2543_DE82_EF95));
        r.next_u64();
        r
    }
}

/// The figures and violations of one campaign.
#[derive(Debug)]
pub struct Tally {
    /// The campaign's name.
    pub name: String,
    /// Named counts, in the order first added.
    pub figures: Vec<(String, u64)>,
    /// What went wrong, one line each (the first thousand kept, the first ten printed).
    pub violations: Vec<String>,
    /// Violations found (all of them, kept or not).
    pub violation_count: u64,
}

impl Tally {
    /// An empty tally.
    pub fn new(name: &str) -> Tally {
        Tally {
            name: name.to_string(),
            figures: Vec::new(),
            violations: Vec::new(),
            violation_count: 0,
        }
    }

    /// Adds `n` to the figure `what`.
    pub fn add(&mut self, what: &str, n: u64) {
        match self.figures.iter_mut().find(|(k, _)| k == what) {
            Some((_, v)) => *v += n,
            None => self.figures.push((what.to_string(), n)),
        }
    }

    /// The figure `what` (0 when never added).
    pub fn get(&self, what: &str) -> u64 {
        self.figures
            .iter()
            .find(|(k, _)| k == what)
            .map_or(0, |(_, v)| *v)
    }

    /// Records a violation.
    pub fn violation(&mut self, what: String) {
        if self.violations.len() < 1000 {
            self.violations.push(what);
        }
        self.violation_count += 1;
    }

    /// Merges another tally's figures and violations into this one.
    pub fn merge(&mut self, other: Tally) {
        for (k, v) in other.figures {
            self.add(&k, v);
        }
        self.violations.extend(other.violations);
        self.violation_count += other.violation_count;
    }

    /// Prints the summary line and fails the test when there was any violation.
    pub fn finish(self) {
        let mut line = format!("campaign {}:", self.name);
        for (k, v) in &self.figures {
            line.push_str(&format!(" {k}={v}"));
        }
        line.push_str(&format!(" violations={}", self.violation_count));
        eprintln!("{line}");
        if self.violation_count > 0 {
            let shown: Vec<&str> = self
                .violations
                .iter()
                .take(10)
                .map(String::as_str)
                .collect();
            panic!(
                "campaign {}: {} violations, the first:\n{}",
                self.name,
                self.violation_count,
                shown.join("\n")
            );
        }
    }
}
