"""``Service.maintain()``: the housekeeping ``proctor serve`` runs every minute."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proctor.reference.clock import ManualClock
from proctor.reference.service import Service

pytestmark = pytest.mark.anyio


async def test_maintain_bootstraps_keys_and_purges_expired_workload_tokens(
    service: Service, client: httpx.AsyncClient, api: Any, clock: ManualClock
) -> None:
    await api.create_authorizer()
    workload = await api.create_workload(authorizer="company-okta")
    issued = await client.post("/v1/workload-access-tokens", json={}, headers=workload.auth)
    assert issued.status_code == 200
    repository = service._workload_token_repository
    with service.database.transaction() as tx:
        stored = tx.fetchall("SELECT token_hash FROM workload_access_tokens", ())
    assert len(stored) == 1

    service.maintain()  # nothing expired yet: the token stays
    with service.database.transaction() as tx:
        assert len(tx.fetchall("SELECT token_hash FROM workload_access_tokens", ())) == 1
    jwks = (await client.get("/oauth2/jwks")).json()
    assert jwks["keys"], "the first maintenance run leaves a published signing key"

    clock.advance(service.settings.workload_token_ttl + 1)
    service.maintain()
    service.maintain()  # idempotent
    with service.database.transaction() as tx:
        assert tx.fetchall("SELECT token_hash FROM workload_access_tokens", ()) == []
    assert repository.purge_expired() == 0
