//! The `sochdb` command line.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("version") => println!("sochdb {}", sochdb::VERSION),
        _ => {
            eprintln!("usage: sochdb <command> [options]\n       sochdb --version");
            std::process::exit(2);
        }
    }
}
