"""Tables and rows."""

from __future__ import annotations

import pytest

import sochdb
from sochdb import Column, ColumnType

from .conftest import Server

USERS = {
    "name": "text",
    "age": int,
    "score": ("float64", True),
    "active": bool,
    "avatar": ("binary", True),
    "visits": ColumnType.UINT64,
}


def test_create_list_describe_drop(db: sochdb.Database) -> None:
    assert db.tables() == []
    info = db.create_table("users", USERS)
    assert info.column_names == ["name", "age", "score", "active", "avatar", "visits"]
    db.create_table("orders", [Column("id", "int64"), Column("note", str, nullable=True)])
    assert db.tables() == ["orders", "users"]
    d = db.describe_table("users")
    assert d.name == "users"
    assert d.columns == (
        Column("name", ColumnType.TEXT),
        Column("age", ColumnType.INT64),
        Column("score", ColumnType.FLOAT64, nullable=True),
        Column("active", ColumnType.BOOL),
        Column("avatar", ColumnType.BINARY, nullable=True),
        Column("visits", ColumnType.UINT64),
    )
    assert d.column("score") == Column("score", "float", True)
    assert d.column("nope") is None
    assert db.describe_table("orders").columns[1].nullable
    db.drop_table("orders")
    assert db.tables() == ["users"]
    with pytest.raises(sochdb.NotFoundError) as e:
        db.drop_table("orders")
    assert "orders" in e.value.message
    with pytest.raises(sochdb.NotFoundError):
        db.describe_table("orders")


def test_create_errors(db: sochdb.Database) -> None:
    db.create_table("t", {"a": int})
    with pytest.raises(sochdb.AlreadyExistsError):
        db.create_table("t", {"a": int})
    with pytest.raises(sochdb.InvalidArgumentError):
        db.create_table("u", {})
    with pytest.raises(sochdb.InvalidArgumentError):
        db.create_table("u", {"": int})
    with pytest.raises(sochdb.InvalidArgumentError) as e:
        db.create_table("u", {"a": "decimal"})
    assert "decimal" in e.value.message
    with pytest.raises(sochdb.InvalidArgumentError):
        db.create_table("u", {"a": list})
    with pytest.raises(sochdb.InvalidArgumentError):
        db.create_table("u", {"a": ("text", True, 1)})
    with pytest.raises(sochdb.InvalidArgumentError):
        db.create_table("u", [Column("a", int), Column("a", str)])
    assert db.tables() == ["t"]


def test_rows(db: sochdb.Database) -> None:
    db.create_table("users", USERS)
    row = {
        "name": "Ada ✓",
        "age": 36,
        "score": 97,  # an int in a Float64 column goes as a float
        "active": True,
        "avatar": b"\x00\xff",
        "visits": 2**64 - 1,
    }
    rid = db.insert_row("users", row)
    assert isinstance(rid, int)
    got = db.get_row("users", rid)
    assert got == {**row, "score": 97.0}
    assert isinstance(got["score"], float) and isinstance(got["active"], bool)

    rid2 = db.insert_row("users", {"name": "Bob", "age": -5, "active": False, "visits": 0})
    assert rid2 != rid
    assert db.get_row("users", rid2) == {
        "name": "Bob",
        "age": -5,
        "score": None,
        "active": False,
        "avatar": None,
        "visits": 0,
    }

    explicit = db.insert_row("users", {"name": "C", "age": 1, "active": True, "visits": 1}, row_id=1000)
    assert explicit == 1000
    with pytest.raises(sochdb.AlreadyExistsError):
        db.insert_row("users", {"name": "D", "age": 1, "active": True, "visits": 1}, row_id=1000)

    assert db.upsert_row("users", {"name": "E", "age": 2, "active": True, "visits": 3}, row_id=1000) == 1000
    assert db.get_row("users", 1000) == {
        "name": "E",
        "age": 2,
        "score": None,
        "active": True,
        "avatar": None,
        "visits": 3,
    }
    fresh = db.upsert_row("users", {"name": "F", "age": 3, "active": False, "visits": 4})
    assert db.get_row("users", fresh)["name"] == "F"  # type: ignore[index]

    db.update_row("users", 1000, {"score": 1.5, "visits": 9})
    updated = db.get_row("users", 1000)
    assert updated is not None
    assert (updated["name"], updated["score"], updated["visits"]) == ("E", 1.5, 9)
    with pytest.raises(sochdb.NotFoundError):
        db.update_row("users", 424242, {"age": 1})

    assert db.delete_row("users", 1000) is True
    assert db.delete_row("users", 1000) is False
    assert db.get_row("users", 1000) is None


