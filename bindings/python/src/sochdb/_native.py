"""The C ABI as ctypes sees it: struct layouts, function signatures, and the search for
``libsochdb.so``.

Everything here mirrors ``include/sochdb.h``. Every function the package calls is
declared with its ``argtypes`` and ``restype`` before use. The library is loaded with
:class:`ctypes.CDLL`, which releases the GIL for the duration of each foreign call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from ctypes import (
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_double,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, List, Optional, Tuple

# Status codes (stable; see docs/c-api.md).
OK = 0
NOT_FOUND = 1
CONFLICT = 2
INVALID_ARGUMENT = 3
IO = 4
CORRUPTION = 5
LOCKED = 6
CLOSED = 7
BUSY = 8
PROTOCOL = 9
TOO_LARGE = 10
INTERNAL = 11
READ_ONLY = 12
TIMEOUT = 13
ALREADY_EXISTS = 14

DURABILITY_SYNC = 0
DURABILITY_BUFFERED = 1
DURABILITY_NONE = 2

ISOLATION_SERIALIZABLE = 0
ISOLATION_SNAPSHOT = 1

TXN_READ_ONLY = 1
TXN_SERIALIZABLE = 2
TXN_SNAPSHOT = 4

SCAN_REVERSE = 1

TYPE_INT64 = 0
TYPE_UINT64 = 1
TYPE_FLOAT64 = 2
TYPE_TEXT = 3
TYPE_BINARY = 4
TYPE_BOOL = 5
TYPE_NULL = 6

OP_EQ = 0
OP_NE = 1
OP_LT = 2
OP_LE = 3
OP_GT = 4
OP_GE = 5

#: The major version of the C ABI this package speaks.
ABI_MAJOR = 0

LIBRARY_NAME = "libsochdb.so"


class Buf(Structure):
    """``sochdb_buf``: bytes the library allocated; freed with ``sochdb_buf_free``."""

    _fields_ = [("data", c_void_p), ("len", c_size_t), ("cap", c_size_t)]


class Options(Structure):
    """``sochdb_options``. ``struct_size`` tells the library how much of it this package
    knows; fields past it take the library's defaults."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("durability", c_uint32),
        ("read_only", c_uint32),
        ("default_isolation", c_uint32),
        ("memtable_budget", c_uint64),
        ("cache_budget", c_uint64),
        ("buffered_sync_interval_ms", c_uint64),
        ("max_txn_age_ms", c_uint64),
        ("max_txn_write_bytes", c_uint64),
        ("connect_timeout_ms", c_uint64),
        ("request_timeout_ms", c_uint64),
    ]


class Slice(Structure):
    """``sochdb_slice``: a view into library memory, valid until the next call."""

    _fields_ = [("data", c_void_p), ("len", c_size_t)]


class Column(Structure):
    """``sochdb_column``: one column of a table definition."""

    _fields_ = [("name", c_char_p), ("kind", c_uint32), ("nullable", c_uint32)]


class Value(Structure):
    """``sochdb_value``: a typed cell; ``kind`` says which field holds it."""

    _fields_ = [
        ("kind", c_uint32),
        ("boolean", c_uint32),
        ("int64", c_int64),
        ("uint64", c_uint64),
        ("float64", c_double),
        ("data", c_void_p),
        ("len", c_size_t),
    ]


class Field(Structure):
    """``sochdb_field``: a column name and a value, for row writes."""

    _fields_ = [("name", c_char_p), ("value", Value)]


class Row(Structure):
    """``sochdb_row``: the values of one row; freed with ``sochdb_row_free``."""

    _fields_ = [("values", POINTER(Value)), ("count", c_size_t), ("owner", c_void_p)]


class Filter(Structure):
    """``sochdb_filter``: one ``column op value`` condition of a query."""

    _fields_ = [("column", c_char_p), ("op", c_uint32), ("value", Value)]


