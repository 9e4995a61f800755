"""The operations a database and a transaction share: keys, iteration, paths, rows and
queries. Each runs on its own (database) or inside the transaction."""

from __future__ import annotations

from ctypes import byref, c_bool, c_char_p, c_uint64, c_void_p
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union, overload

from . import _native as n
from ._calls import BytesLike, buf_bytes, call, call_found, to_bytes, to_cstr
from .cursor import Cursor
from .errors import InvalidArgumentError, NotFoundError, take
from .query import QueryResult, Where, conditions
from .schema import CellValue, ColumnType, TableInfo, decode, encode, matches

if TYPE_CHECKING:
    from .database import Database

T = TypeVar("T")

_MISSING: Any = object()


def _limit(limit: Optional[int]) -> int:
    if limit is None:
        return 0
    if limit < 0:
        raise InvalidArgumentError(f"limit must be >= 0, got {limit}")
    return limit


def _row_id(row_id: int) -> int:
    if isinstance(row_id, bool) or not isinstance(row_id, int):
        raise TypeError(f"row id must be an int, not {type(row_id).__name__}")
    if not 0 <= row_id < (1 << 64):
        raise InvalidArgumentError(f"row id {row_id} is out of the UInt64 range")
    return row_id


class Operations:
    """Methods of :class:`sochdb.Database` and :class:`sochdb.Transaction` alike."""

    _lib: Any

    # The (database handle, transaction handle or None) a call runs on; raises
    # ClosedError once either has ended.
    def _scope(self) -> Tuple[int, Optional[int]]:
        raise NotImplementedError

    # The Database these operations belong to (for table schemas).
    def _database(self) -> "Database":
        raise NotImplementedError

    # ---- keys -------------------------------------------------------------------

    @overload
    def get(self, key: BytesLike) -> Optional[bytes]: ...

    @overload
    def get(self, key: BytesLike, default: T) -> Union[bytes, T]: ...

    def get(self, key: BytesLike, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when it is absent. An empty value is
        ``b""``, not absent."""
        k = to_bytes(key, "key")
        db, txn = self._scope()
        lib = self._lib
        buf = n.Buf()
        err = c_void_p()
        try:
            st = lib.sochdb_get(db, txn, k, len(k), byref(buf), byref(err))
            if st == n.OK:
                return buf_bytes(buf)
            if st == n.NOT_FOUND and not err.value:
                return default
            raise take(st, err)
        finally:
            lib.sochdb_buf_free(byref(buf))

    def __getitem__(self, key: BytesLike) -> bytes:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise NotFoundError(f"key {key!r} does not exist")
        return value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (bytes, bytearray, memoryview, str)):
            return False
        return self.get(key, _MISSING) is not _MISSING

    def put(self, key: BytesLike, value: BytesLike) -> None:
        """Writes ``key``. On a database the write commits on its own (durably, per the
        database's durability); in a transaction it joins it."""
        k = to_bytes(key, "key")
        v = to_bytes(value, "value")
        db, txn = self._scope()
        call(self._lib.sochdb_put, db, txn, k, len(k), v, len(v))

    def __setitem__(self, key: BytesLike, value: BytesLike) -> None:
        self.put(key, value)

    def delete(self, key: BytesLike) -> None:
        """Deletes ``key``; deleting an absent key is not an error."""
        k = to_bytes(key, "key")
        db, txn = self._scope()
        call(self._lib.sochdb_delete, db, txn, k, len(k))

    def __delitem__(self, key: BytesLike) -> None:
        self.delete(key)

    # ---- iteration --------------------------------------------------------------

    def scan(
        self, prefix: BytesLike = b"", *, reverse: bool = False, limit: Optional[int] = None
    ) -> Cursor[bytes]:
        """Iterates over the keys that start with ``prefix`` (every key by default), in
        ascending order or descending with ``reverse``; at most ``limit`` pairs.
        Streams from the library."""
        p = to_bytes(prefix, "prefix")
        db, txn = self._scope()
        h = c_void_p()
        flags = n.SCAN_REVERSE if reverse else 0
        call(self._lib.sochdb_scan_prefix, db, txn, p, len(p), flags, _limit(limit), byref(h))
        return Cursor(self._lib, h.value or 0, self, False)

    def range(
        self,
        start: BytesLike = b"",
        end: Optional[BytesLike] = None,
        *,
        reverse: bool = False,
        limit: Optional[int] = None,
    ) -> Cursor[bytes]:
        """Iterates over the keys in ``[start, end)`` (``end`` ``None``: no upper bound),
        ascending or descending with ``reverse``; at most ``limit`` pairs."""
        s = to_bytes(start, "start")
        e = to_bytes(end, "end") if end is not None else None
        db, txn = self._scope()
        h = c_void_p()
        flags = n.SCAN_REVERSE if reverse else 0
        call(
            self._lib.sochdb_scan_range,
            db,
            txn,
            s,
            len(s),
            e,
            len(e) if e is not None else 0,
            flags,
            _limit(limit),
            byref(h),
        )
        return Cursor(self._lib, h.value or 0, self, False)

    # ---- paths ------------------------------------------------------------------

    def put_path(self, path: str, value: BytesLike) -> None:
        """Writes the value at a path: non-empty segments joined by ``/``
        (``"users/alice/email"``). It is stored under the key of the path's bytes."""
        p = to_cstr(path, "path")
        v = to_bytes(value, "value")
        db, txn = self._scope()
        call(self._lib.sochdb_path_put, db, txn, p, v, len(v))

    @overload
    def get_path(self, path: str) -> Optional[bytes]: ...

    @overload
    def get_path(self, path: str, default: T) -> Union[bytes, T]: ...

    def get_path(self, path: str, default: Any = None) -> Any:
        """The value at a path, or ``default`` when absent."""
        p = to_cstr(path, "path")
        db, txn = self._scope()
        lib = self._lib
        buf = n.Buf()
        try:
            if call_found(lib.sochdb_path_get, db, txn, p, byref(buf)):
                return buf_bytes(buf)
            return default
        finally:
            lib.sochdb_buf_free(byref(buf))

    def delete_path(self, path: str) -> None:
        """Deletes the value at a path (an absent path is not an error)."""
        p = to_cstr(path, "path")
        db, txn = self._scope()
        call(self._lib.sochdb_path_delete, db, txn, p)

    def scan_path(
        self, path: str, *, reverse: bool = False, limit: Optional[int] = None
    ) -> Cursor[str]:
        """Iterates over the entries below a path, segment-aware: ``"users"`` covers
        ``users/...`` and never ``users_archive/...``. Yields ``(full path, value)``."""
        p = to_cstr(path, "path")
        db, txn = self._scope()
        h = c_void_p()
        flags = n.SCAN_REVERSE if reverse else 0
        call(self._lib.sochdb_path_scan, db, txn, p, flags, _limit(limit), byref(h))
        return Cursor(self._lib, h.value or 0, self, True)

    # ---- rows -------------------------------------------------------------------

    def _fields(
        self, table: str, row: Mapping[str, Any], info: Optional[TableInfo], keep: List[bytes]
    ) -> Tuple[Any, int]:
        if not isinstance(row, Mapping):
            raise TypeError(f"a row is a mapping of column name to value, not {type(row).__name__}")
        fields = (n.Field * max(len(row), 1))()
        for i, (name, value) in enumerate(row.items()):
            nb = to_cstr(name, "column name")
            keep.append(nb)
            fields[i].name = nb
            col = info.column(name) if info is not None else None
            hint: Optional[ColumnType] = col.type if col is not None else None
            encode(value, hint, keep, f"column {name!r} of table {table!r}", fields[i].value)
        return fields, len(row)

    def _write_row(
        self, fn_name: str, table: str, row_id: Optional[int], row: Mapping[str, Any]
    ) -> int:
        t = to_cstr(table, "table name")
        rid = c_uint64(_row_id(row_id)) if row_id is not None else None
        database = self._database()
        info, cached = database._schema_for_write(table)
        for attempt in (0, 1):
            keep: List[bytes] = []
            fields, count = self._fields(table, row, info, keep)
            out = c_uint64()
            db, txn = self._scope()
            try:
                call(
                    getattr(self._lib, fn_name),
                    db,
                    txn,
                    t,
                    byref(rid) if rid is not None else None,
                    fields,
                    count,
                    byref(out),
                )
                return int(out.value)
            except InvalidArgumentError:
                # A schema cached before another connection redefined the table may have
                # chosen the wrong integer type: read it again once.
                if attempt or not cached:
                    raise
                fresh = database._refresh_schema(table)
                if fresh == info:
                    raise
                info, cached = fresh, False
        raise AssertionError("unreachable")

    def insert_row(
        self, table: str, row: Mapping[str, Any], *, row_id: Optional[int] = None
    ) -> int:
        """Inserts a row (a mapping of column name to value; columns left out are
        ``None``) and returns its id. ``row_id`` ``None`` assigns the next id; an id
        already taken raises :class:`sochdb.AlreadyExistsError`."""
        return self._write_row("sochdb_row_insert", table, row_id, row)

    def upsert_row(
        self, table: str, row: Mapping[str, Any], *, row_id: Optional[int] = None
    ) -> int:
        """Inserts or replaces a row (a replaced row takes exactly the given columns;
        the others become ``None``); returns its id."""
        return self._write_row("sochdb_row_upsert", table, row_id, row)

    def update_row(self, table: str, row_id: int, changes: Mapping[str, Any]) -> None:
        """Changes the given columns of an existing row, leaving the others; raises
        :class:`sochdb.NotFoundError` when the row does not exist."""
        t = to_cstr(table, "table name")
        rid = _row_id(row_id)
        database = self._database()
        info, cached = database._schema_for_write(table)
        keep: List[bytes] = []
        fields, count = self._fields(table, changes, info, keep)
        db, txn = self._scope()
        try:
            call(self._lib.sochdb_row_update, db, txn, t, rid, fields, count)
        except InvalidArgumentError:
            if not cached:
                raise
            fresh = database._refresh_schema(table)
            if fresh == info:
                raise
            keep = []
            fields, count = self._fields(table, changes, fresh, keep)
            db, txn = self._scope()
            call(self._lib.sochdb_row_update, db, txn, t, rid, fields, count)

    def get_row(self, table: str, row_id: int) -> Optional[Dict[str, CellValue]]:
        """The row as a dictionary of every column, or ``None`` when absent. A missing
        table raises :class:`sochdb.NotFoundError`."""
        t = to_cstr(table, "table name")
        rid = _row_id(row_id)
        db, txn = self._scope()
        lib = self._lib
        row = n.Row()
        try:
            if not call_found(lib.sochdb_row_get, db, txn, t, rid, byref(row)):
                return None
            values = [decode(row.values[i]) for i in range(row.count)]
        finally:
            lib.sochdb_row_free(byref(row))
        database = self._database()
        info = database._schema(table)
        if len(info.columns) != len(values) or not all(
            matches(v, c) for v, c in zip(values, info.columns)
        ):
            info = database._refresh_schema(table)
            if len(info.columns) != len(values):
                raise InvalidArgumentError(
                    f"table {table!r}: row {rid} has {len(values)} values for "
                    f"{len(info.columns)} columns"
                )
        return {c.name: v for c, v in zip(info.columns, values)}

    def delete_row(self, table: str, row_id: int) -> bool:
        """Deletes a row; returns whether it existed."""
        t = to_cstr(table, "table name")
        rid = _row_id(row_id)
        db, txn = self._scope()
        existed = c_bool(False)
        call(self._lib.sochdb_row_delete, db, txn, t, rid, byref(existed))
        return bool(existed.value)

    # ---- queries ----------------------------------------------------------------

    def query(
        self,
        source: str,
        *,
        columns: Optional[Sequence[str]] = None,
        where: Optional[Where] = None,
        limit: Optional[int] = None,
        offset: int = 0,
    ) -> QueryResult:
        """Runs a query over a table, or over the path-shaped keys under a path
        (``docs/1/title`` and ``docs/1/body`` form row ``docs/1`` with columns
        ``title`` and ``body``).

        ``columns`` picks and orders the columns (default: all); ``where`` filters rows
        (``{"name": "ada"}`` or ``[("score", ">=", 90)]``, joined with AND); ``limit``
        and ``offset`` page through the rows. Rows come in key order.
        """
        src = to_cstr(source, "query source")
        conds = conditions(where)
        if offset < 0:
            raise InvalidArgumentError(f"offset must be >= 0, got {offset}")
        keep: List[bytes] = []
        q = n.Query()
        q.source = src
        if columns:
            cols = (c_char_p * len(columns))()
            for i, c in enumerate(columns):
                cb = to_cstr(c, "column name")
                keep.append(cb)
                cols[i] = cb
            q.columns = cols
            q.column_count = len(columns)
        if conds:
            filters = (n.Filter * len(conds))()
            for i, (column, op, value) in enumerate(conds):
                cb = to_cstr(column, "column name")
                keep.append(cb)
                filters[i].column = cb
                filters[i].op = op
                # Numbers compare numerically across Int64, UInt64 and Float64.
                encode(value, None, keep, f"filter on column {column!r}", filters[i].value)
            q.filters = filters
            q.filter_count = len(conds)
        q.limit = _limit(limit)
        q.offset = offset
        db, txn = self._scope()
        lib = self._lib
        result = n.Result()
        try:
            call(lib.sochdb_query, db, txn, byref(q), byref(result))
            out = QueryResult(lib, result)
        except BaseException:
            lib.sochdb_result_free(byref(result))
            raise
        return out

