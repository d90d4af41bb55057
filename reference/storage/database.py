"""The storage protocol: a database hands out transactions, a transaction runs SQL.

Both back-ends (:mod:`.sqlite`, :mod:`.postgres`) implement :class:`Database`; the
repositories are written once against it. SQL is written with ``?`` placeholders and the
portable subset both dialects share (``ON CONFLICT ... DO NOTHING/UPDATE``, ``RETURNING``,
``LIMIT``); the PostgreSQL back-end translates ``?`` to psycopg's ``%s``.

Rows are ``dict`` objects mapping column names (or ``AS`` aliases) to values: repositories
read ``row["name"]`` rather than positions, so adding a column never shifts another.
Value types: ``str``, ``int``, ``bytes``, ``None``; booleans come back as ``bool`` from
PostgreSQL and ``int`` from SQLite, so repositories wrap them in ``bool()``.

Errors the back-ends raise are mapped to one small tree, so callers catch the same class
on both::

    StorageError
    ├── IntegrityViolation      a constraint refused the write
    │   └── UniqueViolation     a primary key or unique constraint
    ├── StorageUnavailable      the database could not be reached, or stayed locked
    └── SchemaError             the schema is newer than this code, or a migration changed
"""

from __future__ import annotations

import abc
import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, Generic, Literal, Protocol, TypeVar

from proctor.reference.offload import may_block

__all__ = [
    "Database",
    "Dialect",
    "IntegrityViolation",
    "Params",
    "Row",
    "SchemaError",
    "StorageError",
    "StorageUnavailable",
    "Transaction",
    "UniqueViolation",
    "in_transaction",
]

Dialect = Literal["sqlite", "postgresql"]
Row = dict[str, Any]
Params = Sequence[Any]


class StorageError(Exception):
    """Base of the errors the storage layer raises."""


class IntegrityViolation(StorageError):
    """A constraint (foreign key, check, not-null) refused the write."""


class UniqueViolation(IntegrityViolation):
    """A primary key or unique constraint refused the write."""


class StorageUnavailable(StorageError):
    """The database cannot serve the request now (unreachable, locked, pool exhausted)."""


class SchemaError(StorageError):
    """The stored schema does not match the migrations this code knows."""


class Transaction(Protocol):
    """One open transaction. It commits when its ``with`` block ends normally and rolls
    back when the block raises; it cannot be used after the block.

    A statement that fails dooms the transaction on both back-ends (as PostgreSQL does
    natively): later statements raise :class:`StorageError`, and so does the end of the
    block, after rolling back, even if the caller caught the first error.
    """

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        """Runs one statement; returns its rows (``[]`` for statements without any)."""
        ...

    def execute_count(self, sql: str, params: Params = ()) -> int:
        """Runs one statement; returns how many rows it inserted, updated or deleted."""
        ...

    def executemany(self, sql: str, params_seq: Iterable[Params]) -> None:
        """Runs one statement once per parameter sequence."""
        ...

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of the statement's result, or ``None``."""
        ...

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of the statement's result."""
        ...


class Database(Protocol):
    """A pool of connections to one database; safe to share between threads."""

    @property
    def dialect(self) -> Dialect: ...

    def transaction(self, *, readonly: bool = False) -> AbstractContextManager[Transaction]:
        """A context manager opening one transaction.

        A write transaction (the default) takes the database's write lock up front on
        SQLite (``BEGIN IMMEDIATE``) and is ``READ COMMITTED`` on PostgreSQL. A
        ``readonly`` one sees a single consistent snapshot on both (SQLite's WAL read
        snapshot; PostgreSQL ``REPEATABLE READ READ ONLY``) and refuses writes.
        """
        ...

    def snapshot(self) -> AbstractContextManager[None]:
        """A context manager in which read-only transactions may share one snapshot.

        A request that reads several stores (a client, its policy, an authorizer, the
        token registry) then decides on one consistent view of them, and pays for one
        read transaction instead of one per read. Write transactions are unaffected and,
        committed inside the block, are not visible to its reads. A back-end may make
        this a no-op (each read then has its own snapshot, as outside the block).
        """
        ...

    def ping(self) -> bool:
        """Whether the database answers a trivial query now (for ``/readyz``)."""
        ...

    def close(self) -> None:
        """Closes every pooled connection; the database cannot be used afterwards."""
        ...


# -- shared machinery of the two back-ends ----------------------------------------------

