//! Socket mode against Redis: GET and PUT (SET) of 100-byte values over a Unix socket,
//! with 1, 16 and 50 clients, without and with pipelining (depth 16), both durable
//! (SochDB's default `fdatasync` per commit group; Redis `appendfsync always`).
//! Both sides are driven the same way: one client thread multiplexing every connection
//! with `poll` (that is how `redis-benchmark` works).
//!
//! Run with `cargo bench --bench socket` (`-- --quick` for short rounds). It starts
//! `sochdb serve` and `redis-server` (see `bench/setup.sh`) on temporary directories
//! under `target/` (or `SOCHDB_BENCH_DIR`), and prints a Markdown table;
//! `SOCHDB_BENCH_LOOPS=n` gives the server `--event-loops n`,
//! `SOCHDB_BENCH_SERVE_ARGS` adds arguments to `sochdb serve` (say `--spin-us 0`), and
//! `SOCHDB_BENCH_ROWS=get_c16_p16,put_c50_p16` runs only the rows named, and
//! `SOCHDB_BENCH_SECS` sets the seconds per row (2, or 0.25 with `--quick`). SochDB's
//! connections speak the version 1 protocol (PUT / GET frames) from this process;
//! Redis is driven by `redis-benchmark -s`. Keys are drawn at random from 10 000 (all
//! present before the GET rows). Each configuration runs SochDB then Redis back to
//! back, so both see the same machine conditions.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sochdb::ipc::protocol::frame::FrameReader;
use sochdb::ipc::protocol::{op, rep};

const VALUE_LEN: usize = 100;
const KEYSPACE: u64 = 10_000;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Get,
    Put,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "GET",
            Op::Put => "PUT",
        }
    }
}

/// Throughput and latency of one run.
struct Figures {
    ops_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

/// `key:` and the number in 12 decimal digits (the `redis-benchmark -r` key shape).
fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key:000000000000";
    let mut n = i;
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

fn encode(buf: &mut Vec<u8>, op: Op, k: &[u8], value: &[u8]) {
    match op {
        Op::Put => {
            buf.push(op::PUT);
            buf.extend_from_slice(&((4 + k.len() + value.len()) as u32).to_le_bytes());
            buf.extend_from_slice(&(k.len() as u32).to_le_bytes());
            buf.extend_from_slice(k);
            buf.extend_from_slice(value);
        }
        Op::Get => {
            buf.push(op::GET);
            buf.extend_from_slice(&(k.len() as u32).to_le_bytes());
            buf.extend_from_slice(k);
        }
    }
}

/// One connection of the load generator.
struct Conn {
    s: UnixStream,
    reader: FrameReader,
    /// Replies still awaited for the batch in flight.
    awaiting: usize,
    /// When the batch in flight was sent.
    sent_at: Instant,
    rng: u64,
}

/// The load generator: like `redis-benchmark`, one thread drives every connection with
/// `poll`, each connection keeping one batch of `depth` requests in flight. Latencies in
/// µs, one per request (a pipelined request's latency is its batch's round trip).
fn drive(sock: &Path, op: Op, clients: usize, depth: usize, secs: f64) -> (Vec<u32>, f64) {
    let value = vec![b'v'; VALUE_LEN];
    let mut conns: Vec<Conn> = (0..clients)
        .map(|c| {
            let s = UnixStream::connect(sock).expect("connect to sochdb");
            s.set_nonblocking(true).expect("non-blocking");
            Conn {
                s,
                reader: FrameReader::new(),
                awaiting: 0,
                sent_at: Instant::now(),
                rng: (c as u64 + 7).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            }
        })
        .collect();
    let mut buf = Vec::new();
    let mut lat = Vec::new();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let send = |c: &mut Conn, buf: &mut Vec<u8>| {
        buf.clear();
        for _ in 0..depth {
            c.rng ^= c.rng << 13;
            c.rng ^= c.rng >> 7;
            c.rng ^= c.rng << 17;
            encode(buf, op, &key(c.rng % KEYSPACE), &value);
        }
        c.sent_at = Instant::now();
        c.awaiting = depth;
        // A batch is at most a few KiB: the socket buffer nearly always takes it at once.
        let mut rest = &buf[..];
        while !rest.is_empty() {
            match c.s.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::yield_now();
                }
                Err(e) => panic!("send: {e}"),
            }
        }
    };
    for c in conns.iter_mut() {
        send(c, &mut buf);
    }
    let mut in_flight = clients;
    let mut pfds: Vec<libc::pollfd> = conns
        .iter()
        .map(|c| libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&c.s),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    while in_flight > 0 {
        // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structures.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 10_000) };
        assert!(rc > 0, "no reply within 10 s");
        let now_done = Instant::now() >= deadline;
        for (i, p) in pfds.iter_mut().enumerate() {
            if p.revents == 0 {
                continue;
            }
            p.revents = 0;
            let c = &mut conns[i];
            match c.reader.fill_from(&mut c.s) {
                Ok(0) => panic!("server closed the connection"),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("read: {e}"),
            }
            while let Some((code, _)) = c.reader.next_frame().expect("frame") {
                assert!(code == rep::OK || code == rep::VALUE, "reply {code:#x}");
                c.awaiting -= 1;
            }
            if c.awaiting == 0 {
                let us = c.sent_at.elapsed().as_micros().min(u32::MAX as u128) as u32;
                lat.extend(std::iter::repeat_n(us, depth));
                if now_done {
                    in_flight -= 1;
                    p.events = 0;
                } else {
                    send(c, &mut buf);
                }
            }
        }
    }
    (lat, start.elapsed().as_secs_f64())
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i])
}

