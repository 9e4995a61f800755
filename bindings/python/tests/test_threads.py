"""One Database shared by threads."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from typing import Callable, List

import sochdb


def run(threads: int, fn: Callable[[int], None]) -> List[BaseException]:
    errors: List[BaseException] = []

    def wrap(i: int) -> None:
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in ts)
    return errors


def test_concurrent_reads_and_writes(db: sochdb.Database) -> None:
    def work(i: int) -> None:
        for j in range(100):
            key = b"t%d-%03d" % (i, j)
            db.put(key, b"%d" % j)
            assert db.get(key) == b"%d" % j
        assert len(list(db.scan(b"t%d-" % i))) == 100

    assert run(4, work) == []
    assert len(list(db.scan(b"t"))) == 400


def test_concurrent_transactions_and_iterators(db: sochdb.Database) -> None:
    with db.batch() as b:
        for j in range(200):
            b.put(b"base%03d" % j, b"x")

    def work(i: int) -> None:
        for j in range(10):
            with db.transaction() as tx:
                tx.put(b"tx%d-%d" % (i, j), b"y")
                assert sum(1 for _ in tx.scan(b"base")) == 200
            with db.transaction(read_only=True) as ro:
                assert ro.get(b"tx%d-%d" % (i, j)) == b"y"

    assert run(4, work) == []


def test_one_cursor_shared_by_threads(db: sochdb.Database) -> None:
    with db.batch() as b:
        for j in range(500):
            b.put(b"c%03d" % j, b"v")
    cur = db.scan(b"c")
    seen: List[List[bytes]] = [[] for _ in range(4)]

    def work(i: int) -> None:
        for k, _ in cur:
            seen[i].append(k)

    assert run(4, work) == []
    everything = sorted(k for part in seen for k in part)
    assert everything == [b"c%03d" % j for j in range(500)]


def test_close_while_threads_work(open_db: Callable[..., sochdb.Database]) -> None:
    db = open_db()
    started = threading.Barrier(5)
    done = []

    def work(i: int) -> None:
        started.wait()
        try:
            for j in range(100_000):
                db.put(b"w%d" % i, b"%d" % j)
                db.get(b"w%d" % i)
        except sochdb.ClosedError:
            done.append(i)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    started.wait()
    db.put(b"main", b"1")
    db.close()
    for t in ts:
        t.join(timeout=120)
    assert sorted(done) == [0, 1, 2, 3]


def test_gil_is_released_during_calls() -> None:
    # A stand-in server written in Python: the client thread's connect sends its first
    # request and waits inside the library for the answer. This thread can only accept,
    # read that request and hang up while the other one is inside the library if the
    # call released the GIL.
    sock_dir = tempfile.mkdtemp(prefix="sdb")
    path = os.path.join(sock_dir, "fake.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(60)
        outcome: List[BaseException] = []

        def client(_: int) -> None:
            try:
                # (a held GIL would make this time out, and the checks below fail)
                sochdb.connect(path, connect_timeout_ms=60_000, request_timeout_ms=5_000)
            except sochdb.Error as e:
                outcome.append(e)

        t = threading.Thread(target=client, args=(0,))
        t.start()
        conn, _ = listener.accept()
        conn.settimeout(60)
        assert conn.recv(64)  # the client's first request arrived...
        assert t.is_alive()  # ...and the client is still waiting inside the library
        conn.close()  # hang up: the client's call fails
        t.join(timeout=60)
        assert not t.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], (sochdb.ProtocolError, sochdb.SochIOError))
    finally:
        listener.close()
        shutil.rmtree(sock_dir, ignore_errors=True)
