//! `sochdb serve` as a process: socket mode, the locks that make it one server per
//! database and per socket, and a clean exit on SIGTERM and SIGINT.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{ServeProc, cli};
use sochdb::backend::{Backend, TxnOptions};
use sochdb::ipc::client::{Client, ClientOptions};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn sigterm_finishes_cleanly_and_aborts_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let server = ServeProc::start(&db, &[]);
    assert_eq!(mode(&server.socket), 0o600);
    let pid = server.child.id().to_string();
    let pidfile = std::fs::read_to_string(db.join("sochdb.pid")).unwrap();
    assert_eq!(pidfile.trim(), pid);

    // A second server on the same database fails clearly.
    let (code, _, err) = cli(&["serve", "--db", db.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&pid) && err.contains("in use"), "{err}");
    // So does one on the same socket for another database.
    let other = dir.path().join("other");
    let (code, _, err) = cli(&[
        "serve",
        "--db",
        other.to_str().unwrap(),
        "--socket",
        server.socket.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&pid) && err.contains("socket"), "{err}");
    // And the in-process command line points at the socket.
    let (code, _, err) = cli(&["get", "--db", db.to_str().unwrap(), "k"]);
    assert_eq!(code, 1);
    assert!(err.contains("--socket"), "{err}");

    let c = Client::connect(&server.socket, ClientOptions::default()).unwrap();
    c.put(None, b"committed", b"yes").unwrap();
    let t = c.begin(TxnOptions::default()).unwrap();
    c.put(Some(t), b"uncommitted", b"no").unwrap();

    server.signal(libc::SIGTERM);
    let (status, log) = server.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("1 open transactions aborted"), "{log}");
    assert!(!db.join("sochdb.sock").exists());
    assert!(!db.join("sochdb.sock.lock").exists());
    assert!(!db.join("sochdb.pid").exists());
    assert!(c.get(None, b"committed").is_err());

    let (code, out, err) = cli(&["get", "--db", db.to_str().unwrap(), "committed"]);
    assert_eq!((code, out.as_str()), (0, "yes\n"), "{err}");
    let (code, _, _) = cli(&["get", "--db", db.to_str().unwrap(), "uncommitted"]);
    assert_eq!(code, 1);
}

#[test]
fn sigint_also_stops_the_server_and_a_custom_socket_works() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let sock = dir.path().join("custom.sock");
    let server = {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_sochdb"))
            .args(["serve", "--quiet", "--db"])
            .arg(&db)
            .arg("--socket")
            .arg(&sock)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut p = ServeProc {
            child,
            socket: sock.clone(),
        };
        for _ in 0..3000 {
            if Client::connect(&sock, ClientOptions::default()).is_ok() {
                break;
            }
            assert!(p.child.try_wait().unwrap().is_none());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        p
    };
    let (code, _, err) = cli(&["put", "--socket", sock.to_str().unwrap(), "k", "v"]);
    assert_eq!(code, 0, "{err}");
    server.signal(libc::SIGINT);
    let (status, log) = server.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.is_empty(), "--quiet logs nothing: {log}");
    assert!(!sock.exists());
}