def test_row_errors(db: sochdb.Database) -> None:
    db.create_table("t", {"id": int, "name": "text", "note": ("text", True)})
    with pytest.raises(sochdb.InvalidArgumentError) as e:
        db.insert_row("t", {"id": "one", "name": "x"})
    assert "id" in e.value.message
    with pytest.raises(sochdb.InvalidArgumentError) as e:
        db.insert_row("t", {"id": 1, "name": None})
    assert "name" in e.value.message
    with pytest.raises(sochdb.InvalidArgumentError):
        db.insert_row("t", {"id": 1})  # a non-nullable column left out
    with pytest.raises(sochdb.InvalidArgumentError) as e:
        db.insert_row("t", {"id": 1, "name": "x", "ghost": 1})
    assert "ghost" in e.value.message
    with pytest.raises(sochdb.InvalidArgumentError):
        db.insert_row("t", {"id": 1, "name": "x", "note": [1]})
    with pytest.raises(sochdb.InvalidArgumentError):
        db.insert_row("t", {"id": 2**64, "name": "x"})
    with pytest.raises(sochdb.NotFoundError):
        db.insert_row("missing", {"id": 1})
    with pytest.raises(sochdb.NotFoundError):
        db.get_row("missing", 1)
    with pytest.raises(sochdb.NotFoundError):
        db.delete_row("missing", 1)
    with pytest.raises(TypeError):
        db.get_row("t", "1")  # type: ignore[arg-type]
    with pytest.raises(sochdb.InvalidArgumentError):
        db.get_row("t", -1)
    with pytest.raises(TypeError):
        db.insert_row("t", [("id", 1)])  # type: ignore[arg-type]
    assert list(db.query("t")) == []


def test_rows_in_transaction(db: sochdb.Database) -> None:
    db.create_table("t", {"v": int})
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            rid = tx.insert_row("t", {"v": 1})
            assert tx.get_row("t", rid) == {"v": 1}
            assert db.get_row("t", rid) is None
            raise RuntimeError
    assert db.get_row("t", rid) is None
    with db.transaction() as tx:
        rid = tx.insert_row("t", {"v": 2})
        tx.update_row("t", rid, {"v": 3})
        other = tx.upsert_row("t", {"v": 4})
        assert tx.delete_row("t", other)
    assert db.get_row("t", rid) == {"v": 3}
    assert db.get_row("t", other) is None


def test_schema_change_by_another_handle(server: Server) -> None:
    with sochdb.connect(server.socket) as a, sochdb.connect(server.socket) as b:
        a.create_table("t", {"x": int, "y": "text"})
        a.insert_row("t", {"x": 1, "y": "one"}, row_id=1)
        assert a.get_row("t", 1) == {"x": 1, "y": "one"}
        b.drop_table("t")
        b.create_table("t", {"x": "float64", "z": "bool"})
        # `a` cached the old schema; a write that fails under it is retried with the
        # new one, and rows read back are checked against it.
        a.insert_row("t", {"x": 2, "z": True}, row_id=2)
        assert a.get_row("t", 2) == {"x": 2.0, "z": True}
        assert b.get_row("t", 2) == {"x": 2.0, "z": True}
