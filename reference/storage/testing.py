"""Throwaway databases for test-suites that run against both back-ends.

Tests take the PostgreSQL server from ``PROCTOR_TEST_POSTGRES_URL`` (``make pg-test`` and
``.ci/run`` start one with ``.ci/postgres.sh``). Each test gets a fresh schema in that
database, dropped afterwards, so tests never see each other's rows. Without the variable
a suite skips its PostgreSQL cases, except under CI (``CI`` set), where PostgreSQL is
required: see :func:`postgres_required`.

This module uses no test framework; the suites' ``conftest.py`` files turn "not
configured" into a skip or a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "POSTGRES_URL_ENV",
    "postgres_required",
    "postgres_test_url",
    "scratch_postgres_url",
    "with_search_path",
]

POSTGRES_URL_ENV = "PROCTOR_TEST_POSTGRES_URL"


def postgres_test_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


def postgres_required() -> bool:
    """Whether a missing PostgreSQL server must fail the run (under CI) rather than skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def with_search_path(url: str, schema: str) -> str:
    """``url`` with libpq ``options`` selecting ``schema`` for every connection."""
    if not schema.isidentifier() or schema.lower() != schema:
        raise ValueError("use a lowercase identifier as schema name")
    parts = urlsplit(url)
    option = f"options=-csearch_path%3D{schema}"
    query = f"{parts.query}&{option}" if parts.query else option
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@contextmanager
def scratch_postgres_url(url: str) -> Iterator[str]:
    """A URL whose connections use a new, empty schema; the schema is dropped after."""
    import psycopg

    schema = "proctor_test_" + secrets.token_hex(6)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
