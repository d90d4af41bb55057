"""One refresh per entry, in one process and across processes sharing storage
(VLT-REF-002), and one upstream request per m2m cache key (VLT-M2M-002)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from proctor.reference.audit_trail import Trail
from proctor.reference.http.vault import build_vault
from proctor.reference.metrics import Metrics
from proctor.reference.vault import ResourceTokenRequest, TokenResult, Vault

pytestmark = pytest.mark.anyio


async def test_twenty_concurrent_requests_refresh_once(world: Any, h: Any) -> None:
    """VLT-REF-002: exactly one refresh request reaches the provider (counted in the mock's
    request log); every request gets the refreshed token."""
    workload = await world.setup()
    wat = await world.wat(workload)
    first = await world.consent_flow(workload, wat)
    world.advance(3600)
    wat = await world.wat(workload)
    world.okta.clear_requests()
    results = await asyncio.gather(*(world.resource(workload, wat) for _ in range(20)))
    assert [e.status for e in world.token_requests("refresh_token")] == [200]
    tokens = {r.json()["access_token"] for r in results}
    assert len(tokens) == 1
    assert first["access_token"] not in tokens
    events = await world.audit(operation="resource_token.refresh")
    assert len(events) == 1


def _node(world: Any) -> Vault:
    """Another replica: its own in-memory state, the same storage and keys."""
    service = world.service
    return build_vault(
        database=service.database,
        clock=service.clock,
        envelope=service.envelope,
        audit=service.audit,
        recorder=service.recorder,
        admin=service.admin,
        authenticator=service.workload_auth,
        tokens=service.workload_tokens,
        authorizers=service.authorizers,
        directory=service.directory,
        metrics=Metrics(),
        http=service.http,
        issuer=service.issuer,
        allow_loopback_http=False,
    ).vault


async def test_replicas_sharing_storage_refresh_once(world: Any, h: Any) -> None:
    """VLT-REF-002: the lease in storage makes two processes' concurrent requests cause one
    refresh; the waiting replica reads the stored result."""
    workload = await world.setup()
    wat = await world.wat(workload)
    await world.consent_flow(workload, wat)
    world.advance(3600)
    wat = await world.wat(workload)
    service = world.service
    record = service.directory.get("orchestrator")
    binding = service.workload_tokens.validate(wat, record)
    nodes = [_node(world), _node(world)]
    request = ResourceTokenRequest(provider="crm", flow="user_federation", scopes=("notes.read",))
    world.okta.clear_requests()

    def call(i: int) -> Any:
        return nodes[i % 2].resource_token(
            record, binding, wat, request, Trail.internal(service.audit)
        )

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(call, range(12)))
    assert all(isinstance(r, TokenResult) for r in results)
    assert len({r.access_token for r in results}) == 1
    assert [e.status for e in world.token_requests("refresh_token")] == [200]


async def test_concurrent_m2m_misses_make_one_request(world: Any, h: Any) -> None:
    """VLT-M2M-002 (SHOULD): concurrent misses for one key share one upstream request."""
    workload = await world.setup()
    wat = await world.wat(workload, user=None)
    world.okta.clear_requests()
    results = await asyncio.gather(*(world.resource(workload, wat, flow="m2m") for _ in range(10)))
    assert len({r.json()["access_token"] for r in results}) == 1
    assert len(world.token_requests("client_credentials")) == 1
