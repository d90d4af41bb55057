"""Authorization code with PKCE (S256 and plain, strictly checked), refresh tokens replaced
on each use, and the device code flow in Entra's shape (v2-oauth2-device-code.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proctor.mock_idps.pkce import s256
from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.mock_idps.testing import parse_forms

pytestmark = pytest.mark.anyio
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


def _redeem(code: str, verifier: str | None, client_id: str) -> dict[str, str]:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://127.0.0.1:3000/callback",
        "client_id": client_id,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return data


async def _spa_code(
    client: httpx.AsyncClient, aad: Any, challenge: str | None, method: str | None
) -> httpx.Response:
    params = {
        "client_id": aad.SPA,
        "redirect_uri": aad.SPA_CALLBACK,
        "response_type": "code",
        "scope": "openid offline_access User.Read",
    }
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    response: httpx.Response = await aad.authorize(client, params)
    return response


async def test_pkce_s256_and_plain(entra: httpx.AsyncClient, aad: Any) -> None:
    verifier = "v" * 43
    for challenge, method in ((s256(verifier), "S256"), (verifier, "plain")):
        r = await _spa_code(entra, aad, challenge, method)
        code = httpx.URL(r.headers["location"]).params["code"]
        r = await aad.token_request(entra, _redeem(code, verifier, aad.SPA), auth=None)
        assert r.status_code == 200, r.text
        assert aad.claims(r.json()["access_token"])["appidacr"] == "0"  # a public client
        assert aad.claims(r.json()["access_token"])["aud"] == aad.GRAPH_APP


async def test_pkce_mismatch_is_aadsts501481(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await _spa_code(entra, aad, s256("a" * 43), "S256")
    code = httpx.URL(r.headers["location"]).params["code"]
    r = await aad.token_request(entra, _redeem(code, "b" * 43, aad.SPA), auth=None)
    aad.assert_aadsts(r, 501481, "invalid_grant")
    # The failed attempt burned the code (strict mode).
    r = await aad.token_request(entra, _redeem(code, "a" * 43, aad.SPA), auth=None)
    aad.assert_aadsts(r, 70008, "invalid_grant")


async def test_public_client_needs_pkce(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await _spa_code(entra, aad, None, None)
    location = httpx.URL(r.headers["location"])
    assert location.params["error_description"].startswith("AADSTS9002325: ")
    r = await _spa_code(entra, aad, "short", "S256")
    location = httpx.URL(r.headers["location"])
    assert location.params["error_description"].startswith("AADSTS501491: ")


async def test_refresh_token_is_replaced_on_each_use(entra: httpx.AsyncClient, aad: Any) -> None:
    body = await aad.tokens(entra)
    first = body["refresh_token"]
    data = {
        "grant_type": "refresh_token",
        "refresh_token": first,
        "scope": f"{aad.CRM_URI}/crm.read offline_access",
    }
    r = await aad.token_request(entra, data)
    assert r.status_code == 200, r.text
    second = r.json()["refresh_token"]
    assert second != first
    assert aad.claims(r.json()["access_token"])["aud"] == aad.CRM_APP
    # The emulator is strict: the used one is refused (Entra would still accept it).
    r = await aad.token_request(entra, {**data, "refresh_token": first})
    aad.assert_aadsts(r, 70000, "invalid_grant")


async def test_device_code_flow(entra_idp: MockIdp, aad: Any) -> None:
    async with entra_idp.async_client() as client:
        r = await client.post(
            f"/{aad.TENANT}/oauth2/v2.0/devicecode",
            data={"client_id": aad.SPA, "scope": "openid offline_access User.Read"},
        )
        assert r.status_code == 200, r.text
        grant = r.json()
        assert list(grant) == [
            "user_code",
            "device_code",
            "verification_uri",
            "expires_in",
            "interval",
            "message",
        ]
        assert grant["expires_in"] == 900
        assert grant["user_code"] in grant["message"]
        assert grant["verification_uri"] in grant["message"]
        poll = {"grant_type": DEVICE_CODE, "device_code": grant["device_code"]}
        r = await aad.token_request(client, {**poll, "client_id": aad.SPA}, auth=None)
        aad.assert_aadsts(r, 70016, "authorization_pending")
        # Sarah approves on the verification page.
        page = await client.get(grant["verification_uri"])
        form = parse_forms(page.text)
        action = next(iter(form.values()))
        r = await client.post(action.action, data=action.fill(user_code=grant["user_code"]))
        while r.status_code == 302:
            r = await client.get(r.headers["location"])
        login = parse_forms(r.text)["login"]
        r = await client.post(
            login.action, data=login.fill(username=aad.SARAH, password="sarah-password")
        )
        entra_idp.clock.advance(10)
        r = await aad.token_request(client, {**poll, "client_id": aad.SPA}, auth=None)
        assert r.status_code == 200, r.text
        assert aad.claims(r.json()["access_token"])["scp"] == "openid User.Read"
        r = await aad.token_request(client, {**poll, "client_id": aad.SPA}, auth=None)
        aad.assert_aadsts(r, 70018, "bad_verification_code")


async def test_v1_device_code_says_verification_url(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await entra.post(
        f"/{aad.TENANT}/oauth2/devicecode",
        data={"client_id": aad.SPA, "resource": aad.DOCS_URI},
    )
    assert r.status_code == 200, r.text
    assert "verification_url" in r.json()
    assert "verification_uri" not in r.json()


async def test_logout_redirects_to_a_registered_uri(entra: httpx.AsyncClient, aad: Any) -> None:
    body = await aad.tokens(entra)
    r = await entra.get(
        f"/{aad.TENANT}/oauth2/v2.0/logout",
        params={
            "id_token_hint": body["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:8700/",
            "state": "bye",
        },
    )
    assert r.status_code == 302
    assert r.headers["location"] == "http://127.0.0.1:8700/?state=bye"
    assert "ESTSAUTH=;" in r.headers["set-cookie"]
