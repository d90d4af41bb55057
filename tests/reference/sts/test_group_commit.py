"""Concurrent OAuth requests share write transactions (``GroupCommit``) without losing the
pairing of each request's writes with its audit events (AUD-APP-002)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from proctor.reference.grants import AuditRecord
from proctor.reference.http.oauth import GroupCommit, _Ticket, _Write
from proctor.reference.service import Service
from proctor.reference.storage.issued_tokens import PendingWrites
from proctor.reference.tokens import IssuedTokenRecord

from .conftest import MARKS, Harness, Scenario, claims_of

pytestmark = MARKS


async def test_concurrent_exchanges_are_all_recorded_and_audited(
    harness: Harness, scenario: Scenario
) -> None:
    actor = await harness.cc(scenario.orchestrator)
    target = [scenario.subagent.client_id]
    start = len(await harness.audit(operation="token.exchange"))
    responses = await asyncio.gather(
        *(
            harness.exchange(scenario.orchestrator, harness.sarah(), actor=actor, audience=target)
            for _ in range(24)
        )
    )
    assert [r.status_code for r in responses] == [200] * 24
    tokens = [r.json()["access_token"] for r in responses]
    assert len({claims_of(t)["jti"] for t in tokens}) == 24
    events = (await harness.audit(operation="token.exchange"))[start:]
    assert len(events) == 24
    assert len({e["request_id"] for e in events}) == 24
    for token in tokens[::6]:
        assert (await harness.introspect(scenario.subagent, token))["active"] is True
    verification = await harness.client.get(
        "/v1/audit/verify", headers={"Authorization": "Bearer " + "adm_" + "s" * 60}
    )
    assert verification.json()["valid"] is True


def _record(jti: str) -> IssuedTokenRecord:
    return IssuedTokenRecord(
        jti=jti,
        client_id="wl_a",
        sub="wl_a",
        aud=("https://proctor.test",),
        scopes=(),
        iat=1_800_000_000,
        exp=1_800_000_600,
        grant="client_credentials",
    )


def _write(jti: str) -> _Write:
    audit = AuditRecord(operation="token.issue", workload="worker", actor_chain=["wl_a"])
    audit.allow()
    return _Write(PendingWrites(added={jti: _record(jti)}), (audit,), "req_" + jti)


def test_a_failing_write_fails_only_its_own_request(service: Service) -> None:
    sts = service.sts
    commits = GroupCommit(service.database, service.audit, sts.registry)
    sts.registry.add(_record("taken"))  # the duplicate below cannot be inserted
    batch = [_Ticket(_write(jti), lambda: None) for jti in ("first", "taken", "third")]
    commits._write(batch)  # one transaction fails; each request is then retried alone
    assert [t.done for t in batch] == [True, True, True]
    assert batch[0].error is None
    assert batch[2].error is None
    assert isinstance(batch[1].error, ValueError)
    assert sts.registry.get("first") is not None
    assert sts.registry.get("third") is not None
    events = service.audit.query(operation="token.issue").items
    assert sorted(e.request_id for e in events) == ["req_first", "req_third"]


def test_concurrent_commits_from_many_threads(service: Service) -> None:
    """Every write is committed with its audit event; the chain stays intact."""
    commits = GroupCommit(service.database, service.audit, service.sts.registry, max_batch=8)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda i: commits.commit(_write(f"t{i}")), range(64)))
    assert all(service.sts.registry.get(f"t{i}") is not None for i in range(64))
    events = service.audit.query(operation="token.issue", limit=100).items
    assert sorted(e.request_id for e in events) == sorted(f"req_t{i}" for i in range(64))
    assert service.audit.verify().valid


def test_a_failing_commit_raises_in_its_own_thread(service: Service) -> None:
    commits = GroupCommit(service.database, service.audit, service.sts.registry)
    service.sts.registry.add(_record("taken"))
    with pytest.raises(ValueError, match="already recorded"):
        commits.commit(_write("taken"))
    commits.commit(_write("fine"))  # the writer role was handed back
    assert service.sts.registry.get("fine") is not None


async def test_async_commits_share_transactions_with_blocking_ones(service: Service) -> None:
    """Requests on the event loop (``commit_async``) and in threads (``commit``) share one
    queue: every write is committed with its audit event, the chain stays intact."""
    commits = GroupCommit(service.database, service.audit, service.sts.registry, max_batch=8)
    with ThreadPoolExecutor(max_workers=4) as pool:
        blocking = [pool.submit(commits.commit, _write(f"b{i}")) for i in range(16)]
        await asyncio.gather(*(commits.commit_async(_write(f"a{i}")) for i in range(32)))
        for future in blocking:
            future.result()
    names = [f"a{i}" for i in range(32)] + [f"b{i}" for i in range(16)]
    assert all(service.sts.registry.get(jti) is not None for jti in names)
    events = service.audit.query(operation="token.issue", limit=100).items
    assert sorted(e.request_id for e in events) == sorted(f"req_{jti}" for jti in names)
    assert service.audit.verify().valid


async def test_a_failing_async_commit_raises_in_its_own_request(service: Service) -> None:
    commits = GroupCommit(service.database, service.audit, service.sts.registry)
    service.sts.registry.add(_record("taken"))
    results = await asyncio.gather(
        commits.commit_async(_write("taken")),
        commits.commit_async(_write("fine")),
        return_exceptions=True,
    )
    assert isinstance(results[0], ValueError)
    assert results[1] is None
    await commits.commit_async(_write("after"))  # the writer role was handed back
    assert service.sts.registry.get("fine") is not None
    assert service.sts.registry.get("after") is not None


async def test_a_cancelled_request_still_sees_its_write_through(service: Service) -> None:
    """``commit_async`` is shielded: a cancelled request's write is committed, and a
    writer never drops its role, so later commits are not stranded."""
    commits = GroupCommit(service.database, service.audit, service.sts.registry)
    tasks = [asyncio.create_task(commits.commit_async(_write(f"c{i}"))) for i in range(8)]
    await asyncio.sleep(0)
    for task in tasks[::2]:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert all(service.sts.registry.get(f"c{i}") is not None for i in range(8))
    await asyncio.wait_for(commits.commit_async(_write("later")), timeout=10)
    assert service.sts.registry.get("later") is not None
