"""Faults (N failures then recovery), the controllable clock (expiry without sleeping) and
the request log (what the system under test fetched)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp

pytestmark = pytest.mark.anyio


async def test_jwks_fails_n_times_then_recovers(okta: httpx.AsyncClient) -> None:
    r = await okta.post("/_mock/faults", json={"endpoint": "jwks", "status": 500, "count": 2})
    assert r.status_code == 201
    fault_id = r.json()["id"]
    statuses = [(await okta.get("/oauth2/default/v1/keys")).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    listing = (await okta.get("/_mock/faults")).json()["faults"]
    assert fault_id not in {f["id"] for f in listing}


async def test_fault_body_is_vendor_shaped(okta: httpx.AsyncClient) -> None:
    await okta.post("/_mock/faults", json={"endpoint": "token", "status": 503, "count": 1})
    r = await okta.post("/oauth2/default/v1/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 503
    assert set(r.json()) == {"error", "error_description"}


async def test_discovery_fault_until_cleared_and_scoped_to_a_server(
    okta: httpx.AsyncClient,
) -> None:
    await okta.post(
        "/_mock/faults", json={"endpoint": "discovery", "status": 502, "server": "default"}
    )
    for _ in range(3):
        r = await okta.get("/oauth2/default/.well-known/openid-configuration")
        assert r.status_code == 502
    r = await okta.get("/oauth2/default/.well-known/oauth-authorization-server")
    assert r.status_code == 502
    assert (await okta.get("/.well-known/openid-configuration")).status_code == 200  # org
    assert (await okta.delete("/_mock/faults")).status_code == 204
    r = await okta.get("/oauth2/default/.well-known/openid-configuration")
    assert r.status_code == 200


async def test_malformed_jwks(okta: httpx.AsyncClient) -> None:
    await okta.post("/_mock/faults", json={"endpoint": "jwks", "malformed": True, "count": 1})
    r = await okta.get("/oauth2/default/v1/keys")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        r.json()
    assert (await okta.get("/oauth2/default/v1/keys")).json()["keys"]


async def test_delay_fault_is_applied_then_answers(okta_idp: MockIdp) -> None:
    fault = okta_idp.fault("jwks", delay=0.01, count=1)
    async with okta_idp.async_client() as client:
        assert (await client.get("/oauth2/default/v1/keys")).status_code == 200
    assert fault.hits == 1
    assert okta_idp.engine.faults.list() == []


async def test_bad_fault_specs(okta: httpx.AsyncClient) -> None:
    for body in (
        {"endpoint": "jwks"},
        {"endpoint": "nowhere", "status": 500},
        {"endpoint": "jwks", "status": 200},
        {"endpoint": "jwks", "status": 500, "malformed": True},
    ):
        assert (await okta.post("/_mock/faults", json=body)).status_code == 400
    assert (await okta.delete("/_mock/faults/unknown")).status_code == 404


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_clock_expires_tokens_without_sleeping(okta_idp: MockIdp, flows: Any) -> None:
    async with okta_idp.async_client() as client:
        tokens = await flows.tokens(client)
        auth = (flows.AGENT, flows.AGENT_SECRET)

        async def active(token: str) -> bool:
            r = await client.post("/oauth2/default/v1/introspect", data={"token": token}, auth=auth)
            return bool(r.json()["active"])

        assert await active(tokens["access_token"])
        r = await client.post("/_mock/clock", json={"advance": 3599})
        assert r.json()["now"] == 1_700_003_599
        assert r.json()["frozen"] is True
        assert await active(tokens["access_token"])
        await client.post("/_mock/clock", json={"advance": 1})
        assert not await active(tokens["access_token"])
        assert await active(tokens["refresh_token"])
        r = await client.get(
            "/oauth2/default/v1/userinfo",
            headers={"authorization": f"Bearer {tokens['access_token']}"},
        )
        assert r.status_code == 401
        refreshed = await flows.token_request(
            client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.json()["expires_in"] == 3600
        okta_idp.clock.advance(90 * 86_400)
        r = await flows.token_request(
            client,
            {"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"]},
        )
        assert r.json()["error"] == "invalid_grant"


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_codes_expire(okta_idp: MockIdp, flows: Any) -> None:
    async with okta_idp.async_client() as client:
        code, verifier = await flows.code_flow(client)
        okta_idp.clock.advance(301)
        r = await flows.token_request(
            client,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": flows.CALLBACK,
                "code_verifier": verifier,
            },
        )
        assert r.json()["error"] == "invalid_grant"


async def test_clock_api_freeze_and_unfreeze(okta: httpx.AsyncClient) -> None:
    r = await okta.post("/_mock/clock", json={"freeze": True, "at": 1_800_000_000})
    assert r.json() == {"now": 1_800_000_000, "frozen": True, "offset": 0.0}
    claims = (await okta.post("/_mock/tokens", json={})).json()["claims"]
    assert claims["iat"] == 1_800_000_000
    r = await okta.post("/_mock/clock", json={"unfreeze": True})
    assert r.json()["frozen"] is False
    assert (await okta.post("/_mock/clock", json={"advance": -5})).status_code == 400


async def test_request_log_counts_jwks_fetches(okta: httpx.AsyncClient, flows: Any) -> None:
    for _ in range(3):
        await okta.get("/oauth2/default/v1/keys")
    await okta.get("/oauth2/v1/keys")
    await okta.get("/_mock/keys")  # admin calls are not logged
    r = await okta.get("/_mock/requests", params={"endpoint": "jwks", "server": "default"})
    assert r.json()["count"] == 3
    entry = r.json()["requests"][0]
    assert entry["method"] == "GET"
    assert entry["path"] == "/oauth2/default/v1/keys"
    assert entry["status"] == 200
    assert (await okta.get("/_mock/requests", params={"endpoint": "jwks"})).json()["count"] == 4
    assert (await okta.delete("/_mock/requests")).status_code == 204
    assert (await okta.get("/_mock/requests")).json()["count"] == 0


async def test_request_log_redacts_secrets(okta: httpx.AsyncClient, flows: Any) -> None:
    await okta.post(
        "/oauth2/default/v1/token",
        data={
            "grant_type": "client_credentials",
            "scope": "crm.read",
            "client_id": flows.AGENT,
            "client_secret": flows.AGENT_SECRET,
        },
    )
    await flows.token_request(okta, {"grant_type": "client_credentials", "scope": "crm.read"})
    log = (await okta.get("/_mock/requests", params={"endpoint": "token"})).json()
    text = str(log)
    assert flows.AGENT_SECRET not in text
    first, second = log["requests"]
    assert first["form"]["client_secret"] == "[redacted]"
    assert first["form"]["client_id"] == flows.AGENT
    assert second["headers"]["authorization"] == "Basic [redacted]"
