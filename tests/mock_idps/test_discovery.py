"""Issuers, discovery documents and JWKS against the facts in notes/idps.md §1."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio
BASE = "https://example.okta.com"


@pytest.mark.parametrize(
    ("path", "issuer", "prefix"),
    [
        ("/.well-known/openid-configuration", BASE, f"{BASE}/oauth2/v1"),
        ("/.well-known/oauth-authorization-server", BASE, f"{BASE}/oauth2/v1"),
        (
            "/oauth2/default/.well-known/openid-configuration",
            f"{BASE}/oauth2/default",
            f"{BASE}/oauth2/default/v1",
        ),
        (
            "/oauth2/default/.well-known/oauth-authorization-server",
            f"{BASE}/oauth2/default",
            f"{BASE}/oauth2/default/v1",
        ),
    ],
)
async def test_discovery_documents(
    okta: httpx.AsyncClient, path: str, issuer: str, prefix: str
) -> None:
    r = await okta.get(path, params={"client_id": "0oaproctoragent0app7"})  # Okta accepts it
    assert r.status_code == 200
    doc = r.json()
    assert doc["issuer"] == issuer
    for member, tail in [
        ("authorization_endpoint", "authorize"),
        ("token_endpoint", "token"),
        ("userinfo_endpoint", "userinfo"),
        ("introspection_endpoint", "introspect"),
        ("revocation_endpoint", "revoke"),
        ("end_session_endpoint", "logout"),
        ("jwks_uri", "keys"),
        ("device_authorization_endpoint", "device/authorize"),
    ]:
        assert doc[member] == f"{prefix}/{tail}"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "cache-control" in r.headers


async def test_grants_and_scopes_by_server(okta: httpx.AsyncClient) -> None:
    org = (await okta.get("/.well-known/openid-configuration")).json()
    custom = (await okta.get("/oauth2/default/.well-known/openid-configuration")).json()
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    assert exchange in custom["grant_types_supported"]
    assert "client_credentials" in custom["grant_types_supported"]
    assert exchange not in org["grant_types_supported"]
    assert "client_credentials" not in org["grant_types_supported"]
    assert {"crm.read", "finance.read", "docs.write", "openid"} <= set(custom["scopes_supported"])
    assert "crm.read" not in org["scopes_supported"]


async def test_jwks_is_rs256_with_cache_control(okta: httpx.AsyncClient) -> None:
    for path in ("/oauth2/default/v1/keys", "/oauth2/v1/keys"):
        r = await okta.get(path)
        assert r.headers["cache-control"] == "max-age=86400, must-revalidate"
        (key,) = r.json()["keys"]
        assert key["kty"] == "RSA"
        assert key["alg"] == "RS256"
        assert key["use"] == "sig"
        assert "d" not in key
        assert "p" not in key
    org = (await okta.get("/oauth2/v1/keys")).json()["keys"][0]["kid"]
    custom = (await okta.get("/oauth2/default/v1/keys")).json()["keys"][0]["kid"]
    assert org != custom  # each authorization server has its own keys


async def test_unknown_authorization_server_is_an_okta_404(okta: httpx.AsyncClient) -> None:
    r = await okta.get("/oauth2/aus404/.well-known/openid-configuration")
    assert r.status_code == 404
    body = r.json()
    assert body["errorCode"] == "E0000007"
    assert body["errorSummary"] == "Not found: Resource not found: aus404 (AuthorizationServer)"
    assert body["errorCauses"] == []


async def test_wrong_method_is_a_405(okta: httpx.AsyncClient) -> None:
    r = await okta.post("/oauth2/default/v1/keys")
    assert r.status_code == 405
    assert "GET" in r.headers["allow"]
    r = await okta.get("/oauth2/default/v1/token")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"
