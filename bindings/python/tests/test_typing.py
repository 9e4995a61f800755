"""The installed package type-checks under mypy --strict, and so does client code using
it (run when mypy is installed; scripts/test-python.sh installs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

CLIENT = '''
import sochdb

def use(db: sochdb.Database) -> int:
    absent: bytes | None = db.get(b"k")
    present: bytes = db[b"k"]
    fallback: bytes = db.get(b"k", b"")
    for key, value in db.scan(prefix=b"a"):
        key.hex(); value.hex()
    for path, value in db.scan_path("a"):
        path.upper()
    with db.transaction(read_only=True) as tx:
        tx.get(b"a")
    stamp: int | None = tx.commit_ts
    result = db.query("t", where=[("a", ">", 1)], limit=3)
    toon: str = result.to_toon()
    row = db.get_row("t", 1)
    stats: dict[str, object] = db.stats()
    return db.run_transaction(lambda t: len(t.get(b"x", b"")))
'''


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_package_is_strictly_typed() -> None:
    out = mypy("-p", "sochdb")
    assert out.returncode == 0, out.stdout + out.stderr


def test_client_code_type_checks(tmp_path: Path) -> None:
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    out = mypy(str(client))
    assert out.returncode == 0, out.stdout + out.stderr
    bad = tmp_path / "bad.py"
    bad.write_text(CLIENT.replace('present: bytes = db[b"k"]', 'present: int = db[b"k"]'))
    assert mypy(str(bad)).returncode != 0  # the check can fail
