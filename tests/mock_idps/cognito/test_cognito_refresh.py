"""Refresh tokens: not rotated by default (the response has new ID and access tokens only,
and the same refresh token keeps working); rotation is an app-client option; lifetimes are
30 days by default or the app client's own."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp

pytestmark = pytest.mark.anyio


async def _refresh(client: httpx.AsyncClient, cflows: Any, token: str, **extra: str) -> Any:
    return await cflows.token_request(
        client, {"grant_type": "refresh_token", "refresh_token": token, **extra}
    )


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = pyjwt.decode(token, options={"verify_signature": False})
    return claims


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_no_rotation_by_default(cognito_idp: MockIdp, cflows: Any) -> None:
    async with cognito_idp.async_client() as client:
        first = await cflows.tokens(client)
        cognito_idp.clock.advance(600)
        for _ in range(2):  # the same refresh token works again and again
            r = await _refresh(client, cflows, first["refresh_token"])
            assert r.status_code == 200, r.text
            body = r.json()
            assert list(body) == ["id_token", "access_token", "expires_in", "token_type"]
    before, after = _claims(first["access_token"]), _claims(body["access_token"])
    assert after["iat"] == before["iat"] + 600
    assert after["auth_time"] == before["auth_time"]  # the original sign-in
    assert after["origin_jti"] == before["origin_jti"]
    assert after["event_id"] == before["event_id"]
    assert after["jti"] != before["jti"]
    assert after["scope"] == before["scope"]
    id_claims = _claims(body["id_token"])
    assert id_claims["origin_jti"] == before["origin_jti"]
    assert "nonce" not in id_claims


async def test_refresh_ignores_scope_and_is_bound_to_its_client(
    cognito: httpx.AsyncClient, cflows: Any
) -> None:
    first = await cflows.tokens(cognito)
    r = await _refresh(cognito, cflows, first["refresh_token"], scope="openid")
    assert r.status_code == 200
    assert _claims(r.json()["access_token"])["scope"] == _claims(first["access_token"])["scope"]
    r = await cflows.token_request(
        cognito,
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": cflows.SPA,
        },
        auth=None,
    )
    assert (r.status_code, r.json()) == (400, {"error": "invalid_grant"})
    r = await _refresh(cognito, cflows, "not-a-refresh-token")
    assert (r.status_code, r.json()) == (400, {"error": "invalid_grant"})
    r = await cflows.token_request(cognito, {"grant_type": "refresh_token"})
    assert (r.status_code, r.json()) == (400, {"error": "invalid_request"})


async def test_refresh_token_looks_like_cognitos(cognito: httpx.AsyncClient, cflows: Any) -> None:
    token = (await cflows.tokens(cognito))["refresh_token"]
    parts = token.split(".")
    assert len(parts) == 5  # a compact JWE, opaque to the client
    header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    assert header == {"cty": "JWT", "enc": "A256GCM", "alg": "RSA-OAEP"}
    with pytest.raises(pyjwt.DecodeError):
        pyjwt.decode(token, options={"verify_signature": False})


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_refresh_tokens_expire_after_30_days(cognito_idp: MockIdp, cflows: Any) -> None:
    async with cognito_idp.async_client() as client:
        first = await cflows.tokens(client)
        cognito_idp.clock.advance(30 * 86_400 - 1)
        assert (await _refresh(client, cflows, first["refresh_token"])).status_code == 200
        cognito_idp.clock.advance(1)
        r = await _refresh(client, cflows, first["refresh_token"])
    assert (r.status_code, r.json()) == (400, {"error": "invalid_grant"})


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_rotation_when_the_app_client_enables_it(cognito_idp: MockIdp, cflows: Any) -> None:
    data = cognito_idp.config.model_dump()
    data["clients"][0]["vendor"] = {"refresh_token_rotation": True, "refresh_token_validity": 3600}
    data["refresh_reuse_grace"] = 10  # Cognito's RetryGracePeriodSeconds (0-60)
    cognito_idp.configure(data)
    async with cognito_idp.async_client() as client:
        first = await cflows.tokens(client)
        r = await _refresh(client, cflows, first["refresh_token"])
        second = r.json()
        assert list(second) == [
            "id_token",
            "access_token",
            "refresh_token",
            "expires_in",
            "token_type",
        ]
        assert second["refresh_token"] != first["refresh_token"]
        cognito_idp.clock.advance(5)  # within the grace period: a client retry works
        assert (await _refresh(client, cflows, first["refresh_token"])).status_code == 200
        cognito_idp.clock.advance(10)
        r = await _refresh(client, cflows, first["refresh_token"])
        assert (r.status_code, r.json()) == (400, {"error": "invalid_grant"})


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_app_client_refresh_validity(cognito_idp: MockIdp, cflows: Any) -> None:
    data = cognito_idp.config.model_dump()
    data["clients"][0]["vendor"] = {"refresh_token_validity": 3600}
    cognito_idp.configure(data)
    async with cognito_idp.async_client() as client:
        first = await cflows.tokens(client)
        cognito_idp.clock.advance(3599)
        assert (await _refresh(client, cflows, first["refresh_token"])).status_code == 200
        cognito_idp.clock.advance(1)
        r = await _refresh(client, cflows, first["refresh_token"])
    assert r.json() == {"error": "invalid_grant"}
