"""Prefix and range iteration, streamed from the library."""

from __future__ import annotations

import itertools
from typing import Any, List

import pytest

import sochdb


def fill(db: sochdb.Database) -> None:
    with db.batch() as b:
        for k in [b"a", b"ab", b"abc", b"b", b"ba", b"c", b"\x00", b"\xfe"]:
            b.put(k, k.upper())


def keys(pairs: Any) -> List[bytes]:
    return [k for k, _ in pairs]


def test_scan_prefix(db: sochdb.Database) -> None:
    fill(db)
    assert list(db.scan(prefix=b"a")) == [(b"a", b"A"), (b"ab", b"AB"), (b"abc", b"ABC")]
    assert keys(db.scan(b"a", reverse=True)) == [b"abc", b"ab", b"a"]
    assert keys(db.scan(b"a", limit=2)) == [b"a", b"ab"]
    assert keys(db.scan(b"a", reverse=True, limit=1)) == [b"abc"]
    assert keys(db.scan("b")) == [b"b", b"ba"]
    assert keys(db.scan(b"zz")) == []
    everything = keys(db.scan())
    assert everything == sorted(everything) and len(everything) == 8
    assert everything[0] == b"\x00" and everything[-1] == b"\xfe"


def test_range(db: sochdb.Database) -> None:
    fill(db)
    assert keys(db.range(b"ab", b"ba")) == [b"ab", b"abc", b"b"]
    assert keys(db.range(b"ab", b"ba", reverse=True)) == [b"b", b"abc", b"ab"]
    assert keys(db.range(b"b")) == [b"b", b"ba", b"c", b"\xfe"]
    assert keys(db.range(b"b", None, reverse=True, limit=2)) == [b"\xfe", b"c"]
    assert keys(db.range(end=b"a")) == [b"\x00"]
    assert keys(db.range(b"c", b"a")) == []


def test_bad_limit(db: sochdb.Database) -> None:
    with pytest.raises(sochdb.InvalidArgumentError):
        db.scan(limit=-1)


def test_streams_one_call_per_item(db: sochdb.Database) -> None:
    with db.batch() as b:
        for i in range(1000):
            b.put(b"s%04d" % i, b"v")
    cur = db.scan(b"s")

    class Counting:
        def __init__(self, lib: Any) -> None:
            self.lib = lib
            self.calls = 0

        def sochdb_iter_next(self, *args: Any) -> int:
            self.calls += 1
            return int(self.lib.sochdb_iter_next(*args))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.lib, name)

    counting = Counting(cur._lib)
    cur._lib = counting
    first = list(itertools.islice(cur, 3))
    assert keys(first) == [b"s0000", b"s0001", b"s0002"]
    assert counting.calls == 3
    cur.close()
    assert cur.closed
    assert list(cur) == []
    cur.close()


def test_cursor_sees_snapshot(db: sochdb.Database) -> None:
    fill(db)
    cur = db.scan(b"a")
    assert next(cur) == (b"a", b"A")
    db.put(b"aa", b"new")  # written after the cursor started
    rest = keys(cur)
    assert rest in ([b"ab", b"abc"], [b"aa", b"ab", b"abc"])
    assert cur.closed  # exhausted cursors free themselves


def test_cursor_context_manager(db: sochdb.Database) -> None:
    fill(db)
    with db.scan() as cur:
        assert next(cur)[0] == b"\x00"
    assert cur.closed
    with pytest.raises(StopIteration):
        next(cur)


def test_scan_in_transaction(db: sochdb.Database) -> None:
    fill(db)
    with db.transaction() as tx:
        tx.put(b"aa", b"mine")
        tx.delete(b"ab")
        assert keys(tx.scan(b"a")) == [b"a", b"aa", b"abc"]
        assert keys(tx.range(b"a", b"ab")) == [b"a", b"aa"]
        assert keys(tx.scan(b"a", reverse=True)) == [b"abc", b"aa", b"a"]
        assert keys(db.scan(b"a")) == [b"a", b"ab", b"abc"]
        cur = tx.scan(b"a")
        next(cur)
    with pytest.raises(sochdb.ClosedError):
        next(cur)  # the transaction has ended
    assert cur.closed


def test_cursor_after_database_close(open_db: Any) -> None:
    db = open_db()
    fill(db)
    cur = db.scan()
    next(cur)
    db.close()
    with pytest.raises(sochdb.ClosedError):
        list(cur)
