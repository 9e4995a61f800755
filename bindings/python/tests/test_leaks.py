"""A long loop of calls, including error paths, does not grow the process."""

from __future__ import annotations

import gc
import os
from typing import Callable

import sochdb

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def exercise(db: sochdb.Database, i: int) -> int:
    """One round of calls touching every kind of library allocation; returns how many
    library calls it made."""
    calls = 0
    assert db.get(b"hit") == b"value"  # a buffer
    assert db.get(b"miss%d" % (i % 7)) is None  # not found, no error object
    calls += 2
    try:
        db.get_path("bad//path")  # an error object
    except sochdb.InvalidArgumentError:
        pass
    calls += 1
    if i % 10 == 0:
        db.put(b"hit", b"value")
        calls += 1
    if i % 10 == 5:
        with db.scan(b"s") as cur:  # an iterator, half consumed
            next(cur)
            next(cur)
        calls += 3
    if i % 25 == 0:
        assert db.get_row("t", 1) == {"a": 1, "b": "row"}  # a row
        with db.transaction() as tx:  # a transaction
            tx.get(b"hit")
        with db.query("t") as r:  # a query result and a text buffer
            r.to_toon()
        b = sochdb.Batch()
        b.put(b"batch", b"x")
        b.close()
        calls += 9
    return calls


def test_long_loop_is_bounded(open_db: Callable[..., sochdb.Database], mode: str) -> None:
    db = open_db(memtable_budget=4 << 20) if mode == "inproc" else open_db()
    db.put(b"hit", b"value")
    for k in (b"s1", b"s2", b"s3"):
        db.put(k, b"v")
    db.create_table("t", {"a": int, "b": "text"})
    db.insert_row("t", {"a": 1, "b": "row"}, row_id=1)
    # In socket mode every call is a round trip; fewer of them keep the test short.
    target = 200_000 if mode == "inproc" else 40_000

    i = 0
    calls = 0
    while calls < target // 10:  # warm up: caches, allocator arenas
        calls += exercise(db, i)
        i += 1
    gc.collect()
    before = rss()
    calls = 0
    while calls < target:
        calls += exercise(db, i)
        i += 1
    gc.collect()
    grown = rss() - before
    # 200k calls leaking even 64 bytes each would add 12 MiB.
    assert grown < 8 << 20, f"RSS grew by {grown} bytes over {calls} calls"
