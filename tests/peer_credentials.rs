//! Who may talk to the server: the socket's mode, and the `SO_PEERCRED` check against
//! the server's uid and the allowed uids. The cross-uid cases run clients as other uids,
//! which needs root; elsewhere the check itself is tested with simulated uids.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use common::TestServer;
use sochdb::ipc::server::{ServerOptions, peer_allowed};

const NOBODY: u32 = 65534;
const OTHER: u32 = 65533;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn server(allowed: Vec<u32>) -> TestServer {
    let s = TestServer::start(ServerOptions {
        allowed_uids: allowed,
        ..ServerOptions::default()
    });
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    s
}

/// Runs `sochdb stats --socket S` as `uid`; returns exit code and stderr.
fn stats_as(uid: u32, s: &TestServer) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sochdb"))
        .args(["stats", "--socket"])
        .arg(&s.socket)
        .uid(uid)
        .gid(uid)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_check_admits_only_the_server_uid_and_allowed_uids() {
    let me = 1000;
    assert!(peer_allowed(me, me, &[]));
    assert!(!peer_allowed(0, me, &[]));
    assert!(!peer_allowed(NOBODY, me, &[]));
    assert!(peer_allowed(NOBODY, me, &[NOBODY]));
    assert!(!peer_allowed(OTHER, me, &[NOBODY]));
}

#[test]
fn default_socket_is_owner_only_and_other_uids_cannot_connect() {
    let s = server(Vec::new());
    let mode = std::fs::metadata(&s.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The server's own uid is served.
    let (code, err) = stats_as(unsafe { libc::geteuid() }, &s);
    assert_eq!(code, 0, "{err}");
    if !is_root() {
        return;
    }
    let (code, err) = stats_as(NOBODY, &s);
    assert_eq!(code, 1);
    assert!(err.contains("Permission denied"), "{err}");
}

#[test]
fn allowed_uids_are_served_and_others_refused_by_peer_credentials() {
    let s = server(vec![NOBODY]);
    let mode = std::fs::metadata(&s.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);
    if !is_root() {
        return;
    }
    let (code, err) = stats_as(NOBODY, &s);
    assert_eq!(code, 0, "{err}");
    // OTHER can open the socket file, so only SO_PEERCRED stands in its way.
    let (code, err) = stats_as(OTHER, &s);
    assert_eq!(code, 1);
    assert!(
        err.contains("Permission denied: uid 65533 may not use this server"),
        "{err}"
    );
    let refused = s
        .handle
        .as_ref()
        .unwrap()
        .counters()
        .connections_refused
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(refused, 1);
}
