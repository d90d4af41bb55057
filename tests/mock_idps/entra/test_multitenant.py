"""Multi-tenancy: users of several tenants behind ``common``/``organizations``, the
``{tenantid}`` template issuer that a verifier must substitute, and the tenant rules
for sign-ins (access-tokens.md, "Validate the issuer")."""

from __future__ import annotations

from typing import Any

import httpx
import jwt as pyjwt
import pytest

pytestmark = pytest.mark.anyio


def verify_with_template(token: str, doc: dict[str, Any], jwks: dict[str, Any]) -> str:
    """Microsoft's multi-tenant recipe: substitute ``tid`` into the metadata's template
    issuer (and the key's), then demand an exact match."""
    claims = pyjwt.decode(token, options={"verify_signature": False})
    issuer: str = doc["issuer"].replace("{tenantid}", claims["tid"])
    kid = pyjwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    assert jwk["issuer"].replace("{tenantid}", claims["tid"]) == issuer
    pyjwt.decode(
        token,
        pyjwt.PyJWK.from_dict(jwk),
        algorithms=["RS256"],
        issuer=issuer,
        audience=claims["aud"],
    )
    return issuer


async def test_other_tenant_user_through_common(entra: httpx.AsyncClient, aad: Any) -> None:
    body = await aad.tokens(entra, segment="common", username=aad.FATIMA)
    token = body["access_token"]
    claims = aad.claims(token)
    assert claims["tid"] == aad.FABRIKAM
    assert claims["iss"] == f"{aad.LOGIN}/{aad.FABRIKAM}/v2.0"
    doc = (await entra.get("/common/v2.0/.well-known/openid-configuration")).json()
    assert doc["issuer"] == f"{aad.LOGIN}/{{tenantid}}/v2.0"
    jwks = (await entra.get("/common/discovery/v2.0/keys")).json()
    assert verify_with_template(token, doc, jwks) == claims["iss"]
    # A library that compares the template literally fails ("issuer invalid")...
    with pytest.raises(pyjwt.InvalidIssuerError):
        pyjwt.decode(
            token,
            pyjwt.PyJWK.from_dict(jwks["keys"][0]),
            algorithms=["RS256"],
            issuer=doc["issuer"],
            audience=aad.CRM_APP,
        )
    # ...and a verifier pinned to the home tenant rejects the other tenant's user.
    with pytest.raises(pyjwt.InvalidIssuerError):
        aad.verify(token, jwks, audience=aad.CRM_APP, tenant=aad.TENANT)
    aad.verify(token, jwks, audience=aad.CRM_APP)  # any tenant


async def test_home_user_through_organizations(entra: httpx.AsyncClient, aad: Any) -> None:
    body = await aad.tokens(entra, segment="organizations")
    claims = aad.claims(body["access_token"])
    assert claims["tid"] == aad.TENANT
    doc = (await entra.get("/organizations/v2.0/.well-known/openid-configuration")).json()
    jwks = (await entra.get("/organizations/discovery/v2.0/keys")).json()
    assert verify_with_template(body["access_token"], doc, jwks) == claims["iss"]


async def test_tenant_endpoint_refuses_another_tenants_user(
    entra: httpx.AsyncClient, aad: Any
) -> None:
    code, verifier = await aad.code_flow(entra, username=aad.FATIMA)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": aad.CALLBACK,
        "code_verifier": verifier,
    }
    r = await aad.token_request(entra, data)
    aad.assert_aadsts(r, 50020, "invalid_grant")
    assert aad.FATIMA in r.json()["error_description"]
    # The refusal burned the code.
    aad.assert_aadsts(await aad.token_request(entra, data), 70008, "invalid_grant")


