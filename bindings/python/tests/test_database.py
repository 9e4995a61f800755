"""Opening, connecting, options, maintenance, and use after close."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, List

import pytest

import sochdb

from .conftest import Server


def test_checkpoint_and_stats(db: sochdb.Database) -> None:
    for i in range(50):
        db.put(b"k%d" % i, b"v" * 100)
    db.checkpoint()
    stats = db.stats()
    assert isinstance(stats, dict) and stats
    assert db.get(b"k7") == b"v" * 100


def test_compact_keeps_contents_and_snapshots(db: sochdb.Database) -> None:
    keys = 2000

    def value(rnd: int, i: int) -> bytes:
        return b"round %d of key %d " % (rnd, i) + b"x" * 100

    def write(rnd: int) -> None:
        with db.batch() as b:
            for i in range(keys):
                b.put(b"c%05d" % i, value(rnd, i))

    write(0)
    old = db.transaction(read_only=True)  # a snapshot of round 0, held throughout
    for rnd in range(1, 4):
        write(rnd)
        db.checkpoint()  # each round in its own block file
    with db.batch() as b:
        for i in range(0, keys, 2):
            b.delete(b"c%05d" % i)
    before = db.stats()

    db.compact()

    after = db.stats()
    assert after["compaction_bytes_read"] > before["compaction_bytes_read"], after
    for i in range(keys):
        want = None if i % 2 == 0 else value(3, i)
        assert db.get(b"c%05d" % i) == want
        assert old.get(b"c%05d" % i) == value(0, i)
    old.abort()
    db.compact()  # nothing left to drop: still fine
    assert db.get(b"c00001") == value(3, 1)


def test_compact_read_only_and_closed(tmp_path: Path) -> None:
    with sochdb.open(tmp_path / "db") as db:
        db.put(b"k", b"v")
    with sochdb.open(tmp_path / "db", read_only=True) as db:
        with pytest.raises(sochdb.ReadOnlyError):
            db.compact()
        assert db.get(b"k") == b"v"
    with pytest.raises(sochdb.ClosedError):
        db.compact()


def test_version_and_library() -> None:
    v = sochdb.library_version()
    assert v.count(".") == 2 and v.split(".")[0] == "0"
    assert Path(sochdb.library_path()).exists()


def test_repr_mode_and_context(open_db: Callable[..., sochdb.Database], mode: str) -> None:
    db = open_db()
    assert db.mode == ("socket" if mode == "socket" else "in-process")
    assert "open" in repr(db)
    with db as same:
        assert same is db
    assert db.closed
    assert "closed" in repr(db)


def test_use_after_close(open_db: Callable[..., sochdb.Database]) -> None:
    db = open_db()
    db.create_table("t", {"a": int})
    db.put(b"k", b"v")
    tx = db.transaction()
    b = sochdb.Batch()
    b.put(b"x", b"y")
    db.close()
    db.close()  # closing twice is harmless
    calls: List[Callable[[], Any]] = [
        lambda: db.get(b"k"),
        lambda: db[b"k"],
        lambda: db.put(b"k", b"v"),
        lambda: db.delete(b"k"),
        lambda: db.scan(),
        lambda: db.range(b"a", b"b"),
        lambda: db.put_path("a/b", b"v"),
        lambda: db.get_path("a/b"),
        lambda: db.delete_path("a/b"),
        lambda: db.scan_path("a"),
        lambda: db.transaction(),
        lambda: db.run_transaction(lambda t: None),
        lambda: db.batch(),
        lambda: db.write_batch(b),
        lambda: db.create_table("u", {"a": int}),
        lambda: db.drop_table("t"),
        lambda: db.tables(),
        lambda: db.describe_table("t"),
        lambda: db.insert_row("t", {"a": 1}),
        lambda: db.upsert_row("t", {"a": 1}),
        lambda: db.update_row("t", 1, {"a": 1}),
        lambda: db.get_row("t", 1),
        lambda: db.delete_row("t", 1),
        lambda: db.query("t"),
        lambda: db.checkpoint(),
        lambda: db.compact(),
        lambda: db.stats(),
        lambda: tx.get(b"k"),
        lambda: tx.put(b"k", b"v"),
        lambda: tx.commit(),
    ]
    for fn in calls:
        with pytest.raises(sochdb.ClosedError):
            fn()
    tx.abort()
    b.close()


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(TypeError) as e:
        sochdb.open(tmp_path / "a", durabilty="none")
    assert "durabilty" in str(e.value)
    with pytest.raises(sochdb.InvalidArgumentError):
        sochdb.open(tmp_path / "b", durability="sometimes")
    with pytest.raises(sochdb.InvalidArgumentError):
        sochdb.open(tmp_path / "c", durability=7)  # the library validates codes
    with pytest.raises(sochdb.InvalidArgumentError):
        sochdb.open(tmp_path / "d", isolation="chaos")
    with pytest.raises(sochdb.InvalidArgumentError):
        sochdb.open(tmp_path / "e", memtable_budget=-1)
    with pytest.raises(TypeError):
        sochdb.open(123)  # type: ignore[arg-type]


def test_options_are_accepted(tmp_path: Path) -> None:
    with sochdb.open(
        tmp_path / "db",
        durability="buffered",
        isolation="snapshot",
        memtable_budget=1 << 20,
        cache_budget=1 << 20,
        buffered_sync_interval_ms=10,
        max_txn_age_ms=60_000,
        max_txn_write_bytes=1 << 20,
    ) as db:
        db.put(b"k", b"v")
    with sochdb.open(str(tmp_path / "db"), durability="sync") as db:
        assert db.get(b"k") == b"v"


def test_read_only_database(tmp_path: Path) -> None:
    with sochdb.open(tmp_path / "db") as db:
        db.put(b"k", b"v")
    with sochdb.open(tmp_path / "db", read_only=True) as db:
        assert db.get(b"k") == b"v"
        with pytest.raises(sochdb.ReadOnlyError):
            db.put(b"k", b"w")
        with pytest.raises(sochdb.ReadOnlyError):
            with db.batch() as b:
                b.put(b"x", b"y")
    with sochdb.open(tmp_path / "db") as db:
        assert db.get(b"x") is None


def test_data_survives_reopen(tmp_path: Path) -> None:
    with sochdb.open(tmp_path / "db") as db:
        db.put(b"durable", b"yes")
        db.create_table("t", {"a": int})
        db.insert_row("t", {"a": 5}, row_id=1)
    with sochdb.open(tmp_path / "db") as db:
        assert db[b"durable"] == b"yes"
        assert db.get_row("t", 1) == {"a": 5}


def test_second_open_is_locked(tmp_path: Path) -> None:
    with sochdb.open(tmp_path / "db"):
        with pytest.raises(sochdb.LockedError) as e:
            sochdb.open(tmp_path / "db")
        assert e.value.status_name == "LOCKED"
        assert e.value.message


def test_connect_to_nothing(tmp_path: Path) -> None:
    with pytest.raises(sochdb.Error) as e:
        sochdb.connect(tmp_path / "no.sock", connect_timeout_ms=200)
    assert "no.sock" in e.value.message


def test_open_a_file_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"not a database")
    with pytest.raises(sochdb.Error):
        sochdb.open(f)


def test_many_connections(server: Server) -> None:
    handles = [sochdb.connect(server.socket) for _ in range(5)]
    try:
        handles[0].put(b"shared", b"1")
        assert all(h.get(b"shared") == b"1" for h in handles)
        handles[1].close()
        assert handles[2].get(b"shared") == b"1"
    finally:
        for h in handles:
            h.close()


def test_serve_from_this_process(tmp_path: Path) -> None:
    sock_dir = Path(tempfile.mkdtemp(prefix="sdb"))
    sock = sock_dir / "own.sock"
    try:
        with sochdb.open(tmp_path / "db", durability="buffered") as db:
            db.put(b"k", b"v")
            with db.serve(sock, max_connections=4) as srv:
                assert srv.running and srv.socket_path == str(sock)
                with sochdb.connect(sock) as client:
                    assert client.mode == "socket"
                    assert client.get(b"k") == b"v"
                    client.put(b"from-client", b"1")
                assert db.get(b"from-client") == b"1"
                with pytest.raises(sochdb.LockedError):
                    db.serve(sock)  # a live server holds that socket
            assert not srv.running and not sock.exists()
            srv.stop()  # stopping twice does nothing
            with pytest.raises(sochdb.InvalidArgumentError):
                db.serve(sock, idle_timeout_ms=-1)
            again = db.serve(sock)
        assert not again.running  # closing the database stopped it
        assert not sock.exists()
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)
