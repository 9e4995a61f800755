"""Query results: rows as dictionaries, and the library's TOON and JSON renderings."""

from __future__ import annotations

import threading
from ctypes import byref
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _native as n
from ._closing import Closing
from ._calls import buf_bytes, call
from .errors import ClosedError, InvalidArgumentError
from .schema import CellValue, decode

__all__ = ["QueryResult", "Where", "OPERATORS"]

#: Comparison operators accepted in ``where`` conditions.
OPERATORS: Dict[str, int] = {
    "=": n.OP_EQ,
    "==": n.OP_EQ,
    "eq": n.OP_EQ,
    "!=": n.OP_NE,
    "<>": n.OP_NE,
    "ne": n.OP_NE,
    "<": n.OP_LT,
    "lt": n.OP_LT,
    "<=": n.OP_LE,
    "le": n.OP_LE,
    ">": n.OP_GT,
    "gt": n.OP_GT,
    ">=": n.OP_GE,
    "ge": n.OP_GE,
}

#: Query conditions, joined with AND: a mapping ``{column: value}`` (equality), or a
#: sequence of ``(column, operator, value)`` triples with an operator from
#: :data:`OPERATORS`.
Where = Union[Mapping[str, Any], Sequence[Tuple[str, str, Any]]]


def conditions(where: Optional[Where]) -> List[Tuple[str, int, Any]]:
    """Normalizes ``where`` to ``(column, op code, value)`` triples."""
    if where is None:
        return []
    if isinstance(where, Mapping):
        return [(str(c), n.OP_EQ, v) for c, v in where.items()]
    out = []
    for cond in where:
        if not isinstance(cond, tuple) or len(cond) != 3:
            raise InvalidArgumentError(
                f"a condition is a (column, operator, value) triple, not {cond!r}"
            )
        column, op, value = cond
        code = OPERATORS.get(op) if isinstance(op, str) else None
        if code is None:
            raise InvalidArgumentError(
                f"unknown operator {op!r} on column {column!r}; use one of "
                "=, !=, <, <=, >, >="
            )
        out.append((str(column), code, value))
    return out


class QueryResult(Closing):
    """The rows of :meth:`sochdb.Database.query`, in key order.

    :attr:`rows` is a list of dictionaries (column name to value); :meth:`to_toon` and
    :meth:`to_json` render the result with the library. The result holds the
    library's copy until :meth:`close` (or the end of a ``with`` block, or garbage
    collection); the decoded :attr:`rows` stay usable after that.
    """

    def __init__(self, lib: Any, result: n.Result) -> None:
        self._lib = lib
        self._lock = threading.Lock()
        self._result: Optional[n.Result] = result
        #: The table or path the rows came from.
        self.name: str = (result.name or b"").decode("utf-8")
        #: Column names, in the order of each row.
        self.columns: List[str] = [
            (result.columns[i] or b"").decode("utf-8") for i in range(result.column_count)
        ]
        width = len(self.columns)
        rows: List[Dict[str, CellValue]] = []
        for r in range(result.row_count):
            base = r * width
            rows.append({self.columns[c]: decode(result.values[base + c]) for c in range(width)})
        #: The rows, as dictionaries.
        self.rows: List[Dict[str, CellValue]] = rows

    def _render(self, fn_name: str) -> str:
        with self._lock:
            r = self._result
            if r is None:
                raise ClosedError("the query result was closed")
            buf = n.Buf()
            try:
                call(getattr(self._lib, fn_name), byref(r), byref(buf))
                return buf_bytes(buf).decode("utf-8")
            finally:
                self._lib.sochdb_buf_free(byref(buf))

    def to_toon(self) -> str:
        """The result as TOON text (the compact, table-shaped format for LLM tools)."""
        return self._render("sochdb_result_toon")

    def to_json(self) -> str:
        """The result as JSON text, rendered by the library."""
        return self._render("sochdb_result_json")

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Dict[str, CellValue]]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> Dict[str, CellValue]:
        return self.rows[index]

    def __repr__(self) -> str:
        return f"<sochdb.QueryResult {self.name!r}: {len(self.rows)} rows, columns {self.columns}>"

    def close(self) -> None:
        """Frees the library's copy; :meth:`to_toon` and :meth:`to_json` then raise
        :class:`sochdb.ClosedError`."""
        with self._lock:
            r, self._result = self._result, None
            if r is not None:
                self._lib.sochdb_result_free(byref(r))


    def __del__(self) -> None:
        try:
            r = self._result
            if r is not None:
                self._result = None
                self._lib.sochdb_result_free(byref(r))
        except Exception:
            pass
