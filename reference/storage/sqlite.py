"""The embedded back-end: one SQLite file, stdlib :mod:`sqlite3`.

Every connection is configured the same way when the pool opens it:

- ``journal_mode=WAL``: readers never block the writer nor the writer the readers; a
  read-only transaction sees one snapshot.
- ``synchronous=FULL``: with WAL, every commit is fsynced to the write-ahead log before
  ``COMMIT`` returns. ``NORMAL`` would survive a crash of the *process* but could lose
  the last commits on power loss or an OS crash; the data here is security state (a
  consumed assertion ``jti``, a revoked token, an audit event) whose loss would reopen a
  replay window or a hole in the audit trail, so the extra fsync per commit is paid.
- ``foreign_keys=ON`` (SQLite leaves them off by default) and a busy timeout, so a
  writer waits for the lock instead of failing at once.

Write transactions start with ``BEGIN IMMEDIATE``: the write lock is taken at the start,
so two writers queue on the busy timeout rather than deadlock when both upgrade a read
lock. The file's lock also serialises writers in *other processes*.

Read-only transactions run on a second pool of reader connections opened with
``query_only=ON`` (a write in one fails), so a read costs ``BEGIN``, its statements and
``COMMIT``, and :meth:`~PooledDatabase.snapshot` can hold one for a whole request without
ever taking a connection a writer needs.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from proctor.reference.storage.database import (
    Dialect,
    IntegrityViolation,
    PooledDatabase,
    Row,
    StorageError,
    StorageUnavailable,
    UniqueViolation,
)

__all__ = ["SqliteDatabase"]

# Primary result codes (https://www.sqlite.org/rescode.html) that mean "not now".
_UNAVAILABLE = {
    5,  # SQLITE_BUSY
    6,  # SQLITE_LOCKED
    10,  # SQLITE_IOERR
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
}
_READONLY = 8  # SQLITE_READONLY: a write inside a read-only transaction
_UNIQUE = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


def _dict_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, values, strict=True)}


class SqliteDatabase(PooledDatabase[sqlite3.Connection]):
    """A SQLite file shared by a small pool of connections (one per thread at a time)."""

    dialect: Dialect = "sqlite"
    local_reads = True

    def __init__(
        self,
        path: str | Path,
        *,
        pool_size: int = 8,
        reader_pool_size: int = 64,
        busy_timeout: float = 10.0,
    ) -> None:
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ValueError("give SQLite a file path (an in-memory database is per-connection)")
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(
            pool_size=pool_size, pool_timeout=busy_timeout, reader_pool_size=reader_pool_size
        )

    def __repr__(self) -> str:
        return f"SqliteDatabase({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,  # no implicit BEGIN: transactions are explicit
                check_same_thread=False,  # the pool hands a connection to one thread at a time
            )
        except sqlite3.Error as exc:
            raise self.map_error(exc) from exc
        try:
            connection.row_factory = _dict_row
            mode = self._enable_wal(connection)
            if mode is None or str(mode["journal_mode"]).lower() != "wal":
                raise StorageError(f"SQLite refused WAL mode for {self.path}")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        except BaseException:
            connection.close()
            raise
        return connection

    def _enable_wal(self, connection: sqlite3.Connection) -> Any:
        """``PRAGMA journal_mode = WAL``, retried while another node holds the lock: SQLite
        may refuse the switch with "database is locked" without calling its busy handler
        (several processes opening a new database at once)."""
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                return connection.execute("PRAGMA journal_mode = WAL").fetchone()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _connect_reader(self) -> sqlite3.Connection:
        connection = self._connect()
        try:
            connection.execute("PRAGMA query_only = ON")
        except BaseException:
            connection.close()
            raise
        return connection

    def _close_connection(self, connection: sqlite3.Connection) -> None:
        connection.close()

    def _begin(self, connection: sqlite3.Connection, readonly: bool) -> None:
        # A reader connection is query_only for good (``_connect_reader``).
        connection.execute("BEGIN DEFERRED" if readonly else "BEGIN IMMEDIATE")

    def _end(self, connection: sqlite3.Connection, readonly: bool, commit: bool) -> None:
        if connection.in_transaction:
            connection.execute("COMMIT" if commit else "ROLLBACK")

    def _is_broken(self, connection: sqlite3.Connection, error: BaseException) -> bool:
        return connection.in_transaction  # a rollback that did not happen

    def map_error(self, error: Exception) -> Exception:
        if isinstance(error, sqlite3.IntegrityError):
            if getattr(error, "sqlite_errorname", "") in _UNIQUE:
                return UniqueViolation(str(error))
            return IntegrityViolation(str(error))
        if isinstance(error, sqlite3.OperationalError | sqlite3.DatabaseError):
            code = getattr(error, "sqlite_errorcode", 0) & 0xFF
            if code == _READONLY:
                return StorageError("a read-only transaction attempted a write")
            if code in _UNAVAILABLE:
                return StorageUnavailable(str(error))
        return error
