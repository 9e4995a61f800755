"""Queries over tables and paths, rendered as rows, TOON and JSON."""

from __future__ import annotations

import json

import pytest

import sochdb


def players(db: sochdb.Database) -> None:
    db.create_table("players", {"name": "text", "score": ("float64", True), "level": int})
    for i, (name, score, level) in enumerate(
        [("Ada", 97.5, 3), ("Grace", 88.0, 2), ("Linus", 91.25, 3), ("Bob, Jr.", None, 1)],
        start=1,
    ):
        db.upsert_row("players", {"name": name, "score": score, "level": level}, row_id=i)


def test_query_table(db: sochdb.Database) -> None:
    players(db)
    with db.query("players") as r:
        assert r.name == "players"
        assert r.columns == ["name", "score", "level"]
        assert len(r) == 4
        assert r.rows[0] == {"name": "Ada", "score": 97.5, "level": 3}
        assert r[3] == {"name": "Bob, Jr.", "score": None, "level": 1}
        assert [row["name"] for row in r] == ["Ada", "Grace", "Linus", "Bob, Jr."]
        toon = r.to_toon()
        assert toon.splitlines() == [
            "players[4]{name,score,level}:",
            "  Ada,97.5,3",
            "  Grace,88,2",
            "  Linus,91.25,3",
            '  "Bob, Jr.",null,1',
        ]
        assert json.loads(r.to_json()) == r.rows
    assert r.rows  # decoded rows outlive the library result
    with pytest.raises(sochdb.ClosedError):
        r.to_toon()
    r.close()


def test_columns_filters_paging(db: sochdb.Database) -> None:
    players(db)
    r = db.query("players", columns=["level", "name"], where=[("score", ">=", 90)])
    assert r.columns == ["level", "name"]
    assert r.rows == [{"level": 3, "name": "Ada"}, {"level": 3, "name": "Linus"}]
    assert r.to_toon() == "players[2]{level,name}:\n  3,Ada\n  3,Linus"
    r = db.query("players", where={"level": 3, "name": "Linus"})
    assert [x["name"] for x in r] == ["Linus"]
    r = db.query("players", where=[("score", "=", None)])
    assert [x["name"] for x in r] == ["Bob, Jr."]
    r = db.query("players", where=[("level", "<", 3), ("name", "!=", "Grace")])
    assert [x["name"] for x in r] == ["Bob, Jr."]
    r = db.query("players", columns=["name"], limit=2, offset=1)
    assert r.rows == [{"name": "Grace"}, {"name": "Linus"}]
    r = db.query("players", where=[("level", ">", 5)])
    assert len(r) == 0
    assert r.to_toon() == "players: []"
    assert r.to_json() == "[]"


def test_query_paths(db: sochdb.Database) -> None:
    db.put_path("docs/1/title", "Intro")
    db.put_path("docs/1/body", "Hello")
    db.put_path("docs/2/title", "Next")
    db.put_path("docs/2/year", "2021")
    r = db.query("docs")
    assert r.name == "docs"
    assert r.columns == ["_key", "body", "title", "year"]
    assert r.rows == [
        {"_key": "1", "body": "Hello", "title": "Intro", "year": None},
        {"_key": "2", "body": None, "title": "Next", "year": "2021"},
    ]
    assert r.to_toon().splitlines()[0] == "docs[2]{_key,body,title,year}:"
    r = db.query("docs", columns=["title"], where=[("year", ">=", 2000)])
    assert r.rows == [{"title": "Next"}]


def test_query_in_transaction(db: sochdb.Database) -> None:
    players(db)
    with db.transaction() as tx:
        tx.delete_row("players", 1)
        assert len(tx.query("players")) == 3
        assert len(db.query("players")) == 4
    assert len(db.query("players")) == 3


def test_query_errors(db: sochdb.Database) -> None:
    players(db)
    # A name that is no table is read as a path (with no keys below it here)...
    assert len(db.query("no_such_table")) == 0
    # ...unless it is not a valid path either.
    with pytest.raises(sochdb.NotFoundError) as nf:
        db.query("no//such")
    assert "no//such" in nf.value.message
    with pytest.raises(sochdb.InvalidArgumentError) as e:
        db.query("players", columns=["nope"])
    assert "nope" in e.value.message
    with pytest.raises(sochdb.InvalidArgumentError) as e:
        db.query("players", where=[("level", "~", 1)])
    assert "~" in e.value.message
    with pytest.raises(sochdb.InvalidArgumentError):
        db.query("players", where=[("level", 1)])  # type: ignore[list-item]
    with pytest.raises(sochdb.InvalidArgumentError) as e:
        db.query("players", where=[("level", "=", "three")])
    assert "level" in e.value.message
    with pytest.raises(sochdb.InvalidArgumentError):
        db.query("players", limit=-1)
    with pytest.raises(sochdb.InvalidArgumentError):
        db.query("players", offset=-1)
