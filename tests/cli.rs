//! The `sochdb` command line, in-process (`--db`) and against a server (`--socket`).

mod common;

use common::{ServeProc, cli, cli_stdin};

const COMMANDS: [&str; 12] = [
    "get",
    "put",
    "del",
    "scan",
    "query",
    "tables",
    "stats",
    "checkpoint",
    "compact",
    "verify",
    "serve",
    "import",
];

#[test]
fn every_command_has_help_and_bad_usage_exits_2() {
    let (code, out, _) = cli(&["--help"]);
    assert_eq!(code, 0);
    for c in COMMANDS {
        assert!(out.contains(c), "{c} missing from the main help");
        let (code, out, err) = cli(&[c, "--help"]);
        assert_eq!(code, 0, "{c}: {err}");
        assert!(out.starts_with(&format!("usage: sochdb {c}")), "{out}");
    }
    let (code, _, err) = cli(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown command"), "{err}");
    let (code, _, err) = cli(&["get", "--bogus", "k"]);
    assert_eq!(code, 2);
    assert!(err.contains("--bogus"), "{err}");
    let (code, _, err) = cli(&["get", "k"]);
    assert_eq!(code, 2);
    assert!(err.contains("--db") && err.contains("--socket"), "{err}");
    let (code, _, _) = cli(&["get", "--db", "x", "--socket", "y", "k"]);
    assert_eq!(code, 2);
}

/// Runs the same session of commands against `target` (`--db DIR` or `--socket PATH`).
fn session(target: &[&str], dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let mut v: Vec<&str> = vec![args[0]];
        v.extend_from_slice(target);
        v.extend_from_slice(&args[1..]);
        cli(&v)
    };
    assert_eq!(run(&["put", "greeting", "hello world"]).0, 0);
    assert_eq!(
        run(&["get", "greeting"]),
        (0, "hello world\n".into(), String::new())
    );
    let (code, out, _) = run(&["get", "greeting", "--json"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["value"], "hello world");
    let (code, _, err) = run(&["get", "missing"]);
    assert_eq!(code, 1);
    assert!(err.contains("missing"), "{err}");

    // A value from stdin, with bytes that need escaping when listed.
    let mut v: Vec<&str> = vec!["put"];
    v.extend_from_slice(target);
    v.extend_from_slice(&["bin", "-"]);
    assert_eq!(cli_stdin(&v, Some(b"a\tb\xff")).0, 0);

    // Import: the whole file is checked first, then written.
    let good = dir.join("good.jsonl");
    std::fs::write(
        &good,
        "{\"key\": \"user/1\", \"value\": \"ann\"}\n\n{\"key\": \"user/2\", \"value\": \"bob\"}\n\
         {\"key\": {\"hex\": \"7573657233\"}, \"value\": \"cy\"}\n{\"key\": \"greeting\", \"value\": null}\n",
    )
    .unwrap();
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"key\": \"user/9\", \"value\": \"x\"}\n{\"key\": \"user/10\"}\n",
    )
    .unwrap();
    let (code, _, err) = run(&["import", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.jsonl:2"), "{err}");
    assert_eq!(
        run(&["get", "user/9"]).0,
        1,
        "nothing of a bad file is written"
    );
    let (code, _, err) = run(&["import", good.to_str().unwrap(), "--batch", "2"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("4 records (3 puts, 1 deletes)"), "{err}");
    assert_eq!(run(&["get", "greeting"]).0, 1);

    let (code, out, _) = run(&["scan", "user"]);
    assert_eq!(code, 0);
    assert_eq!(out, "user/1\tann\nuser/2\tbob\nuser3\tcy\n");
    let (_, out, _) = run(&["scan", "--start", "user/2", "--reverse", "--keys-only"]);
    assert_eq!(out, "user3\nuser/2\n");
    let (_, out, _) = run(&["scan", "bin"]);
    assert_eq!(out, "bin\ta\\tb\\xff\n");
    // JSON lines from scan read back with import.
    let (_, out, _) = run(&["scan", "--json"]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        serde_json::json!({"key": "bin", "value": {"hex": "610962ff"}})
    );
    let (_, out, _) = run(&["scan", "--limit", "1"]);
    assert_eq!(out.lines().count(), 1);

    assert_eq!(run(&["del", "user/1", "user/2", "never"]).0, 0);
    assert_eq!(run(&["get", "user/1"]).0, 1);

    // Paths, tables and queries.
    assert_eq!(run(&["put", "docs/1/title", "Hello"]).0, 0);
    assert_eq!(run(&["put", "docs/2/title", "World, again"]).0, 0);
    let (code, out, err) = run(&["query", "docs"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "docs[2]{_key,title}:\n  \"1\",Hello\n  \"2\",\"World, again\"\n"
    );
    let (_, out, _) = run(&["query", "docs", "--json", "--where", "title=Hello"]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 1, "{j}");
    let (code, out, _) = run(&["tables"]);
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, _, err) = run(&["tables", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("nope"), "{err}");

    let (code, out, _) = run(&["stats"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(j["last_commit_ts"].as_u64().unwrap() > 0, "{j}");
    let (code, _, err) = run(&["checkpoint"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("checkpoint: done"), "{err}");
    let (code, out, err) = run(&["verify"]);
    assert_eq!(code, 0, "{err}");
    if target[0] == "--db" {
        // In-process: the engine's file-level check of every block and log record.
        assert!(out.contains(": OK"), "{out}");
        assert!(out.contains("block files: 1"), "{out}");
    } else {
        assert!(err.contains("OK: 4 keys"), "{err}");
    }

    // A full compaction drops what the deletes and overwrites above left behind, and
    // keeps every live pair.
    let (code, _, err) = run(&["compact"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("compact: done, ") && err.contains("MB on disk (compactions read "),
        "{err}"
    );
    let (code, out, _) = run(&["scan", "--keys-only"]);
    assert_eq!(code, 0);
    assert_eq!(out, "bin\ndocs/1/title\ndocs/2/title\nuser3\n");
    assert_eq!(run(&["get", "user/1"]).0, 1);
    let (code, out, err) = run(&["compact", "extra"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
}

#[test]
fn verify_reports_a_damaged_block_file_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let d = db.to_str().unwrap();
    for i in 0..20 {
        let (code, _, err) = cli(&["put", "--db", d, &format!("k{i}"), "some value"]);
        assert_eq!(code, 0, "{err}");
    }
    assert_eq!(cli(&["checkpoint", "--db", d]).0, 0);
    assert_eq!(cli(&["verify", d]).0, 0);
    let sst = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "sst"))
        .expect("a block file after the checkpoint");
    let mut bytes = std::fs::read(&sst).unwrap();
    bytes[10] ^= 0x40;
    std::fs::write(&sst, bytes).unwrap();
    let (code, out, _) = cli(&["verify", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("checksum mismatch"), "{out}");
    assert!(
        out.contains(sst.file_name().unwrap().to_str().unwrap()),
        "{out}"
    );
}

#[test]
fn in_process_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    session(&["--db", db.to_str().unwrap()], dir.path());
}

#[test]
fn socket_session() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let server = ServeProc::start(&db, &["--quiet"]);
    let sock = server.socket.to_str().unwrap().to_string();
    session(&["--socket", &sock], dir.path());
    let (code, out, _) = cli(&["stats", "--socket", &sock]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(j["connections_total"].as_u64().unwrap() > 10, "{j}");
    server.signal(libc::SIGTERM);
    assert!(server.wait().0.success());
}
