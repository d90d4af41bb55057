"""The Google preset: Google's endpoint paths, the offline-access refresh token rule, the
3599-second tokens, no refresh rotation, ID tokens and userinfo by scope."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.pytest_plugin import MockProvider

pytestmark = pytest.mark.anyio

OFFLINE = {"access_type": "offline"}


async def _redeem(
    client: httpx.AsyncClient, google: MockProvider, pf: Any, location: httpx.URL, verifier: str
) -> dict[str, Any]:
    r = await pf.token(
        client,
        google,
        {
            "grant_type": "authorization_code",
            "code": location.params["code"],
            "redirect_uri": pf.CALLBACK,
            "code_verifier": verifier,
        },
        method="post",
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_endpoints_and_discovery(google_provider: MockProvider) -> None:
    async with google_provider.async_client() as client:
        doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == "https://accounts.google.com"
    assert doc["authorization_endpoint"] == "https://accounts.google.com/o/oauth2/v2/auth"
    assert doc["token_endpoint"] == "https://accounts.google.com/token"
    assert doc["revocation_endpoint"] == "https://accounts.google.com/revoke"
    assert doc["userinfo_endpoint"] == "https://accounts.google.com/v1/userinfo"
    assert doc["jwks_uri"] == "https://accounts.google.com/oauth2/v3/certs"
    assert doc["code_challenge_methods_supported"] == ["S256", "plain"]
    assert google_provider.metadata_url() == (
        "https://accounts.google.com/.well-known/openid-configuration"
    )


async def test_refresh_token_only_offline_and_on_consent(
    google_provider: MockProvider, pf: Any
) -> None:
    async with google_provider.async_client() as client:
        # First offline authorization: consent is shown and a refresh token issued.
        location, verifier, shown = await pf.authorize(
            client, google_provider, scope="openid email", extra=OFFLINE
        )
        assert shown == ["login", "consent"]
        first = await _redeem(client, google_provider, pf, location, verifier)
        assert first["refresh_token"].startswith("1//0")
        # Again, already consented: no page, no refresh token.
        location, verifier, shown = await pf.authorize(
            client, google_provider, scope="openid email", extra=OFFLINE
        )
        assert shown == []
        assert "refresh_token" not in await _redeem(client, google_provider, pf, location, verifier)
        # prompt=consent shows the consent page again and brings a refresh token.
        location, verifier, shown = await pf.authorize(
            client, google_provider, scope="openid email", extra={**OFFLINE, "prompt": "consent"}
        )
        assert shown == ["consent"]
        again = await _redeem(client, google_provider, pf, location, verifier)
        assert again["refresh_token"] != first["refresh_token"]
        # Online access (the default) never has one, even with prompt=consent.
        location, verifier, _ = await pf.authorize(
            client, google_provider, scope="openid email", extra={"prompt": "consent"}
        )
        assert "refresh_token" not in await _redeem(client, google_provider, pf, location, verifier)
        location, _, _ = await pf.authorize(
            client, google_provider, scope="openid", extra={"access_type": "forever"}
        )
        assert location.params["error"] == "invalid_request"


@pytest.mark.mock_idp(headless_user="sarah@example.com")
async def test_headless_follows_the_same_rule(google_provider: MockProvider, pf: Any) -> None:
    async with google_provider.async_client() as client:
        location, verifier, _ = await pf.authorize(
            client, google_provider, scope="email", extra=OFFLINE
        )
        first = await _redeem(client, google_provider, pf, location, verifier)
        location, verifier, _ = await pf.authorize(
            client, google_provider, scope="email", extra=OFFLINE
        )
        assert "refresh_token" not in await _redeem(client, google_provider, pf, location, verifier)
        # Once the user's offline grant is revoked, the next offline grant is a first one.
        r = await client.post(
            google_provider.url("revoke"),
            data={
                "token": first["refresh_token"],
                "client_id": google_provider.client_id,
                "client_secret": google_provider.client_secret,
            },
        )
        assert r.status_code == 200
        location, verifier, _ = await pf.authorize(
            client, google_provider, scope="email", extra=OFFLINE
        )
        assert "refresh_token" in await _redeem(client, google_provider, pf, location, verifier)


@pytest.mark.mock_idp(headless_user="sarah@example.com")
async def test_token_response_id_token_and_refresh(google_provider: MockProvider, pf: Any) -> None:
    async with google_provider.async_client() as client:
        location, verifier, _ = await pf.authorize(
            client,
            google_provider,
            scope="openid email profile",
            extra={**OFFLINE, "nonce": "n-1"},
        )
        body = await _redeem(client, google_provider, pf, location, verifier)
        assert list(body) == [
            "access_token",
            "expires_in",
            "refresh_token",
            "scope",
            "token_type",
            "id_token",
        ]
        assert body["expires_in"] == 3599
        assert body["token_type"] == "Bearer"
        assert body["access_token"].startswith("ya29.")
        jwks = (await client.get(google_provider.url("jwks"))).json()
        header = pyjwt.get_unverified_header(body["id_token"])
        jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        claims = pyjwt.decode(
            body["id_token"],
            pyjwt.PyJWK.from_json(json.dumps(jwk)),
            algorithms=["RS256"],
            audience=google_provider.client_id,
            issuer="https://accounts.google.com",
        )
        assert claims["azp"] == google_provider.client_id
        assert claims["sub"] == "108234567890123456789"
        assert claims["email"] == "sarah@example.com"
        assert claims["email_verified"] is True
        assert claims["nonce"] == "n-1"
        assert claims["name"] == "Sarah Example"
        # Refresh: a new access token, no new refresh token, the old one keeps working.
        for _ in range(2):
            r = await pf.token(
                client,
                google_provider,
                {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                method="post",
            )
            assert r.status_code == 200
            assert "refresh_token" not in r.json()
            assert r.json()["expires_in"] == 3599
        userinfo = await client.get(
            google_provider.resource_url("/v1/userinfo"),
            headers=pf.bearer(r.json()["access_token"]),
        )
        assert userinfo.json()["email"] == "sarah@example.com"


async def test_userinfo_claims_follow_the_scopes(google_provider: MockProvider, pf: Any) -> None:
    async with google_provider.async_client() as client:
        for scopes, members in (
            (["openid"], {"sub"}),
            (["openid", "email"], {"sub", "email", "email_verified"}),
            (["profile"], {"sub", "name", "given_name", "family_name", "picture"}),
        ):
            r = await client.get(
                google_provider.resource_url("/v1/userinfo"),
                headers=pf.bearer(google_provider.mint(scopes=scopes)),
            )
            assert set(r.json()) == members
        r = await client.get(
            google_provider.resource_url("/v1/userinfo"), headers=pf.bearer("ya29.expired")
        )
        assert r.status_code == 401
        assert r.json() == {"error": "invalid_request", "error_description": "Invalid Credentials"}
        challenge = pf.challenge_params(r.headers["www-authenticate"])
        assert challenge == {
            "realm": "https://accounts.google.com/",
            "error": "invalid_token",
            "error_description": "The access token is invalid, expired or revoked.",
        }


async def test_google_errors(google_provider: MockProvider, pf: Any) -> None:
    async with google_provider.async_client() as client:
        location, _, _ = await pf.authorize(client, google_provider, scope=None)
        assert location.params["error"] == "invalid_request"
        assert location.params["error_description"] == "Missing required parameter: scope"
        r = await pf.token(
            client,
            google_provider,
            {
                "grant_type": "authorization_code",
                "code": "4/0AbCD",
                "redirect_uri": pf.CALLBACK,
            },
            method="post",
        )
        assert r.status_code == 400
        assert r.json() == {"error": "invalid_grant", "error_description": "Bad Request"}
        r = await pf.token(
            client,
            google_provider,
            {"grant_type": "refresh_token", "refresh_token": "1//0gone"},
            method="post",
        )
        assert r.json() == {
            "error": "invalid_grant",
            "error_description": "Token has been expired or revoked.",
        }
        r = await pf.token(
            client, google_provider, {"grant_type": "client_credentials"}, method="post"
        )
        assert r.json()["error"] == "unsupported_grant_type"
        assert r.json()["error_description"] == "Invalid grant_type: client_credentials"
