"""The multi-node back-end: PostgreSQL through psycopg 3.

Connections run in autocommit mode and every transaction is explicit: ``BEGIN`` (``READ
COMMITTED``) for writes, ``BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`` for reads
that must see one snapshot. Code that needs a cross-node critical section takes a row
lock (``SELECT ... FOR UPDATE``) or a transaction-scoped advisory lock; both are released
by the commit.

The pool is :class:`~proctor.reference.storage.database.ConnectionPool`: a connection
that failed at the network level (``broken``) is discarded and a fresh one opened on the
next request, so a database restart costs the requests in flight, not the process.

Portable SQL's ``?`` placeholders become psycopg's ``%s`` (and a literal ``%`` becomes
``%%``); ``?`` inside quoted literals or identifiers is left alone. PostgreSQL's JSON
operators spelled with ``?`` cannot be used through this layer.
"""

from __future__ import annotations

import functools
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from proctor.reference.storage.database import (
    Dialect,
    IntegrityViolation,
    PooledDatabase,
    StorageError,
    StorageUnavailable,
    UniqueViolation,
)

__all__ = ["PostgresDatabase", "to_psycopg"]

Connection = psycopg.Connection[dict[str, Any]]


@functools.lru_cache(maxsize=1024)
def to_psycopg(sql: str) -> str:
    """``?`` → ``%s`` and ``%`` → ``%%`` outside quoted literals and identifiers."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if char == "%":
            out.append("%%")  # psycopg reads % everywhere in a query that has parameters
        elif quote:
            out.append(char)
            if char == quote:
                quote = ""
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class PostgresDatabase(PooledDatabase[Connection]):
    """A PostgreSQL database reached through a small pool of psycopg connections."""

    dialect: Dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        pool_timeout: float = 10.0,
        connect_timeout: int = 10,
    ) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        super().__init__(pool_size=pool_size, pool_timeout=pool_timeout)

    def __repr__(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self._url)
        where = f"{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"
        return f"PostgresDatabase({where!r})"  # never the password

    def _connect(self) -> Connection:
        try:
            return psycopg.connect(
                self._url,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=self._connect_timeout,
            )
        except psycopg.Error as exc:
            raise self.map_error(exc) from exc

    def _close_connection(self, connection: Connection) -> None:
        connection.close()

    def _begin(self, connection: Connection, readonly: bool) -> None:
        if readonly:
            connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            connection.execute("BEGIN")

    def _end(self, connection: Connection, readonly: bool, commit: bool) -> None:
        connection.execute("COMMIT" if commit else "ROLLBACK")

    def _is_broken(self, connection: Connection, error: BaseException) -> bool:
        return connection.closed or connection.broken

    def translate(self, sql: str) -> str:
        return to_psycopg(sql)

    def map_error(self, error: Exception) -> Exception:
        if isinstance(error, pg_errors.UniqueViolation):
            return UniqueViolation(error.diag.message_primary or str(error))
        if isinstance(error, pg_errors.IntegrityError):
            return IntegrityViolation(error.diag.message_primary or str(error))
        if isinstance(error, pg_errors.ReadOnlySqlTransaction):
            return StorageError("a read-only transaction attempted a write")
        if isinstance(error, psycopg.OperationalError):
            # Connection failures, and serialization failures / deadlocks (class 40).
            return StorageUnavailable(str(error).splitlines()[0] if str(error) else "")
        return error
