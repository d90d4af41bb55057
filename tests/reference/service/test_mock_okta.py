"""End to end against the mock Okta, in process: the service discovers the emulator's
keys through ``SyncASGITransport`` and judges tokens the emulator mints (spec 02, 04)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from proctor.mock_idps.app import MockIdpApp, create_app
from proctor.mock_idps.clock import Clock as MockClock
from proctor.mock_idps.transports import SyncASGITransport
from proctor.reference.service import Service

pytestmark = pytest.mark.anyio

OKTA = "https://example.okta.com"
AGENT_APP = "0oaproctoragent0app7"


@pytest.fixture
def okta_clock(h: ModuleType) -> MockClock:
    return MockClock(frozen_at=h.START)


@pytest.fixture
def okta(okta_clock: MockClock) -> MockIdpApp:
    return create_app("okta", clock=okta_clock, base_url=OKTA)


@pytest.fixture
def okta_service(
    tmp_path: Path, h: ModuleType, okta: MockIdpApp, okta_clock: MockClock
) -> Iterator[Service]:
    http = httpx.Client(transport=SyncASGITransport(okta))
    settings = h.make_settings(tmp_path, f"sqlite:///{tmp_path / 'proctor.db'}")
    service = Service.create(settings, clock=okta_clock, http_client=http, env={})
    try:
        yield service
    finally:
        service.close()
        http.close()


@pytest.fixture
async def clients(
    okta_service: Service, okta: MockIdpApp, h: ModuleType
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    service_transport = httpx.ASGITransport(app=okta_service.asgi_app())
    okta_transport = httpx.ASGITransport(app=okta)
    async with (
        httpx.AsyncClient(transport=service_transport, base_url=h.SERVICE_ISSUER) as service,
        httpx.AsyncClient(transport=okta_transport, base_url=OKTA) as idp,
    ):
        yield service, idp


async def _mint(idp: httpx.AsyncClient, **request: Any) -> str:
    response = await idp.post("/_mock/tokens", json=request)
    assert response.status_code in (200, 201), response.text
    token: str = response.json()["token"]
    return token


async def test_sarah_is_allowed_and_bound_bob_is_not(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], h: ModuleType
) -> None:
    service, idp = clients
    created = await service.post(
        "/v1/authorizers",
        json={
            "name": "company-okta",
            "discovery_url": f"{OKTA}/oauth2/default/.well-known/openid-configuration",
            "idp_profile": "okta",
            "allowed_audiences": ["api://default"],
            "allowed_clients": [AGENT_APP],
            "allowed_scopes": ["crm.read"],
            "custom_claims": [
                {"claim": "groups", "operator": "contains", "value": "sales",
                 "value_type": "string"}
            ],
        },
        headers=h.ADMIN,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    workload = await h.Api(service).create_workload(authorizer="company-okta")

    sarah = await _mint(idp, user="sarah@example.com", client_id=AGENT_APP, scopes=["crm.read"])
    decision = await service.post(
        "/v1/decisions", json={"authorizer": "company-okta", "token": sarah}, headers=workload.auth
    )
    assert decision.status_code == 200
    body = decision.json()
    assert body["decision"] == "allow", body
    assert body["identity"]["issuer"] == f"{OKTA}/oauth2/default"
    assert body["identity"]["user_key"] == "00uproctorsarah00001"  # Okta's uid (INB-USER-001)
    assert body["identity"]["client_id"] == AGENT_APP

    wat = await service.post(
        "/v1/workload-access-tokens", json={"user_token": sarah}, headers=workload.auth
    )
    assert wat.status_code == 200, wat.text
    assert wat.json()["user"]["user_key"] == "00uproctorsarah00001"

    bob = await _mint(idp, user="bob@example.com", client_id=AGENT_APP, scopes=["crm.read"])
    refused = await service.post(
        "/v1/workload-access-tokens", json={"user_token": bob}, headers=workload.auth
    )
    assert refused.status_code == 401
    assert refused.json()["reason"] == "claim_rule_failed:groups"

    for preset, reason in [
        ("expired", "expired"),
        ("not_yet_valid", "not_yet_valid"),
        ("wrong_audience", "wrong_audience"),
        ("wrong_issuer", "wrong_issuer"),
        ("unknown_kid", "unknown_key"),
        ("alg_none", "alg_not_allowed"),
        ("hs256_public_key", "alg_not_allowed"),
        ("bad_signature", "bad_signature"),
        ("id_token", "wrong_token_kind"),
    ]:
        token = await _mint(
            idp, user="sarah@example.com", client_id=AGENT_APP, scopes=["crm.read"],
            presets=[preset],
        )  # fmt: skip
        answer = await service.post(
            "/v1/decisions",
            json={"authorizer": "company-okta", "token": token},
            headers=workload.auth,
        )
        assert answer.json() == {"decision": "deny", "reason": reason}, preset
