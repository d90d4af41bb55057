"""PostgreSQL specifics: lost connections are replaced, an unreachable server is not ready."""

from __future__ import annotations

import psycopg
import pytest

from proctor.reference.storage import StorageUnavailable, open_database
from proctor.reference.storage.postgres import PostgresDatabase


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced(postgres_url: str) -> None:
    db = open_database(postgres_url, pool_size=1)
    try:
        with db.transaction(readonly=True) as tx:
            row = tx.fetchone("SELECT pg_backend_pid() AS pid")
        assert row is not None
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (row["pid"],))
        with pytest.raises(StorageUnavailable), db.transaction(readonly=True):
            pass
        assert db.ping() is True  # a new connection took the dead one's place
        with db.transaction(readonly=True) as tx:
            assert tx.fetchone("SELECT pg_backend_pid() AS pid") != row
    finally:
        db.close()


def test_an_unreachable_server_is_not_ready() -> None:
    db = PostgresDatabase("postgresql://proctor@127.0.0.1:1/proctor", connect_timeout=2)
    try:
        assert db.ping() is False
        with pytest.raises(StorageUnavailable), db.transaction():
            pass
    finally:
        db.close()


def test_repr_hides_the_password() -> None:
    db = PostgresDatabase("postgresql://proctor:hunter2@db.internal:5432/proctor")
    assert "hunter2" not in repr(db)
    assert "db.internal:5432/proctor" in repr(db)
    db.close()
