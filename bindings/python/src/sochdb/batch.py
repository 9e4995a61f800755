"""Write batches: puts and deletes committed atomically under one timestamp."""

from __future__ import annotations

import threading
from ctypes import byref, c_size_t, c_void_p
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, Type

from . import _native as n
from ._calls import BytesLike, call, to_bytes
from .errors import ClosedError

if TYPE_CHECKING:
    from .database import Database

__all__ = ["Batch"]


class Batch:
    """A list of puts and deletes that :meth:`sochdb.Database.write_batch` commits
    atomically, in one transaction; later operations on the same key win.

    A batch is not tied to a database and may be written several times. Made by
    :meth:`sochdb.Database.batch`, it is written when its ``with`` block ends normally
    (and discarded on an exception); :attr:`commit_ts` then holds the commit timestamp.
    It is safe to share between threads.
    """

    def __init__(self, _db: Optional["Database"] = None) -> None:
        self._lib: Any = n.lib()
        self._lock = threading.Lock()
        self._db = _db
        #: Commit timestamp of the last write of this batch, or ``None``.
        self.commit_ts: Optional[int] = None
        h = c_void_p()
        call(self._lib.sochdb_batch_new, byref(h))
        self._handle: Optional[int] = h.value

    def _h(self) -> int:
        h = self._handle
        if h is None:
            raise ClosedError("the batch was closed")
        return h

    def put(self, key: BytesLike, value: BytesLike) -> None:
        """Adds a put (the bytes are copied into the batch)."""
        k = to_bytes(key, "key")
        v = to_bytes(value, "value")
        call(self._lib.sochdb_batch_put, self._h(), k, len(k), v, len(v))

    def delete(self, key: BytesLike) -> None:
        """Adds a delete."""
        k = to_bytes(key, "key")
        call(self._lib.sochdb_batch_delete, self._h(), k, len(k))

    def clear(self) -> None:
        """Removes every operation, so the batch can be reused."""
        call(self._lib.sochdb_batch_clear, self._h())

    def __len__(self) -> int:
        count = c_size_t()
        call(self._lib.sochdb_batch_count, self._h(), byref(count))
        return int(count.value)

    def close(self) -> None:
        """Frees the batch; further use raises :class:`sochdb.ClosedError`."""
        with self._lock:
            h, self._handle = self._handle, None
        if h is not None:
            self._lib.sochdb_batch_free(h)

    def __enter__(self) -> "Batch":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        try:
            if exc_type is None and self._db is not None:
                self.commit_ts = self._db.write_batch(self)
        finally:
            self.close()

    def __del__(self) -> None:
        try:
            h = self._handle
            if h is not None:
                self._handle = None
                self._lib.sochdb_batch_free(h)
        except Exception:
            pass