C = TypeVar("C")


class ConnectionPool(Generic[C]):
    """A small thread-safe pool: at most ``max_size`` connections, created on demand.

    A connection is used by one thread at a time; a thread that finds the pool at its
    limit waits up to ``timeout`` seconds, then gets :class:`StorageUnavailable`.
    Connections returned as broken are closed and replaced on demand.
    """

    def __init__(
        self,
        connect: Callable[[], C],
        close: Callable[[C], None],
        *,
        max_size: int,
        timeout: float,
    ) -> None:
        if max_size < 1:
            raise ValueError("a pool needs at least one connection")
        self._connect = connect
        self._close = close
        self._max_size = max_size
        self._timeout = timeout
        self._idle: list[C] = []
        self._size = 0
        self._closed = False
        self._available = threading.Condition(threading.Lock())

    def acquire(self) -> C:
        with self._available:
            while True:
                if self._closed:
                    raise StorageUnavailable("the database has been closed")
                if self._idle:
                    return self._idle.pop()
                if self._size < self._max_size:
                    may_block("opening a database connection")
                    self._size += 1
                    break
                if not self._available.wait(self._timeout):
                    raise StorageUnavailable("no database connection became free in time")
        try:
            return self._connect()
        except BaseException:
            with self._available:
                self._size -= 1
                self._available.notify()
            raise

    def release(self, connection: C, *, broken: bool = False) -> None:
        with self._available:
            discard = broken or self._closed
            if discard:
                self._size -= 1
            else:
                self._idle.append(connection)
            self._available.notify()
        if discard:
            self._discard(connection)

    def close(self) -> None:
        with self._available:
            self._closed = True
            idle, self._idle = self._idle, []
            self._size -= len(idle)
            self._available.notify_all()
        for connection in idle:
            self._discard(connection)

    def _discard(self, connection: C) -> None:
        # Closing a dead connection may fail; it is gone either way.
        with contextlib.suppress(Exception):
            self._close(connection)


