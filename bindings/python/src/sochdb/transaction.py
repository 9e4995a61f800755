"""Transactions."""

from __future__ import annotations

import threading
from ctypes import byref, c_uint64
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, Tuple, Type

from ._calls import call
from ._ops import Operations
from .errors import ClosedError, Error

if TYPE_CHECKING:
    from .database import Database

__all__ = ["Transaction"]


class Transaction(Operations):
    """A transaction: reads see a snapshot taken at its start plus its own writes.

    Used as a context manager it commits when the block ends normally and aborts when
    it raises::

        with db.transaction() as tx:
            tx.put(b"a", b"1")
            tx.delete(b"b")
        print(tx.commit_ts)

    A commit may raise :class:`sochdb.ConflictError`: nothing of the transaction is
    then visible, and the whole transaction should be retried
    (:meth:`sochdb.Database.run_transaction` does that). Every operation of
    :class:`sochdb.Database` that reads or writes keys, paths or rows (and queries)
    is available here too. After the transaction ends, its methods raise
    :class:`sochdb.ClosedError`. It may be used from several threads; the library runs
    its calls one at a time.
    """

    def __init__(self, db: "Database", handle: int, read_only: bool) -> None:
        self._db = db
        self._lib: Any = db._lib
        self._handle: Optional[int] = handle
        self._lock = threading.Lock()
        #: True for a read-only transaction (writes raise :class:`sochdb.ReadOnlyError`).
        self.read_only: bool = read_only
        #: The commit timestamp once committed (for a read-only transaction, its
        #: snapshot timestamp); ``None`` before, or after an abort.
        self.commit_ts: Optional[int] = None

    def _scope(self) -> Tuple[int, Optional[int]]:
        h = self._handle
        if h is None:
            raise ClosedError("the transaction has ended")
        return self._db._handle_or_raise(), h

    def _database(self) -> "Database":
        return self._db

    @property
    def active(self) -> bool:
        """True until the transaction commits or aborts."""
        return self._handle is not None

    def _end(self) -> Optional[int]:
        with self._lock:
            h, self._handle = self._handle, None
        return h

    def commit(self) -> int:
        """Commits and returns the commit timestamp. The transaction has ended afterwards,
        whatever the outcome."""
        h = self._end()
        if h is None:
            raise ClosedError("the transaction has already ended")
        ts = c_uint64()
        try:
            call(self._lib.sochdb_commit, h, byref(ts))
        finally:
            self._lib.sochdb_txn_free(h)
        self.commit_ts = int(ts.value)
        return self.commit_ts

    def abort(self) -> None:
        """Discards every write of the transaction. Aborting an ended transaction does
        nothing."""
        h = self._end()
        if h is None:
            return
        try:
            call(self._lib.sochdb_abort, h)
        except ClosedError:
            pass  # the database was closed: the transaction is gone already
        finally:
            self._lib.sochdb_txn_free(h)

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._handle is None:
            return
        if exc_type is None:
            self.commit()
            return
        try:
            self.abort()
        except Error:
            pass  # the exception already propagating is the one to report

    def __repr__(self) -> str:
        state = "active" if self.active else f"ended, commit_ts={self.commit_ts}"
        kind = "read-only " if self.read_only else ""
        return f"<sochdb.Transaction {kind}{state}>"

    def __del__(self) -> None:
        try:
            h = self._handle
            if h is not None:
                self._handle = None
                self._lib.sochdb_txn_free(h)  # aborts it
        except Exception:
            pass
