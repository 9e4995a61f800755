"""Transactions: commit, abort, isolation, conflicts and retries."""

from __future__ import annotations

import threading
from typing import Callable, List

import pytest

import sochdb


def test_commit_on_normal_exit(db: sochdb.Database) -> None:
    with db.transaction() as tx:
        tx.put(b"a", b"1")
        tx[b"b"] = b"2"
        assert tx.get(b"a") == b"1"  # own writes
        assert db.get(b"a") is None  # not visible outside yet
        assert tx.active
    assert not tx.active
    assert isinstance(tx.commit_ts, int) and tx.commit_ts > 0
    assert db.get(b"a") == b"1"
    assert db[b"b"] == b"2"


def test_abort_on_exception(db: sochdb.Database) -> None:
    db.put(b"keep", b"old")
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            tx.put(b"keep", b"new")
            tx.delete(b"keep")
            tx.put(b"gone", b"x")
            raise RuntimeError("boom")
    assert tx.commit_ts is None
    assert db.get(b"keep") == b"old"
    assert db.get(b"gone") is None


def test_commit_timestamps_increase(db: sochdb.Database) -> None:
    stamps = []
    for i in range(3):
        with db.transaction() as tx:
            tx.put(b"k", str(i))
        assert tx.commit_ts is not None
        stamps.append(tx.commit_ts)
    assert stamps == sorted(stamps) and len(set(stamps)) == 3


def test_explicit_commit_and_abort(db: sochdb.Database) -> None:
    tx = db.transaction()
    tx.put(b"x", b"1")
    ts = tx.commit()
    assert ts == tx.commit_ts
    assert db.get(b"x") == b"1"
    with pytest.raises(sochdb.ClosedError):
        tx.commit()
    with pytest.raises(sochdb.ClosedError):
        tx.get(b"x")
    with pytest.raises(sochdb.ClosedError):
        tx.put(b"x", b"2")
    tx.abort()  # harmless after the end

    tx = db.transaction()
    tx.put(b"y", b"1")
    tx.abort()
    assert not tx.active
    assert db.get(b"y") is None
    with pytest.raises(sochdb.ClosedError):
        tx.scan()

    with db.transaction() as tx:
        tx.put(b"z", b"1")
        tx.commit()  # the block's end then does nothing more
    assert db.get(b"z") == b"1"


def test_snapshot_reads(db: sochdb.Database) -> None:
    db.put(b"k", b"before")
    with db.transaction(read_only=True) as tx:
        db.put(b"k", b"after")
        assert tx.get(b"k") == b"before"
    assert db.get(b"k") == b"after"


def test_read_only_transaction(db: sochdb.Database) -> None:
    db.put(b"k", b"v")
    with db.transaction(read_only=True) as tx:
        assert tx.read_only
        assert tx[b"k"] == b"v"
        with pytest.raises(sochdb.ReadOnlyError):
            tx.put(b"k", b"w")
        with pytest.raises(sochdb.ReadOnlyError):
            tx.delete(b"k")
    assert isinstance(tx.commit_ts, int)
    assert db.get(b"k") == b"v"


def test_conflict(db: sochdb.Database) -> None:
    db.put(b"n", b"0")
    t1 = db.transaction()
    t2 = db.transaction()
    assert t1.get(b"n") == b"0" and t2.get(b"n") == b"0"
    t1.put(b"n", b"1")
    t2.put(b"n", b"2")
    t1.commit()
    with pytest.raises(sochdb.ConflictError) as e:
        t2.commit()
    assert e.value.status == 2 and e.value.message
    assert not t2.active
    assert db.get(b"n") == b"1"


def test_snapshot_isolation_allows_write_skew(db: sochdb.Database) -> None:
    db.put(b"a", b"0")
    db.put(b"b", b"0")
    t1 = db.transaction(isolation="snapshot")
    t2 = db.transaction(isolation="snapshot")
    t1.get(b"a")
    t2.get(b"b")
    t1.put(b"b", b"1")
    t2.put(b"a", b"1")
    t1.commit()
    t2.commit()  # no write-write conflict
    assert (db[b"a"], db[b"b"]) == (b"1", b"1")


def test_serializable_rejects_write_skew(db: sochdb.Database) -> None:
    db.put(b"a", b"0")
    db.put(b"b", b"0")
    t1 = db.transaction(isolation="serializable")
    t2 = db.transaction(isolation="serializable")
    t1.get(b"a")
    t2.get(b"b")
    t1.put(b"b", b"1")
    t2.put(b"a", b"1")
    t1.commit()
    with pytest.raises(sochdb.ConflictError):
        t2.commit()


def test_bad_isolation(db: sochdb.Database) -> None:
    with pytest.raises(sochdb.InvalidArgumentError):
        db.transaction(isolation="dirty")
    with pytest.raises(sochdb.InvalidArgumentError):
        db.transaction(isolation=99)


def test_run_transaction_retries_conflicts(db: sochdb.Database) -> None:
    db.put(b"n", b"0")
    attempts: List[int] = []

    def bump(tx: sochdb.Transaction) -> int:
        value = int(tx[b"n"])
        if not attempts:
            # A concurrent commit between this read and the commit: a conflict.
            db.put(b"n", str(value + 100))
        attempts.append(value)
        tx.put(b"n", str(value + 1))
        return value + 1

    assert db.run_transaction(bump) == 101
    assert attempts == [0, 100]
    assert db[b"n"] == b"101"


def test_run_transaction_gives_up(db: sochdb.Database) -> None:
    db.put(b"n", b"0")
    calls = []

    def always_conflicts(tx: sochdb.Transaction) -> None:
        calls.append(1)
        tx.get(b"n")
        db.put(b"n", str(len(calls)))
        tx.put(b"n", b"mine")

    with pytest.raises(sochdb.ConflictError):
        db.run_transaction(always_conflicts, retries=2, backoff=0)
    assert len(calls) == 3
    assert db[b"n"] == b"3"


def test_run_transaction_other_errors_abort(db: sochdb.Database) -> None:
    def fails(tx: sochdb.Transaction) -> None:
        tx.put(b"half", b"done")
        raise ValueError("no")

    with pytest.raises(ValueError):
        db.run_transaction(fails)
    assert db.get(b"half") is None
    assert db.run_transaction(lambda tx: tx.get(b"half", b"d"), read_only=True) == b"d"


def test_run_transaction_concurrent_counter(open_db: Callable[..., sochdb.Database]) -> None:
    db = open_db()
    db.put(b"counter", b"0")
    threads, per_thread = 4, 25

    def inc(tx: sochdb.Transaction) -> None:
        tx.put(b"counter", str(int(tx[b"counter"]) + 1))

    def work() -> None:
        for _ in range(per_thread):
            db.run_transaction(inc, retries=1000)

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert int(db[b"counter"]) == threads * per_thread


def test_abandoned_transaction_is_aborted(db: sochdb.Database) -> None:
    tx = db.transaction()
    tx.put(b"ghost", b"1")
    del tx
    import gc

    gc.collect()
    assert db.get(b"ghost") is None