class DbapiTransaction:
    """A :class:`Transaction` over one DB-API connection whose cursors yield dict rows."""

    def __init__(self, database: PooledDatabase[Any], connection: Any) -> None:
        self._database = database
        self._connection = connection
        self._open = True
        self.failed = False

    @property
    def dialect(self) -> Dialect:
        return self._database.dialect

    def _check_usable(self) -> None:
        if not self._open:
            raise RuntimeError("the transaction has ended")
        if self.failed:
            raise StorageError("an earlier statement failed; this transaction can only roll back")

    def _cursor(self, sql: str, params: Params) -> Any:
        self._check_usable()
        if isinstance(params, str | bytes) or not isinstance(params, Sequence):
            raise TypeError("params must be a sequence of values")
        cursor = self._connection.cursor()
        try:
            cursor.execute(self._database.translate(sql), tuple(params))
        except Exception as exc:
            cursor.close()
            self.failed = True
            raise self._database.map_error(exc) from exc
        return cursor

    def execute(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = self._cursor(sql, params)
        try:
            return list(cursor.fetchall()) if cursor.description is not None else []
        finally:
            cursor.close()

    def execute_count(self, sql: str, params: Params = ()) -> int:
        cursor = self._cursor(sql, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def executemany(self, sql: str, params_seq: Iterable[Params]) -> None:
        self._check_usable()
        cursor = self._connection.cursor()
        try:
            cursor.executemany(self._database.translate(sql), [tuple(p) for p in params_seq])
        except Exception as exc:
            self.failed = True
            raise self._database.map_error(exc) from exc
        finally:
            cursor.close()

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return self.execute(sql, params)

    def end(self) -> None:
        self._open = False


class PooledDatabase(abc.ABC, Generic[C]):
    """The transaction logic both back-ends share; they supply connections and SQL."""

    dialect: Dialect
    #: Whether a read is local work (an embedded file) rather than a round trip to a
    #: server; only local reads may run on an event loop (:mod:`proctor.reference.offload`).
    local_reads: bool = False

    def __init__(
        self, *, pool_size: int, pool_timeout: float, reader_pool_size: int | None = None
    ) -> None:
        self._pool: ConnectionPool[C] = ConnectionPool(
            self._connect, self._close_connection, max_size=pool_size, timeout=pool_timeout
        )
        #: Read-only transactions use their own pool when the back-end opens dedicated
        #: reader connections (:meth:`_connect_reader`); else they share the writers'.
        self._readers: ConnectionPool[C] = (
            self._pool
            if reader_pool_size is None
            else ConnectionPool(
                self._connect_reader,
                self._close_connection,
                max_size=reader_pool_size,
                timeout=pool_timeout,
            )
        )
        self._shared: ContextVar[DbapiTransaction | None] = ContextVar(
            f"snapshot_{id(self)}", default=None
        )

    # -- what a back-end provides --

    @abc.abstractmethod
    def _connect(self) -> C: ...

    def _connect_reader(self) -> C:
        """A connection of the reader pool (only with ``reader_pool_size``)."""
        return self._connect()

    @abc.abstractmethod
    def _close_connection(self, connection: C) -> None: ...

    @abc.abstractmethod
    def _begin(self, connection: C, readonly: bool) -> None: ...

    @abc.abstractmethod
    def _end(self, connection: C, readonly: bool, commit: bool) -> None:
        """Commits or rolls back, and undoes whatever ``_begin`` set on the connection."""

    @abc.abstractmethod
    def _is_broken(self, connection: C, error: BaseException) -> bool:
        """Whether ``connection`` must be discarded after ``error``."""

    @abc.abstractmethod
    def map_error(self, error: Exception) -> Exception:
        """The :class:`StorageError` for a driver error, or the error itself."""

    def translate(self, sql: str) -> str:
        """The driver's spelling of portable SQL."""
        return sql

    # -- the protocol --

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Transaction]:
        shared = self._shared.get() if readonly else None
        if shared is not None:
            yield shared  # inside snapshot(): the block's one read transaction
            return
        if not readonly:
            may_block("a write transaction (it waits for the write lock)")
        elif not self.local_reads:
            may_block("a read over the network")
        pool = self._readers if readonly else self._pool
        connection = pool.acquire()
        broken = False
        try:
            try:
                self._begin(connection, readonly)
            except Exception as exc:
                broken = True
                raise self.map_error(exc) from exc
            handle = DbapiTransaction(self, connection)
            try:
                yield handle
            except BaseException as exc:
                handle.end()
                try:
                    self._end(connection, readonly, commit=False)
                except Exception:  # noqa: BLE001 - the original error is the one to report
                    broken = True
                else:
                    broken = self._is_broken(connection, exc)
                raise
            handle.end()
            if handle.failed:
                # PostgreSQL aborts a transaction at its first error and would turn COMMIT
                # into a silent ROLLBACK; SQLite would commit the statements that worked.
                # Both refuse here, so a caller that swallowed the error learns of it.
                error = StorageError("a statement of this transaction failed; it was rolled back")
                try:
                    self._end(connection, readonly, commit=False)
                except Exception:  # noqa: BLE001 - the connection is discarded below
                    broken = True
                else:
                    broken = self._is_broken(connection, error)
                raise error
            try:
                self._end(connection, readonly, commit=True)
            except Exception as exc:
                broken = True
                with contextlib.suppress(Exception):  # the commit error is the one to report
                    self._end(connection, readonly, commit=False)
                raise self.map_error(exc) from exc
        finally:
            pool.release(connection, broken=broken)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """See :meth:`Database.snapshot`. Real only with a reader pool: a snapshot then
        holds a reader connection, never one a write transaction in the block needs, so
        the two pools cannot starve each other. Without one it is a no-op."""
        if self._readers is self._pool or self._shared.get() is not None:
            yield
            return
        with self.transaction(readonly=True) as tx:
            assert isinstance(tx, DbapiTransaction)
            token = self._shared.set(tx)
            try:
                yield
            finally:
                self._shared.reset(token)

    def ping(self) -> bool:
        try:
            with self.transaction(readonly=True) as tx:
                return tx.fetchone("SELECT 1 AS ok") is not None
        except Exception:  # noqa: BLE001 - readiness is a yes/no question
            return False

    def close(self) -> None:
        self._pool.close()
        if self._readers is not self._pool:
            self._readers.close()


@contextmanager
def in_transaction(
    database: Database, tx: Transaction | None, *, readonly: bool = False
) -> Iterator[Transaction]:
    """``tx`` itself when the caller already holds one, else a new transaction.

    Repository methods take an optional ``tx`` so writes that belong together (a workload
    and its audit event) commit or roll back as one.
    """
    if tx is not None:
        yield tx
    else:
        with database.transaction(readonly=readonly) as new:
            yield new