fn run_sochdb(sock: &Path, op: Op, clients: usize, depth: usize, secs: f64) -> Figures {
    let (mut all, elapsed) = drive(sock, op, clients, depth, secs);
    all.sort_unstable();
    Figures {
        ops_per_sec: all.len() as f64 / elapsed,
        p50_us: percentile(&all, 0.50),
        p99_us: percentile(&all, 0.99),
    }
}

fn wait_for_socket(p: &Path, child: &mut Child, what: &str) {
    for _ in 0..3000 {
        if UnixStream::connect(p).is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} exited with {st}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what} did not listen on {} within 30 s", p.display());
}

struct Redis {
    child: Child,
    sock: PathBuf,
}

impl Redis {
    fn start(dir: &Path) -> Option<Redis> {
        let sock = dir.join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(&sock)
            .args(["--unixsocketperm", "700", "--dir"])
            .arg(dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ])
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let mut r = Redis { child, sock };
        wait_for_socket(&r.sock, &mut r.child, "redis-server");
        Some(r)
    }

    /// Runs `redis-benchmark` and reads its CSV line.
    fn bench(&self, op: Op, clients: usize, depth: usize, requests: u64) -> Option<Figures> {
        let test = match op {
            Op::Get => "get",
            Op::Put => "set",
        };
        let out = Command::new("redis-benchmark")
            .arg("-s")
            .arg(&self.sock)
            .args([
                "-t",
                test,
                "-d",
                &VALUE_LEN.to_string(),
                "-r",
                &KEYSPACE.to_string(),
            ])
            .args(["-c", &clients.to_string(), "-P", &depth.to_string()])
            .args(["-n", &requests.to_string(), "--csv"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| !l.starts_with("\"test\""))?;
        let f: Vec<f64> = line
            .split(',')
            .skip(1)
            .filter_map(|x| x.trim_matches('"').parse().ok())
            .collect();
        // rps, avg, min, p50, p95, p99, max (latencies in ms)
        if f.len() < 6 {
            return None;
        }
        Some(Figures {
            ops_per_sec: f[0],
            p50_us: f[3] * 1000.0,
            p99_us: f[5] * 1000.0,
        })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let secs: f64 = std::env::var("SOCHDB_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 0.25 } else { 2.0 });
    let base = std::env::var_os("SOCHDB_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = base.join(format!("bench-socket-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("redis")).expect("create the bench directory");
    let db = dir.join("db");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_sochdb"));
    serve.args(["serve", "--quiet", "--max-connections", "512"]);
    if let Some(n) = std::env::var_os("SOCHDB_BENCH_LOOPS") {
        serve.arg("--event-loops").arg(n);
    }
    if let Ok(more) = std::env::var("SOCHDB_BENCH_SERVE_ARGS") {
        serve.args(more.split_whitespace());
    }
    let mut server = serve
        .arg("--db")
        .arg(&db)
        .spawn()
        .expect("start sochdb serve");
    let sock = db.join("sochdb.sock");
    wait_for_socket(&sock, &mut server, "sochdb serve");
    let redis = Redis::start(&dir.join("redis"));
    if redis.is_none() {
        eprintln!("redis-server not found (run bench/setup.sh): Redis columns stay empty");
    }
    // Warm up, then make every key of the key space exist before the GET rows.
    run_sochdb(&sock, Op::Put, 1, 16, secs.min(1.0));
    for chunk in 0..KEYSPACE / 1000 {
        let mut s = UnixStream::connect(&sock).expect("connect");
        let mut buf = Vec::new();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            encode(&mut buf, Op::Put, &key(i), &[b'v'; VALUE_LEN]);
        }
        s.write_all(&buf).expect("preload");
        let mut r = FrameReader::new();
        let mut got = 0;
        while got < 1000 {
            if r.next_frame().expect("frame").is_some() {
                got += 1;
            } else if r.fill_from(&mut s).expect("read") == 0 {
                panic!("server closed during preload");
            }
        }
    }
    if let Some(r) = &redis {
        r.bench(Op::Put, 16, 16, KEYSPACE * 2);
    }

    println!(
        "| op | clients | pipeline | SochDB ops/s | p50 µs | p99 µs | Redis ops/s | p50 µs | p99 µs | SochDB / Redis |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let only: Option<Vec<String>> = std::env::var("SOCHDB_BENCH_ROWS").ok().map(|v| {
        v.split(',')
            .map(|r| r.trim().to_ascii_lowercase())
            .collect()
    });
    for op in [Op::Get, Op::Put] {
        for clients in [1usize, 16, 50] {
            for depth in [1usize, 16] {
                let row = format!("{}_c{clients}_p{depth}", op.name().to_ascii_lowercase());
                if only.as_ref().is_some_and(|o| !o.contains(&row)) {
                    continue;
                }
                let s = run_sochdb(&sock, op, clients, depth, secs);
                let requests = ((s.ops_per_sec * secs) as u64).clamp(1000, 5_000_000);
                let r = redis
                    .as_ref()
                    .and_then(|r| r.bench(op, clients, depth, requests));
                let (ro, rp50, rp99, ratio) = match &r {
                    Some(r) => (
                        format!("{:.0}", r.ops_per_sec),
                        format!("{:.0}", r.p50_us),
                        format!("{:.0}", r.p99_us),
                        format!("{:.2}", s.ops_per_sec / r.ops_per_sec),
                    ),
                    None => ("-".into(), "-".into(), "-".into(), "-".into()),
                };
                println!(
                    "| {} | {clients} | {depth} | {:.0} | {:.0} | {:.0} | {ro} | {rp50} | {rp99} | {ratio} |",
                    op.name(),
                    s.ops_per_sec,
                    s.p50_us,
                    s.p99_us
                );
            }
        }
    }
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    let status = server.wait().expect("wait for sochdb serve");
    assert!(status.success(), "sochdb serve exited with {status}");
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}
