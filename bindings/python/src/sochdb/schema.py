"""Table schemas and typed values: :class:`ColumnType`, :class:`Column`,
:class:`TableInfo`, and the conversions between Python values and ``sochdb_value``."""

from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Optional, Tuple, Type, Union

from . import _native as n
from .errors import InvalidArgumentError

__all__ = ["ColumnType", "Column", "TableInfo", "TypeSpec", "ColumnsSpec", "CellValue"]


class ColumnType(enum.IntEnum):
    """The type of a table column (the codes of the C ABI's ``SOCHDB_TYPE_*``)."""

    INT64 = n.TYPE_INT64
    UINT64 = n.TYPE_UINT64
    FLOAT64 = n.TYPE_FLOAT64
    TEXT = n.TYPE_TEXT
    BINARY = n.TYPE_BINARY
    BOOL = n.TYPE_BOOL

    @property
    def type_name(self) -> str:
        """The library's name of the type (``"Int64"``)."""
        return _NAMES[self]

    @classmethod
    def parse(cls, spec: "TypeSpec") -> "ColumnType":
        """A column type from a :class:`ColumnType`, a name (``"int64"``, ``"Text"``,
        ``"str"``...) or a Python type (``int``, ``float``, ``str``, ``bytes``,
        ``bool``)."""
        if isinstance(spec, ColumnType):
            return spec
        if isinstance(spec, str):
            found = _ALIASES.get(spec.strip().lower())
            if found is None:
                raise InvalidArgumentError(
                    f"unknown column type {spec!r}; use one of int64, uint64, float64, "
                    "text, binary, bool"
                )
            return found
        if isinstance(spec, type):
            # bool before int: bool is a subclass of int.
            for py, ct in _PY_TYPES:
                if issubclass(spec, py):
                    return ct
        raise InvalidArgumentError(f"cannot make a column type of {spec!r}")


_NAMES = {
    ColumnType.INT64: "Int64",
    ColumnType.UINT64: "UInt64",
    ColumnType.FLOAT64: "Float64",
    ColumnType.TEXT: "Text",
    ColumnType.BINARY: "Binary",
    ColumnType.BOOL: "Bool",
}

_ALIASES = {
    "int64": ColumnType.INT64,
    "int": ColumnType.INT64,
    "integer": ColumnType.INT64,
    "i64": ColumnType.INT64,
    "uint64": ColumnType.UINT64,
    "u64": ColumnType.UINT64,
    "float64": ColumnType.FLOAT64,
    "float": ColumnType.FLOAT64,
    "double": ColumnType.FLOAT64,
    "f64": ColumnType.FLOAT64,
    "text": ColumnType.TEXT,
    "str": ColumnType.TEXT,
    "string": ColumnType.TEXT,
    "binary": ColumnType.BINARY,
    "bytes": ColumnType.BINARY,
    "blob": ColumnType.BINARY,
    "bool": ColumnType.BOOL,
    "boolean": ColumnType.BOOL,
}

_PY_TYPES: List[Tuple[Type[Any], ColumnType]] = [
    (bool, ColumnType.BOOL),
    (int, ColumnType.INT64),
    (float, ColumnType.FLOAT64),
    (str, ColumnType.TEXT),
    (bytes, ColumnType.BINARY),
]

#: What names a column type: a :class:`ColumnType`, a name, or a Python type.
TypeSpec = Union[ColumnType, str, Type[Any]]

#: A cell value as Python sees it.
CellValue = Union[None, bool, int, float, str, bytes]


@dataclass(frozen=True)
class Column:
    """One column of a table: its name, type, and whether it accepts ``None``."""

    name: str
    type: ColumnType
    nullable: bool = False

    def __init__(self, name: str, type: TypeSpec, nullable: bool = False) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "type", ColumnType.parse(type))
        object.__setattr__(self, "nullable", bool(nullable))


#: Columns for :meth:`sochdb.Database.create_table`: a mapping of name to a
#: :data:`TypeSpec` or to ``(TypeSpec, nullable)``, or a sequence of :class:`Column`.
#: (Mapping values are typed loosely so that a literal mixing ``"text"`` and ``int``
#: type-checks; they are validated when the table is created.)
ColumnsSpec = Union[Mapping[str, Any], Iterable[Column]]


