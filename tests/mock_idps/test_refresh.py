"""Refresh tokens rotate on every use; reusing a rotated one revokes the whole family
(RFC 9700 §4.14.2; Okta "Refresh token reuse detection")."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp

pytestmark = pytest.mark.anyio


async def _refresh(
    client: httpx.AsyncClient, flows: Any, token: str, **extra: str
) -> httpx.Response:
    return await flows.token_request(
        client, {"grant_type": "refresh_token", "refresh_token": token, **extra}
    )


async def _active(client: httpx.AsyncClient, flows: Any, token: str) -> bool:
    r = await client.post(
        "/oauth2/default/v1/introspect",
        data={"token": token},
        auth=(flows.AGENT, flows.AGENT_SECRET),
    )
    assert r.status_code == 200
    return bool(r.json()["active"])


async def test_rotation_issues_a_new_refresh_token(okta: httpx.AsyncClient, flows: Any) -> None:
    first = await flows.tokens(okta)
    r = await _refresh(okta, flows, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert "id_token" in second  # openid was granted
    assert await _active(okta, flows, second["refresh_token"])
    assert not await _active(okta, flows, first["refresh_token"])  # rotated out


async def test_reuse_revokes_the_whole_family(okta: httpx.AsyncClient, flows: Any) -> None:
    first = await flows.tokens(okta)
    second = (await _refresh(okta, flows, first["refresh_token"])).json()
    third = (await _refresh(okta, flows, second["refresh_token"])).json()
    other = await flows.tokens(okta)  # another authorization: must survive
    r = await _refresh(okta, flows, first["refresh_token"])  # replay
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_grant",
        "error_description": "The refresh token is invalid or expired.",
    }
    for token in (first["access_token"], second["access_token"], third["access_token"]):
        assert not await _active(okta, flows, token)
    r = await _refresh(okta, flows, third["refresh_token"])  # the newest one is dead too
    assert r.json()["error"] == "invalid_grant"
    assert await _active(okta, flows, other["access_token"])
    assert (await _refresh(okta, flows, other["refresh_token"])).status_code == 200


async def test_scope_may_only_narrow(okta: httpx.AsyncClient, flows: Any) -> None:
    first = await flows.tokens(okta)
    r = await _refresh(okta, flows, first["refresh_token"], scope="openid crm.read offline_access")
    assert r.status_code == 200
    assert r.json()["scope"] == "openid crm.read offline_access"
    r = await _refresh(okta, flows, r.json()["refresh_token"], scope="openid finance.read")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_scope"


async def test_refresh_token_is_bound_to_its_client(okta: httpx.AsyncClient, flows: Any) -> None:
    first = await flows.tokens(okta)
    r = await flows.token_request(
        okta,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": flows.SPA,
        },
        auth=None,
    )
    assert r.json()["error"] == "invalid_grant"


async def test_no_offline_access_means_no_refresh_token(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    body = await flows.tokens(okta, scope="openid crm.read")
    assert "refresh_token" not in body


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_grace_period_allows_a_quick_retry(okta_idp: MockIdp, flows: Any) -> None:
    data = okta_idp.config.model_dump()
    data["refresh_reuse_grace"] = 30
    okta_idp.configure(data)
    async with okta_idp.async_client() as client:
        first = await flows.tokens(client)
        assert (await _refresh(client, flows, first["refresh_token"])).status_code == 200
        okta_idp.clock.advance(10)
        assert (await _refresh(client, flows, first["refresh_token"])).status_code == 200
        okta_idp.clock.advance(30)
        assert (await _refresh(client, flows, first["refresh_token"])).status_code == 400
