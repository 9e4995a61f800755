"""Single-key reads and writes."""

from __future__ import annotations

import pytest

import sochdb


def test_put_get_delete(db: sochdb.Database) -> None:
    assert db.get(b"k") is None
    db.put(b"k", b"v1")
    assert db.get(b"k") == b"v1"
    db.put(b"k", b"v2")
    assert db[b"k"] == b"v2"
    db.delete(b"k")
    assert db.get(b"k") is None
    db.delete(b"k")  # deleting an absent key is fine


def test_default_and_missing_key(db: sochdb.Database) -> None:
    assert db.get(b"nope", b"dflt") == b"dflt"
    with pytest.raises(sochdb.NotFoundError) as e:
        db[b"nope"]
    assert isinstance(e.value, KeyError)
    assert "nope" in str(e.value)


def test_empty_value_is_not_absent(db: sochdb.Database) -> None:
    db.put(b"empty", b"")
    assert db.get(b"empty") == b""
    assert b"empty" in db
    assert db[b"empty"] == b""
    db.put(b"", b"empty key")
    assert db.get(b"") == b"empty key"


def test_dict_style(db: sochdb.Database) -> None:
    db[b"a"] = b"1"
    assert b"a" in db
    assert "a" in db
    assert b"b" not in db
    assert 5 not in db
    del db[b"a"]
    assert b"a" not in db


def test_str_is_utf8(db: sochdb.Database) -> None:
    db.put("ключ", "значение ✓")
    assert db.get("ключ") == "значение ✓".encode()
    assert db.get("ключ".encode()) == "значение ✓".encode()


def test_bytes_like_inputs(db: sochdb.Database) -> None:
    db.put(bytearray(b"ba"), memoryview(b"mv"))
    assert db.get(memoryview(b"ba")) == b"mv"


def test_binary_keys_and_values(db: sochdb.Database) -> None:
    key = bytes(range(256))
    value = b"\x00" * 10 + b"\xff" * 10
    db.put(key, value)
    assert db.get(key) == value
    db.put(b"a\x00b", b"nul")
    assert db.get(b"a") is None
    assert db.get(b"a\x00b") == b"nul"


def test_large_value(db: sochdb.Database) -> None:
    value = bytes(range(256)) * 4096  # 1 MiB
    db.put(b"big", value)
    assert db.get(b"big") == value


def test_wrong_types(db: sochdb.Database) -> None:
    with pytest.raises(TypeError):
        db.put(1, b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        db.put(b"k", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        db.get(3.5)  # type: ignore[call-overload]


def test_too_large(db: sochdb.Database) -> None:
    with pytest.raises(sochdb.TooLargeError) as e:
        db.put(b"k" * 65536, b"v")
    assert e.value.status_name == "TOO_LARGE"
    assert db.get(b"k" * 65535) is None  # the maximum key size is allowed
    with pytest.raises(sochdb.TooLargeError):
        db.put(b"k", b"v" * (15 * 1024 * 1024 + 1))
    with pytest.raises(sochdb.TooLargeError):
        db.get(b"k" * 65536)
    assert db.get(b"k") is None


def test_reserved_key_prefix(db: sochdb.Database) -> None:
    with pytest.raises(sochdb.InvalidArgumentError) as e:
        db.put(b"\xffsystem", b"v")
    assert "reserved" in e.value.message
