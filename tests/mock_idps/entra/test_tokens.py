"""Entra access and ID tokens verify under Entra's own rules with an independent verifier
(PyJWT against the published JWKS), fail under Okta's, and take their format from the
resource, not from the endpoint (notes/idps.md §2; access-tokens.md)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.entra import pairwise_subject
from proctor.mock_idps.profile import at_hash

pytestmark = pytest.mark.anyio
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def test_v2_api_token_verifies_under_entra_rules(
    entra: httpx.AsyncClient, aad: Any, flows: Any
) -> None:
    body = await aad.tokens(entra)
    token = body["access_token"]
    jwks = await aad.jwks(entra)
    claims = aad.verify(token, jwks, audience=aad.CRM_APP, tenant=aad.TENANT)
    assert aad.header(token) == {"typ": "JWT", "alg": "RS256", "kid": aad.header(token)["kid"]}
    assert list(claims)[:5] == ["aud", "iss", "iat", "nbf", "exp"]
    rest = list(claims)[5:]
    assert rest == sorted(rest)  # Microsoft's samples list the others alphabetically
    assert claims["iss"] == f"{aad.LOGIN}/{aad.TENANT}/v2.0"
    assert claims["ver"] == "2.0"
    assert claims["aud"] == aad.CRM_APP  # v2.0: the API's app ID, never its URI
    assert claims["azp"] == aad.AGENT
    assert claims["azpacr"] == "1"  # a client secret
    assert claims["scp"] == "crm.read"  # a space-separated string, user tokens only
    assert claims["roles"] == ["CRM.Admin"]  # Sarah's app-role assignment on the CRM API
    assert claims["oid"] == aad.SARAH_OID
    assert claims["tid"] == aad.TENANT
    assert claims["preferred_username"] == aad.SARAH
    assert claims["name"] == "Sarah Example"
    assert claims["groups"] == [
        "6d3f1a2b-0c4d-4e5f-9a6b-7c8d9e0f1a01",
        "6d3f1a2b-0c4d-4e5f-9a6b-7c8d9e0f1a02",
    ]
    assert "idtyp" not in claims  # the optional claim is for app-only tokens by default
    for v1_only in ("appid", "appidacr", "upn", "unique_name", "amr", "ipaddr", "acr"):
        assert v1_only not in claims
    assert len(claims["uti"]) == 22
    assert claims["aio"]
    assert claims["rh"].startswith("0.A")
    assert claims["iat"] == claims["nbf"]
    # The pairwise subject: stable for Sarah and this app, different for another app.
    assert claims["sub"] == pairwise_subject(aad.TENANT, aad.SARAH_OID, aad.AGENT)
    assert claims["sub"] != pairwise_subject(aad.TENANT, aad.SARAH_OID, aad.SPA)
    assert len(claims["sub"]) == 43
    assert body["token_type"] == "Bearer"
    assert body["scope"] == f"{aad.CRM_URI}/crm.read openid profile email"
    assert isinstance(body["expires_in"], int)
    assert body["ext_expires_in"] == body["expires_in"]
    assert body["refresh_token"].startswith("1.A")

    # Okta's rules (and any verifier that expects the App ID URI as audience) reject it.
    with pytest.raises(pyjwt.InvalidTokenError):
        flows.verify_okta(token, jwks, issuer=claims["iss"], audience=aad.CRM_URI)
    with pytest.raises(pyjwt.InvalidTokenError):  # no Okta `cid`
        flows.verify_okta(token, jwks, issuer=claims["iss"], audience=aad.CRM_APP)
    with pytest.raises(pyjwt.InvalidAudienceError):
        aad.verify(token, jwks, audience=aad.CRM_URI)
    with pytest.raises(pyjwt.InvalidIssuerError):
        aad.verify(token, jwks, audience=aad.CRM_APP, tenant=aad.FABRIKAM)


async def test_v1_api_gets_v1_token_from_the_v2_endpoint(
    entra: httpx.AsyncClient, aad: Any
) -> None:
    """The Docs API has accessTokenAcceptedVersion null: v1.0 tokens whatever the endpoint."""
    body = await aad.tokens(entra, scope=f"openid {aad.DOCS_URI}/user_impersonation")
    token = body["access_token"]
    # Microsoft: validate v1.0 tokens with the v1.0 metadata, whatever the authority.
    claims = aad.verify(token, await aad.jwks(entra, version=1), audience=aad.DOCS_URI)
    with pytest.raises(pyjwt.InvalidIssuerError):  # v2.0 keys name the v2.0 issuer
        aad.verify(token, await aad.jwks(entra), audience=aad.DOCS_URI)
    head = aad.header(token)
    assert list(head) == ["typ", "alg", "x5t", "kid"]
    assert head["x5t"] == head["kid"]
    assert claims["ver"] == "1.0"
    assert claims["iss"] == f"https://sts.windows.net/{aad.TENANT}/"
    assert claims["aud"] == aad.DOCS_URI  # the identifier the client used
    assert claims["appid"] == aad.AGENT
    assert claims["appidacr"] == "1"
    assert claims["app_displayname"] == "Agent app"
    assert claims["scp"] == "user_impersonation"
    assert claims["upn"] == claims["unique_name"] == aad.SARAH
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "1"
    assert claims["ipaddr"]
    assert claims["given_name"] == "Sarah"
    assert "azp" not in claims
    assert "preferred_username" not in claims
    assert "groups" not in claims  # the Docs API asks for no group claims


async def test_v2_api_gets_v2_token_from_the_v1_endpoint(
    entra: httpx.AsyncClient, aad: Any
) -> None:
    """v1.0 endpoints take ``resource=``; the CRM API (version 2) still gets v2.0 tokens,
    and the v1.0 response carries strings, ``expires_on``, ``not_before``, ``resource``."""
    body = await aad.tokens(entra, version=1, scope="openid", resource=aad.CRM_URI)
    claims = aad.verify(body["access_token"], await aad.jwks(entra), audience=aad.CRM_APP)
    assert claims["ver"] == "2.0"
    assert claims["iss"] == f"{aad.LOGIN}/{aad.TENANT}/v2.0"
    assert claims["scp"] == "crm.read crm.write"  # v1.0: every consented scope
    assert "x5t" not in aad.header(body["access_token"])
    assert body["resource"] == aad.CRM_URI
    assert body["scope"] == "crm.read crm.write"
    for name in ("expires_in", "ext_expires_in", "expires_on", "not_before"):
        assert isinstance(body[name], str)
        assert body[name].isdigit()
    assert int(body["expires_on"]) - int(body["not_before"]) == int(body["expires_in"])
    assert "refresh_token" in body  # v1.0 endpoints return one without offline_access
    # The v1.0 endpoint's ID token is a v1.0 ID token.
    id_claims = aad.claims(body["id_token"])
    assert id_claims["ver"] == "1.0"
    assert id_claims["iss"] == f"https://sts.windows.net/{aad.TENANT}/"
    assert id_claims["aud"] == aad.AGENT


@pytest.mark.parametrize(
    ("resource", "aud"),
    [
        ("https://docs.contoso.example", "https://docs.contoso.example"),
        ("https://docs.contoso.example/", "https://docs.contoso.example/"),
        ("f5d2a6b3-7c8e-4d9f-a0b1-2c3d4e5f6071", "f5d2a6b3-7c8e-4d9f-a0b1-2c3d4e5f6071"),
    ],
)
async def test_v1_audience_echoes_the_resource_as_requested(
    entra: httpx.AsyncClient, aad: Any, resource: str, aud: str
) -> None:
    r = await aad.client_credentials(entra, scope=None, resource=resource, version=1)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    jwks = await aad.jwks(entra, version=1)
    assert aad.verify(token, jwks, audience=aud)["aud"] == aud
    other = aad.DOCS_APP if aud != aad.DOCS_APP else aad.DOCS_URI
    with pytest.raises(pyjwt.InvalidAudienceError):  # a verifier pinning one spelling
        aad.verify(token, jwks, audience=other)


async def test_aud_use_guid_pins_v1_audience(entra_idp: Any, aad: Any) -> None:
    data = entra_idp.config.model_dump()
    docs = next(a for a in data["apis"] if a["id"] == "docs")
    docs["vendor"]["optional_claims"] = [{"name": "aud", "additional_properties": ["use_guid"]}]
    entra_idp.configure(data)
    async with entra_idp.async_client() as client:
        r = await aad.client_credentials(client, scope=f"{aad.DOCS_URI}/.default")
    assert aad.claims(r.json()["access_token"])["aud"] == aad.DOCS_APP


async def test_id_token_claims(entra: httpx.AsyncClient, aad: Any) -> None:
    body = await aad.tokens(entra, nonce="nonce-123")
    jwks = await aad.jwks(entra)
    claims = aad.verify(body["id_token"], jwks, audience=aad.AGENT)
    assert claims["ver"] == "2.0"
    assert claims["aud"] == aad.AGENT  # ID tokens are for the client
    assert claims["nonce"] == "nonce-123"
    assert claims["at_hash"] == at_hash(body["access_token"])
    assert claims["preferred_username"] == aad.SARAH
    assert claims["email"] == aad.SARAH
    assert claims["oid"] == aad.SARAH_OID
    assert claims["sub"] == pairwise_subject(aad.TENANT, aad.SARAH_OID, aad.AGENT)
    assert GUID.match(claims["sid"])
    assert "x5t" not in aad.header(body["id_token"])


async def test_version_follows_the_resource_for_every_endpoint(entra_idp: Any, aad: Any) -> None:
    """The same resource gets the same token version from v1.0 and v2.0 endpoints, and
    from tenant-specific and multi-tenant ones."""
    seen: dict[tuple[str, str], str] = {}
    async with entra_idp.async_client() as client:
        for segment in (aad.TENANT, "organizations", "contoso.example"):
            for resource, app in ((aad.CRM_URI, "crm"), (aad.DOCS_URI, "docs")):
                v2 = await aad.client_credentials(
                    client, scope=f"{resource}/.default", segment=segment
                )
                v1 = await aad.client_credentials(
                    client, scope=None, resource=resource, segment=segment, version=1
                )
                for endpoint, r in (("v2", v2), ("v1", v1)):
                    assert r.status_code == 200, r.text
                    seen[(segment + endpoint, app)] = aad.claims(r.json()["access_token"])["ver"]
    assert {v for (_, app), v in seen.items() if app == "crm"} == {"2.0"}
    assert {v for (_, app), v in seen.items() if app == "docs"} == {"1.0"}


async def test_minted_tokens_have_the_issued_shape(entra_idp: Any, aad: Any) -> None:
    """The admin API mints vendor-exact tokens: v1.0 headers with x5t, v2.0 claims."""
    token = entra_idp.mint()
    async with entra_idp.async_client() as client:
        jwks = await aad.jwks(client)
        jwks_v1 = await aad.jwks(client, version=1)
    claims = aad.verify(token, jwks, audience=aad.CRM_APP)
    assert claims["scp"] == "crm.read crm.write"
    v1 = entra_idp.mint(scopes=[f"{aad.DOCS_URI}/user_impersonation"], app=True)
    head = aad.header(v1)
    assert head["x5t"] == head["kid"]
    v1_claims = aad.verify(v1, jwks_v1, audience=aad.DOCS_URI)
    assert v1_claims["roles"] == ["Docs.Read.All"]
    assert "scp" not in v1_claims
