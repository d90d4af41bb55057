"""The audit log (spec 08-audit.md) on both back-ends: chain, tamper evidence, concurrency,
retention, queries, and the no-secrets guard."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from proctor.reference.audit import (
    GENESIS_HASH,
    AuditLog,
    ChainBroken,
    Checkpoint,
    event_hash,
    verify_events,
)
from proctor.reference.clock import ManualClock
from proctor.reference.errors import ValidationFailed
from proctor.reference.jcs import canonicalize_text
from proctor.reference.storage import Database, open_database
from proctor.reference.storage.authorizers import AuthorizerRepository

VECTORS = Path(__file__).parent / "vectors"
MEMBERS = {
    "seq",
    "id",
    "time",
    "request_id",
    "operation",
    "workload",
    "user",
    "actor_chain",
    "provider",
    "scopes",
    "decision",
    "reason",
    "prev_hash",
    "hash",
}


def fields(i: int = 0, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "request_id": f"req_{i}",
        "operation": "resource_token.get",
        "workload": "orchestrator",
        "user": {"issuer": "https://idp.example", "subject": "sarah"},
        "actor_chain": ["wl_orchestrator"],
        "provider": "crm",
        "scopes": ["notes.read"],
        "decision": "allow",
        "reason": "ok",
    }
    base.update(overrides)
    return base


@pytest.fixture
def log(database: Database, clock: ManualClock) -> AuditLog:
    return AuditLog(database, clock)


def fill(log: AuditLog, clock: ManualClock, n: int) -> None:
    for i in range(n):
        log.append(fields(i))
        clock.advance(10)


def sql(database: Database, statement: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Direct storage access, as an attacker with write access to the database has."""
    with database.transaction() as tx:
        return tx.execute(statement, params)


def stored_body(database: Database, seq: int) -> dict[str, Any]:
    (row,) = sql(database, "SELECT body FROM audit_events WHERE seq = ?", (seq,))
    body: dict[str, Any] = json.loads(row["body"])
    return body


# -- appending ---------------------------------------------------------------------------


def test_append_assigns_seq_id_time_and_links_the_chain(log: AuditLog, clock: ManualClock) -> None:
    first = log.append(fields(1, scopes=["b", "a", "b"]))
    clock.advance(5)
    second = log.append(fields(2, decision="deny", reason="scope_not_allowed", user=None))
    assert (first.seq, second.seq) == (1, 2)
    assert first.id.startswith("evt_")
    assert first.id != second.id
    assert (first.time, second.time) == (1_800_000_000, 1_800_000_005)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert first.scopes == ("a", "b")  # sorted, without duplicates (AUD-EVT-002)
    for event in (first, second):
        document = event.to_dict()
        assert set(document) == MEMBERS
        body = {k: v for k, v in document.items() if k != "hash"}
        assert event.hash == event_hash(body)


def test_query_returns_events_exactly_as_hashed(log: AuditLog, database: Database) -> None:
    appended = log.append(fields(1))
    (served,) = log.query().items
    assert served == appended
    assert canonicalize_text(stored_body(database, 1)) == canonicalize_text(served.body())


def test_an_aborted_transaction_consumes_no_seq(log: AuditLog, database: Database) -> None:
    log.append(fields(1))

    def abort() -> None:
        with database.transaction() as tx:
            log.append(fields(2), tx=tx)
            raise RuntimeError("operation failed after its event")

    with pytest.raises(RuntimeError):
        abort()
    assert log.append(fields(3)).seq == 2
    assert [e.request_id for e in log.query().items] == ["req_1", "req_3"]
    assert log.verify().valid