async def test_fabrikam_endpoint_issues_fabrikam_tokens(entra: httpx.AsyncClient, aad: Any) -> None:
    body = await aad.tokens(entra, segment="fabrikam.example", username=aad.FATIMA)
    claims = aad.claims(body["access_token"])
    assert claims["iss"] == f"{aad.LOGIN}/{aad.FABRIKAM}/v2.0"
    doc = (await entra.get("/fabrikam.example/v2.0/.well-known/openid-configuration")).json()
    assert doc["issuer"] == claims["iss"]


async def test_single_tenant_app_cannot_use_common(entra: httpx.AsyncClient, aad: Any) -> None:
    _verifier, challenge = aad.pkce_pair()
    params = {
        "client_id": aad.SPA,
        "redirect_uri": aad.SPA_CALLBACK,
        "response_type": "code",
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "s",
    }
    r = await entra.get("/common/oauth2/v2.0/authorize", params=params)
    assert r.status_code == 302
    location = httpx.URL(r.headers["location"])
    assert location.params["error"] == "invalid_request"
    assert location.params["error_description"].startswith("AADSTS50194: ")
    assert location.params["state"] == "s"
    # The same app at its own tenant is fine; at another tenant it does not exist.
    r = await entra.get(f"/{aad.TENANT}/oauth2/v2.0/authorize", params=params)
    assert r.headers["location"].startswith("/common/login")
    r = await entra.get(f"/{aad.FABRIKAM}/oauth2/v2.0/authorize", params=params)
    assert httpx.URL(r.headers["location"]).params["error_description"].startswith("AADSTS700016: ")


async def test_consumers_refuses_organizational_apps_and_users(entra_idp: Any, aad: Any) -> None:
    async with entra_idp.async_client() as client:
        _verifier, challenge = aad.pkce_pair()
        params = {
            "client_id": aad.AGENT,
            "redirect_uri": aad.CALLBACK,
            "response_type": "code",
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        r = await client.get("/consumers/oauth2/v2.0/authorize", params=params)
        error = httpx.URL(r.headers["location"]).params["error_description"]
        assert error.startswith("AADSTS9002332: ")
        # v1.0 has no consumers tenant.
        r = await client.get("/consumers/.well-known/openid-configuration")
        aad.assert_aadsts(r, 90027, "invalid_request")


async def test_personal_account_tokens(entra_idp: Any, aad: Any) -> None:
    """A personal account (``tenant: consumers``) signing in to an app that allows them:
    the consumers tenant's issuer, signed by the personal-account key."""
    data = entra_idp.config.model_dump()
    data["users"].append(
        {
            "username": "alex@outlook.example",
            "password": "alex-password",
            "vendor": {"tenant": "consumers"},
        }
    )
    agent = next(c for c in data["clients"] if c["client_id"] == aad.AGENT)
    agent["vendor"]["sign_in_audience"] = "AzureADandPersonalMicrosoftAccount"
    entra_idp.configure(data)
    entra_idp.headless("alex@outlook.example")
    async with entra_idp.async_client() as client:
        verifier, challenge = aad.pkce_pair()
        params = {
            "client_id": aad.AGENT,
            "redirect_uri": aad.CALLBACK,
            "response_type": "code",
            "scope": f"openid {aad.CRM_URI}/crm.read",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        r = await client.get("/consumers/oauth2/v2.0/authorize", params=params)
        code = httpx.URL(r.headers["location"]).params["code"]
        r = await aad.token_request(
            client,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": aad.CALLBACK,
                "code_verifier": verifier,
            },
            segment="consumers",
        )
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        jwks = (await client.get("/consumers/discovery/v2.0/keys")).json()
        common = (await client.get("/common/discovery/v2.0/keys")).json()
    claims = aad.verify(token, jwks, audience=aad.CRM_APP)
    assert claims["tid"] == aad.CONSUMERS
    assert claims["iss"] == f"{aad.LOGIN}/{aad.CONSUMERS}/v2.0"
    kid = aad.header(token)["kid"]
    key = next(k for k in common["keys"] if k["kid"] == kid)
    assert key["issuer"] == claims["iss"]  # exact match only, not the template
