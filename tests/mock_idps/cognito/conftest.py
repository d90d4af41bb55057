"""Shared helpers for the Cognito emulator tests: Cognito's own verification rules (PyJWT
against the published JWKS, as aws-jwt-verify does it) and the hosted sign-in flow."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import httpx
import pytest

from proctor.mock_idps import testing
from proctor.mock_idps.testing import pkce_pair, redirected_to

from .. import verifiers
from ..verifiers import jwk_for as key_for

__all__ = [  # the helper namespace the fixture hands to tests
    "CALLBACK",
    "DISCOVERY",
    "DOMAIN",
    "ISSUER",
    "JWKS",
    "M2M",
    "M2M_SECRET",
    "POOL",
    "SARAH_SUB",
    "SPA",
    "SPA_CALLBACK",
    "TOKEN",
    "WEB",
    "WEB_SECRET",
    "jwks",
    "key_for",
    "sign_in",
    "token_request",
    "tokens",
    "verify",
]

POOL = "us-east-1_Pr0ct0r42"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
DOMAIN = "https://proctor-demo.auth.us-east-1.amazoncognito.com"
JWKS = f"{ISSUER}/.well-known/jwks.json"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"
TOKEN = f"{DOMAIN}/oauth2/token"
WEB = "6proctorwebapp0client00001"
WEB_SECRET = "1proctordemowebclientsecret000000000000000000000000"
SPA = "6proctorspa000client000002"
M2M = "6proctorm2m000client000003"
M2M_SECRET = "1proctordemom2mclientsecret000000000000000000000000"
CALLBACK = "http://127.0.0.1:8700/oauth2/callback"
SPA_CALLBACK = "http://127.0.0.1:3000/callback"
SARAH_SUB = "54c8e4a8-1021-70d1-3c2b-6f2a9e0d5b11"


def verify(
    token: str,
    jwks: dict[str, Any],
    *,
    client_id: str,
    token_use: str | None,
    issuer: str = ISSUER,
) -> dict[str, Any]:
    """Cognito's rules (:func:`..verifiers.verify_cognito`) for this pool's issuer."""
    return verifiers.verify_cognito(
        token, jwks, client_id=client_id, token_use=token_use, issuer=issuer
    )


async def sign_in(
    client: httpx.AsyncClient,
    *,
    client_id: str = WEB,
    redirect_uri: str = CALLBACK,
    scope: str | None = "openid email profile crm-api/notes.read",
    username: str = "sarah",
    password: str = "sarah-password",  # noqa: S107
    state: str = "st-1",
    nonce: str | None = "n-1",
) -> tuple[str, str]:
    """The hosted sign-in on the pool domain; returns ``(code, code_verifier)``."""
    verifier, challenge = pkce_pair()
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if scope is not None:
        params["scope"] = scope
    if nonce is not None:
        params["nonce"] = nonce
    authorize_url = f"{DOMAIN}/oauth2/authorize"
    r, _ = await testing.sign_in(
        client, authorize_url, params, username=username, password=password
    )
    location = redirected_to(r, redirect_uri)
    assert location.params["state"] == state
    return location.params["code"], verifier


async def token_request(
    client: httpx.AsyncClient,
    data: dict[str, str],
    *,
    auth: tuple[str, str] | None = (WEB, WEB_SECRET),
) -> httpx.Response:
    return await client.post(TOKEN, data=data, auth=auth or httpx.USE_CLIENT_DEFAULT)


async def tokens(client: httpx.AsyncClient, **kwargs: Any) -> dict[str, Any]:
    """The code flow with PKCE through the hosted pages; the token response."""
    code, verifier = await sign_in(client, **kwargs)
    client_id = kwargs.get("client_id", WEB)
    r = await token_request(
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": kwargs.get("redirect_uri", CALLBACK),
            "code_verifier": verifier,
            "client_id": client_id,
        },
        auth=(WEB, WEB_SECRET) if client_id == WEB else None,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def jwks(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get(JWKS)
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
def cflows() -> ModuleType:
    """This module's helpers and constants for the Cognito tests (``cflows.tokens``,
    ``cflows.WEB``, ...)."""
    return sys.modules[__name__]
