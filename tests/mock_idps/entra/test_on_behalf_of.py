"""On-behalf-of (v2-oauth2-on-behalf-of-flow.md): a middle-tier API trades the user token
it received for a downstream token. User tokens only; the assertion's audience must be
the calling app. Not RFC 8693."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


async def _obo(
    client: httpx.AsyncClient,
    aad: Any,
    assertion: str,
    *,
    scope: str = "https://graph.microsoft.com/user.read offline_access",
    auth: tuple[str, str] | None = None,
    **extra: str,
) -> httpx.Response:
    data = {
        "grant_type": JWT_BEARER,
        "assertion": assertion,
        "scope": scope,
        "requested_token_use": "on_behalf_of",
        **extra,
    }
    response: httpx.Response = await aad.token_request(
        client, data, auth=auth or (aad.CRM_APP, aad.CRM_SECRET)
    )
    return response


async def test_user_token_for_the_middle_tier_is_exchanged(
    entra: httpx.AsyncClient, aad: Any
) -> None:
    incoming = (await aad.tokens(entra))["access_token"]  # Sarah -> agent app -> CRM API
    r = await _obo(entra, aad, incoming)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "id_token" not in body
    assert "refresh_token" in body  # offline_access was requested
    claims = aad.claims(body["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["ver"] == "1.0"
    assert claims["oid"] == aad.SARAH_OID  # still Sarah
    assert claims["appid"] == aad.CRM_APP  # now the middle tier
    assert claims["scp"] == "User.Read"
    # A downstream custom API works too, and keeps its token version.
    r = await _obo(entra, aad, incoming, scope=f"{aad.DOCS_URI}/user_impersonation")
    docs = aad.verify(
        r.json()["access_token"], await aad.jwks(entra, version=1), audience=aad.DOCS_URI
    )
    assert docs["upn"] == aad.SARAH
    assert docs["appid"] == aad.CRM_APP


async def test_app_only_assertion_is_refused(entra: httpx.AsyncClient, aad: Any) -> None:
    app_token = (await aad.client_credentials(entra)).json()["access_token"]
    r = await _obo(entra, aad, app_token)
    aad.assert_aadsts(r, 7000114, "invalid_grant")


async def test_assertion_for_another_audience_is_refused(
    entra: httpx.AsyncClient, aad: Any
) -> None:
    for_docs = (await aad.tokens(entra, scope=f"openid {aad.DOCS_URI}/user_impersonation"))[
        "access_token"
    ]
    r = await _obo(entra, aad, for_docs)
    aad.assert_aadsts(r, 500131, "invalid_grant")
    assert aad.DOCS_URI in r.json()["error_description"]
    # A Graph token relayed to an API cannot be redeemed either.
    graph = (await aad.tokens(entra, scope="openid profile"))["access_token"]
    aad.assert_aadsts(await _obo(entra, aad, graph), 500131, "invalid_grant")


async def test_other_bad_assertions(entra_idp: Any, aad: Any) -> None:
    async with entra_idp.async_client() as client:
        body = await aad.tokens(client)
        # An ID token, a forged token, an expired token.
        aad.assert_aadsts(await _obo(client, aad, body["id_token"]), 240002, "invalid_grant")
        forged = entra_idp.mint(presets=["bad_signature"])
        aad.assert_aadsts(await _obo(client, aad, forged), 50013, "invalid_grant")
        expired = entra_idp.mint(presets=["expired"])
        aad.assert_aadsts(await _obo(client, aad, expired), 500133, "invalid_grant")
        # requested_token_use is required and must be on_behalf_of.
        r = await _obo(client, aad, body["access_token"], requested_token_use="")
        aad.assert_aadsts(r, 900144, "invalid_request")
        r = await _obo(client, aad, body["access_token"], requested_token_use="other")
        aad.assert_aadsts(r, 70003, "invalid_request")
        # A public client cannot use OBO.
        data = {
            "grant_type": JWT_BEARER,
            "assertion": body["access_token"],
            "requested_token_use": "on_behalf_of",
            "scope": "User.Read",
            "client_id": aad.SPA,
        }
        r = await client.post(f"/{aad.TENANT}/oauth2/v2.0/token", data=data)
        aad.assert_aadsts(r, 7000218, "invalid_client", 401)


async def test_rfc8693_token_exchange_is_unsupported(entra: httpx.AsyncClient, aad: Any) -> None:
    incoming = (await aad.tokens(entra))["access_token"]
    data = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": incoming,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "scope": "https://graph.microsoft.com/.default",
    }
    r = await aad.token_request(entra, data, auth=(aad.CRM_APP, aad.CRM_SECRET))
    aad.assert_aadsts(r, 70003, "unsupported_grant_type")
    assert "token-exchange" in r.json()["error_description"]
