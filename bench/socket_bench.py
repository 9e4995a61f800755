#!/usr/bin/env python3
"""Socket mode: GET and SET of 100-byte values over a Unix socket, with 1, 16 and 50
clients, without and with pipelining (depth 16), against Redis in the same run.

    socket_bench.py --out RUNS.jsonl [--quick] [--reps R] [--dir DIR]

Redis runs as `redis-server` on a Unix socket in a fresh directory with `appendonly yes`
and `appendfsync always` (matched with SochDB's default, a sync before every write is
acknowledged), driven by `redis-benchmark -s`. The keyspace is loaded first so that
every GET finds its key. Appends one JSON line per run to RUNS.jsonl, in kvbench's
format, and prints "N passed, M failed".
"""

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

CLIENTS = [1, 16, 50]
PIPELINES = [1, 16]


def redis_version():
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return "unknown"


def disk_usage(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Redis:
    """A redis-server of our own on a Unix socket in `workdir`."""

    def __init__(self, workdir):
        self.dir = workdir
        self.sock = os.path.join(workdir, "redis.sock")
        self.log = open(os.path.join(workdir, "redis.log"), "w")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "700",
             "--dir", workdir, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--daemonize", "no"],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not answer on its socket within 5 s")

    def cli(self, *args):
        try:
            r = subprocess.run(["redis-cli", "-s", self.sock, *args],
                               capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return ""
        return r.stdout if r.returncode == 0 else ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def load(redis, keys):
    """SET key:000000000000 ... key:{keys-1} (the names redis-benchmark -r uses)."""
    value = b"v" * 100
    buf = io.BytesIO()
    for i in range(keys):
        k = b"key:%012d" % i
        buf.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(value), value))
    r = subprocess.run(["redis-cli", "-s", redis.sock, "--pipe"], input=buf.getvalue(),
                       capture_output=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("loading the keyspace failed: " + r.stderr.decode(errors="replace"))


def bench(redis, test, clients, pipeline, n, keys, timeout):
    try:
        r = subprocess.run(
            ["redis-benchmark", "-s", redis.sock, "-t", test, "-n", str(n), "-c", str(clients),
             "-P", str(pipeline), "-d", "100", "-r", str(keys), "--csv"],
            capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"redis-benchmark did not finish within {timeout} s"
    if r.returncode != 0:
        return None, f"redis-benchmark exited {r.returncode}: {r.stderr.strip()[:200]}"
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    if len(rows) != 1 or not rows[0].get("rps"):
        return None, "redis-benchmark printed no result"
    return rows[0], ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    reps = a.reps or (1 if a.quick else 3)
    keys = 10_000 if a.quick else 100_000
    scale = 0.05 if a.quick else 1.0
    version = redis_version()
    passed = failed = 0
    out = open(a.out, "a")
    for rep in range(1, reps + 1):
        workdir = tempfile.mkdtemp(prefix="kvbench-redis.", dir=a.dir)
        redis = None
        try:
            redis = Redis(workdir)
            load(redis, keys)
            loaded = int(redis.cli("DBSIZE").strip() or 0)
            fsync_mode = redis.cli("CONFIG", "GET", "appendfsync").split()
            for test in ("get", "set"):
                for clients in CLIENTS:
                    for pipeline in PIPELINES:
                        if test == "get":
                            n = 200_000
                        else:
                            n = 3_000 if clients == 1 and pipeline == 1 else 40_000
                        n = max(int(n * scale), 200)
                        row, why = bench(redis, test, clients, pipeline, n, keys,
                                         60 if a.quick else 600)
                        if row and loaded != keys:
                            row, why = None, f"the keyspace holds {loaded} keys, not {keys}"
                        if row and fsync_mode[-1:] != ["always"]:
                            row, why = None, f"appendfsync is {fsync_mode}, not always"
                        rps = float(row["rps"]) if row else None
                        rec = {
                            "engine": "redis", "version": version,
                            "workload": f"socket_{test}_c{clients}_p{pipeline}",
                            "durability": "sync" if test == "set" else "read",
                            "threads": clients, "rep": rep, "keys": keys, "ok": row is not None,
                            "ops": n, "seconds": n / rps if rps else None, "ops_per_sec": rps,
                            "p50_us": float(row["p50_latency_ms"]) * 1000 if row else None,
                            "p99_us": float(row["p99_latency_ms"]) * 1000 if row else None,
                            "writer_ops_per_sec": None, "conflicts": 0, "reopen_ms": None,
                            "disk_bytes": disk_usage(workdir), "live_bytes": keys * 116,
                            "disk_per_live": None, "peak_rss_kb": peak_rss_kb(redis.proc.pid),
                            "note": why,
                        }
                        out.write(json.dumps(rec) + "\n")
                        out.flush()
                        status = "ok" if row else "FAILED: " + why
                        print(f"redis    {rec['workload']:<22} {rec['durability']:<8} rep {rep} "
                              f"{rps or 0:12.0f} ops/s  {status}", file=sys.stderr)
                        passed += row is not None
                        failed += row is None
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            print(f"redis: {e}", file=sys.stderr)
            failed += 1
        finally:
            if redis:
                redis.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    out.close()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
