"""Concurrent OAuth requests share write transactions (``GroupCommit``) without losing the
pairing of each request's writes with its audit events (AUD-APP-002)."""

from __future__ import annotations

import asyncio

import pytest

from proctor.reference.grants import AuditRecord
from proctor.reference.http.oauth import GroupCommit, _Write
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


async def test_a_failing_write_fails_only_its_own_request(service: Service) -> None:
    sts = service.sts
    commits = GroupCommit(service.database, service.audit, sts.registry)
    sts.registry.add(_record("taken"))  # the duplicate below cannot be inserted
    results = await asyncio.gather(
        commits.commit(_write("first")),
        commits.commit(_write("taken")),
        commits.commit(_write("third")),
        return_exceptions=True,
    )
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], ValueError)
    assert sts.registry.get("first") is not None
    assert sts.registry.get("third") is not None
    events = service.audit.query(operation="token.issue").items
    assert sorted(e.request_id for e in events) == ["req_first", "req_third"]


async def test_a_request_that_goes_away_still_has_its_writes_committed(
    service: Service,
) -> None:
    commits = GroupCommit(service.database, service.audit, service.sts.registry)
    first = asyncio.ensure_future(commits.commit(_write("kept-one")))
    second = asyncio.ensure_future(commits.commit(_write("kept-two")))
    await asyncio.sleep(0)  # both queued: one batch
    second.cancel()
    await first  # the batch, both writes in it, has committed
    with pytest.raises(asyncio.CancelledError):
        await second
    assert service.sts.registry.get("kept-two") is not None
