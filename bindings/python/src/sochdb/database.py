"""The database handle, and :func:`open` / :func:`connect`."""

from __future__ import annotations

import json
import os
import random
import threading
import time
import weakref
from ctypes import byref, c_uint32, c_uint64, c_void_p, sizeof
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

from . import _native as n
from ._closing import Closing
from ._calls import StrPath, buf_bytes, call, to_cstr
from ._ops import Operations
from .batch import Batch
from .errors import ClosedError, ConflictError, InvalidArgumentError, NotFoundError
from .schema import ColumnsSpec, TableInfo, columns_of
from .server import Server
from .transaction import Transaction

__all__ = ["Database", "open", "connect", "library_path", "library_version"]

T = TypeVar("T")

_DURABILITY = {
    "sync": n.DURABILITY_SYNC,
    "buffered": n.DURABILITY_BUFFERED,
    "none": n.DURABILITY_NONE,
}
_ISOLATION = {
    "serializable": n.ISOLATION_SERIALIZABLE,
    "snapshot": n.ISOLATION_SNAPSHOT,
}
_U64_OPTIONS = (
    "memtable_budget",
    "cache_budget",
    "buffered_sync_interval_ms",
    "max_txn_age_ms",
    "max_txn_write_bytes",
    "connect_timeout_ms",
    "request_timeout_ms",
)


def _lib() -> Any:
    return n.lib()


def library_path() -> str:
    """The file the C library was loaded from (loading it if needed)."""
    _lib()
    return n.lib_path()


def library_version() -> str:
    """The C library's version, ``"major.minor.patch"``."""
    raw = _lib().sochdb_version()
    return raw.decode() if raw else ""


def _enum(value: Union[str, int], names: Dict[str, int], what: str) -> int:
    if isinstance(value, str):
        code = names.get(value.lower())
        if code is None:
            raise InvalidArgumentError(
                f"{what} {value!r} is not one of {', '.join(names)}"
            )
        return code
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # the library validates the code
    raise InvalidArgumentError(f"{what} must be one of {', '.join(names)}, not {value!r}")


def _options(options: Dict[str, Any]) -> n.Options:
    o = n.Options()
    o.struct_size = sizeof(n.Options)
    for key, value in options.items():
        if key == "durability":
            o.durability = _enum(value, _DURABILITY, "durability")
        elif key in ("isolation", "default_isolation"):
            o.default_isolation = _enum(value, _ISOLATION, "isolation")
        elif key == "read_only":
            o.read_only = 1 if value else 0
        elif key in _U64_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
                raise InvalidArgumentError(f"option {key} must be an int >= 0, not {value!r}")
            setattr(o, key, value)
        else:
            raise TypeError(
                f"unknown option {key!r}; options are durability, read_only, isolation, "
                + ", ".join(_U64_OPTIONS)
            )
    return o


def _txn_flags(read_only: bool, isolation: Optional[Union[str, int]]) -> int:
    flags = n.TXN_READ_ONLY if read_only else 0
    if isolation is not None:
        code = _enum(isolation, _ISOLATION, "isolation")
        if code == n.ISOLATION_SERIALIZABLE:
            flags |= n.TXN_SERIALIZABLE
        elif code == n.ISOLATION_SNAPSHOT:
            flags |= n.TXN_SNAPSHOT
        else:
            raise InvalidArgumentError(f"isolation {isolation!r} is not known")
    return flags


