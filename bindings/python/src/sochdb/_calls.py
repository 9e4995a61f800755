"""Small helpers around foreign calls: argument conversion and status checking."""

from __future__ import annotations

import os
from ctypes import byref, c_void_p
from typing import Any, Callable, Union

from . import _native as n
from .errors import InvalidArgumentError, take

#: Bytes-like input: ``bytes``, ``bytearray``, ``memoryview``, or ``str`` (stored as
#: its UTF-8 encoding).
BytesLike = Union[bytes, bytearray, memoryview, str]

#: A file system path.
StrPath = Union[str, "os.PathLike[str]"]


def to_bytes(value: Any, what: str) -> bytes:
    """``value`` as bytes (``str`` is encoded as UTF-8)."""
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")


def to_cstr(value: Any, what: str) -> bytes:
    """A NUL-terminated string argument (path, table or column name)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        b = value
    elif isinstance(value, str):
        b = value.encode("utf-8")
    else:
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    if b"\0" in b:
        raise InvalidArgumentError(f"{what} {value!r} contains a NUL character")
    return b


def call(fn: Callable[..., int], *args: Any) -> None:
    """Calls ``fn(*args, &err)`` and raises the library's error unless it returns OK."""
    err = c_void_p()
    st = fn(*args, byref(err))
    if st != n.OK:
        raise take(st, err)


def call_found(fn: Callable[..., int], *args: Any) -> bool:
    """As :func:`call`, for lookups: ``False`` for an absent key or row (NOT_FOUND
    without an error object)."""
    err = c_void_p()
    st = fn(*args, byref(err))
    if st == n.OK:
        return True
    if st == n.NOT_FOUND and not err.value:
        return False
    raise take(st, err)


def buf_bytes(buf: n.Buf) -> bytes:
    """A copy of a library buffer's bytes (the caller frees the buffer)."""
    return n.copy_bytes(buf.data, buf.len) if buf.len else b""
