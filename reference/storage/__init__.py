"""The reference service's storage: one protocol, SQLite (default) and PostgreSQL.

Open a database from a URL; the schema is migrated on open::

    database = open_database("sqlite:///.proctor/proctor.db")        # embedded default
    database = open_database("postgresql://user:pw@db.internal/proctor")  # multi-node

    with database.transaction() as tx:      # commits on success, rolls back on error
        tx.execute("INSERT INTO ... VALUES (?, ?)", (a, b))
        row = tx.fetchone("SELECT ... WHERE x = ?", (a,))   # a dict, or None

Everything is synchronous; the HTTP layer calls the core from Starlette's thread pool.
A :class:`Database` is a small pool of connections and is safe to share between threads.
See :mod:`.database` for the protocol and its error classes, :mod:`.sqlite` and
:mod:`.postgres` for the durability and locking choices of each back-end.

URLs
    ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (as SQLAlchemy
    spells them); ``postgresql://...`` or ``postgres://...``, any libpq connection URI
    (``?options=-csearch_path%3Dmyschema`` selects a schema).

Repositories (one module per concern, each working unchanged on both back-ends; every
method takes an optional ``tx`` so writes that belong together share one transaction):
    :mod:`.authorizers`, :mod:`.workloads`, :mod:`.workload_tokens`, :mod:`.assertions`
    (RFC 7523 ``jti`` replay), and :mod:`proctor.reference.audit` (the hash-chained log).
    Lists are paginated by :mod:`.pagination` (``limit`` 1-100, opaque ``next_token``).

Adding a table (a one-place change)
    Append a :class:`~.migrations.Migration` to ``MIGRATIONS`` in :mod:`.migrations`
    with the next version number, a short name and its ``CREATE``/``ALTER`` statements,
    using the type tokens ``{BIGINT}``, ``{BLOB}``, ``{BOOL}``, ``{KEY}`` (a text key
    ordered by bytes on both dialects) and ``{SERIAL}`` where SQLite and PostgreSQL
    differ (a whole statement that differs is a ``PerDialect(sqlite=..., postgresql=...)``).
    Never edit a migration that has shipped: opening a database whose recorded checksum
    differs raises :class:`SchemaError`. Then add a repository module beside the others,
    and run ``make pg-test`` so the new SQL is exercised on both dialects.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from proctor.reference.storage.database import (
    Database,
    Dialect,
    IntegrityViolation,
    Row,
    SchemaError,
    StorageError,
    StorageUnavailable,
    Transaction,
    UniqueViolation,
    in_transaction,
)
from proctor.reference.storage.migrations import MIGRATIONS, Migration, migrate, schema_version
from proctor.reference.storage.pagination import Page

__all__ = [
    "MIGRATIONS",
    "Database",
    "Dialect",
    "IntegrityViolation",
    "Migration",
    "Page",
    "Row",
    "SchemaError",
    "StorageError",
    "StorageUnavailable",
    "Transaction",
    "UniqueViolation",
    "in_transaction",
    "migrate",
    "open_database",
    "schema_version",
]


def open_database(
    url: str, *, run_migrations: bool = True, pool_size: int | None = None
) -> Database:
    """The database at ``url``, migrated to the current schema unless told otherwise."""
    scheme = urlsplit(url).scheme.lower()
    database: Database
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or "?" in url or "#" in url:
            raise ValueError("a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
        from proctor.reference.storage.sqlite import SqliteDatabase

        path = url[len("sqlite:///") :]
        database = (
            SqliteDatabase(path) if pool_size is None else SqliteDatabase(path, pool_size=pool_size)
        )
    elif scheme in ("postgresql", "postgres"):
        from proctor.reference.storage.postgres import PostgresDatabase

        database = (
            PostgresDatabase(url)
            if pool_size is None
            else PostgresDatabase(url, pool_size=pool_size)
        )
    else:
        raise ValueError("the database URL must start with sqlite:/// or postgresql://")
    if run_migrations:
        try:
            migrate(database)
        except BaseException:
            database.close()
            raise
    return database
