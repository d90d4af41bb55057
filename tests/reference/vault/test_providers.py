"""Credential providers: CRUD, write-only secrets, vendor presets, discovery validation
(spec 05: PRV-CFG-001..004, PRV-VEND-001..004, PRV-KEY-001; spec 06: CNS-PRE-001)."""

from __future__ import annotations

from typing import Any

import pytest

from proctor.reference.providers import PRESETS

pytestmark = pytest.mark.anyio


def metadata(h: Any) -> dict[str, str]:
    return {
        "issuer": h.FAKE,
        "authorization_endpoint": h.FAKE + "/authorize?tenant=1",
        "token_endpoint": h.FAKE + "/token",
        "revocation_endpoint": h.FAKE + "/revoke",
    }


def custom(h: Any, name: str = "crm-custom", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "authorization_server_metadata": metadata(h),
        "client_id": "proctor-crm",
        "client_secret": "first-secret-value",
        "scopes": ["notes.read", "notes.write"],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


async def create(world: Any, h: Any, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    r = await world.client.post("/v1/providers/oauth2", headers=h.ADMIN, json=body)
    assert r.status_code == expect, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_secrets_are_write_only(world: Any, h: Any) -> None:
    """PRV-CFG-003: responses carry client_secret_ref; a PUT without the secret keeps it; a
    PUT with one replaces it; a new client_id needs a new secret."""
    created = await create(world, h, custom(h))
    assert created["client_secret_ref"] == "secret://providers/crm-custom/client_secret"
    assert "client_secret" not in created
    assert "first-secret-value" not in str(created)
    fetched = await world.client.get("/v1/providers/oauth2/crm-custom", headers=h.ADMIN)
    assert fetched.json() == created
    listed = await world.client.get("/v1/providers/oauth2", headers=h.ADMIN)
    assert listed.json() == {"items": [created], "next_token": None}

    registry = world.components.providers
    keep = custom(h, client_secret=..., scopes=["notes.read"])
    r = await world.client.put("/v1/providers/oauth2/crm-custom", headers=h.ADMIN, json=keep)
    assert r.status_code == 200, r.text
    assert r.json()["scopes"] == ["notes.read"]
    assert registry.oauth2_provider("crm-custom").client_secret == "first-secret-value"

    moved = custom(h, client_id="another-client", client_secret=...)
    r = await world.client.put("/v1/providers/oauth2/crm-custom", headers=h.ADMIN, json=moved)
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "client_secret"

    replaced = custom(h, client_secret="second-secret-value")
    r = await world.client.put("/v1/providers/oauth2/crm-custom", headers=h.ADMIN, json=replaced)
    assert r.status_code == 200
    assert registry.oauth2_provider("crm-custom").client_secret == "second-secret-value"
    again = await create(world, h, custom(h), expect=409)
    assert again["code"] == "conflict"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"authorization_server_metadata": ...}, "discovery_url"),
        (
            {"discovery_url": "https://fake.provider.test/.well-known/openid-configuration"},
            "authorization_server_metadata",
        ),
        (
            {"authorization_server_metadata": ..., "discovery_url": "https://x.example/discover"},
            "discovery_url",
        ),
        (
            {
                "authorization_server_metadata": ...,
                "discovery_url": "http://x.example/.well-known/openid-configuration",
            },
            "discovery_url",
        ),
        ({"client_secret": ...}, "client_secret"),
        ({"name": "x"}, "name"),
        ({"scopes": ["a", "a"]}, "scopes"),
        ({"scopes": ["has space"]}, "scopes"),
        ({"tenant": "contoso.example"}, "tenant"),
    ],
)
async def test_invalid_provider_configurations(
    world: Any, h: Any, changes: dict[str, Any], field: str
) -> None:
    """PRV-CFG-001, PRV-VEND-001: 400 validation_failed naming the field; nothing stored."""
    body = await create(world, h, custom(h, **changes), expect=400)
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["field"] == field
    listed = await world.client.get("/v1/providers/oauth2", headers=h.ADMIN)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("issuer", "http://as.example"),
        ("issuer", "https://as.example?tenant=1"),
        ("token_endpoint", "https://as.example/token#frag"),
        ("authorization_endpoint", "/relative"),
    ],
)
async def test_metadata_urls_are_absolute_https(
    world: Any, h: Any, member: str, value: str
) -> None:
    """PRV-CFG-001 (RFC 8414 §2): https, no fragment, no query in the issuer."""
    body = custom(h)
    body["authorization_server_metadata"] = {**metadata(h), member: value}
    answer = await create(world, h, body, expect=400)
    assert answer["errors"][0]["field"] == f"authorization_server_metadata/{member}"


