//! The `sochdb` command line: one binary for people, like `sqlite3` or `redis-cli`.
//!
//! Every data command works on `--db DIR` (the database opened in this process) or
//! `--socket PATH` (a running `sochdb serve`). Exit status: 0 on success, 1 on an error
//! (including `get` of an absent key), 2 on a usage error.

mod args;
mod commands;
mod local;
mod output;
mod progress;
mod serve;
mod signals;
mod target;

use args::{Opt, Parsed};
use target::TARGET_OPTS;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// Wrong arguments (exit status 2).
    Usage(String),
    /// A database error.
    Db(sochdb::Error),
    /// Something asked for is absent.
    NotFound(String),
    /// Any other failure, already worded.
    Other(String),
}

impl From<sochdb::Error> for CliError {
    fn from(e: sochdb::Error) -> CliError {
        CliError::Db(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError::Db(sochdb::Error::io("writing output", e))
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) | CliError::NotFound(m) | CliError::Other(m) => f.write_str(m),
            CliError::Db(e) => write!(f, "{e}"),
        }
    }
}

const JSON: Opt = Opt {
    name: "json",
    takes_value: false,
    help: "print JSON",
};

type Run = fn(&target::Target, &args::Args) -> Result<(), CliError>;

/// One subcommand.
struct Command {
    name: &'static str,
    usage: &'static str,
    about: &'static str,
    opts: &'static [Opt],
    run: Option<Run>,
}

const COMMANDS: &[Command] = &[
    Command {
        name: "get",
        usage: "get KEY",
        about: "Prints the value of KEY. Exit status 1 when KEY is absent.",
        opts: &[JSON],
        run: Some(commands::get),
    },
    Command {
        name: "put",
        usage: "put KEY VALUE | put KEY - | put KEY --file PATH",
        about: "Stores a value under KEY (from the argument, stdin, or a file).",
        opts: &[Opt {
            name: "file",
            takes_value: true,
            help: "PATH read the value from PATH",
        }],
        run: Some(commands::put),
    },
    Command {
        name: "del",
        usage: "del KEY...",
        about: "Deletes keys (an absent key is not an error).",
        opts: &[],
        run: Some(commands::del),
    },
    Command {
        name: "scan",
        usage: "scan [PREFIX] | scan --start KEY [--end KEY]",
        about: "Lists pairs in key order, one `key<TAB>value` line each (tabs, newlines, \
                backslashes and non-UTF-8 bytes escaped). --json prints JSON lines that \
                `sochdb import` reads back.",
        opts: &[
            Opt {
                name: "start",
                takes_value: true,
                help: "KEY first key of the range (inclusive)",
            },
            Opt {
                name: "end",
                takes_value: true,
                help: "KEY end of the range (exclusive)",
            },
            Opt {
                name: "reverse",
                takes_value: false,
                help: "descending key order",
            },
            Opt {
                name: "limit",
                takes_value: true,
                help: "N at most N pairs",
            },
            Opt {
                name: "keys-only",
                takes_value: false,
                help: "print keys only",
            },
            JSON,
        ],
        run: Some(commands::scan),
    },
    Command {
        name: "query",
        usage: "query SOURCE [--columns A,B] [--where 'COL OP VALUE']... [--limit N] [--offset N]",
        about: "Runs a query over a table, or over the path-shaped keys under a path, and \
                prints the result as TOON (or JSON). OP is one of = != < <= > >=; VALUE is \
                a number, true, false, null, or text (\"quoted\" to keep it text).",
        opts: &[
            Opt {
                name: "columns",
                takes_value: true,
                help: "A,B columns wanted, in order (default: all)",
            },
            Opt {
                name: "where",
                takes_value: true,
                help: "COND a condition; repeat for AND",
            },
            Opt {
                name: "limit",
                takes_value: true,
                help: "N at most N rows",
            },
            Opt {
                name: "offset",
                takes_value: true,
                help: "N skip N rows first",
            },
            JSON,
        ],
        run: Some(commands::query),
    },
    Command {
        name: "tables",
        usage: "tables [NAME]",
        about: "Lists the tables, or describes table NAME.",
        opts: &[JSON],
        run: Some(commands::tables),
    },
    Command {
        name: "stats",
        usage: "stats",
        about: "Prints the database's figures (and the server's, with --socket) as JSON.",
        opts: &[],
        run: Some(commands::stats),
    },
    Command {
        name: "checkpoint",
        usage: "checkpoint",
        about: "Flushes the memtable, syncs, and trims the log.",
        opts: &[],
        run: Some(commands::checkpoint),
    },
    Command {
        name: "compact",
        usage: "compact",
        about: "Runs a full compaction: flushes the memtable, then rewrites every block file \
                into the last level, dropping overwritten versions and deleted keys, so the \
                database takes about the space its live data needs. Prints a progress line \
                on stderr, then the bytes on disk before and after. With --socket the \
                server does the work (other clients keep reading and writing) and the \
                reply is awaited without --timeout.",
        opts: &[],
        run: Some(commands::compact),
    },
    Command {
        name: "verify",
        usage: "verify [DIR]",
        about: "With --db DIR (or DIR): reads every file of the database without opening \
                it for writing (every block of every block file, every log record), checks \
                every checksum and the key order within and across files, and prints a \
                summary. With --socket: reads every key and every table row through the \
                server. Exit status 1 on any problem.",
        opts: &[],
        run: Some(commands::verify),
    },
    Command {
        name: "import",
        usage: "import FILE [--batch N]",
        about: "Loads JSON lines {\"key\": K, \"value\": V}: K and V are strings, or \
                {\"hex\": \"...\"} for bytes; a null V deletes K. The whole file is checked \
                first (nothing is written if a line is bad), then written in atomic \
                batches.",
        opts: &[Opt {
            name: "batch",
            takes_value: true,
            help: "N records per atomic batch (default 1000)",
        }],
        run: Some(commands::import),
    },
    Command {
        name: "serve",
        usage: "serve --db DIR [--socket PATH]",
        about: "Serves the database in DIR (created if needed) on a Unix socket, default \
                DIR/sochdb.sock, in the foreground, logging to stderr. SIGTERM or SIGINT \
                stops it cleanly: requests in flight finish, open transactions are \
                aborted, the database is closed and the socket removed.",
        opts: &[
            Opt {
                name: "db",
                takes_value: true,
                help: "DIR the database directory",
            },
            Opt {
                name: "socket",
                takes_value: true,
                help: "PATH the socket (default DIR/sochdb.sock)",
            },
            Opt {
                name: "max-connections",
                takes_value: true,
                help: "N connections served at once (default 256)",
            },
            Opt {
                name: "event-loops",
                takes_value: true,
                help: "N event loop threads (default: one per two cores, 1 to 8)",
            },
            Opt {
                name: "spin-us",
                takes_value: true,
                help: "US keep polling this long after serving before sleeping; 0 never (default 50)",
            },
            Opt {
                name: "max-txns",
                takes_value: true,
                help: "N open transactions per connection (default 64)",
            },
            Opt {
                name: "idle-timeout",
                takes_value: true,
                help: "SECS close idle connections after SECS; 0 never (default 600)",
            },
            Opt {
                name: "allow-uid",
                takes_value: true,
                help: "UID also let this uid connect (repeatable; the socket is then 0666)",
            },
            Opt {
                name: "quiet",
                takes_value: false,
                help: "no log lines",
            },
        ],
        run: None,
    },
];

