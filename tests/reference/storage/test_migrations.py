"""Migrations are versioned, ordered, idempotent, guarded, and safe to start concurrently."""

from __future__ import annotations

import threading

import pytest

from proctor.reference.storage import (
    MIGRATIONS,
    Database,
    Migration,
    SchemaError,
    migrate,
    open_database,
    schema_version,
)
from proctor.reference.storage.migrations import PerDialect, spell

IDENTITY_TABLES = {
    "authorizers",
    "workloads",
    "workload_access_tokens",
    "client_assertion_jtis",
    "audit_events",
    "audit_head",
    "audit_checkpoints",
    "schema_migrations",
    # migration 3 (vault, spec 05/06)
    "credential_providers",
    "vault_entries",
    "vault_sessions",
    "consents",
    "vault_token_cache",
    "wat_user_tokens",
    "signing_keys",
    "issued_tokens",
    "issued_token_parents",
    "exchange_policies",
}


def tables(database: Database) -> set[str]:
    with database.transaction(readonly=True) as tx:
        if tx.dialect == "sqlite":
            rows = tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {row["name"] for row in rows} - {"sqlite_sequence"}
        rows = tx.fetchall(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = current_schema()"
        )
        return {row["name"] for row in rows}


def recorded(database: Database) -> list[tuple[int, str]]:
    with database.transaction(readonly=True) as tx:
        rows = tx.fetchall("SELECT version, name FROM schema_migrations ORDER BY version")
    return [(int(row["version"]), row["name"]) for row in rows]


def test_open_migrates_to_the_latest_version(database: Database) -> None:
    assert tables(database) == IDENTITY_TABLES
    assert recorded(database) == [(m.version, m.name) for m in MIGRATIONS]
    assert schema_version(database) == len(MIGRATIONS)


def test_migrating_again_is_a_no_op(database: Database) -> None:
    assert migrate(database) == []
    assert recorded(database) == [(m.version, m.name) for m in MIGRATIONS]


def test_an_unmigrated_database_has_version_zero(database_url: str) -> None:
    db = open_database(database_url, run_migrations=False)
    try:
        assert schema_version(db) == 0
        assert tables(db) == set()
        assert migrate(db) == [m.version for m in MIGRATIONS]
    finally:
        db.close()


def test_a_new_migration_applies_alone(database: Database) -> None:
    extra = Migration(
        len(MIGRATIONS) + 1,
        "gadgets",
        (
            "CREATE TABLE gadgets (id {SERIAL}, payload {BLOB} NOT NULL, big {BIGINT})",
            PerDialect(
                sqlite="CREATE INDEX gadgets_big ON gadgets (big)",
                postgresql="CREATE INDEX gadgets_big ON gadgets USING btree (big)",
            ),
        ),
    )
    assert migrate(database, (*MIGRATIONS, extra)) == [extra.version]
    assert schema_version(database) == extra.version
    with database.transaction() as tx:
        tx.execute("INSERT INTO gadgets (payload, big) VALUES (?, ?)", (b"\x00\xff", 2**40))
        tx.execute("INSERT INTO gadgets (payload, big) VALUES (?, ?)", (b"", None))
        rows = tx.fetchall("SELECT id, payload, big FROM gadgets ORDER BY id")
    assert rows == [
        {"id": 1, "payload": b"\x00\xff", "big": 2**40},
        {"id": 2, "payload": b"", "big": None},
    ]
    assert migrate(database, (*MIGRATIONS, extra)) == []


def test_a_failing_migration_changes_nothing(database: Database) -> None:
    broken = Migration(
        len(MIGRATIONS) + 1,
        "half done",
        ("CREATE TABLE half (id INTEGER)", "CREATE TABLE half (id INTEGER)"),
    )
    with pytest.raises(Exception, match=r"(?i)exists"):
        migrate(database, (*MIGRATIONS, broken))
    assert "half" not in tables(database)
    assert schema_version(database) == len(MIGRATIONS)


def test_an_edited_migration_is_refused(database: Database) -> None:
    first = MIGRATIONS[0]
    edited = Migration(first.version, first.name, (*first.statements, "SELECT 1"))
    with pytest.raises(SchemaError, match="changed after it was applied"):
        migrate(database, (edited, *MIGRATIONS[1:]))


def test_a_newer_database_is_refused(database: Database) -> None:
    with pytest.raises(SchemaError, match="newer than this code"):
        migrate(database, MIGRATIONS[:1])


def test_versions_must_count_up_without_gaps(database: Database) -> None:
    skipping = Migration(len(MIGRATIONS) + 2, "skips one", ("SELECT 1",))
    with pytest.raises(ValueError, match="without gaps"):
        migrate(database, (*MIGRATIONS, skipping))
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_concurrent_starts_migrate_once(database_url: str) -> None:
    """Several nodes start at once on an empty database: one migrates, all succeed."""
    barrier = threading.Barrier(4)
    opened: list[Database] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            opened.append(open_database(database_url))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert recorded(opened[0]) == [(m.version, m.name) for m in MIGRATIONS]
    finally:
        for db in opened:
            db.close()


def test_type_tokens_are_spelled_per_dialect() -> None:
    statement = "CREATE TABLE t (a {BIGINT}, b {BLOB}, c {BOOL}, d {KEY}, '{}')"
    assert spell(statement, "sqlite") == (
        "CREATE TABLE t (a INTEGER, b BLOB, c INTEGER, d TEXT, '{}')"
    )
    assert spell(statement, "postgresql") == (
        "CREATE TABLE t (a BIGINT, b BYTEA, c BOOLEAN, d TEXT COLLATE \"C\", '{}')"
    )
