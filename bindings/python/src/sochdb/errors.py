"""Exceptions: :class:`Error` and one subclass per status code of the C ABI.

Each carries the library's message (what failed and why, naming the key, column or
file), the numeric :attr:`Error.status` and its fixed name :attr:`Error.status_name`.
Where a standard exception means the same thing, the class also derives from it
(``NotFoundError`` is a ``KeyError``, ``InvalidArgumentError`` a ``ValueError``,
``SochIOError`` an ``OSError``, ``SochTimeoutError`` a ``TimeoutError``), so code that
catches those keeps working.
"""

from __future__ import annotations

from ctypes import c_void_p
from typing import Dict, Optional, Type

from . import _native as n

__all__ = [
    "Error",
    "NotFoundError",
    "ConflictError",
    "InvalidArgumentError",
    "SochIOError",
    "CorruptionError",
    "LockedError",
    "ClosedError",
    "BusyError",
    "ProtocolError",
    "TooLargeError",
    "InternalError",
    "ReadOnlyError",
    "SochTimeoutError",
    "AlreadyExistsError",
    "LibraryNotFoundError",
]


class Error(Exception):
    """Base class of every SochDB error."""

    #: The C ABI status code (``SOCHDB_*``).
    status: int = n.INTERNAL
    #: The fixed name of the status (``"CONFLICT"``).
    status_name: str = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message: str = message

    def __str__(self) -> str:
        return self.message


class NotFoundError(Error, KeyError):
    """A key, row, table or path that was required does not exist."""

    status = n.NOT_FOUND
    status_name = "NOT_FOUND"


class ConflictError(Error):
    """A concurrent transaction committed a conflicting write: retry the transaction
    (:meth:`sochdb.Database.run_transaction` does)."""

    status = n.CONFLICT
    status_name = "CONFLICT"


class InvalidArgumentError(Error, ValueError):
    """An argument was rejected: a bad path, column, type, option or flag."""

    status = n.INVALID_ARGUMENT
    status_name = "INVALID_ARGUMENT"


class SochIOError(Error, OSError):
    """The operating system reported an I/O error."""

    status = n.IO
    status_name = "IO"


class CorruptionError(Error):
    """Stored data failed a checksum or a structural check."""

    status = n.CORRUPTION
    status_name = "CORRUPTION"


class LockedError(Error):
    """The database directory is open elsewhere; share it through ``sochdb serve``."""

    status = n.LOCKED
    status_name = "LOCKED"


class ClosedError(Error):
    """The database was closed, or the transaction, iterator or batch has ended."""

    status = n.CLOSED
    status_name = "CLOSED"


class BusyError(Error):
    """A limit on concurrent work was reached; try again later."""

    status = n.BUSY
    status_name = "BUSY"


class ProtocolError(Error):
    """The server broke the socket protocol, or the connection failed."""

    status = n.PROTOCOL
    status_name = "PROTOCOL"


class TooLargeError(Error, ValueError):
    """A key, value or batch exceeds its maximum size."""

    status = n.TOO_LARGE
    status_name = "TOO_LARGE"


class InternalError(Error):
    """An internal invariant of the library failed (a bug)."""

    status = n.INTERNAL
    status_name = "INTERNAL"


class ReadOnlyError(Error):
    """A write on a read-only database or transaction."""

    status = n.READ_ONLY
    status_name = "READ_ONLY"


class SochTimeoutError(Error, TimeoutError):
    """An operation did not finish within its time limit."""

    status = n.TIMEOUT
    status_name = "TIMEOUT"


class AlreadyExistsError(Error):
    """The table, or the row on insert, already exists."""

    status = n.ALREADY_EXISTS
    status_name = "ALREADY_EXISTS"


class LibraryNotFoundError(Error, ImportError):
    """``libsochdb.so`` could not be found or loaded; the message lists where the
    package looked."""


_BY_STATUS: Dict[int, Type[Error]] = {
    cls.status: cls
    for cls in (
        NotFoundError,
        ConflictError,
        InvalidArgumentError,
        SochIOError,
        CorruptionError,
        LockedError,
        ClosedError,
        BusyError,
        ProtocolError,
        TooLargeError,
        InternalError,
        ReadOnlyError,
        SochTimeoutError,
        AlreadyExistsError,
    )
}


def error_for(status: int, message: str) -> Error:
    """The exception for a status code and message (unknown codes give
    :class:`Error` itself, naming the code)."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        err = Error(f"status {status}: {message}")
        err.status = status
        err.status_name = "UNKNOWN"
        return err
    return cls(message)


def take(status: int, err: c_void_p, default: Optional[str] = None) -> Error:
    """Turns a failed call's status and error object into an exception, freeing the
    error object. The message comes from the object; without one, from ``default`` or
    the status name."""
    lib = n.lib()
    ptr = err.value
    try:
        if ptr:
            code = lib.sochdb_error_status(ptr)
            raw = lib.sochdb_error_message(ptr)
            message = raw.decode("utf-8", "replace") if raw else ""
            if code != n.OK:
                status = code
        else:
            message = ""
    finally:
        if ptr:
            lib.sochdb_error_free(ptr)
            err.value = None
    if not message:
        if default is not None:
            message = default
        else:
            name = lib.sochdb_status_str(status)
            message = name.decode() if name else f"status {status}"
    return error_for(status, message)
