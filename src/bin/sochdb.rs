//! The `sochdb` command line (see `src/cli/mod.rs` and `sochdb --help`).

#[path = "../cli/mod.rs"]
mod cli;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(cli::run(&argv));
}