class Query(Structure):
    """``sochdb_query_request``: the request of ``sochdb_query``."""

    _fields_ = [
        ("source", c_char_p),
        ("columns", POINTER(c_char_p)),
        ("column_count", c_size_t),
        ("filters", POINTER(Filter)),
        ("filter_count", c_size_t),
        ("limit", c_uint64),
        ("offset", c_uint64),
    ]


class Result(Structure):
    """``sochdb_result``: the rows of a query; freed with ``sochdb_result_free``."""

    _fields_ = [
        ("name", c_char_p),
        ("columns", POINTER(c_char_p)),
        ("column_count", c_size_t),
        ("values", POINTER(Value)),
        ("row_count", c_size_t),
        ("owner", c_void_p),
    ]


class ServerOptions(Structure):
    """``sochdb_server_options``: the options of ``sochdb_server_start``."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("log", c_uint32),
        ("max_connections", c_uint64),
        ("max_txns_per_connection", c_uint64),
        ("idle_timeout_ms", c_uint64),
        ("shutdown_grace_ms", c_uint64),
        ("allowed_uids", POINTER(c_uint32)),
        ("allowed_uid_count", c_size_t),
    ]


_status = c_int32
_handle = c_void_p
_handle_out = POINTER(c_void_p)
_err_out = POINTER(c_void_p)
_bytes = c_char_p  # (pointer, length) inputs: bytes objects are passed without a copy

# name -> (restype, argtypes), exactly as include/sochdb.h declares them.
SIGNATURES: dict[str, Tuple[Any, List[Any]]] = {
    "sochdb_version": (c_char_p, []),
    "sochdb_status_str": (c_char_p, [_status]),
    "sochdb_error_status": (_status, [c_void_p]),
    "sochdb_error_message": (c_char_p, [c_void_p]),
    "sochdb_error_free": (None, [c_void_p]),
    "sochdb_buf_free": (None, [POINTER(Buf)]),
    "sochdb_open": (_status, [c_char_p, POINTER(Options), _handle_out, _err_out]),
    "sochdb_connect": (_status, [c_char_p, POINTER(Options), _handle_out, _err_out]),
    "sochdb_close": (_status, [_handle, _err_out]),
    "sochdb_get": (_status, [_handle, _handle, _bytes, c_size_t, POINTER(Buf), _err_out]),
    "sochdb_put": (
        _status,
        [_handle, _handle, _bytes, c_size_t, _bytes, c_size_t, _err_out],
    ),
    "sochdb_delete": (_status, [_handle, _handle, _bytes, c_size_t, _err_out]),
    "sochdb_checkpoint": (_status, [_handle, _err_out]),
    "sochdb_compact": (_status, [_handle, _err_out]),
    "sochdb_stats": (_status, [_handle, POINTER(Buf), _err_out]),
    "sochdb_begin": (_status, [_handle, c_uint32, _handle_out, _err_out]),
    "sochdb_commit": (_status, [_handle, POINTER(c_uint64), _err_out]),
    "sochdb_abort": (_status, [_handle, _err_out]),
    "sochdb_txn_free": (None, [_handle]),
    "sochdb_batch_new": (_status, [_handle_out, _err_out]),
    "sochdb_batch_put": (
        _status,
        [_handle, _bytes, c_size_t, _bytes, c_size_t, _err_out],
    ),
    "sochdb_batch_delete": (_status, [_handle, _bytes, c_size_t, _err_out]),
    "sochdb_batch_count": (_status, [_handle, POINTER(c_size_t), _err_out]),
    "sochdb_batch_clear": (_status, [_handle, _err_out]),
    "sochdb_write_batch": (_status, [_handle, _handle, POINTER(c_uint64), _err_out]),
    "sochdb_batch_free": (None, [_handle]),
    "sochdb_scan_prefix": (
        _status,
        [_handle, _handle, _bytes, c_size_t, c_uint32, c_uint64, _handle_out, _err_out],
    ),
    "sochdb_scan_range": (
        _status,
        [
            _handle,
            _handle,
            _bytes,
            c_size_t,
            _bytes,
            c_size_t,
            c_uint32,
            c_uint64,
            _handle_out,
            _err_out,
        ],
    ),
    "sochdb_iter_next": (_status, [_handle, POINTER(Slice), POINTER(Slice), _err_out]),
    "sochdb_iter_free": (None, [_handle]),
    "sochdb_path_put": (
        _status,
        [_handle, _handle, c_char_p, _bytes, c_size_t, _err_out],
    ),
    "sochdb_path_get": (_status, [_handle, _handle, c_char_p, POINTER(Buf), _err_out]),
    "sochdb_path_delete": (_status, [_handle, _handle, c_char_p, _err_out]),
    "sochdb_path_scan": (
        _status,
        [_handle, _handle, c_char_p, c_uint32, c_uint64, _handle_out, _err_out],
    ),
    "sochdb_table_create": (
        _status,
        [_handle, c_char_p, POINTER(Column), c_size_t, _err_out],
    ),
    "sochdb_table_drop": (_status, [_handle, c_char_p, _err_out]),
    "sochdb_table_list": (_status, [_handle, POINTER(Buf), _err_out]),
    "sochdb_table_describe": (_status, [_handle, c_char_p, POINTER(Buf), _err_out]),
    "sochdb_row_insert": (
        _status,
        [
            _handle,
            _handle,
            c_char_p,
            POINTER(c_uint64),
            POINTER(Field),
            c_size_t,
            POINTER(c_uint64),
            _err_out,
        ],
    ),
    "sochdb_row_upsert": (
        _status,
        [
            _handle,
            _handle,
            c_char_p,
            POINTER(c_uint64),
            POINTER(Field),
            c_size_t,
            POINTER(c_uint64),
            _err_out,
        ],
    ),
    "sochdb_row_update": (
        _status,
        [_handle, _handle, c_char_p, c_uint64, POINTER(Field), c_size_t, _err_out],
    ),
    "sochdb_row_get": (
        _status,
        [_handle, _handle, c_char_p, c_uint64, POINTER(Row), _err_out],
    ),
    "sochdb_row_delete": (
        _status,
        [_handle, _handle, c_char_p, c_uint64, POINTER(c_bool), _err_out],
    ),
    "sochdb_row_free": (None, [POINTER(Row)]),
    "sochdb_query": (_status, [_handle, _handle, POINTER(Query), POINTER(Result), _err_out]),
    "sochdb_result_toon": (_status, [POINTER(Result), POINTER(Buf), _err_out]),
    "sochdb_result_json": (_status, [POINTER(Result), POINTER(Buf), _err_out]),
    "sochdb_result_free": (None, [POINTER(Result)]),
    "sochdb_server_start": (
        _status,
        [_handle, c_char_p, POINTER(ServerOptions), _handle_out, _err_out],
    ),
    "sochdb_server_stop": (_status, [_handle, _err_out]),
}


def _bytes_copier() -> Any:
    # The C API's PyBytes_FromStringAndSize through ctypes.pythonapi (which holds the GIL,
    # as that function needs): the fastest way to copy library memory into bytes.
    fn = ctypes.pythonapi.PyBytes_FromStringAndSize
    fn.restype = ctypes.py_object
    fn.argtypes = [c_void_p, ctypes.c_ssize_t]
    return fn


#: ``copy_bytes(address, length) -> bytes``: a copy of ``length`` bytes of library memory.
copy_bytes = _bytes_copier()


class LibraryNotFound(Exception):
    """No loadable ``libsochdb.so`` was found; the message lists every place tried."""


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def _repo_candidates() -> List[Tuple[str, Path]]:
    """Build directories of a SochDB checkout: ``$SOCHDB_REPO`` and
    ``$CARGO_TARGET_DIR`` if set, then the checkout this package's source sits in
    (``bindings/python/src/sochdb`` is four levels below the repository root)."""
    out: List[Tuple[str, Path]] = []
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        out.append(("$CARGO_TARGET_DIR", Path(target) / "release" / LIBRARY_NAME))
    repo = os.environ.get("SOCHDB_REPO")
    if repo:
        out.append(("$SOCHDB_REPO", Path(repo) / "target" / "release" / LIBRARY_NAME))
    parents = _package_dir().parents
    if len(parents) > 3:
        root = parents[3]
        if (root / "Cargo.toml").is_file() and (root / "include" / "sochdb.h").is_file():
            out.append(
                ("the source checkout", root / "target" / "release" / LIBRARY_NAME)
            )
    return out


def candidates() -> List[Tuple[str, str]]:
    """Every place the library is looked for, in order, as ``(what, where)`` pairs.

    1. ``$SOCHDB_LIB``;
    2. the copy shipped inside this package;
    3. the build directory of a SochDB checkout;
    4. the system's library path.
    """
    out: List[Tuple[str, str]] = []
    env = os.environ.get("SOCHDB_LIB")
    if env:
        out.append(("$SOCHDB_LIB", env))
    out.append(("the copy shipped in the package", str(_package_dir() / LIBRARY_NAME)))
    for what, path in _repo_candidates():
        out.append((what, str(path)))
    found = ctypes.util.find_library("sochdb")
    if found:
        out.append(("the system library path", found))
    out.append(("the system library path", "libsochdb.so.0"))
    return out


def _declare(lib: ctypes.CDLL) -> None:
    missing = [name for name in SIGNATURES if not hasattr(lib, name)]
    if missing:
        raise LibraryNotFound(
            f"{lib._name} lacks {', '.join(missing)}: it is older than this package "
            "(rebuild it with `cargo build --release --lib`)"
        )
    for name, (restype, argtypes) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def _load() -> Tuple[ctypes.CDLL, str]:
    tried: List[str] = []
    explicit = os.environ.get("SOCHDB_LIB")
    for what, where in candidates():
        is_file_path = os.sep in where
        if is_file_path and not os.path.exists(where):
            tried.append(f"  {what}: {where} (no such file)")
        else:
            try:
                lib = ctypes.CDLL(where)
            except OSError as e:
                tried.append(f"  {what}: {where} ({e})")
            else:
                _declare(lib)
                _check_version(lib, where)
                return lib, where
        if explicit and where == explicit:
            break  # an explicit choice that fails is not silently replaced
    raise LibraryNotFound(
        "libsochdb.so was not found. Looked in:\n"
        + "\n".join(tried)
        + "\nBuild it with `cargo build --release --lib` in the SochDB repository, or "
        "set SOCHDB_LIB to its path (or SOCHDB_REPO to the repository)."
    )


def _check_version(lib: ctypes.CDLL, where: str) -> None:
    version = (lib.sochdb_version() or b"").decode()
    if version.split(".")[0] != str(ABI_MAJOR):
        raise LibraryNotFound(
            f"{where} is SochDB {version}; this package speaks the C ABI {ABI_MAJOR}.x"
        )


_lock = threading.Lock()
_loaded: Optional[Tuple[ctypes.CDLL, str]] = None


def lib() -> ctypes.CDLL:
    """The loaded library (found and declared on first use)."""
    global _loaded
    loaded = _loaded
    if loaded is None:
        with _lock:
            if _loaded is None:
                try:
                    _loaded = _load()
                except LibraryNotFound as e:
                    from .errors import LibraryNotFoundError

                    raise LibraryNotFoundError(str(e)) from None
            loaded = _loaded
    return loaded[0]


def lib_path() -> str:
    """Where the loaded library came from."""
    lib()
    assert _loaded is not None
    return _loaded[1]