class Database(Operations, Closing):
    """A SochDB database: the engine in this process (:func:`open`) or a connection to
    a ``sochdb serve`` process (:func:`connect`). Every method works the same on
    either.

    Keys and values are bytes (``str`` is accepted and stored as UTF-8)::

        db[b"k"] = b"v"          # db.put(b"k", b"v")
        db[b"k"]                 # b"v"; NotFoundError (a KeyError) when absent
        db.get(b"nope")          # None, or the default given
        del db[b"k"]             # db.delete(b"k")

    A database is safe to share between threads: the library runs calls concurrently
    and the GIL is released while it works. Close it with :meth:`close` or a ``with``
    block; afterwards every method raises :class:`sochdb.ClosedError`.
    """

    def __init__(self, lib: Any, handle: int, target: str, mode: str) -> None:
        self._lib = lib
        self._handle: Optional[int] = handle
        self._lock = threading.Lock()
        self._schemas: Dict[str, TableInfo] = {}
        self._servers: "weakref.WeakSet[Server]" = weakref.WeakSet()
        #: The database directory (in-process) or socket path (socket mode).
        self.target: str = target
        #: ``"in-process"`` or ``"socket"``.
        self.mode: str = mode

    # ---- handle -----------------------------------------------------------------

    def _handle_or_raise(self) -> int:
        h = self._handle
        if h is None:
            raise ClosedError("the database was closed")
        return h

    def _scope(self) -> Tuple[int, Optional[int]]:
        return self._handle_or_raise(), None

    def _database(self) -> "Database":
        return self

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._handle is None

    def close(self) -> None:
        """Closes the database (in socket mode, the connection). Calls running on other
        threads finish or raise :class:`sochdb.ClosedError`; transactions still open
        are aborted, and servers started with :meth:`serve` are stopped first. Closing
        twice does nothing."""
        with self._lock:
            h, self._handle = self._handle, None
        if h is None:
            return
        try:
            for server in list(self._servers):
                server.stop()
        finally:
            call(self._lib.sochdb_close, h)


    def __del__(self) -> None:
        try:
            h = self._handle
            if h is not None:
                self._handle = None
                self._lib.sochdb_close(h, None)
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<sochdb.Database {self.mode} {self.target!r} ({state})>"

    # ---- transactions -----------------------------------------------------------

    def transaction(
        self, *, read_only: bool = False, isolation: Optional[Union[str, int]] = None
    ) -> Transaction:
        """Begins a transaction. ``read_only`` ones never conflict and reject writes;
        ``isolation`` is ``"serializable"`` or ``"snapshot"`` (default: the
        database's). Use it in a ``with`` block, or end it with
        :meth:`Transaction.commit` / :meth:`Transaction.abort`."""
        flags = _txn_flags(read_only, isolation)
        h = c_void_p()
        call(self._lib.sochdb_begin, self._handle_or_raise(), flags, byref(h))
        return Transaction(self, h.value or 0, read_only)

    def run_transaction(
        self,
        fn: Callable[[Transaction], T],
        *,
        retries: int = 10,
        read_only: bool = False,
        isolation: Optional[Union[str, int]] = None,
        backoff: float = 0.001,
    ) -> T:
        """Runs ``fn(tx)`` in a transaction and commits, starting over (up to
        ``retries`` more times) when the commit raises :class:`sochdb.ConflictError`;
        returns what ``fn`` returned. Any other exception aborts and propagates. Waits
        a short random time, doubling from ``backoff`` seconds, between attempts.
        ``fn`` may run more than once, so it should only act through ``tx``."""
        if retries < 0:
            raise InvalidArgumentError(f"retries must be >= 0, got {retries}")
        attempt = 0
        while True:
            try:
                with self.transaction(read_only=read_only, isolation=isolation) as tx:
                    result = fn(tx)
                return result
            except ConflictError:
                if attempt >= retries:
                    raise
                delay = backoff * (2 ** min(attempt, 10))
                time.sleep(random.uniform(0, delay))
                attempt += 1

    # ---- batches ----------------------------------------------------------------

    def batch(self) -> Batch:
        """A :class:`Batch` that is written to this database when its ``with`` block
        ends normally (its ``commit_ts`` then holds the commit timestamp)."""
        self._handle_or_raise()
        return Batch(self)

    def write_batch(self, batch: Batch) -> int:
        """Commits every operation of ``batch`` atomically; returns the commit
        timestamp. The batch is left as it was."""
        ts = c_uint64()
        call(self._lib.sochdb_write_batch, self._handle_or_raise(), batch._h(), byref(ts))
        return int(ts.value)

    # ---- tables -----------------------------------------------------------------

    def create_table(self, name: str, columns: ColumnsSpec) -> TableInfo:
        """Creates a table. ``columns`` maps each column name to its type
        (``{"id": int, "name": "text", "email": ("text", True)}``, where ``True``
        makes it nullable) or is a list of :class:`sochdb.Column`. Types: ``int64``,
        ``uint64``, ``float64``, ``text``, ``binary``, ``bool`` (or ``int``,
        ``float``, ``str``, ``bytes``, ``bool``). Raises
        :class:`sochdb.AlreadyExistsError` when it exists."""
        t = to_cstr(name, "table name")
        cols = columns_of(columns)
        arr = (n.Column * max(len(cols), 1))()
        keep: List[bytes] = []
        for i, c in enumerate(cols):
            nb = to_cstr(c.name, "column name")
            keep.append(nb)
            arr[i].name = nb
            arr[i].kind = int(c.type)
            arr[i].nullable = 1 if c.nullable else 0
        with self._lock:
            self._schemas.pop(name, None)
        call(self._lib.sochdb_table_create, self._handle_or_raise(), t, arr, len(cols))
        return TableInfo(name, tuple(cols))

    def drop_table(self, name: str) -> None:
        """Drops a table and all its rows (:class:`sochdb.NotFoundError` when absent)."""
        t = to_cstr(name, "table name")
        with self._lock:
            self._schemas.pop(name, None)
        call(self._lib.sochdb_table_drop, self._handle_or_raise(), t)

    def tables(self) -> List[str]:
        """The names of all tables, sorted."""
        doc = self._json_call("sochdb_table_list")
        return [str(x) for x in doc]

    def describe_table(self, name: str) -> TableInfo:
        """A table's schema (read from the database, refreshing this handle's copy)."""
        return self._refresh_schema(name)

    def _json_call(self, fn_name: str, *args: Any) -> Any:
        lib = self._lib
        buf = n.Buf()
        try:
            call(getattr(lib, fn_name), self._handle_or_raise(), *args, byref(buf))
            text = buf_bytes(buf)
        finally:
            lib.sochdb_buf_free(byref(buf))
        return json.loads(text.decode("utf-8"))

    def _refresh_schema(self, name: str) -> TableInfo:
        info = TableInfo.from_json(
            self._json_call("sochdb_table_describe", to_cstr(name, "table name"))
        )
        with self._lock:
            self._schemas[name] = info
        return info

    def _schema(self, name: str) -> TableInfo:
        info = self._schemas.get(name)
        if info is not None:
            return info
        return self._refresh_schema(name)

    def _schema_for_write(self, name: str) -> Tuple[Optional[TableInfo], bool]:
        """The schema to type a row write by, and whether it came from the cache. A
        table that does not exist gives ``None`` (the write then reports it)."""
        info = self._schemas.get(name)
        if info is not None:
            return info, True
        return self._schema_or_none(name), False

    def _schema_or_none(self, name: str) -> Optional[TableInfo]:
        info = self._schemas.get(name)
        if info is not None:
            return info
        try:
            return self._refresh_schema(name)
        except NotFoundError:
            return None

    # ---- hosting ----------------------------------------------------------------

    def serve(
        self,
        socket_path: StrPath,
        *,
        log: bool = False,
        max_connections: int = 0,
        max_txns_per_connection: int = 0,
        idle_timeout_ms: int = 0,
        shutdown_grace_ms: int = 0,
        allowed_uids: Sequence[int] = (),
    ) -> Server:
        """Serves this database on the Unix socket ``socket_path`` (owner-only unless
        ``allowed_uids`` are given), on the library's own threads, until the returned
        :class:`sochdb.Server` is stopped. Other processes then :func:`connect` to it.
        ``log`` writes a line per notable event to stderr; a 0 in a limit means the
        library's default (256 connections, 64 transactions per connection, 10 minutes
        idle, 5 s grace on stop). :meth:`close` stops the servers still running."""
        target = os.fspath(socket_path)
        p = to_cstr(target, "socket path")
        o = n.ServerOptions()
        o.struct_size = sizeof(n.ServerOptions)
        o.log = 1 if log else 0
        for key, value in (
            ("max_connections", max_connections),
            ("max_txns_per_connection", max_txns_per_connection),
            ("idle_timeout_ms", idle_timeout_ms),
            ("shutdown_grace_ms", shutdown_grace_ms),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
                raise InvalidArgumentError(f"{key} must be an int >= 0, not {value!r}")
            setattr(o, key, value)
        uids = (c_uint32 * max(len(allowed_uids), 1))(*allowed_uids)
        o.allowed_uids = uids
        o.allowed_uid_count = len(allowed_uids)
        h = c_void_p()
        call(self._lib.sochdb_server_start, self._handle_or_raise(), p, byref(o), byref(h))
        server = Server(self._lib, h.value or 0, target, self)
        self._servers.add(server)
        return server

    # ---- maintenance ------------------------------------------------------------

    def checkpoint(self) -> None:
        """Flushes the memtable, syncs and trims the log (on the server, in socket
        mode)."""
        call(self._lib.sochdb_checkpoint, self._handle_or_raise())

    def compact(self) -> None:
        """Runs a full manual compaction (like RocksDB's ``CompactRange`` over every
        key, or SQLite's ``VACUUM``): flushes the memtable, then rewrites every level of
        block files into the last one, dropping overwritten versions no open transaction
        can read and deleted keys, so the database takes about the space its live data
        needs. In socket mode the server does the work. Returns when done (about as
        long as reading and writing the whole database once); other threads and clients
        keep reading and writing meanwhile. Raises :class:`ReadOnlyError` on a database
        opened read-only and :class:`ClosedError` once it is closed."""
        call(self._lib.sochdb_compact, self._handle_or_raise())

    def stats(self) -> Dict[str, Any]:
        """Figures about the database (transactions, memtable and log bytes; in socket
        mode the server's connection counters) as a dictionary."""
        doc = self._json_call("sochdb_stats")
        if not isinstance(doc, dict):
            raise InvalidArgumentError(f"stats are not a JSON object: {doc!r}")
        return doc


def open(path: StrPath, **options: Any) -> Database:
    """Opens (creating if needed) the database in directory ``path``, with the engine
    running in this process. The directory is locked: a second opener gets
    :class:`sochdb.LockedError` (processes share a database through ``sochdb serve``).

    Options: ``durability`` (``"sync"`` — the default: a commit returns once on stable
    storage —, ``"buffered"`` or ``"none"``), ``read_only``, ``isolation``
    (``"serializable"`` or ``"snapshot"``), ``memtable_budget`` and ``cache_budget``
    (bytes), ``buffered_sync_interval_ms``, ``max_txn_age_ms``,
    ``max_txn_write_bytes``. A 0 or an option left out means the library's default.
    """
    lib = _lib()
    target = os.fspath(path)
    p = to_cstr(target, "database path")
    opts = _options(options)
    h = c_void_p()
    call(lib.sochdb_open, p, byref(opts), byref(h))
    return Database(lib, h.value or 0, target, "in-process")


def connect(socket_path: StrPath, **options: Any) -> Database:
    """Connects to the ``sochdb serve`` listening on the Unix socket ``socket_path``.

    Options: ``connect_timeout_ms`` (how long to wait for the server) and
    ``request_timeout_ms`` (how long one request may take; default no limit). The
    server's own options govern storage.
    """
    lib = _lib()
    target = os.fspath(socket_path)
    p = to_cstr(target, "socket path")
    opts = _options(options)
    h = c_void_p()
    call(lib.sochdb_connect, p, byref(opts), byref(h))
    return Database(lib, h.value or 0, target, "socket")