@pytest.mark.parametrize(
    ("vendor", "tenant", "ok"),
    [
        ("google", None, True),
        ("google", "acme", False),
        ("github", None, True),
        ("microsoft", None, False),
        ("microsoft", "organizations", True),
        ("microsoft", "72f988bf-86f1-41af-91ab-2d7cd011db47", True),
        ("microsoft", "contoso.onmicrosoft.com", True),
        ("microsoft", "not a tenant", False),
        ("okta", "acme.okta.com", True),
        ("okta", "acme.okta.com/oauth2/default", True),
        ("okta", "acme.okta.com/admin", False),
        ("cognito", "eu-west-1_AbC123", True),
        ("cognito", "AbC123", False),
        ("auth0", "acme.eu.auth0.com", True),
        ("auth0", None, False),
        ("salesforce", None, True),
        ("salesforce", "acme.my.salesforce.com", True),
        ("atlassian", "acme", False),
    ],
)
async def test_preset_tenants(
    world: Any, h: Any, vendor: str, tenant: str | None, ok: bool
) -> None:
    """PRV-VEND-001: the tenant table."""
    body = {
        "name": f"{vendor}-p",
        "vendor": vendor,
        "client_id": "cid",
        "client_secret": "secret-1",
        "scopes": ["s"],
        **({"tenant": tenant} if tenant is not None else {}),
    }
    answer = await create(world, h, body, expect=201 if ok else 400)
    if not ok:
        assert answer["errors"][0]["field"] == "tenant"


def test_presets_resolve_to_the_vendors_endpoints() -> None:
    """PRV-VEND-001, PRV-VEND-003, PRV-VEND-004: discovery URLs per tenant, built-in
    endpoints for GitHub and Slack, issuer templates, added parameters and scopes."""
    assert PRESETS["google"].discovery is not None
    assert PRESETS["google"].discovery(None) == (
        "https://accounts.google.com/.well-known/openid-configuration"
    )
    okta = PRESETS["okta"].discovery
    assert okta is not None
    assert okta("acme.okta.com/oauth2/default") == (
        "https://acme.okta.com/oauth2/default/.well-known/oauth-authorization-server"
    )
    cognito = PRESETS["cognito"].discovery
    assert cognito is not None
    assert cognito("eu-west-1_AbC123") == (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
        "/.well-known/openid-configuration"
    )
    microsoft = PRESETS["microsoft"]
    assert microsoft.discovery is not None
    assert microsoft.discovery("common") == (
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
    )
    assert microsoft.issuer_ok is not None
    expected = "https://login.microsoftonline.com/common/v2.0"
    templated = "https://login.microsoftonline.com/{tenantid}/v2.0"
    guid = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
    assert microsoft.issuer_ok(expected, templated, "common")
    assert not microsoft.issuer_ok(expected, "https://evil.example/v2.0", "common")
    assert microsoft.issuer_ok(
        "https://login.microsoftonline.com/contoso.com/v2.0", guid, "contoso.com"
    )
    assert not microsoft.revokes
    auth0 = PRESETS["auth0"]
    assert auth0.issuer_ok is not None
    assert auth0.issuer_ok("https://acme.auth0.com", "https://acme.auth0.com/", "acme.auth0.com")
    github = PRESETS["github"]
    assert github.builtin is not None
    assert github.builtin.token_endpoint == "https://github.com/login/oauth/access_token"
    assert github.builtin.revocation_endpoint is None
    assert PRESETS["slack"].scope_parameter == "user_scope"
    assert dict(PRESETS["google"].added_parameters) == {
        "access_type": "offline",
        "prompt": "consent",
    }
    atlassian = PRESETS["atlassian"]
    assert dict(atlassian.added_parameters)["audience"] == "api.atlassian.com"
    assert atlassian.added_scopes == ("offline_access",)
    assert PRESETS["salesforce"].added_scopes == ("refresh_token",)
    for vendor in ("microsoft", "okta", "auth0"):
        assert PRESETS[vendor].added_scopes == ("offline_access",)
    for vendor in ("github", "slack", "cognito"):
        assert PRESETS[vendor].added_scopes == ()
        assert PRESETS[vendor].added_parameters == ()


