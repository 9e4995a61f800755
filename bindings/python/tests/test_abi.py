"""The ctypes declarations agree with include/sochdb.h: every function the package calls
is declared there with the same parameters, and every struct it mirrors has the same
fields, in the same order, of the same sizes."""

from __future__ import annotations

import ctypes
import re
from typing import Any, Dict, List, Tuple

import pytest

from sochdb import _native as n

from .conftest import REPO

HEADER = (REPO / "include" / "sochdb.h").read_text()

C_SIZES = {
    "uint8_t": 1,
    "bool": 1,
    "uint32_t": 4,
    "int32_t": 4,
    "sochdb_status": 4,
    "uint64_t": 8,
    "int64_t": 8,
    "double": 8,
    "size_t": ctypes.sizeof(ctypes.c_size_t),
}

STRUCTS = {
    "sochdb_buf": n.Buf,
    "sochdb_options": n.Options,
    "sochdb_slice": n.Slice,
    "sochdb_column": n.Column,
    "sochdb_value": n.Value,
    "sochdb_field": n.Field,
    "sochdb_row": n.Row,
    "sochdb_filter": n.Filter,
    "sochdb_query_request": n.Query,
    "sochdb_result": n.Result,
    "sochdb_server_options": n.ServerOptions,
}


def functions() -> Dict[str, Tuple[str, List[str]]]:
    out = {}
    for m in re.finditer(r"^([A-Za-z_][\w \*]*?)\b(sochdb_\w+)\((.*)\);$", HEADER, re.M):
        ret, name, params = m.group(1).strip(), m.group(2), m.group(3).strip()
        out[name] = (ret, [] if params == "void" else [p.strip() for p in params.split(",")])
    return out


def c_size(decl: str) -> int:
    """The size of a C parameter or field type (pointers are pointer-sized)."""
    if "*" in decl:
        return ctypes.sizeof(ctypes.c_void_p)
    words = decl.replace("const", "").replace("struct", "").split()
    return C_SIZES.get(words[0], -1)


def ct_size(t: Any) -> int:
    return ctypes.sizeof(t)


@pytest.mark.parametrize("name", sorted(n.SIGNATURES))
def test_function_matches_header(name: str) -> None:
    decls = functions()
    assert name in decls, f"{name} is not in include/sochdb.h"
    ret, params = decls[name]
    restype, argtypes = n.SIGNATURES[name]
    assert len(argtypes) == len(params), f"{name}: {params}"
    for decl, t in zip(params, argtypes):
        # Drop the parameter name, keep the type.
        ctype = decl.rsplit(" ", 1)[0] + ("*" if decl.rsplit(" ", 1)[1].startswith("*") else "")
        assert c_size(ctype) == ct_size(t), f"{name}: {decl} vs {t}"
        assert ("*" in ctype) == (
            issubclass(t, (ctypes.c_void_p, ctypes.c_char_p)) or hasattr(t, "_type_") and not isinstance(t._type_, str)
        ), f"{name}: {decl} vs {t}"
    if ret == "void":
        assert restype is None
    else:
        assert restype is not None and c_size(ret) == ct_size(restype), f"{name}: returns {ret}"


@pytest.mark.parametrize("name", sorted(STRUCTS))
def test_struct_matches_header(name: str) -> None:
    m = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), HEADER, re.S)
    assert m, f"struct {name} is not in include/sochdb.h"
    fields = []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        decl = line.rstrip(";")
        ctype, field = decl.rsplit(" ", 1)
        if field.startswith("*"):
            ctype, field = ctype + "*", field.lstrip("*")
        fields.append((field, ctype))
    ours = STRUCTS[name]._fields_
    assert [f for f, _ in fields] == [f[0] for f in ours]
    for (field, ctype), theirs in zip(fields, ours):
        t = theirs[1]
        if "sochdb_value" in ctype and "*" not in ctype:
            assert t is n.Value
            continue
        assert c_size(ctype) == ct_size(t), f"{name}.{field}: {ctype} vs {t}"


def test_constants_match_header() -> None:
    defines = dict(re.findall(r"^#define (SOCHDB_\w+) (\d+)$", HEADER, re.M))
    for name, value in defines.items():
        attr = name[len("SOCHDB_") :]
        if attr.startswith("VERSION_"):
            continue
        assert hasattr(n, attr), f"{name} has no counterpart"
        assert getattr(n, attr) == int(value), name
    assert int(defines["SOCHDB_VERSION_MAJOR"]) == n.ABI_MAJOR
