"""The scenario end to end: consent once, reuse, then one refresh for many requests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytestmark = pytest.mark.anyio


async def test_consent_once_then_reuse_then_one_refresh(world: Any, h: Any) -> None:
    """VLT-3LO-001, VLT-3LO-002, VLT-REF-001, VLT-REF-002 and PRV-VEND-003 together:
    the first request prompts, the second reuses, and after expiry twenty concurrent
    requests cause one refresh at the provider and all get its token."""
    workload = await world.setup()
    wat = await world.wat(workload)
    token = await world.consent_flow(workload, wat)
    assert token["scopes"] == ["notes.read"]  # offline_access (the preset's) is not reported
    again = await world.resource(workload, wat)
    assert again.json() == token

    world.advance(3600)
    wat = await world.wat(workload)
    world.okta.clear_requests()
    results = await asyncio.gather(*[world.resource(workload, wat) for _ in range(20)])
    refreshes = [
        e for e in world.okta.requests("token") if e.form.get("grant_type") == "refresh_token"
    ]
    assert [e.status for e in refreshes] == [200]
    tokens = {r.json()["access_token"] for r in results}
    assert len(tokens) == 1
    assert tokens != {token["access_token"]}
