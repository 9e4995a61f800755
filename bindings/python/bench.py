"""A short benchmark: SochDB's get/put/scan rates from Python, next to the standard
library's sqlite3 and the `lmdb` package, on the same data.

    python bench.py [--n 100000] [--value-size 100] [--repeat 3] [--socket]

Every store gets the same N keys (16 bytes) and values, written in a shuffled order:

- put:        one commit per key, handed to the OS without a sync per commit (SochDB
              durability "buffered", sqlite3 WAL with synchronous=OFF, lmdb
              sync=False), so the figure is the cost of a single-key write transaction
              from Python, not of the disk;
- batch put:  the same keys rewritten in transactions of 1000 (SochDB write batches);
- get:        N point reads in shuffled order;
- scan:       one full ordered pass over the N pairs.

With --socket SochDB is also measured through a `sochdb serve` the script starts
(target/release/sochdb), whose commits are durable (synced) by design: its put figure
is then a synced one, shown separately. Rates are operations per second, the best of
--repeat runs of each store on a fresh database (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import sochdb

Pairs = List[Tuple[bytes, bytes]]
Store = Dict[str, Callable[[], int]]


def timed(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    ops = fn()
    return ops / (time.perf_counter() - start)


def make_data(n: int, value_size: int) -> Pairs:
    rng = random.Random(42)
    pairs = [(b"key%013d" % i, rng.randbytes(value_size)) for i in range(n)]
    rng.shuffle(pairs)
    return pairs


def chunks(pairs: Pairs, size: int) -> Iterable[Pairs]:
    for i in range(0, len(pairs), size):
        yield pairs[i : i + size]


def bench_sochdb(db: sochdb.Database, pairs: Pairs, puts: bool = True) -> Dict[str, float]:
    keys = [k for k, _ in pairs]
    out: Dict[str, float] = {}

    def put() -> int:
        for k, v in pairs:
            db.put(k, v)
        return len(pairs)

    def batch_put() -> int:
        for chunk in chunks(pairs, 1000):
            with db.batch() as b:
                for k, v in chunk:
                    b.put(k, v)
        return len(pairs)

    def get() -> int:
        g = db.get
        for k in keys:
            g(k)
        return len(keys)

    def scan() -> int:
        return sum(1 for _ in db.scan(b"key"))

    if puts:
        out["put"] = timed(put)
    else:
        sample = pairs[: max(1, len(pairs) // 50)]

        def synced_put() -> int:
            for k, v in sample:
                db.put(k, v)
            return len(sample)

        out["put (synced)"] = timed(synced_put)
    out["batch put"] = timed(batch_put)
    out["get"] = timed(get)
    out["scan"] = timed(scan)
    return out


def bench_sqlite(path: Path, pairs: Pairs) -> Dict[str, float]:
    con = sqlite3.connect(str(path), isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")
    keys = [k for k, _ in pairs]
    out: Dict[str, float] = {}

    def put() -> int:
        for k, v in pairs:
            con.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (k, v))
        return len(pairs)

    def batch_put() -> int:
        for chunk in chunks(pairs, 1000):
            con.execute("BEGIN")
            con.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", chunk)
            con.execute("COMMIT")
        return len(pairs)

    def get() -> int:
        for k in keys:
            con.execute("SELECT v FROM kv WHERE k = ?", (k,)).fetchone()
        return len(keys)

    def scan() -> int:
        return sum(1 for _ in con.execute("SELECT k, v FROM kv ORDER BY k"))

    out["put"] = timed(put)
    out["batch put"] = timed(batch_put)
    out["get"] = timed(get)
    out["scan"] = timed(scan)
    con.close()
    return out


def bench_lmdb(path: Path, pairs: Pairs) -> Optional[Dict[str, float]]:
    try:
        import lmdb
    except ImportError:
        return None
    env = lmdb.open(str(path), map_size=4 << 30, sync=False, metasync=False)
    keys = [k for k, _ in pairs]
    out: Dict[str, float] = {}

    def put() -> int:
        for k, v in pairs:
            with env.begin(write=True) as txn:
                txn.put(k, v)
        return len(pairs)

    def batch_put() -> int:
        for chunk in chunks(pairs, 1000):
            with env.begin(write=True) as txn:
                for k, v in chunk:
                    txn.put(k, v)
        return len(pairs)

    def get() -> int:
        for k in keys:
            with env.begin() as txn:
                txn.get(k)
        return len(keys)

    def scan() -> int:
        with env.begin() as txn:
            return sum(1 for _ in txn.cursor())

    out["put"] = timed(put)
    out["batch put"] = timed(batch_put)
    out["get"] = timed(get)
    out["scan"] = timed(scan)
    env.close()
    return out


def start_server(tmp: Path) -> Tuple[subprocess.Popen[bytes], str]:
    binary = Path(__file__).resolve().parents[2] / "target" / "release" / "sochdb"
    sock = str(tmp / "s.sock")
    proc = subprocess.Popen(
        [str(binary), "serve", "--db", str(tmp / "served"), "--socket", sock, "--quiet"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not os.path.exists(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("sochdb serve did not start")
        time.sleep(0.02)
    return proc, sock


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="number of keys (default 100000)")
    ap.add_argument("--value-size", type=int, default=100, help="bytes per value (default 100)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per store; the best counts (default 3)")
    ap.add_argument("--socket", action="store_true", help="also measure socket mode")
    args = ap.parse_args()

    pairs = make_data(args.n, args.value_size)
    results: Dict[str, Optional[Dict[str, float]]] = {}

    def keep_best(name: str, r: Optional[Dict[str, float]]) -> None:
        best = results.get(name)
        if r is None or best is None:
            results[name] = dict(r) if r is not None else None
            return
        for phase, rate in r.items():
            best[phase] = max(best.get(phase, 0.0), rate)

    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="sdbb") as d:
            tmp = Path(d)
            with sochdb.open(tmp / "sochdb", durability="buffered") as db:
                keep_best("sochdb (in-process)", bench_sochdb(db, pairs))
            if args.socket:
                proc, sock = start_server(tmp)
                try:
                    with sochdb.connect(sock) as db:
                        keep_best("sochdb (socket)", bench_sochdb(db, pairs, puts=False))
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=30)
            keep_best("sqlite3", bench_sqlite(tmp / "sqlite.db", pairs))
            keep_best("lmdb", bench_lmdb(tmp / "lmdb", pairs))

    phases = ["put", "put (synced)", "batch put", "get", "scan"]
    print(
        f"{args.n} keys of 16 bytes, values of {args.value_size} bytes; "
        f"Python {sys.version.split()[0]}; best of {args.repeat}"
    )
    print(f"{'ops/s':<22}" + "".join(f"{p:>14}" for p in phases))
    for name, r in results.items():
        if r is None:
            print(f"{name:<22}  (not installed: pip install lmdb)")
            continue
        cells = "".join(f"{r[p]:>14,.0f}" if p in r else f"{'-':>14}" for p in phases)
        print(f"{name:<22}{cells}")


if __name__ == "__main__":
    main()
