"""Paths: hierarchical names for values."""

from __future__ import annotations

import pytest

import sochdb


def test_put_get_delete_path(db: sochdb.Database) -> None:
    db.put_path("users/alice/email", b"alice@example.org")
    assert db.get_path("users/alice/email") == b"alice@example.org"
    assert db.get(b"users/alice/email") == b"alice@example.org"  # the same entry
    assert db.get_path("users/bob/email") is None
    assert db.get_path("users/bob/email", b"?") == b"?"
    db.put_path("users/alice/name", "Alice ✓")
    assert db.get_path("users/alice/name") == "Alice ✓".encode()
    db.delete_path("users/alice/email")
    assert db.get_path("users/alice/email") is None
    db.delete_path("users/alice/email")


def test_scan_path_is_segment_aware(db: sochdb.Database) -> None:
    for p in ["users/a/x", "users/b/y", "users/b/z", "users_archive/c/x", "users"]:
        db.put_path(p, p.upper())
    got = list(db.scan_path("users"))
    assert got == [("users/a/x", b"USERS/A/X"), ("users/b/y", b"USERS/B/Y"), ("users/b/z", b"USERS/B/Z")]
    assert [k for k, _ in db.scan_path("users", reverse=True, limit=2)] == ["users/b/z", "users/b/y"]
    assert [k for k, _ in db.scan_path("users/b")] == ["users/b/y", "users/b/z"]
    assert list(db.scan_path("nobody")) == []


@pytest.mark.parametrize("bad", ["", "/a", "a/", "a//b"])
def test_bad_paths(db: sochdb.Database, bad: str) -> None:
    with pytest.raises(sochdb.InvalidArgumentError) as e:
        db.put_path(bad, b"v")
    assert e.value.message
    with pytest.raises(sochdb.InvalidArgumentError):
        db.get_path(bad)
    with pytest.raises(sochdb.InvalidArgumentError):
        db.scan_path(bad)


def test_nul_in_path(db: sochdb.Database) -> None:
    with pytest.raises(sochdb.InvalidArgumentError):
        db.put_path("a/b\0c", b"v")


def test_paths_in_transaction(db: sochdb.Database) -> None:
    db.put_path("cfg/a", b"1")
    with db.transaction() as tx:
        tx.put_path("cfg/b", b"2")
        tx.delete_path("cfg/a")
        assert tx.get_path("cfg/b") == b"2"
        assert [k for k, _ in tx.scan_path("cfg")] == ["cfg/b"]
        assert db.get_path("cfg/b") is None
    assert db.get_path("cfg/a") is None
    assert db.get_path("cfg/b") == b"2"
