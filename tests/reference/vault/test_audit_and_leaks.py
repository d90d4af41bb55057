"""Every vault operation is audited, and no secret reaches a response, an error, an audit
event or a log line (spec 08: AUD-EVT-001, AUD-OPS-001, AUD-SEC-001; spec 05:
VLT-LEAK-001/002, PRV-CFG-003)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

VAULT_OPERATIONS = {
    "oauth2_provider.create",
    "oauth2_provider.get",
    "oauth2_provider.list",
    "oauth2_provider.replace",
    "oauth2_provider.delete",
    "api_key_provider.create",
    "api_key_provider.get",
    "api_key_provider.list",
    "api_key_provider.replace",
    "api_key_provider.delete",
    "consent.list",
    "consent.revoke",
    "resource_token.get",
    "resource_token.refresh",
    "api_key.get",
    "consent.prompt",
    "session.callback",
    "session.complete",
    "consent.grant",
    "consent.expire",
    "upstream.revoke",
}


class Recording:
    """Every response the test saw, by kind."""

    def __init__(self) -> None:
        self.responses: list[httpx.Response] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)


async def test_every_operation_is_audited_and_nothing_leaks(
    world: Any, h: Any, captured_logs: Any
) -> None:
    recording = Recording()
    world.client.event_hooks["response"].append(recording)

    # The whole life of the vault: configuration, 3LO, reuse, refresh, m2m, API keys,
    # a failed completion, consent listing and revocation, expiry, provider deletion.
    workload = await world.setup()
    await world.client.get("/v1/providers/oauth2", headers=h.ADMIN)
    await world.client.get("/v1/providers/oauth2/crm", headers=h.ADMIN)
    await world.client.put("/v1/providers/oauth2/crm", headers=h.ADMIN, json=world.crm_body())
    api_key = "wk-live-" + "z" * 40
    for method, path, body in (
        (
            "POST",
            "/v1/providers/api-key",
            {"name": "weather", "api_key": api_key, "allowed_workloads": ["orchestrator"]},
        ),
        ("GET", "/v1/providers/api-key", None),
        ("GET", "/v1/providers/api-key/weather", None),
        (
            "PUT",
            "/v1/providers/api-key/weather",
            {"name": "weather", "allowed_workloads": ["orchestrator"]},
        ),
    ):
        r = await world.client.request(method, path, headers=h.ADMIN, json=body)
        assert r.status_code < 300, r.text
    wat = await world.wat(workload)
    token = await world.consent_flow(workload, wat, consent_ttl=3600)
    got_key = await world.client.post(
        "/v1/resource-tokens/api-key",
        headers=workload.auth,
        json={"workload_access_token": wat, "provider": "weather"},
    )
    assert got_key.json() == {"api_key": api_key}
    m2m = (await world.resource(workload, wat, flow="m2m")).json()
    stolen = (await world.resource(workload, wat, force_authentication=True)).json()
    verifier = h.session_secrets(world.service, stolen["session_uri"])["code_verifier"]
    callback_url = await world.authorize(stolen["authorization_url"])
    await world.callback(callback_url)
    await world.callback(callback_url)  # replayed
    session = h.session_secrets(world.service, stolen["session_uri"])
    await world.complete(workload, stolen["session_uri"], user=h.BOB, expect=403)
    world.advance(3550)  # inside the early-expiry margin, before the consent expires
    wat = await world.wat(workload)
    refreshed = (await world.resource(workload, wat)).json()
    entry = h.entry_secrets(world.service, world.key(workload))
    await world.client.get("/v1/consents", headers=h.ADMIN)
    world.advance(60)
    await world.resource(workload, wat)  # the consent expires: consent.expire + revocation
    await world.consent_flow(workload, await world.wat(workload))
    [consent] = (await world.client.get("/v1/consents", headers=h.ADMIN)).json()["items"]
    await world.client.delete(f"/v1/consents/{consent['id']}", headers=h.ADMIN)
    await world.client.delete("/v1/providers/api-key/weather", headers=h.ADMIN)
    await world.client.delete("/v1/providers/oauth2/crm", headers=h.ADMIN)
    await world.resource(workload, wat, expect=404)

    world.client.event_hooks["response"].remove(recording)
    events = await world.audit()

    # AUD-OPS-001: every vault operation was recorded; AUD-EVT-001: every request too.
    assert {e["operation"] for e in events} >= VAULT_OPERATIONS
    request_ids = {e["request_id"] for e in events}
    for response in recording.responses:
        assert response.headers["x-request-id"] in request_ids, response.request.url
    verify = await world.client.get("/v1/audit/verify", headers=h.ADMIN)
    assert verify.json()["valid"] is True

    secrets_ = {
        "refresh token": entry["refresh_token"],
        "pending refresh token": session["tokens"]["refresh_token"],
        "client secret": h.AGENT_SECRET,
        "code verifier": verifier,
        "authorization code": h.form_of(callback_url)["code"],
        "user token": world.user_token(),
    }
    deliveries = {  # VLT-LEAK-001: the only places these may appear
        "access token": (token["access_token"], "/v1/resource-tokens/oauth2"),
        "refreshed token": (refreshed["access_token"], "/v1/resource-tokens/oauth2"),
        "m2m token": (m2m["access_token"], "/v1/resource-tokens/oauth2"),
        "api key": (api_key, "/v1/resource-tokens/api-key"),
    }
    logs = captured_logs.getvalue()
    dumped_events = json.dumps(events)
    for what, value in secrets_.items():
        assert value not in logs, what
        assert value not in dumped_events, what
        for response in recording.responses:
            assert value not in response.text, (what, response.request.url)
            assert value not in response.headers.get("location", ""), what
    for what, (value, path) in deliveries.items():
        assert value not in logs, what
        assert value not in dumped_events, what
        for response in recording.responses:
            if value in response.text:
                assert response.request.url.path == path, (what, response.request.url)
                assert response.status_code == 200
    # VLT-LEAK-002: resource-token responses have exactly the three members (or the
    # session's three).
    for response in recording.responses:
        if response.request.url.path == "/v1/resource-tokens/oauth2" and response.is_success:
            assert set(response.json()) in (
                {"access_token", "expires_at", "scopes"},
                {"authorization_url", "session_uri", "session_status"},
            )