def test_an_operation_and_its_event_commit_together(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    """AUD-APP-002: the event rolls back with the operation's transaction."""
    authorizers = AuthorizerRepository(database, clock)
    with database.transaction() as tx:
        authorizers.create("company-okta", {}, tx=tx)
        log.append(
            fields(1, operation="authorizer.create", actor_chain=["admin"], user=None), tx=tx
        )

    def create_twice() -> None:
        with database.transaction() as tx:
            log.append(fields(2, operation="authorizer.create", user=None), tx=tx)
            authorizers.create("company-okta", {}, tx=tx)  # Conflict: both roll back

    with pytest.raises(Exception, match="already exists"):
        create_twice()
    assert [e.request_id for e in log.query().items] == ["req_1"]


@pytest.mark.parametrize(
    "secret",
    ["client_secret", "access_token", "refresh_token", "api_key", "password", "code", "state"],
)
def test_secret_looking_members_are_refused(log: AuditLog, secret: str) -> None:
    with pytest.raises(ValueError, match="never carry"):
        log.append({**fields(), secret: "s3cr3t"})
    with pytest.raises(ValueError, match="never carry"):
        log.append(fields(user={"issuer": "i", "subject": "s", secret: "s3cr3t"}))
    assert log.query().items == []


def test_token_shaped_values_are_refused(log: AuditLog) -> None:
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzYXJhaCJ9.c2lnbmF0dXJl"
    with pytest.raises(ValueError, match="JWT"):
        log.append(fields(actor_chain=[jwt]))
    with pytest.raises(ValueError, match="JWT"):
        log.append(fields(reason=jwt, decision="deny"))
    assert log.query().items == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": "red"}, "no member"),
        ({"operation": "vault.peek"}, "AUD-OPS-001"),
        ({"decision": "maybe"}, "decision"),
        ({"decision": "allow", "reason": "fine"}, "reason"),
        ({"decision": "deny", "reason": "ok"}, "reason"),
        ({"decision": "deny", "reason": "two words"}, "reason"),
        ({"user": {"subject": "sarah"}}, "user"),
        ({"scopes": "notes.read"}, "scopes"),
        ({"actor_chain": [""]}, "actor_chain"),
        ({"workload": ""}, "workload"),
        ({"request_id": None}, "request_id"),
    ],
)
def test_malformed_events_are_refused(
    log: AuditLog, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        log.append(fields(**overrides))


def test_required_members(log: AuditLog) -> None:
    partial = fields()
    del partial["reason"]
    with pytest.raises(ValueError, match="need"):
        log.append(partial)


# -- verifying -----------------------------------------------------------------------------


def test_an_empty_log_is_valid(log: AuditLog) -> None:
    assert log.verify().to_dict() == {"valid": True, "events": 0, "checkpoint": None}


def test_an_intact_log_is_valid(log: AuditLog, clock: ManualClock) -> None:
    fill(log, clock, 12)
    assert log.verify().to_dict() == {"valid": True, "events": 12, "checkpoint": None}


def broken(log: AuditLog) -> tuple[int | None, str | None, int]:
    verification = log.verify()
    assert not verification.valid
    return verification.first_broken_seq, verification.reason, verification.events


def test_an_edited_body_is_a_hash_mismatch_at_its_seq(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    fill(log, clock, 6)
    body = stored_body(database, 4)
    body["decision"], body["reason"] = "deny", "forbidden"
    sql(database, "UPDATE audit_events SET body = ? WHERE seq = 4", (canonicalize_text(body),))
    assert broken(log) == (4, "hash_mismatch", 3)


def test_an_edited_body_with_a_recomputed_hash_breaks_the_next_link(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    fill(log, clock, 6)
    body = stored_body(database, 4)
    body["workload"] = "someone-else"
    sql(
        database,
        "UPDATE audit_events SET body = ?, hash = ?, workload = ? WHERE seq = 4",
        (canonicalize_text(body), event_hash(body), "someone-else"),
    )
    assert broken(log) == (5, "prev_hash_mismatch", 4)


def test_an_edited_hash_is_a_hash_mismatch(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    fill(log, clock, 6)
    sql(database, "UPDATE audit_events SET hash = ? WHERE seq = 2", ("f" * 64,))
    assert broken(log) == (2, "hash_mismatch", 1)


def test_a_deleted_event_is_a_gap_at_the_event_after_it(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    fill(log, clock, 6)
    sql(database, "DELETE FROM audit_events WHERE seq = 3")
    assert broken(log) == (4, "gap", 2)


def test_a_cut_tail_is_a_gap_after_the_last_event(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    fill(log, clock, 6)
    sql(database, "DELETE FROM audit_events WHERE seq >= 5")
    assert broken(log) == (5, "gap", 4)


def test_swapped_positions_are_caught_where_the_order_breaks(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    fill(log, clock, 6)
    sql(database, "UPDATE audit_events SET seq = 100 WHERE seq = 3")
    sql(database, "UPDATE audit_events SET seq = 3 WHERE seq = 4")
    sql(database, "UPDATE audit_events SET seq = 4 WHERE seq = 100")
    # Where event 3 belongs, event 4 stands: its seq does not continue the chain.
    assert broken(log) == (4, "gap", 2)


def test_a_reorder_with_renumbered_and_rehashed_events_breaks_a_link(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    """A forger who swaps events 3 and 4, renumbers them and recomputes their hashes."""
    fill(log, clock, 6)
    third, fourth = stored_body(database, 3), stored_body(database, 4)
    third["seq"], fourth["seq"] = 4, 3
    sql(database, "UPDATE audit_events SET id = 'swap-' || id WHERE seq IN (3, 4)")
    for body in (fourth, third):
        sql(
            database,
            "UPDATE audit_events SET body = ?, hash = ?, id = ?, time = ?, prev_hash = ?"
            " WHERE seq = ?",
            (
                canonicalize_text(body),
                event_hash(body),
                body["id"],
                body["time"],
                body["prev_hash"],
                body["seq"],
            ),
        )
    # At seq 3 now stands the old 4th event, whose prev_hash names the old 3rd.
    assert broken(log) == (3, "prev_hash_mismatch", 2)


def test_a_filter_column_that_disagrees_with_the_hashed_body_is_caught(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    fill(log, clock, 4)
    sql(database, "UPDATE audit_events SET workload = ? WHERE seq = 2", ("hidden",))
    assert broken(log) == (2, "hash_mismatch", 2)


def test_an_unparseable_body_is_a_hash_mismatch(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    fill(log, clock, 3)
    sql(database, "UPDATE audit_events SET body = ? WHERE seq = 2", ("{not json",))
    assert broken(log) == (2, "hash_mismatch", 1)


def test_the_specs_worked_example_verifies() -> None:
    vector = json.loads(
        (VECTORS / "proctor-08-audit-AUD-CHAIN-002-example.json").read_text(encoding="utf-8")
    )
    events = []
    for item in vector["events"]:
        body = json.loads(item["canonical"])
        assert canonicalize_text(body) == item["canonical"]
        assert event_hash(body) == item["hash"]
        events.append({**body, "hash": item["hash"]})
    assert verify_events(events).valid
    assert verify_events(events[1:]).to_dict()["reason"] == "gap"
    tampered = [events[0], {**events[1], "reason": "ok"}]
    assert verify_events(tampered).first_broken_seq == 2


# -- concurrency ---------------------------------------------------------------------------


def test_concurrent_appends_from_threads_and_nodes_keep_the_chain(
    database_url: str, database: Database, clock: ManualClock
) -> None:
    """Eight threads over two independent pools (two nodes) append at once."""
    other_node = open_database(database_url)
    logs = [AuditLog(database, clock), AuditLog(other_node, clock)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def append_many(log: AuditLog, worker: int) -> None:
        try:
            barrier.wait()
            for i in range(15):
                log.append(fields(worker * 100 + i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=append_many, args=(logs[w % 2], w)) for w in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other_node.close()
    assert errors == []
    assert logs[0].verify().to_dict() == {"valid": True, "events": 120, "checkpoint": None}
    seqs = [row["seq"] for row in sql(database, "SELECT seq FROM audit_events ORDER BY seq")]
    assert seqs == list(range(1, 121))


# -- retention -----------------------------------------------------------------------------


def test_prune_removes_the_old_prefix_and_keeps_verify_valid(
    log: AuditLog, clock: ManualClock
) -> None:
    """AUD-RET-001: only the old prefix goes, behind a checkpoint; verify stays valid."""
    fill(log, clock, 10)  # times 1_800_000_000 + 0, 10, ..., 90
    fifth = log.query(limit=5).items[-1]
    checkpoint = log.prune(1_800_000_050)
    assert checkpoint == Checkpoint(seq=5, hash=fifth.hash, time=int(clock.now()), pruned=5)
    remaining = log.query().items
    assert [e.seq for e in remaining] == [6, 7, 8, 9, 10, 11]
    assert remaining[0].prev_hash == checkpoint.hash
    last = remaining[-1]
    assert (last.operation, last.decision, last.reason) == ("audit.prune", "allow", "ok")
    assert log.verify().to_dict() == {
        "valid": True,
        "events": 6,
        "checkpoint": checkpoint.to_dict(),
    }
    clock.advance(1000)
    later = log.prune(int(clock.now()))
    assert later is not None
    assert (later.seq, later.pruned) == (11, 11)
    assert [e.operation for e in log.query().items] == ["audit.prune"]
    assert log.verify().valid
    assert log.verify().events == 1
    assert log.checkpoint() == later


def test_prune_with_nothing_old_enough_does_nothing(log: AuditLog, clock: ManualClock) -> None:
    fill(log, clock, 3)
    assert log.prune(1_700_000_000) is None
    assert len(log.query().items) == 3
    assert log.checkpoint() is None


def test_prune_refuses_a_broken_prefix(
    log: AuditLog, database: Database, clock: ManualClock
) -> None:
    """AUD-RET-001: a broken prefix is not pruned; the refusal is audited."""
    fill(log, clock, 6)
    sql(database, "UPDATE audit_events SET hash = ? WHERE seq = 2", ("0" * 64,))
    with pytest.raises(ChainBroken) as caught:
        log.prune(1_800_000_050)
    assert caught.value.verification.first_broken_seq == 2
    assert caught.value.verification.reason == "hash_mismatch"
    events = log.query().items
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6, 7]  # nothing removed
    assert (events[-1].operation, events[-1].decision, events[-1].reason) == (
        "audit.prune",
        "deny",
        "chain_broken",
    )
    assert log.checkpoint() is None


# -- querying ------------------------------------------------------------------------------


@pytest.fixture
def populated(log: AuditLog, clock: ManualClock) -> AuditLog:
    log.append(fields(1, operation="workload.create", actor_chain=["admin"], user=None))
    clock.advance(10)
    log.append(fields(2, operation="consent.grant"))
    clock.advance(10)
    log.append(fields(3, operation="consent.revoke", workload="subagent"))
    clock.advance(10)
    log.append(
        fields(
            4,
            decision="deny",
            reason="scope_not_allowed",
            user={"issuer": "https://other.example", "subject": "sarah"},
        )
    )
    clock.advance(10)
    log.append(fields(5, user={"issuer": "https://idp.example", "subject": "bob"}))
    return log


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"workload": "subagent"}, [3]),
        ({"user_subject": "sarah"}, [2, 3, 4]),
        ({"user_subject": "sarah", "user_issuer": "https://idp.example"}, [2, 3]),
        ({"operation": "consent.*"}, [2, 3]),
        ({"operation": "consent.grant"}, [2]),
        ({"decision": "deny"}, [4]),
        ({"since": 1_800_000_010, "until": 1_800_000_030}, [2, 3]),
        ({"workload": "orchestrator", "decision": "allow", "operation": "resource_token.*"}, [5]),
    ],
)
def test_query_filters(populated: AuditLog, filters: dict[str, Any], expected: list[int]) -> None:
    assert [e.seq for e in populated.query(**filters).items] == expected


def test_query_pages(populated: AuditLog) -> None:
    first = populated.query(limit=2)
    second = populated.query(limit=2, next_token=first.next_token)
    third = populated.query(limit=2, next_token=second.next_token)
    assert [e.seq for e in first.items + second.items + third.items] == [1, 2, 3, 4, 5]
    assert third.next_token is None


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"operation": "nope"}, "operation"),
        ({"operation": "nope.*"}, "operation"),
        ({"decision": "maybe"}, "decision"),
        ({"since": "yesterday"}, "since"),
        ({"limit": 0}, "limit"),
        ({"next_token": "garbage"}, "next_token"),
    ],
)
def test_invalid_query_values(populated: AuditLog, filters: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        populated.query(**filters)
    assert caught.value.errors[0]["field"] == field
