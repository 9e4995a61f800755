"""Hosting the socket server for a database opened in this process."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Optional, Type

from ._calls import call

__all__ = ["Server"]


class Server:
    """A socket server serving a :class:`sochdb.Database` of this process, made by
    :meth:`sochdb.Database.serve`. Other processes reach the database with
    :func:`sochdb.connect` on :attr:`socket_path`.

    :meth:`stop` (or the end of a ``with`` block) stops it: no new connections, requests
    in flight finish, open transactions of its clients are aborted, the socket is
    removed. The database stays open; stop its servers before closing it.
    """

    def __init__(self, lib: Any, handle: int, socket_path: str, db: object) -> None:
        self._lib = lib
        self._handle: Optional[int] = handle
        self._lock = threading.Lock()
        self._db = db
        #: The Unix socket the server listens on.
        self.socket_path: str = socket_path

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return self._handle is not None

    def stop(self) -> None:
        """Stops the server; stopping twice does nothing."""
        with self._lock:
            h, self._handle = self._handle, None
        if h is not None:
            call(self._lib.sochdb_server_stop, h)

    def __enter__(self) -> "Server":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<sochdb.Server {self.socket_path!r} ({state})>"

    def __del__(self) -> None:
        try:
            h = self._handle
            if h is not None:
                self._handle = None
                self._lib.sochdb_server_stop(h, None)
        except Exception:
            pass
