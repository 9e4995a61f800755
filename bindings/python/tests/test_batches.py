"""Write batches."""

from __future__ import annotations

import pytest

import sochdb


def test_batch_is_atomic_and_ordered(db: sochdb.Database) -> None:
    db.put(b"old", b"1")
    b = sochdb.Batch()
    b.put(b"a", b"1")
    b.put(b"a", b"2")  # the later operation wins
    b.put("text", "é")
    b.delete(b"old")
    assert len(b) == 4
    ts = db.write_batch(b)
    assert isinstance(ts, int) and ts > 0
    assert db.get(b"a") == b"2"
    assert db.get(b"text") == "é".encode()
    assert db.get(b"old") is None
    assert len(b) == 4  # left as it was
    b.clear()
    assert len(b) == 0
    b.put(b"again", b"x")
    assert db.write_batch(b) > ts
    b.close()
    with pytest.raises(sochdb.ClosedError):
        b.put(b"k", b"v")
    with pytest.raises(sochdb.ClosedError):
        db.write_batch(b)
    b.close()


def test_batch_context_writes_on_exit(db: sochdb.Database) -> None:
    with db.batch() as b:
        for i in range(100):
            b.put(b"k%03d" % i, b"v%d" % i)
        assert db.get(b"k000") is None
    assert b.commit_ts is not None
    assert len(list(db.scan(b"k"))) == 100
    assert db[b"k099"] == b"v99"


def test_batch_context_discards_on_exception(db: sochdb.Database) -> None:
    with pytest.raises(KeyError):
        with db.batch() as b:
            b.put(b"never", b"1")
            raise KeyError("stop")
    assert b.commit_ts is None
    assert db.get(b"never") is None


def test_batch_errors(db: sochdb.Database) -> None:
    b = sochdb.Batch()
    with pytest.raises(sochdb.TooLargeError):
        b.put(b"k" * 70000, b"v")
    with pytest.raises(TypeError):
        b.delete(7)  # type: ignore[arg-type]
    assert len(b) == 0
    b.close()


def test_empty_batch(db: sochdb.Database) -> None:
    with sochdb.Batch() as b:
        assert isinstance(db.write_batch(b), int)
