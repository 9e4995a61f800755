"""Where the package finds libsochdb.so, in order, and what it says when it cannot."""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

import sochdb

from .conftest import REPO

REPO_LIB = REPO / "target" / "release" / "libsochdb.so"
SOURCE = REPO / "bindings" / "python" / "src"

PROBE = (
    "import sochdb\n"
    "try:\n"
    "    print('OK', sochdb.library_path())\n"
    "except sochdb.LibraryNotFoundError as e:\n"
    "    print('MISSING', e)\n"
)


def probe(tmp_path: Path, env: Dict[str, str], pythonpath: Optional[Path] = None) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("SOCHDB_LIB", "SOCHDB_REPO", "CARGO_TARGET_DIR")}
    full.update(env)
    if pythonpath is not None:
        full["PYTHONPATH"] = str(pythonpath)
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def package_copy(tmp_path: Path) -> Path:
    """The package's source, alone in a directory outside the repository."""
    root = tmp_path / "pkg"
    shutil.copytree(SOURCE / "sochdb", root / "sochdb", ignore=shutil.ignore_patterns("*.so*", "__pycache__"))
    return root


def test_installed_package_ships_the_library(tmp_path: Path) -> None:
    here = Path(sochdb.__file__).parent
    assert (here / "py.typed").exists()
    shipped = here / "libsochdb.so"
    assert shipped.exists(), "the wheel should carry libsochdb.so"
    assert probe(tmp_path, {}) == f"OK {shipped}"


def test_env_var_comes_first(tmp_path: Path) -> None:
    assert probe(tmp_path, {"SOCHDB_LIB": str(REPO_LIB)}) == f"OK {REPO_LIB}"


def test_env_var_that_fails_is_reported(tmp_path: Path) -> None:
    bogus = tmp_path / "nope" / "libsochdb.so"
    out = probe(tmp_path, {"SOCHDB_LIB": str(bogus)})
    assert out.startswith("MISSING")
    assert "$SOCHDB_LIB" in out and str(bogus) in out


def test_source_checkout_build_directory(tmp_path: Path) -> None:
    # Running from the source tree (as an editable install does) finds the build.
    assert probe(tmp_path, {}, SOURCE) == f"OK {REPO_LIB}"


def test_repo_env_var(tmp_path: Path) -> None:
    root = package_copy(tmp_path)
    assert probe(tmp_path, {"SOCHDB_REPO": str(REPO)}, root) == f"OK {REPO_LIB}"


def test_nothing_found_lists_every_place(tmp_path: Path) -> None:
    if ctypes.util.find_library("sochdb"):
        pytest.skip("libsochdb is installed system-wide here")
    root = package_copy(tmp_path)
    out = probe(tmp_path, {"LD_LIBRARY_PATH": ""}, root)
    assert out.startswith("MISSING")
    assert str(root / "sochdb" / "libsochdb.so") in out
    assert "the system library path" in out and "libsochdb.so.0" in out
    assert "SOCHDB_LIB" in out  # says how to point at a library