async def test_presets_pointed_at_a_private_endpoint_keep_their_quirks(world: Any, h: Any) -> None:
    """PRV-VEND-002, PRV-VEND-003: explicit metadata replaces the vendor's endpoints; the
    vendor's parameters stay (Google: access_type, prompt; Slack: user_scope, commas); a
    custom parameter may not override them (VLT-REQ-003)."""
    workload = await world.setup()
    wat = await world.wat(workload)
    for vendor in ("google", "slack"):
        body = custom(h, f"{vendor}-mock", vendor=vendor, scopes=["a.read", "b.read"])
        await create(world, h, body)
    google = (
        await world.resource(workload, wat, provider="google-mock", scopes=["a.read", "b.read"])
    ).json()
    params = h.form_of(google["authorization_url"])
    assert google["authorization_url"].startswith(h.FAKE + "/authorize?tenant=1&")
    assert (params["access_type"], params["prompt"], params["scope"]) == (
        "offline",
        "consent",
        "a.read b.read",
    )
    slack = (
        await world.resource(workload, wat, provider="slack-mock", scopes=["a.read", "b.read"])
    ).json()
    params = h.form_of(slack["authorization_url"])
    assert params["user_scope"] == "a.read,b.read"
    assert "scope" not in params
    refused = await world.resource(
        workload,
        wat,
        provider="google-mock",
        scopes=["a.read"],
        custom_parameters={"access_type": "online"},
        expect=400,
    )
    assert refused.json()["code"] == "validation_failed"
    allowed = await world.resource(
        workload,
        wat,
        provider="google-mock",
        scopes=["a.read"],
        custom_parameters={"login_hint": "sarah"},
    )
    assert h.form_of(allowed.json()["authorization_url"])["login_hint"] == "sarah"


async def test_discovered_metadata_naming_another_issuer_is_not_used(world: Any, h: Any) -> None:
    """PRV-CFG-002: a document whose issuer is not the URL's is refused at first use:
    502 upstream_error, no other endpoint contacted, nothing stored."""
    workload = await world.setup()
    world.fake.script["/.well-known/openid-configuration"] = lambda r, f: h.token_response(
        issuer="https://evil.example",
        authorization_endpoint="https://evil.example/authorize",
        token_endpoint="https://evil.example/token",
    )
    body = custom(
        h,
        "discovered",
        authorization_server_metadata=...,
        discovery_url=h.FAKE + "/.well-known/openid-configuration",
    )
    await create(world, h, body)
    wat = await world.wat(workload)
    for flow in ("user_federation", "m2m"):
        refused = await world.resource(workload, wat, provider="discovered", flow=flow, expect=502)
        assert refused.json()["code"] == "upstream_error"
    assert {path for path, _, _ in world.fake.requests} == {"/.well-known/openid-configuration"}
    with world.service.database.transaction(readonly=True) as tx:
        assert tx.fetchall("SELECT * FROM vault_sessions") == []


async def test_discovered_metadata_is_used_and_cached(world: Any, h: Any) -> None:
    """PRV-CFG-002: a valid document is used, and fetched once within its cache time."""
    workload = await world.setup()
    world.fake.script["/.well-known/openid-configuration"] = lambda r, f: h.token_response(
        **metadata(h)
    )
    world.fake.script["/token"] = lambda r, f: h.token_response(
        access_token="m2m", token_type="Bearer", expires_in=10
    )
    body = custom(
        h,
        "discovered",
        authorization_server_metadata=...,
        discovery_url=h.FAKE + "/.well-known/openid-configuration",
    )
    await create(world, h, body)
    wat = await world.wat(workload)
    for _ in range(3):
        started = (await world.resource(workload, wat, provider="discovered")).json()
        assert started["authorization_url"].startswith(h.FAKE + "/authorize?tenant=1&")
    await world.resource(workload, wat, provider="discovered", flow="m2m")
    assert len(world.fake.calls("/.well-known/openid-configuration")) == 1


