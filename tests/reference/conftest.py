"""Fixtures shared by the reference service's test-suites.

``database_url`` runs a test on both back-ends: a fresh SQLite file, and a fresh schema
on the PostgreSQL server of ``PROCTOR_TEST_POSTGRES_URL``. Without that variable the
PostgreSQL cases are skipped, except under CI, where they fail: CI must test both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from proctor.reference.storage import Database, open_database
from proctor.reference.storage import testing as storage_testing

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def postgres_server_url() -> str:
    """The PostgreSQL server to test against; a skip (or, under CI, a failure) if none."""
    url = storage_testing.postgres_test_url()
    if url is not None:
        return url
    if storage_testing.postgres_required():
        pytest.fail(
            f"CI is set but {storage_testing.POSTGRES_URL_ENV} is not: CI must run the "
            "PostgreSQL tests (.ci/run starts a server with .ci/postgres.sh)"
        )
    pytest.skip(
        f"PostgreSQL tests need {storage_testing.POSTGRES_URL_ENV} "
        "(run `make pg-test` to start a throwaway server)"
    )


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty (unmigrated) database on each back-end."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'proctor.db'}"
    else:
        with storage_testing.scratch_postgres_url(postgres_server_url()) as url:
            yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database on each back-end, closed after the test."""
    db = open_database(database_url)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the PostgreSQL server, for PostgreSQL-only tests."""
    with storage_testing.scratch_postgres_url(postgres_server_url()) as url:
        yield url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
