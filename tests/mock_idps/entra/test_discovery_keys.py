"""Entra discovery documents and JWKS: issuers per tenant and version, the ``{tenantid}``
template on ``common``/``organizations``, certificate-backed keys, and the endpoints
Entra does not have (notes/idps.md §2; access-tokens.md)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.util import base64_to_int

pytestmark = pytest.mark.anyio


async def test_tenant_v2_discovery(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await entra.get(f"/{aad.TENANT}/v2.0/.well-known/openid-configuration")
    assert r.status_code == 200
    assert "max-age=86400" in r.headers["cache-control"]
    doc = r.json()
    root = f"{aad.LOGIN}/{aad.TENANT}"
    assert doc["issuer"] == f"{root}/v2.0"
    assert doc["authorization_endpoint"] == f"{root}/oauth2/v2.0/authorize"
    assert doc["token_endpoint"] == f"{root}/oauth2/v2.0/token"
    assert doc["device_authorization_endpoint"] == f"{root}/oauth2/v2.0/devicecode"
    assert doc["end_session_endpoint"] == f"{root}/oauth2/v2.0/logout"
    assert doc["jwks_uri"] == f"{root}/discovery/v2.0/keys"
    assert doc["userinfo_endpoint"] == "https://graph.microsoft.com/oidc/userinfo"
    assert doc["subject_types_supported"] == ["pairwise"]
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    # Like Entra's: no PKCE methods, no grant types, no introspection or revocation.
    for absent in (
        "code_challenge_methods_supported",
        "grant_types_supported",
        "introspection_endpoint",
        "revocation_endpoint",
    ):
        assert absent not in doc


async def test_tenant_v1_discovery(entra: httpx.AsyncClient, aad: Any) -> None:
    doc = (await entra.get(f"/{aad.TENANT}/.well-known/openid-configuration")).json()
    assert doc["issuer"] == f"https://sts.windows.net/{aad.TENANT}/"
    assert doc["token_endpoint"] == f"{aad.LOGIN}/{aad.TENANT}/oauth2/token"
    assert doc["authorization_endpoint"] == f"{aad.LOGIN}/{aad.TENANT}/oauth2/authorize"
    assert doc["jwks_uri"] == f"{aad.LOGIN}/common/discovery/keys"
    assert doc["microsoft_multi_refresh_token"] is True


@pytest.mark.parametrize(
    ("path", "issuer"),
    [
        ("/common/v2.0/.well-known/openid-configuration", "/{tenantid}/v2.0"),
        ("/organizations/v2.0/.well-known/openid-configuration", "/{tenantid}/v2.0"),
        (
            "/consumers/v2.0/.well-known/openid-configuration",
            "/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
        ),
        ("/contoso.example/v2.0/.well-known/openid-configuration", "/{tenant}/v2.0"),
    ],
)
async def test_pseudo_tenant_and_domain_issuers(
    entra: httpx.AsyncClient, aad: Any, path: str, issuer: str
) -> None:
    doc = (await entra.get(path)).json()
    assert doc["issuer"] == aad.LOGIN + issuer.replace("{tenant}", aad.TENANT)
    segment = path.split("/")[1]
    assert doc["token_endpoint"] == f"{aad.LOGIN}/{segment}/oauth2/v2.0/token"


async def test_common_v1_template(entra: httpx.AsyncClient) -> None:
    doc = (await entra.get("/common/.well-known/openid-configuration")).json()
    assert doc["issuer"] == "https://sts.windows.net/{tenantid}/"


async def test_jwks_entries_are_certificate_backed(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await entra.get(f"/{aad.TENANT}/discovery/v2.0/keys")
    assert "max-age=86400" in r.headers["cache-control"]
    keys = r.json()["keys"]
    assert keys
    for jwk in keys:
        assert set(jwk) == {
            "kty",
            "use",
            "kid",
            "x5t",
            "n",
            "e",
            "x5c",
            "cloud_instance_name",
            "issuer",
        }
        assert jwk["kty"] == "RSA"
        assert jwk["use"] == "sig"
        assert jwk["issuer"] == f"{aad.LOGIN}/{aad.TENANT}/v2.0"
        der = base64.b64decode(jwk["x5c"][0])
        thumbprint = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()  # noqa: S324
        assert jwk["x5t"] == jwk["kid"] == thumbprint
        public = x509.load_der_x509_certificate(der).public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.public_numbers().n == base64_to_int(jwk["n"])
        assert public.public_numbers().e == base64_to_int(jwk["e"])


async def test_key_issuers_per_endpoint(entra: httpx.AsyncClient, aad: Any) -> None:
    common = (await entra.get("/common/discovery/v2.0/keys")).json()["keys"]
    issuers = {k["issuer"] for k in common}
    assert issuers == {
        f"{aad.LOGIN}/{{tenantid}}/v2.0",
        f"{aad.LOGIN}/{aad.CONSUMERS}/v2.0",  # the personal-account key: exact match only
    }
    organizations = (await entra.get("/organizations/discovery/v2.0/keys")).json()["keys"]
    assert {k["issuer"] for k in organizations} == {f"{aad.LOGIN}/{{tenantid}}/v2.0"}
    consumers = (await entra.get("/consumers/discovery/v2.0/keys")).json()["keys"]
    assert {k["issuer"] for k in consumers} == {f"{aad.LOGIN}/{aad.CONSUMERS}/v2.0"}
    # Tenants share the organizational keys (same kids under every tenant).
    tenant = (await entra.get(f"/{aad.TENANT}/discovery/v2.0/keys")).json()["keys"]
    fabrikam = (await entra.get(f"/{aad.FABRIKAM}/discovery/v2.0/keys")).json()["keys"]
    assert {k["kid"] for k in tenant} == {k["kid"] for k in fabrikam}
    assert {k["kid"] for k in tenant} <= {k["kid"] for k in common}
    # v1.0 keys have no issuer member.
    v1 = (await entra.get("/common/discovery/keys")).json()["keys"]
    assert v1
    assert all("issuer" not in k for k in v1)
    assert {k["kid"] for k in v1} == {k["kid"] for k in tenant}


@pytest.mark.parametrize(
    "path",
    [
        "/{tenant}/oauth2/v2.0/introspect",
        "/{tenant}/oauth2/v2.0/revoke",
        "/{tenant}/oauth2/introspect",
        "/{tenant}/v2.0/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/oauth2/v2.0/token",
    ],
)
async def test_endpoints_entra_lacks_are_404(entra: httpx.AsyncClient, aad: Any, path: str) -> None:
    r = await entra.post(path.format(tenant=aad.TENANT), data={"token": "x"})
    assert r.status_code == 404
    assert r.json()["error_codes"]


@pytest.mark.parametrize(
    "path",
    [
        "/nowhere.example/v2.0/.well-known/openid-configuration",
        "/00000000-1111-2222-3333-444444444444/discovery/v2.0/keys",
        "/nowhere.example/oauth2/v2.0/token",
    ],
)
async def test_unknown_tenant_is_aadsts90002(entra: httpx.AsyncClient, aad: Any, path: str) -> None:
    r = await entra.get(path)
    aad.assert_aadsts(r, 90002, "invalid_tenant")
    assert path.split("/")[1] in r.json()["error_description"]


async def test_rotation_keeps_kid_equal_to_the_new_certificate_thumbprint(
    entra_idp: Any, aad: Any
) -> None:
    new_kid = entra_idp.rotate_keys()
    async with entra_idp.async_client() as client:
        keys = (await aad.jwks(client))["keys"]
        body = await aad.client_credentials(client, scope=f"{aad.DOCS_URI}/.default")
    jwk = next(k for k in keys if k["kid"] == new_kid)
    der = base64.b64decode(jwk["x5c"][0])
    assert jwk["x5t"] == base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()  # noqa: S324
    head = aad.header(body.json()["access_token"])
    assert head["kid"] == head["x5t"] == new_kid


async def test_vendor_hosts_mapping_for_other_bases(mock_idp_factory: Any, aad: Any) -> None:
    """On any other base URL (a live server, a custom host), both issuers use it."""
    idp = mock_idp_factory("entra", base_url="http://127.0.0.1:8720")
    assert idp.issuer() == f"http://127.0.0.1:8720/{aad.TENANT}/v2.0"
    assert idp.issuer(f"v1:{aad.TENANT}") == f"http://127.0.0.1:8720/{aad.TENANT}/"
    async with idp.async_client() as client:
        doc = (await client.get("/common/v2.0/.well-known/openid-configuration")).json()
    assert doc["userinfo_endpoint"] == "http://127.0.0.1:8720/oidc/userinfo"
