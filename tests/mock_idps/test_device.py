"""RFC 8628 device flow: pending, slow_down, approval on the activation page, expiry."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.mock_idps.testing import parse_forms

pytestmark = pytest.mark.anyio
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


async def _start(client: httpx.AsyncClient, flows: Any) -> dict[str, Any]:
    r = await client.post(
        "/oauth2/default/v1/device/authorize",
        data={"scope": "openid crm.read"},
        auth=(flows.AGENT, flows.AGENT_SECRET),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_device_flow_through_the_activation_page(okta_idp: MockIdp, flows: Any) -> None:
    async with okta_idp.async_client() as client:
        grant = await _start(client, flows)
        assert grant["verification_uri"] == "https://example.okta.com/activate"
        assert grant["expires_in"] == 600
        assert grant["interval"] == 5
        poll = {"grant_type": DEVICE, "device_code": grant["device_code"]}
        r = await flows.token_request(client, poll)
        assert r.json()["error"] == "authorization_pending"
        r = await flows.token_request(client, poll)  # too soon
        assert r.json()["error"] == "slow_down"
        page = await client.get("/activate", params={"user_code": grant["user_code"]})
        form = parse_forms(page.text)["device"]
        assert form.fields["user_code"] == grant["user_code"]
        r = await client.post(form.action, data=form.fill())
        while r.is_redirect:
            r = await client.get(r.headers["location"])
        login = parse_forms(r.text)["login"]
        r = await client.post(
            login.action, data=login.fill(username=flows.SARAH, password="sarah-password")
        )
        consent = parse_forms(r.text)["consent"]
        r = await client.post(consent.action, data=consent.fill(decision="allow"))
        assert r.status_code == 200
        assert "Device activated" in r.text
        okta_idp.clock.advance(10)
        r = await flows.token_request(client, poll)
        assert r.status_code == 200, r.text
        assert set(r.json()) >= {"access_token", "id_token"}
        r = await flows.token_request(client, poll)  # used up
        assert r.json()["error"] == "invalid_grant"


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_device_code_expires(okta_idp: MockIdp, flows: Any) -> None:
    async with okta_idp.async_client() as client:
        grant = await _start(client, flows)
        okta_idp.clock.advance(601)
        r = await flows.token_request(
            client, {"grant_type": DEVICE, "device_code": grant["device_code"]}
        )
        assert r.json()["error"] == "expired_token"
        page = await client.post("/activate", data={"user_code": grant["user_code"]})
        assert page.status_code == 400


async def test_device_flow_needs_the_grant(okta: httpx.AsyncClient, flows: Any) -> None:
    r = await okta.post(
        "/oauth2/default/v1/device/authorize",
        data={"client_id": flows.SPA, "scope": "openid"},
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unauthorized_client"
