"""The 2-legged flows: m2m with its cache, on_behalf_of, API keys (VLT-M2M-*, VLT-OBO-*,
VLT-APIK-001, VLT-CLI-003)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.anyio


async def fake_provider(world: Any, h: Any, name: str = "scripted", **changes: Any) -> None:
    body = {
        "name": name,
        "authorization_server_metadata": {
            "issuer": h.FAKE,
            "authorization_endpoint": h.FAKE + "/authorize",
            "token_endpoint": h.FAKE + "/token",
            "revocation_endpoint": h.FAKE + "/revoke",
        },
        "client_id": "proctor",
        "client_secret": "fake-secret",
        "scopes": ["reports.read"],
        **changes,
    }
    r = await world.client.post("/v1/providers/oauth2", headers=h.ADMIN, json=body)
    assert r.status_code == 201, r.text


# -- m2m (VLT-M2M-001/002, VLT-CLI-003) ---------------------------------------------------


async def test_m2m_is_cached_per_workload_until_the_margin(world: Any, h: Any) -> None:
    """VLT-M2M-001/002: client credentials at the provider, no user sent; cached per
    (workload, provider, scopes) until expires_at - min(60, expires_in/2)."""
    workload = await world.setup()
    other = await world.workload("reporter")
    wat = await world.wat(workload)
    world.okta.clear_requests()
    first = (await world.resource(workload, wat, flow="m2m")).json()
    assert first["scopes"] == ["notes.read"]
    assert first["expires_at"] == h.START + 3600
    sent = world.token_requests("client_credentials")
    assert len(sent) == 1
    assert sent[0].form["scope"] == "notes.read"
    assert "subject_token" not in sent[0].form
    assert (await world.resource(workload, wat, flow="m2m")).json() == first
    other_token = (await world.resource(other, await world.wat(other), flow="m2m")).json()
    assert other_token["access_token"] != first["access_token"]  # never shared
    both = await world.resource(workload, wat, flow="m2m", scopes=["notes.read", "notes.write"])
    assert both.json()["access_token"] != first["access_token"]  # another scope set
    assert len(world.token_requests("client_credentials")) == 3
    world.advance(3600 - 61)
    wat = await world.wat(workload)
    assert (await world.resource(workload, wat, flow="m2m")).json() == first
    world.advance(1)
    renewed = (await world.resource(workload, wat, flow="m2m")).json()
    assert renewed["access_token"] != first["access_token"]
    # m2m never creates a consent (CNS-REC-002) and never prompts.
    assert (await world.client.get("/v1/consents", headers=h.ADMIN)).json()["items"] == []
    assert await world.audit(operation="consent.prompt") == []


async def test_m2m_without_expires_in_is_cached_five_minutes(world: Any, h: Any) -> None:
    """VLT-M2M-002: at most 300 seconds; a refresh token in the answer is discarded."""
    workload = await world.setup()
    await fake_provider(world, h)
    counter = iter(range(1, 100))

    def token(request: Any, form: dict[str, list[str]]) -> Any:
        return h.token_response(
            access_token=f"m2m-{next(counter)}", token_type="Bearer", refresh_token="rt-x"
        )

    world.fake.script["/token"] = token
    wat = await world.wat(workload, user=None)
    body = {"provider": "scripted", "scopes": ["reports.read"], "flow": "m2m"}
    first = (await world.resource(workload, wat, **body)).json()
    assert first == {"access_token": "m2m-1", "expires_at": None, "scopes": ["reports.read"]}
    world.advance(299)
    wat = await world.wat(workload, user=None)
    assert (await world.resource(workload, wat, **body)).json()["access_token"] == "m2m-1"
    world.advance(1)
    assert (await world.resource(workload, wat, **body)).json()["access_token"] == "m2m-2"
    assert "refresh_token" not in str(first)


async def test_m2m_sends_resources_and_audiences(world: Any, h: Any) -> None:
    """VLT-RES-001 (RFC 8707 §2): each resource and audience as its own parameter."""
    workload = await world.setup()
    await fake_provider(world, h)
    world.fake.script["/token"] = lambda r, f: h.token_response(
        access_token="t", token_type="bearer", expires_in="120", scope="reports.read"
    )
    wat = await world.wat(workload, user=None)
    token = await world.resource(
        workload,
        wat,
        provider="scripted",
        scopes=["reports.read"],
        flow="m2m",
        resources=["https://api.example/a", "https://api.example/b"],
        audiences=["aud-1"],
    )
    assert token.json()["expires_at"] == h.START + 120  # expires_in as a digit string
    form = world.fake.calls("/token")[0]
    assert form["resource"] == ["https://api.example/a", "https://api.example/b"]
    assert form["audience"] == ["aud-1"]
    assert form["grant_type"] == ["client_credentials"]


# -- on_behalf_of (VLT-OBO-001..003) -------------------------------------------------------


async def _obo_wat(world: Any, workload: Any) -> tuple[str, str]:
    """A WAT for Sarah's token, with the token kept for on_behalf_of (the binding the WAT
    endpoint performs once the vault is wired into it)."""
    user_token = world.user_token()
    r = await world.client.post(
        "/v1/workload-access-tokens", headers=workload.auth, json={"user_token": user_token}
    )
    assert r.status_code == 200, r.text
    # The native endpoint binds the user JWT for on-behalf-of itself (VLT-OBO-001).
    return r.json()["workload_access_token"], user_token


async def test_on_behalf_of_exchanges_the_users_token(world: Any, h: Any) -> None:
    """VLT-OBO-002 (RFC 8693 §2.1): the user JWT as subject_token, audience, scope."""
    workload = await world.setup()
    wat, _ = await _obo_wat(world, workload)
    world.okta.clear_requests()
    token = (await world.resource(workload, wat, flow="on_behalf_of")).json()
    assert token["scopes"] == ["notes.read"]
    sent = world.token_requests("urn:ietf:params:oauth:grant-type:token-exchange")
    assert len(sent) == 1
    form = sent[0].form
    assert form["subject_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert form["requested_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert form["audience"] == "api://crm"
    assert form["scope"] == "notes.read"
    # Cached per (workload, user, provider, scopes); no consent is recorded.
    assert (await world.resource(workload, wat, flow="on_behalf_of")).json() == token
    assert len(world.token_requests("urn:ietf:params:oauth:grant-type:token-exchange")) == 1
    assert (await world.client.get("/v1/consents", headers=h.ADMIN)).json()["items"] == []


async def test_on_behalf_of_is_refused_for_user_id_wats(world: Any, h: Any) -> None:
    """VLT-OBO-001: 403 forbidden for a WAT bound only to a user id, no upstream call;
    400 validation_failed for a WAT without user or a provider without on_behalf_of."""
    workload = await world.setup()
    world.okta.clear_requests()
    by_id = await world.wat(workload, user_id="sarah-42")
    refused = await world.resource(workload, by_id, flow="on_behalf_of", expect=403)
    assert refused.json()["code"] == "forbidden"
    no_user = await world.wat(workload, user=None)
    flow = await world.resource(workload, no_user, flow="on_behalf_of", expect=400)
    assert flow.json()["errors"][0]["field"] == "/flow"
    await world.provider("crm-plain", on_behalf_of=None)
    wat, _ = await _obo_wat(world, workload)
    plain = await world.resource(
        workload, wat, provider="crm-plain", flow="on_behalf_of", expect=400
    )
    assert plain.json()["code"] == "validation_failed"
    assert world.token_requests("urn:ietf:params:oauth:grant-type:token-exchange") == []


async def test_on_behalf_of_with_an_expired_user_token(world: Any, h: Any) -> None:
    """VLT-OBO-001, WAT-LIFE-002: the bound user JWT dies with the workload access token,
    whose lifetime was cut to the JWT's ``exp``; after it, on-behalf-of is refused (401)
    and nothing is sent upstream."""
    workload = await world.setup()
    user_token = world.user_token(claims={"exp": int(world.clock.now()) + 10})
    r = await world.client.post(
        "/v1/workload-access-tokens", headers=workload.auth, json={"user_token": user_token}
    )
    assert r.status_code == 200, r.text
    wat = r.json()["workload_access_token"]
    assert r.json()["expires_in"] <= 10
    assert (await world.resource(workload, wat, flow="on_behalf_of")).status_code == 200
    world.okta.clear_requests()
    world.advance(10)
    refused = await world.resource(workload, wat, flow="on_behalf_of", expect=401)
    assert refused.json()["code"] == "token_invalid"
    assert world.token_requests("urn:ietf:params:oauth:grant-type:token-exchange") == []


async def test_jwt_bearer_on_behalf_of(world: Any, h: Any) -> None:
    """VLT-OBO-003 (RFC 7523 §2.1, Entra on-behalf-of): assertion, requested_token_use."""
    workload = await world.setup()
    await fake_provider(world, h, on_behalf_of={"grant": "jwt_bearer"})
    world.fake.script["/token"] = lambda r, f: h.token_response(
        access_token="obo-1", token_type="Bearer", expires_in=600
    )
    wat, user_token = await _obo_wat(world, workload)
    token = await world.resource(
        workload, wat, provider="scripted", scopes=["reports.read"], flow="on_behalf_of"
    )
    assert token.json()["access_token"] == "obo-1"
    form = world.fake.calls("/token")[0]
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert form["assertion"] == [user_token]
    assert form["requested_token_use"] == ["on_behalf_of"]
    assert form["scope"] == ["reports.read"]


async def test_token_exchange_answer_without_issued_token_type_is_refused(
    world: Any, h: Any
) -> None:
    """VLT-OBO-002 (RFC 8693 §2.2.1): issued_token_type is required."""
    workload = await world.setup()
    await fake_provider(world, h, on_behalf_of={"grant": "token_exchange"})
    world.fake.script["/token"] = lambda r, f: h.token_response(
        access_token="x", token_type="Bearer", expires_in=600
    )
    wat, _ = await _obo_wat(world, workload)
    refused = await world.resource(
        workload,
        wat,
        provider="scripted",
        scopes=["reports.read"],
        flow="on_behalf_of",
        expect=502,
    )
    assert refused.json()["code"] == "upstream_error"
    assert '"x"' not in refused.text


# -- API keys (VLT-APIK-001, PRV-KEY-001) ---------------------------------------------------


async def test_api_keys_only_for_allowed_workloads(world: Any, h: Any) -> None:
    """VLT-APIK-001: the key for an allowed workload; a disallowed workload and an unknown
    provider get bodies that differ only in request_id; audited workload_not_allowed."""
    workload = await world.setup()
    other = await world.workload("reporter")
    created = await world.client.post(
        "/v1/providers/api-key",
        headers=h.ADMIN,
        json={
            "name": "weather",
            "api_key": "wk-live-123456",
            "allowed_workloads": ["orchestrator"],
        },
    )
    assert created.status_code == 201, created.text
    assert "wk-live-123456" not in created.text

    async def ask(who: Any, provider: str, expect: int) -> Any:
        r = await world.client.post(
            "/v1/resource-tokens/api-key",
            headers=who.auth,
            json={"workload_access_token": await world.wat(who, user=None), "provider": provider},
        )
        assert r.status_code == expect, r.text
        return r.json()

    assert await ask(workload, "weather", 200) == {"api_key": "wk-live-123456"}
    denied = await ask(other, "weather", 404)
    unknown = await ask(other, "no-such-key", 404)
    assert denied["code"] == "provider_not_found"
    assert h.without_request_id(denied) == h.without_request_id(unknown)
    events = await world.audit(operation="api_key.get")
    assert [(e["workload"], e["decision"], e["reason"]) for e in events] == [
        ("orchestrator", "allow", "ok"),
        ("reporter", "deny", "workload_not_allowed"),
        ("reporter", "deny", "provider_not_found"),
    ]
    foreign_wat = await world.client.post(
        "/v1/resource-tokens/api-key",
        headers=workload.auth,
        json={"workload_access_token": await world.wat(other, user=None), "provider": "weather"},
    )
    assert foreign_wat.status_code == 401
    assert foreign_wat.json()["code"] == "token_invalid"
