"""Streaming iteration over key-value pairs."""

from __future__ import annotations

import threading
from ctypes import byref, c_void_p
from typing import Any, Generic, Optional, Tuple, TypeVar

from . import _native as n
from ._closing import Closing
from .errors import take

__all__ = ["Cursor"]

K = TypeVar("K", bytes, str)


class Cursor(Closing, Generic[K]):
    """An iterator over ``(key, value)`` pairs that reads from the library as it
    advances: each step is one ``sochdb_iter_next`` call, so a scan of a million keys
    never holds more than one pair in Python.

    It is made by ``scan``, ``range`` and ``scan_path`` on a database or transaction.
    It frees its library iterator when exhausted, on :meth:`close`, at the end of a
    ``with`` block, or when garbage-collected. A cursor made in a transaction fails with
    :class:`sochdb.ClosedError` once the transaction ends. One cursor may be advanced
    from several threads; each pair goes to exactly one of them.
    """

    __slots__ = ("_lib", "_handle", "_owner", "_key", "_value", "_err", "_args", "_lock", "_text_keys")

    def __init__(self, lib: Any, handle: int, owner: object, text_keys: bool) -> None:
        self._lib = lib
        self._handle: Optional[int] = handle
        # Keeps the database (or transaction) object alive while iterating.
        self._owner: Optional[object] = owner
        self._key = n.Slice()
        self._value = n.Slice()
        # The library clears *err on entry, so one error slot serves every step.
        self._err = c_void_p()
        self._args = (handle, byref(self._key), byref(self._value), byref(self._err))
        self._lock = threading.Lock()
        self._text_keys = text_keys

    def __iter__(self) -> "Cursor[K]":
        return self

    def __next__(self) -> Tuple[K, bytes]:
        with self._lock:
            if self._handle is None:
                raise StopIteration
            st = self._lib.sochdb_iter_next(*self._args)
            if st == n.OK:
                k, v = self._key, self._value
                copy = n.copy_bytes
                key = copy(k.data, k.len) if k.len else b""
                value = copy(v.data, v.len) if v.len else b""
                if self._text_keys:
                    return key.decode("utf-8"), value  # type: ignore[return-value]
                return key, value  # type: ignore[return-value]
            self._free_locked()
            if st == n.NOT_FOUND and not self._err.value:
                raise StopIteration
            raise take(st, self._err)

    def _free_locked(self) -> None:
        h, self._handle = self._handle, None
        self._owner = None
        if h is not None:
            self._lib.sochdb_iter_free(h)

    def close(self) -> None:
        """Frees the library iterator; later steps end the iteration."""
        with self._lock:
            self._free_locked()

    @property
    def closed(self) -> bool:
        """True once exhausted or closed."""
        return self._handle is None


    def __del__(self) -> None:
        try:
            h = self._handle
            if h is not None:
                self._handle = None
                self._lib.sochdb_iter_free(h)
        except Exception:
            pass

