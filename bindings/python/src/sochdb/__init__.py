"""SochDB for Python: an embedded, transactional key-value database with paths, typed
tables and queries, over the C library ``libsochdb.so``.

::

    import sochdb

    with sochdb.open("./data") as db:            # the engine in this process
        db[b"greeting"] = b"hello"
        with db.transaction() as tx:
            tx.put(b"a", b"1")
        for key, value in db.scan(prefix=b"a"):
            print(key, value)

    db = sochdb.connect("./data/sochdb.sock")    # a `sochdb serve` process

See the package README for modes, errors and threads.
"""

from .batch import Batch
from .cursor import Cursor
from .database import Database, connect, library_path, library_version, open
from .errors import (
    AlreadyExistsError,
    BusyError,
    ClosedError,
    ConflictError,
    CorruptionError,
    Error,
    InternalError,
    InvalidArgumentError,
    LibraryNotFoundError,
    LockedError,
    NotFoundError,
    ProtocolError,
    ReadOnlyError,
    SochIOError,
    SochTimeoutError,
    TooLargeError,
)
from .query import QueryResult
from .schema import Column, ColumnType, TableInfo
from .server import Server
from .transaction import Transaction

__version__ = "0.1.0"

#: Another spelling of :class:`SochIOError`.
IoError = SochIOError

__all__ = [
    "open",
    "connect",
    "library_path",
    "library_version",
    "Database",
    "Transaction",
    "Cursor",
    "Batch",
    "QueryResult",
    "Server",
    "Column",
    "ColumnType",
    "TableInfo",
    "Error",
    "NotFoundError",
    "ConflictError",
    "InvalidArgumentError",
    "SochIOError",
    "IoError",
    "CorruptionError",
    "LockedError",
    "ClosedError",
    "BusyError",
    "ProtocolError",
    "TooLargeError",
    "InternalError",
    "ReadOnlyError",
    "SochTimeoutError",
    "AlreadyExistsError",
    "LibraryNotFoundError",
    "__version__",
]
