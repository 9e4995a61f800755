"""The exception classes and the messages they carry."""

from __future__ import annotations

import builtins

import pytest

import sochdb
from sochdb.errors import error_for

CLASSES = {
    1: ("NOT_FOUND", sochdb.NotFoundError),
    2: ("CONFLICT", sochdb.ConflictError),
    3: ("INVALID_ARGUMENT", sochdb.InvalidArgumentError),
    4: ("IO", sochdb.SochIOError),
    5: ("CORRUPTION", sochdb.CorruptionError),
    6: ("LOCKED", sochdb.LockedError),
    7: ("CLOSED", sochdb.ClosedError),
    8: ("BUSY", sochdb.BusyError),
    9: ("PROTOCOL", sochdb.ProtocolError),
    10: ("TOO_LARGE", sochdb.TooLargeError),
    11: ("INTERNAL", sochdb.InternalError),
    12: ("READ_ONLY", sochdb.ReadOnlyError),
    13: ("TIMEOUT", sochdb.SochTimeoutError),
    14: ("ALREADY_EXISTS", sochdb.AlreadyExistsError),
}


@pytest.mark.parametrize("code", sorted(CLASSES))
def test_one_class_per_status(code: int) -> None:
    name, cls = CLASSES[code]
    e = error_for(code, "what went wrong")
    assert type(e) is cls
    assert isinstance(e, sochdb.Error)
    assert (e.status, e.status_name, e.message, str(e)) == (code, name, "what went wrong", "what went wrong")
    # The names match the library's own.
    lib = sochdb._native.lib()
    assert lib.sochdb_status_str(code).decode() == name


def test_standard_bases() -> None:
    assert issubclass(sochdb.NotFoundError, KeyError)
    assert issubclass(sochdb.InvalidArgumentError, ValueError)
    assert issubclass(sochdb.SochIOError, OSError)
    assert issubclass(sochdb.SochTimeoutError, builtins.TimeoutError)
    assert sochdb.IoError is sochdb.SochIOError
    assert issubclass(sochdb.LibraryNotFoundError, ImportError)


def test_unknown_status() -> None:
    e = error_for(99, "odd")
    assert type(e) is sochdb.Error
    assert e.status == 99 and e.status_name == "UNKNOWN"
    assert "99" in str(e)


def test_messages_come_from_the_library(db: sochdb.Database) -> None:
    db.create_table("accounts", {"balance": int})
    with pytest.raises(sochdb.InvalidArgumentError) as e:
        db.insert_row("accounts", {"balance": "lots"})
    msg = e.value.message
    assert "balance" in msg and "accounts" in msg
    with pytest.raises(sochdb.NotFoundError) as nf:
        db.describe_table("ledger")
    assert "ledger" in nf.value.message


def test_errors_from_many_threads_keep_their_own_message(db: sochdb.Database) -> None:
    import threading

    db.create_table("t", {"a": int})
    failures = []

    def work(i: int) -> None:
        for _ in range(20):
            try:
                db.insert_row("t", {f"col{i}": 1})
            except sochdb.InvalidArgumentError as e:
                if f"col{i}" not in e.message:
                    failures.append(e.message)
            else:
                failures.append("no error")

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert failures == []
