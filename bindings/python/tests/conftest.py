"""Fixtures: every test that takes ``db`` runs twice, once with the engine in this
process and once against a ``sochdb serve`` the fixture starts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

import sochdb

REPO = Path(__file__).resolve().parents[3]
MODES = ["inproc", "socket"]


def sochdb_binary() -> Path:
    """The `sochdb` command line: $SOCHDB_BIN, else the repository's release build."""
    env = os.environ.get("SOCHDB_BIN")
    return Path(env) if env else REPO / "target" / "release" / "sochdb"


class Server:
    """A `sochdb serve` process over a temporary directory."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "db"
        # Socket paths are limited to ~108 bytes: keep this one short.
        self.sock_dir = Path(tempfile.mkdtemp(prefix="sdb"))
        self.socket = str(self.sock_dir / "s.sock")
        self.log = root / "server.log"
        binary = sochdb_binary()
        if not binary.exists():
            pytest.fail(f"{binary} is missing: run `cargo build --release --bins`")
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--db", str(self.dir), "--socket", self.socket],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        deadline = time.monotonic() + 20
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"sochdb serve did not start:\n{self.log.read_text()}")
            time.sleep(0.01)

    def stop(self) -> int:
        """Stops the server with SIGTERM (a clean shutdown) and returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.sock_dir, ignore_errors=True)
        return int(self.proc.returncode)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A running `sochdb serve`; the test fails if it does not exit cleanly."""
    s = Server(tmp_path)
    yield s
    rc = s.stop()
    assert rc == 0, f"sochdb serve exited with {rc}:\n{s.log.read_text()}"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_db(mode: str, tmp_path: Path) -> Iterator[Callable[..., sochdb.Database]]:
    """Opens handles on one database in the test's mode: in-process on a temporary
    directory (with ``durability="buffered"`` unless told otherwise: no sync per commit), or connections to a
    server started for the test. Every handle is closed at the end."""
    handles: List[sochdb.Database] = []
    srv = Server(tmp_path) if mode == "socket" else None

    def make(**options: object) -> sochdb.Database:
        if srv is not None:
            db = sochdb.connect(srv.socket, **options)
        else:
            options.setdefault("durability", "buffered")
            db = sochdb.open(tmp_path / "db", **options)
        handles.append(db)
        return db

    try:
        yield make
    finally:
        for h in handles:
            h.close()
        if srv is not None:
            rc = srv.stop()
            assert rc == 0, f"sochdb serve exited with {rc}:\n{srv.log.read_text()}"


@pytest.fixture
def db(open_db: Callable[..., sochdb.Database]) -> sochdb.Database:
    """One database handle, in each mode."""
    return open_db()