async def test_api_key_providers(world: Any, h: Any) -> None:
    """PRV-KEY-001, PRV-CFG-003: api_key write-only (api_key_ref), allowed workloads must
    exist, a PUT without the key keeps it, delete deletes the key."""
    await world.setup()
    bad = await world.client.post(
        "/v1/providers/api-key",
        headers=h.ADMIN,
        json={"name": "weather", "api_key": "k-1", "allowed_workloads": ["ghost"]},
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "allowed_workloads/0"
    missing = await world.client.post(
        "/v1/providers/api-key", headers=h.ADMIN, json={"name": "weather"}
    )
    assert missing.status_code == 400
    created = await world.client.post(
        "/v1/providers/api-key",
        headers=h.ADMIN,
        json={"name": "weather", "api_key": "k-secret-1", "allowed_workloads": []},
    )
    assert created.status_code == 201
    view = created.json()
    assert view["api_key_ref"] == "secret://api-key-providers/weather/api_key"
    assert "k-secret-1" not in created.text
    put = await world.client.put(
        "/v1/providers/api-key/weather",
        headers=h.ADMIN,
        json={"name": "weather", "allowed_workloads": ["orchestrator"]},
    )
    assert put.status_code == 200, put.text
    found = world.components.providers.api_key_provider("weather")
    assert found is not None
    assert (found.api_key, found.allowed_workloads) == ("k-secret-1", ("orchestrator",))
    assert (
        await world.client.delete("/v1/providers/api-key/weather", headers=h.ADMIN)
    ).status_code == 204
    gone = await world.client.get("/v1/providers/api-key/weather", headers=h.ADMIN)
    assert gone.status_code == 404
    assert gone.json()["code"] == "provider_not_found"
    assert world.components.providers.api_key_provider("weather") is None


ROUTES = [
    ("GET", "/v1/providers/oauth2"),
    ("POST", "/v1/providers/oauth2"),
    ("GET", "/v1/providers/oauth2/crm"),
    ("PUT", "/v1/providers/oauth2/crm"),
    ("DELETE", "/v1/providers/oauth2/crm"),
    ("GET", "/v1/providers/api-key"),
    ("POST", "/v1/providers/api-key"),
    ("GET", "/v1/providers/api-key/k1"),
    ("PUT", "/v1/providers/api-key/k1"),
    ("DELETE", "/v1/providers/api-key/k1"),
    ("GET", "/v1/consents"),
    ("DELETE", "/v1/consents/cns_x"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_control_routes_need_the_admin_credential(
    world: Any, h: Any, method: str, path: str
) -> None:
    """WID-ADMIN-001: 401 with a Bearer challenge, nothing changed, a deny event."""
    workload = await world.setup()
    for headers in ({}, {"Authorization": "Bearer wrong"}, workload.auth):
        r = await world.client.request(method, path, headers=headers, json=world.crm_body())
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
    listed = await world.client.get("/v1/providers/oauth2", headers=h.ADMIN)
    assert [p["name"] for p in listed.json()["items"]] == ["crm"]


async def test_provider_changes_are_audited_with_their_scopes(world: Any, h: Any) -> None:
    """CNS-PRE-001: create, replace and delete of pre-approval configuration are audited
    with the provider and the configured scopes, by the admin."""
    await world.setup()
    r = await world.client.put(
        "/v1/providers/oauth2/crm", headers=h.ADMIN, json=world.crm_body(scopes=["notes.read"])
    )
    assert r.status_code == 200, r.text
    await world.client.delete("/v1/providers/oauth2/crm", headers=h.ADMIN)
    events = await world.audit(operation="oauth2_provider.*")
    assert [(e["operation"], e["provider"], e["scopes"], e["actor_chain"]) for e in events] == [
        ("oauth2_provider.create", "crm", ["notes.read", "notes.write"], ["admin"]),
        ("oauth2_provider.replace", "crm", ["notes.read"], ["admin"]),
        ("oauth2_provider.delete", "crm", [], ["admin"]),
    ]
