"""The storage protocol behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest

from proctor.reference.storage import (
    Database,
    IntegrityViolation,
    StorageError,
    StorageUnavailable,
    UniqueViolation,
    open_database,
)
from proctor.reference.storage.database import ConnectionPool
from proctor.reference.storage.postgres import to_psycopg
from proctor.reference.storage.sqlite import SqliteDatabase

SCRATCH = "CREATE TABLE scratch (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"


@pytest.fixture
def scratch(database: Database) -> Database:
    with database.transaction() as tx:
        tx.execute(SCRATCH)
    return database


def count(database: Database) -> int:
    with database.transaction(readonly=True) as tx:
        row = tx.fetchone("SELECT COUNT(*) AS n FROM scratch")
    assert row is not None
    return int(row["n"])


def test_rows_are_dicts_keyed_by_column(scratch: Database) -> None:
    with scratch.transaction() as tx:
        tx.executemany("INSERT INTO scratch (k, v) VALUES (?, ?)", [("a", 1), ("b", 2)])
        assert tx.fetchall("SELECT k, v AS value FROM scratch ORDER BY k") == [
            {"k": "a", "value": 1},
            {"k": "b", "value": 2},
        ]
        assert tx.fetchone("SELECT k FROM scratch WHERE k = ?", ("zz",)) is None
        assert tx.execute("UPDATE scratch SET v = v + 1") == []
        assert tx.execute_count("UPDATE scratch SET v = v + 1 WHERE k = ?", ("a",)) == 1


def test_commit_on_success_rollback_on_error(scratch: Database) -> None:
    with scratch.transaction() as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("kept", 1))

    def fail_midway() -> None:
        with scratch.transaction() as tx:
            tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("lost", 2))
            tx.execute("UPDATE scratch SET v = 99 WHERE k = ?", ("kept",))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    with scratch.transaction(readonly=True) as tx:
        assert tx.fetchall("SELECT k, v FROM scratch") == [{"k": "kept", "v": 1}]


def test_a_failed_statement_rolls_back_the_whole_transaction(scratch: Database) -> None:
    with scratch.transaction() as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("a", 1))

    def insert_then_collide() -> None:
        with scratch.transaction() as tx:
            tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("b", 2))
            tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("a", 3))

    with pytest.raises(UniqueViolation):
        insert_then_collide()
    assert count(scratch) == 1
    # The connection went back to the pool healthy.
    with scratch.transaction() as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("c", 4))
    assert count(scratch) == 2


def test_constraint_errors_are_mapped_alike(scratch: Database) -> None:
    with pytest.raises(IntegrityViolation) as caught, scratch.transaction() as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("a", None))
    assert not isinstance(caught.value, UniqueViolation)
    with pytest.raises(IntegrityViolation), scratch.transaction() as tx:
        tx.execute(
            "INSERT INTO workload_access_tokens (token_hash, workload, issued_at, expires_at,"
            " revoked) VALUES (?, ?, ?, ?, ?)",
            ("h", "no-such-workload", 1, 2, False),
        )


def test_handle_is_dead_after_the_block(scratch: Database) -> None:
    with scratch.transaction() as tx:
        pass
    with pytest.raises(RuntimeError, match="ended"):
        tx.execute("SELECT 1 AS one")


def test_readonly_transactions_refuse_writes(scratch: Database) -> None:
    with pytest.raises(StorageError, match="read-only"), scratch.transaction(readonly=True) as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("a", 1))
    # The same pooled connection accepts writes again in a write transaction.
    with scratch.transaction() as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("a", 1))
    assert count(scratch) == 1


def test_readonly_transactions_see_one_snapshot(scratch: Database) -> None:
    with scratch.transaction() as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("a", 1))
    with scratch.transaction(readonly=True) as reader:
        assert reader.fetchone("SELECT COUNT(*) AS n FROM scratch") == {"n": 1}
        with scratch.transaction() as writer:
            writer.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("b", 2))
        assert reader.fetchone("SELECT COUNT(*) AS n FROM scratch") == {"n": 1}
    assert count(scratch) == 2


def _insert(database: Database, key: str) -> None:
    with database.transaction() as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", (key, 1))


def test_reads_in_a_snapshot_share_one_transaction_on_sqlite(scratch: Database) -> None:
    """SQLite: every read-only transaction in ``snapshot()`` is the block's one read
    transaction, so the reads agree with each other; a write committed meanwhile (even by
    the block itself) is seen only after it. PostgreSQL: a no-op, each read has its own."""
    _insert(scratch, "a")
    with scratch.snapshot():
        assert count(scratch) == 1
        _insert(scratch, "b")  # a write inside the block: its own pool, no starvation
        with scratch.snapshot():  # nested: still the outer block's transaction
            seen = count(scratch)
    assert seen == (1 if scratch.dialect == "sqlite" else 2)
    assert count(scratch) == 2


def test_a_snapshot_refuses_writes_and_survives_a_failed_block(scratch: Database) -> None:
    def write_in_snapshot() -> None:
        with scratch.snapshot(), scratch.transaction(readonly=True) as tx:
            tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("a", 1))

    with pytest.raises(StorageError, match="read-only"):
        write_in_snapshot()
    with scratch.snapshot():
        assert count(scratch) == 0
    _insert(scratch, "a")
    assert count(scratch) == 1


def test_a_snapshot_holds_a_reader_never_a_writers_connection(tmp_path: Path) -> None:
    """With one writer and one reader connection, a block that holds the snapshot still
    writes, and so does another thread meanwhile: the snapshot holds no writer."""
    database = SqliteDatabase(tmp_path / "s.db", pool_size=1, reader_pool_size=1)
    try:
        with database.transaction() as tx:
            tx.execute(SCRATCH)
        with database.snapshot():
            _insert(database, "a")
            done = threading.Event()

            def other() -> None:
                _insert(database, "b")
                done.set()

            thread = threading.Thread(target=other)
            thread.start()
            thread.join(5)
            assert done.is_set()
        assert count(database) == 2
    finally:
        database.close()


def test_percent_and_question_marks_in_literals(scratch: Database) -> None:
    with scratch.transaction() as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("100%?", 1))
        tx.execute("INSERT INTO scratch (k, v) VALUES ('lit?%', ?)", (2,))
        rows = tx.fetchall("SELECT k FROM scratch WHERE k LIKE '%?%' AND v >= ? ORDER BY k", (1,))
    assert [row["k"] for row in rows] == ["100%?", "lit?%"]


def test_params_must_be_a_sequence(scratch: Database) -> None:
    with pytest.raises(TypeError), scratch.transaction() as tx:
        tx.execute("SELECT k FROM scratch WHERE k = ?", "a")


def test_ping_and_close(database: Database) -> None:
    assert database.ping() is True
    database.close()
    assert database.ping() is False
    with pytest.raises(StorageUnavailable), database.transaction():
        pass


def test_concurrent_writers_from_many_threads(scratch: Database) -> None:
    """Read-modify-write under the write lock: no update is lost on either back-end."""
    with scratch.transaction() as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("counter", 0))
    select = "SELECT v FROM scratch WHERE k = 'counter'"
    if scratch.dialect == "postgresql":
        select = "SELECT v FROM scratch WHERE k = 'counter' FOR UPDATE"
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                with scratch.transaction() as tx:
                    row = tx.fetchone(select)
                    assert row is not None
                    tx.execute("UPDATE scratch SET v = ? WHERE k = 'counter'", (row["v"] + 1,))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with scratch.transaction(readonly=True) as tx:
        assert tx.fetchone("SELECT v FROM scratch WHERE k = 'counter'") == {"v": 120}


def test_open_database_rejects_unknown_urls() -> None:
    with pytest.raises(ValueError, match="sqlite"):
        open_database("mysql://db/proctor")
    with pytest.raises(ValueError, match="sqlite:///"):
        open_database("sqlite://relative.db")
    with pytest.raises(ValueError, match="file path"):
        open_database("sqlite:///:memory:")


def test_sqlite_is_configured_for_durability(tmp_path: object) -> None:
    db = open_database(f"sqlite:///{tmp_path}/d.db")
    try:
        with db.transaction(readonly=True) as tx:
            assert tx.fetchone("PRAGMA journal_mode") == {"journal_mode": "wal"}
            assert tx.fetchone("PRAGMA synchronous") == {"synchronous": 2}  # FULL
            assert tx.fetchone("PRAGMA foreign_keys") == {"foreign_keys": 1}
    finally:
        db.close()


@pytest.mark.parametrize(
    ("portable", "psycopg"),
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
        ("SELECT '?' , ? FROM t", "SELECT '?' , %s FROM t"),
        ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
        ("SELECT \"col?\" FROM t WHERE x LIKE '5%'", "SELECT \"col?\" FROM t WHERE x LIKE '5%%'"),
        ("SELECT 10 % 3", "SELECT 10 %% 3"),
    ],
)
def test_placeholder_translation(portable: str, psycopg: str) -> None:
    assert to_psycopg(portable) == psycopg


def test_a_swallowed_statement_error_still_dooms_the_transaction(scratch: Database) -> None:
    """Same semantics on both back-ends: no partial commit after a failed statement."""
    with scratch.transaction() as tx:
        tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("a", 1))

    def swallow() -> None:
        with scratch.transaction() as tx:
            tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("b", 2))
            with contextlib.suppress(UniqueViolation):  # the caller swallows the error
                tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("a", 3))
            with pytest.raises(StorageError, match="can only roll back"):
                tx.execute("INSERT INTO scratch (k, v) VALUES (?, ?)", ("c", 4))

    with pytest.raises(StorageError, match="rolled back"):
        swallow()
    assert count(scratch) == 1


def test_a_pool_at_its_limit_makes_callers_wait_then_gives_up() -> None:
    opened: list[int] = []
    closed: list[int] = []

    def connect() -> int:
        opened.append(len(opened))
        return opened[-1]

    pool: ConnectionPool[int] = ConnectionPool(connect, closed.append, max_size=2, timeout=0.05)
    first, second = pool.acquire(), pool.acquire()
    with pytest.raises(StorageUnavailable, match="no database connection"):
        pool.acquire()
    pool.release(first)
    assert pool.acquire() == first  # reused, not reopened
    pool.release(second, broken=True)
    assert closed == [second]
    assert pool.acquire() == 2  # a replacement for the broken one
    pool.close()
    with pytest.raises(StorageUnavailable, match="closed"):
        pool.acquire()