fn main_usage() -> String {
    let mut s = format!(
        "sochdb {} - the SochDB command line\n\nusage: sochdb COMMAND [options]\n\ncommands:\n",
        sochdb::VERSION
    );
    for c in COMMANDS {
        s.push_str(&format!("  {:<12} {}\n", c.name, c.usage));
    }
    s.push_str(
        "\nData commands take --db DIR (in this process) or --socket PATH (a running \
         `sochdb serve`).\nRun `sochdb COMMAND --help` for a command's options.\n",
    );
    s
}

fn command_help(c: &Command) -> String {
    let mut opts: Vec<&Opt> = Vec::new();
    if c.run.is_some() {
        opts.extend(TARGET_OPTS.iter());
    }
    opts.extend(c.opts.iter());
    let owned: Vec<Opt> = opts
        .iter()
        .map(|o| Opt {
            name: o.name,
            takes_value: o.takes_value,
            help: o.help,
        })
        .collect();
    format!(
        "usage: sochdb {}\n\n{}\n\noptions:\n{}",
        c.usage,
        c.about,
        args::render_opts(&owned)
    )
}

/// Runs the command line; returns the exit status.
pub fn run(argv: &[String]) -> i32 {
    let Some(name) = argv.first() else {
        eprint!("{}", main_usage());
        return 2;
    };
    match name.as_str() {
        "--help" | "-h" | "help" => {
            print!("{}", main_usage());
            return 0;
        }
        "--version" | "version" => {
            println!("sochdb {}", sochdb::VERSION);
            return 0;
        }
        _ => {}
    }
    let Some(cmd) = COMMANDS.iter().find(|c| c.name == name) else {
        eprintln!("sochdb: unknown command {name:?}\n");
        eprint!("{}", main_usage());
        return 2;
    };
    let mut spec: Vec<Opt> = Vec::new();
    if cmd.run.is_some() {
        spec.extend(TARGET_OPTS);
    }
    spec.extend(cmd.opts.iter().map(|o| Opt {
        name: o.name,
        takes_value: o.takes_value,
        help: o.help,
    }));
    let parsed = match args::parse(&argv[1..], &spec) {
        Ok(Parsed::Help) => {
            print!("{}", command_help(cmd));
            return 0;
        }
        Ok(Parsed::Run(a)) => a,
        Err(m) => {
            eprintln!("sochdb {name}: {m}\n(see `sochdb {name} --help`)");
            return 2;
        }
    };
    let result = match cmd.run {
        None => serve::serve(&parsed),
        Some(_) if cmd.name == "verify" && parsed.value("socket").is_none() => {
            commands::verify_files(&parsed)
        }
        Some(f) => target::open(&parsed).and_then(|t| {
            let r = f(&t, &parsed);
            let c = t.close();
            r.and(c)
        }),
    };
    match result {
        Ok(()) => 0,
        Err(CliError::Usage(m)) => {
            eprintln!("sochdb {name}: {m}\n(see `sochdb {name} --help`)");
            2
        }
        Err(CliError::Db(sochdb::Error::Io { source, .. }))
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            // `sochdb scan | head`: the reader went away; not an error worth a word.
            0
        }
        Err(e) => {
            eprintln!("sochdb {name}: {e}");
            1
        }
    }
}
