//! A small argument parser: `--flag`, `--name value`, `--name=value`, positionals, and
//! `--` to end the options. Each command declares the options it accepts.

use std::collections::HashMap;

/// One accepted option.
pub struct Opt {
    /// The long name, without the dashes.
    pub name: &'static str,
    /// True when the option takes a value.
    pub takes_value: bool,
    /// One line of help (the value's name first, for options that take one).
    pub help: &'static str,
}

/// Parsed arguments of one command.
#[derive(Debug, Default)]
pub struct Args {
    /// Option values in order of appearance (flags hold an empty string).
    opts: HashMap<&'static str, Vec<String>>,
    /// Positional arguments.
    pub positional: Vec<String>,
}

/// The outcome of parsing.
pub enum Parsed {
    /// Arguments to run with.
    Run(Args),
    /// `--help` or `-h` was given.
    Help,
}

/// Parses `argv` (without the command name) against `spec`.
pub fn parse(argv: &[String], spec: &[Opt]) -> Result<Parsed, String> {
    let mut args = Args::default();
    let mut i = 0;
    let mut only_positional = false;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        if only_positional || a == "-" || !a.starts_with('-') {
            args.positional.push(a.clone());
            continue;
        }
        if a == "--" {
            only_positional = true;
            continue;
        }
        if a == "--help" || a == "-h" {
            return Ok(Parsed::Help);
        }
        let Some(body) = a.strip_prefix("--") else {
            return Err(format!("unknown option {a} (options are spelled --name)"));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(opt) = spec.iter().find(|o| o.name == name) else {
            return Err(format!("unknown option --{name}"));
        };
        let value = if opt.takes_value {
            match inline {
                Some(v) => v,
                None => {
                    let Some(v) = argv.get(i) else {
                        return Err(format!("--{name} needs a value"));
                    };
                    i += 1;
                    v.clone()
                }
            }
        } else {
            if inline.is_some() {
                return Err(format!("--{name} takes no value"));
            }
            String::new()
        };
        args.opts.entry(opt.name).or_default().push(value);
    }
    Ok(Parsed::Run(args))
}

impl Args {
    /// True when the flag was given.
    pub fn flag(&self, name: &str) -> bool {
        self.opts.contains_key(name)
    }

    /// The last value of an option.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.opts
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value of a repeatable option.
    pub fn values(&self, name: &str) -> &[String] {
        self.opts.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// An option's value parsed as a number.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("--{name} needs a number, not {v:?}")),
        }
    }

    /// Exactly `n` positionals, named in `what` for the error.
    pub fn expect_positional(&self, n: usize, what: &str) -> Result<&[String], String> {
        if self.positional.len() != n {
            return Err(format!(
                "expected {what}, got {} argument(s)",
                self.positional.len()
            ));
        }
        Ok(&self.positional)
    }
}

/// Renders the option list for a help text.
pub fn render_opts(spec: &[Opt]) -> String {
    let mut s = String::new();
    for o in spec {
        let head = if o.takes_value {
            let (val, rest) = o.help.split_once(' ').unwrap_or((o.help, ""));
            (format!("--{} {val}", o.name), rest.to_string())
        } else {
            (format!("--{}", o.name), o.help.to_string())
        };
        s.push_str(&format!("  {:<24} {}\n", head.0, head.1));
    }
    s.push_str(&format!("  {:<24} {}\n", "--help", "show this help"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[Opt] = &[
        Opt {
            name: "db",
            takes_value: true,
            help: "DIR database",
        },
        Opt {
            name: "json",
            takes_value: false,
            help: "JSON output",
        },
    ];

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options_and_positionals() {
        let Ok(Parsed::Run(a)) = parse(&v(&["k", "--db", "d", "--json", "--", "--x"]), SPEC) else {
            panic!()
        };
        assert_eq!(a.value("db"), Some("d"));
        assert!(a.flag("json"));
        assert_eq!(a.positional, v(&["k", "--x"]));
        let Ok(Parsed::Run(a)) = parse(&v(&["--db=e"]), SPEC) else {
            panic!()
        };
        assert_eq!(a.value("db"), Some("e"));
        assert!(matches!(parse(&v(&["-h"]), SPEC), Ok(Parsed::Help)));
        assert!(parse(&v(&["--nope"]), SPEC).is_err());
        assert!(parse(&v(&["--db"]), SPEC).is_err());
        assert!(parse(&v(&["--json=1"]), SPEC).is_err());
        assert!(render_opts(SPEC).contains("--db DIR"));
    }
}
