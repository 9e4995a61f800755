#!/usr/bin/env bash
# The Python SDK's tests: builds the library and the `sochdb` binary if needed, sets up
# (or reuses) the virtual environment bindings/python/.venv, installs the package into it
# (so the tests run against the installed package, carrying its copy of libsochdb.so),
# then runs pytest in both modes. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

# A no-op when the build is up to date.
cargo build --release --lib --bins --quiet

venv=bindings/python/.venv
py=$venv/bin/python
if [ ! -x "$py" ] || ! "$py" -c "import pytest, setuptools, wheel, mypy" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$py" -m pip install -q --upgrade pip
  "$py" -m pip install -q "setuptools>=77" wheel pytest mypy
fi

# A fresh install each run, so the package carries the library just built.
"$py" -m pip install -q --no-build-isolation --no-deps --force-reinstall ./bindings/python
rm -rf bindings/python/build

unset SOCHDB_LIB SOCHDB_REPO
cd bindings/python
exec "$repo/$py" -m pytest -q -p no:cacheprovider "$@"
