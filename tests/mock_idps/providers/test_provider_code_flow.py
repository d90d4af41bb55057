"""Authorization code with PKCE at the Sarah-scenario providers: through the login and
consent pages, headless, and the RFC 7636 / RFC 8707 / RFC 6749 §2.3.1 rules on the way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockProvider

pytestmark = pytest.mark.anyio


async def test_code_flow_through_the_pages(crm_provider: MockProvider, pf: Any) -> None:
    async with crm_provider.async_client() as client:
        location, verifier, shown = await pf.authorize(client, crm_provider, scope="notes.read")
        assert shown == ["login", "consent"]
        assert location.params["state"] == "st-1"
        r = await pf.token(
            client,
            crm_provider,
            {
                "grant_type": "authorization_code",
                "code": location.params["code"],
                "redirect_uri": pf.CALLBACK,
                "code_verifier": verifier,
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "Bearer"
        assert body["scope"] == "notes.read"
        assert body["expires_in"] == 3600
        assert body["access_token"].startswith("crm_at_")
        assert body["refresh_token"].startswith("crm_rt_")
        assert "id_token" not in body
        notes = await client.get(
            crm_provider.resource_url("/api/customers/acme/notes"),
            headers=pf.bearer(body["access_token"]),
        )
        assert notes.status_code == 200
        assert notes.json()["customer"]["name"] == "Acme Corporation"
        # Consent is remembered: the second authorization shows no page at all.
        _, _, shown = await pf.authorize(client, crm_provider, scope="notes.read", state="st-2")
        assert shown == []


async def test_denied_consent_redirects_access_denied(
    documents_provider: MockProvider, pf: Any
) -> None:
    async with documents_provider.async_client() as client:
        location, _, shown = await pf.authorize(
            client, documents_provider, scope="documents.write", decision="deny"
        )
    assert shown == ["login", "consent"]
    assert location.params["error"] == "access_denied"
    assert "code" not in location.params


@pytest.mark.mock_idp(headless_user="sarah@example.com")
async def test_headless_approves_at_once(finance_provider: MockProvider, pf: Any) -> None:
    async with finance_provider.async_client() as client:
        location, verifier, shown = await pf.authorize(client, finance_provider)
        assert shown == []
        r = await pf.token(
            client,
            finance_provider,
            {
                "grant_type": "authorization_code",
                "code": location.params["code"],
                "redirect_uri": pf.CALLBACK,
                "code_verifier": verifier,
            },
        )
    assert r.status_code == 200
    assert r.json()["scope"] == "spend.read"  # the resource's default scope


async def test_pkce_is_required_and_checked(crm_provider: MockProvider, pf: Any) -> None:
    async with crm_provider.async_client() as client:
        location, _, _ = await pf.authorize(client, crm_provider, scope="notes.read", pkce=False)
        assert location.params["error"] == "invalid_request"
        location, verifier, _ = await pf.authorize(client, crm_provider, scope="notes.read")
        data = {
            "grant_type": "authorization_code",
            "code": location.params["code"],
            "redirect_uri": pf.CALLBACK,
            "code_verifier": verifier[:-1] + ("A" if verifier[-1] != "A" else "B"),
        }
        r = await pf.token(client, crm_provider, data)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"
        data["code_verifier"] = verifier  # the code was burned by the failed attempt
        r = await pf.token(client, crm_provider, data)
        assert r.json()["error"] == "invalid_grant"
        location, _, _ = await pf.authorize(
            client, crm_provider, scope="notes.read", extra={"code_challenge_method": "plain"}
        )
        assert location.params["error"] == "invalid_request"


async def test_client_secret_basic_must_be_form_encoded(
    crm_provider: MockProvider, pf: Any
) -> None:
    """The CRM secret has ':', '+' and '%': sending it raw in Basic fails (RFC 6749
    §2.3.1, spec 05 PRV-AUTH-001); encoded, or in the body, it works."""
    assert set(":+%") <= set(crm_provider.client_secret)
    data = {"grant_type": "client_credentials", "scope": "notes.read"}
    async with crm_provider.async_client() as client:
        raw = await client.post(
            crm_provider.url("token"),
            data=data,
            auth=(crm_provider.client_id, crm_provider.client_secret),
        )
        assert raw.status_code == 401
        assert raw.json()["error"] == "invalid_client"
        encoded = await pf.token(client, crm_provider, data)
        assert encoded.status_code == 200
        posted = await pf.token(client, crm_provider, data, method="post")
        assert posted.status_code == 200


async def test_resource_indicator_binds_the_audience(crm_provider: MockProvider, pf: Any) -> None:
    """RFC 8707: ``resource`` must name a resource of this server; the token's audience is
    that resource; a token request may not switch to a resource not authorized."""
    async with crm_provider.async_client() as client:
        location, _, _ = await pf.authorize(
            client, crm_provider, scope="notes.read", extra={"resource": "https://evil.example/"}
        )
        assert location.params["error"] == "invalid_target"
        r = await pf.code_tokens(
            client,
            crm_provider,
            scope="notes.read",
            extra={"resource": crm_provider.audience},
            token_extra={"resource": crm_provider.audience},
        )
        assert r.status_code == 200
        info = await client.post(
            crm_provider.url("introspect"),
            data={"token": r.json()["access_token"]},
            auth=pf.client_auth(crm_provider),
        )
        assert info.json()["aud"] == crm_provider.audience
        assert info.json()["username"] == pf.SARAH
        r = await pf.code_tokens(
            client,
            crm_provider,
            scope="notes.read",
            token_extra={"resource": "https://other.example/api"},
        )
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_target"


async def test_a_second_resource_and_its_scopes(crm_provider: MockProvider, pf: Any) -> None:
    """With two resources, a token for one is refused by the other's API (wrong audience),
    and a resource's scopes cannot be asked for with the other resource."""
    data = crm_provider.config.model_dump()
    data["apis"].append(
        {"id": "crm-admin", "audience": "https://admin.crm.example", "scopes": ["admin.read"]}
    )
    crm_provider.configure(data)
    async with crm_provider.async_client() as client:
        r = await pf.token(
            client,
            crm_provider,
            {"grant_type": "client_credentials", "scope": "notes.read admin.read"},
        )
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_scope"  # one resource per token
        r = await pf.token(
            client,
            crm_provider,
            {
                "grant_type": "client_credentials",
                "scope": "notes.read",
                "resource": "https://admin.crm.example",
            },
        )
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_scope"
        r = await pf.token(
            client, crm_provider, {"grant_type": "client_credentials", "scope": "admin.read"}
        )
        assert r.status_code == 200
        admin_token = r.json()["access_token"]
        notes = await client.get(
            crm_provider.resource_url("/api/customers/acme/notes"),
            headers=pf.bearer(admin_token),
        )
        assert notes.status_code == 401
        assert 'error="invalid_token"' in notes.headers["www-authenticate"]
        both = await pf.token(
            client,
            crm_provider,
            {
                "grant_type": "client_credentials",
                "scope": "notes.read",
                "resource": crm_provider.audience,
                "audience": "https://admin.crm.example",
            },
        )
        assert both.json()["error"] == "invalid_target"


async def test_metadata_describes_the_server(crm_provider: MockProvider) -> None:
    async with crm_provider.async_client() as client:
        doc = (await client.get(crm_provider.metadata_url() or "")).json()
    assert doc["issuer"] == crm_provider.issuer() == "https://crm.example"
    assert doc["authorization_endpoint"] == "https://crm.example/oauth2/authorize"
    assert doc["revocation_endpoint"] == "https://crm.example/oauth2/revoke"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in doc["grant_types_supported"]
    assert doc["protected_resources"] == ["https://crm.example/api"]
    assert "id_token_signing_alg_values_supported" not in doc  # an OAuth server, not OIDC


def test_sync_client_and_tokens_helper(crm_provider: MockProvider, pf: Any) -> None:
    body = crm_provider.tokens(user="bob@example.com")
    assert body["scope"] == "notes.read"
    client = crm_provider.client()
    r = client.get("/api/customers/initech/notes", headers=pf.bearer(body["access_token"]))
    assert r.status_code == 200
    assert crm_provider.resource_requests()[-1].username == "bob@example.com"
    assert isinstance(crm_provider.transport, httpx.ASGITransport)