@dataclass(frozen=True)
class TableInfo:
    """A table's schema, as :meth:`sochdb.Database.describe_table` returns it."""

    name: str
    columns: Tuple[Column, ...]

    @property
    def column_names(self) -> List[str]:
        """The column names in declared order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Optional[Column]:
        """The column called ``name``, or ``None``."""
        for c in self.columns:
            if c.name == name:
                return c
        return None

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "TableInfo":
        """Reads the JSON the C ABI's ``sochdb_table_describe`` returns."""
        by_name = {v: k for k, v in _NAMES.items()}
        cols = []
        for c in doc["columns"]:
            ty = by_name.get(c["type"])
            if ty is None:
                ty = ColumnType.parse(c["type"])
            cols.append(Column(c["name"], ty, bool(c.get("nullable", False))))
        return cls(str(doc["name"]), tuple(cols))


def columns_of(spec: ColumnsSpec) -> List[Column]:
    """Normalizes the columns given to ``create_table``."""
    out: List[Column] = []
    if isinstance(spec, Mapping):
        for name, ty in spec.items():
            if isinstance(ty, Column):
                out.append(Column(name, ty.type, ty.nullable))
            elif isinstance(ty, tuple):
                if len(ty) != 2:
                    raise InvalidArgumentError(
                        f"column {name!r}: expected a type or (type, nullable), got {ty!r}"
                    )
                out.append(Column(name, ty[0], bool(ty[1])))
            else:
                out.append(Column(name, ty))
    else:
        for c in spec:
            if not isinstance(c, Column):
                raise InvalidArgumentError(f"expected a sochdb.Column, got {c!r}")
            out.append(c)
    return out


_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_U64_MAX = (1 << 64) - 1


def _address(b: bytes) -> Optional[int]:
    """The address of a bytes object's buffer (no copy); the caller keeps ``b`` alive."""
    return ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p).value


def encode(
    value: Any, hint: Optional[ColumnType], keep: List[bytes], what: str, out: n.Value
) -> None:
    """Fills ``out`` with ``value``. ``hint`` is the column's type when known: an
    ``int`` goes as UInt64 or Float64 to such columns. Text and binary bytes are
    appended to ``keep``, which the caller holds until the call returns."""
    if value is None:
        out.kind = n.TYPE_NULL
    elif isinstance(value, bool):
        out.kind = n.TYPE_BOOL
        out.boolean = 1 if value else 0
    elif isinstance(value, int):
        if hint == ColumnType.FLOAT64:
            out.kind = n.TYPE_FLOAT64
            out.float64 = float(value)
        elif hint == ColumnType.UINT64 or value > _I64_MAX:
            if not 0 <= value <= _U64_MAX:
                raise InvalidArgumentError(f"{what}: {value} is out of the UInt64 range")
            out.kind = n.TYPE_UINT64
            out.uint64 = value
        else:
            if value < _I64_MIN:
                raise InvalidArgumentError(f"{what}: {value} is out of the Int64 range")
            out.kind = n.TYPE_INT64
            out.int64 = value
    elif isinstance(value, float):
        out.kind = n.TYPE_FLOAT64
        out.float64 = value
    elif isinstance(value, str):
        b = value.encode("utf-8")
        keep.append(b)
        out.kind = n.TYPE_TEXT
        out.data = _address(b)
        out.len = len(b)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        keep.append(b)
        out.kind = n.TYPE_BINARY
        out.data = _address(b)
        out.len = len(b)
    else:
        raise InvalidArgumentError(
            f"{what}: cannot store a {type(value).__name__}; use None, bool, int, float, "
            "str or bytes"
        )


def decode(v: n.Value) -> CellValue:
    """A Python value from a ``sochdb_value`` the library owns (copied)."""
    kind = v.kind
    if kind == n.TYPE_NULL:
        return None
    if kind == n.TYPE_INT64:
        return int(v.int64)
    if kind == n.TYPE_UINT64:
        return int(v.uint64)
    if kind == n.TYPE_FLOAT64:
        return float(v.float64)
    if kind == n.TYPE_BOOL:
        return bool(v.boolean)
    if kind in (n.TYPE_TEXT, n.TYPE_BINARY):
        raw = n.copy_bytes(v.data, v.len) if v.len else b""
        return raw.decode("utf-8") if kind == n.TYPE_TEXT else raw
    raise InvalidArgumentError(f"the library returned a value of unknown kind {kind}")


def matches(value: CellValue, column: Column) -> bool:
    """Whether a decoded value fits a column's type (null always fits)."""
    if value is None:
        return True
    expected = {
        ColumnType.INT64: int,
        ColumnType.UINT64: int,
        ColumnType.FLOAT64: float,
        ColumnType.TEXT: str,
        ColumnType.BINARY: bytes,
        ColumnType.BOOL: bool,
    }[column.type]
    if expected is int and isinstance(value, bool):
        return False
    return isinstance(value, expected)
