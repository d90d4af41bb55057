"""Helpers for the Entra emulator tests: Entra's own token-validation rules run by an
independent verifier (PyJWT against the published JWKS), and the sign-in flows."""

from __future__ import annotations

import sys
import uuid
from types import ModuleType
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.testing import pkce_pair, sign_in

from ..verifiers import LOGIN, STS
from ..verifiers import expected_entra_issuer as issuer
from ..verifiers import verify_entra as verify

__all__ = [  # the helper namespace the fixture hands to tests
    "AGENT",
    "AGENT_SECRET",
    "CALLBACK",
    "CONSUMERS",
    "CRM_APP",
    "CRM_SECRET",
    "CRM_URI",
    "DOCS_APP",
    "DOCS_URI",
    "FABRIKAM",
    "FATIMA",
    "GRAPH_APP",
    "LOGIN",
    "SARAH",
    "SARAH_OID",
    "SPA",
    "SPA_CALLBACK",
    "STS",
    "TENANT",
    "assert_aadsts",
    "authorize",
    "claims",
    "client_credentials",
    "code_flow",
    "header",
    "issuer",
    "jwks",
    "pkce_pair",
    "token_request",
    "tokens",
    "verify",
]

TENANT = "b7c3d9e1-4f2a-4c8b-9e6d-1a2b3c4d5e6f"
FABRIKAM = "5f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
CONSUMERS = "9188040d-6c67-4c5b-b112-36a304b66dad"
AGENT = "a9e1c7f2-3b4d-4e5f-8a6b-7c8d9e0f1a2b"
AGENT_SECRET = "proctor-demo-agent-secret"
SPA = "d3b07384-d9a0-4c9b-8a1e-5f2c6e7a8b90"
CRM_APP = "e4c1f5a2-6b7d-4c8e-9f0a-1b2c3d4e5f60"
CRM_SECRET = "proctor-demo-crm-api-secret"
CRM_URI = "api://proctor-crm"
DOCS_APP = "f5d2a6b3-7c8e-4d9f-a0b1-2c3d4e5f6071"
DOCS_URI = "https://docs.contoso.example"
GRAPH_APP = "00000003-0000-0000-c000-000000000000"
CALLBACK = "http://127.0.0.1:8700/oauth2/callback"
SPA_CALLBACK = "http://127.0.0.1:3000/callback"
SARAH = "sarah@contoso.example"
SARAH_OID = "1c0ffee0-5a7a-4b1e-8c2d-3e4f5a6b7c8d"
FATIMA = "fatima@fabrikam.example"
PASSWORDS = {
    SARAH: "sarah-password",
    "bob@contoso.example": "bob-password",
    FATIMA: "fatima-password",
}


def header(token: str) -> dict[str, Any]:
    value: dict[str, Any] = pyjwt.get_unverified_header(token)
    return value


def claims(token: str) -> dict[str, Any]:
    value: dict[str, Any] = pyjwt.decode(token, options={"verify_signature": False})
    return value


def prefix(segment: str, version: int) -> str:
    return f"/{segment}/oauth2/v2.0" if version == 2 else f"/{segment}/oauth2"


async def jwks(client: httpx.AsyncClient, segment: str = TENANT, version: int = 2) -> Any:
    path = f"/{segment}/discovery/v2.0/keys" if version == 2 else f"/{segment}/discovery/keys"
    r = await client.get(path)
    assert r.status_code == 200, r.text
    return r.json()


async def authorize(
    client: httpx.AsyncClient,
    params: dict[str, str],
    *,
    segment: str = TENANT,
    version: int = 2,
    username: str = SARAH,
) -> httpx.Response:
    """Send an authorization request and walk the sign-in and consent pages; returns the
    final redirect to the client (or whatever page stopped the walk)."""
    authorize_url = f"{prefix(segment, version)}/authorize"
    r, _ = await sign_in(
        client, authorize_url, params, username=username, password=PASSWORDS[username]
    )
    return r


async def code_flow(
    client: httpx.AsyncClient,
    *,
    segment: str = TENANT,
    version: int = 2,
    client_id: str = AGENT,
    redirect_uri: str = CALLBACK,
    scope: str | None = f"openid profile email offline_access {CRM_URI}/crm.read",
    resource: str | None = None,
    username: str = SARAH,
    nonce: str = "n-0S6",
    pkce: bool = True,
) -> tuple[str, str]:
    """Sign in through the pages; returns ``(code, code_verifier)``."""
    verifier, challenge = pkce_pair()
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "state": "st-1",
        "nonce": nonce,
    }
    if scope is not None:
        params["scope"] = scope
    if resource is not None:
        params["resource"] = resource
    if pkce:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    r = await authorize(client, params, segment=segment, version=version, username=username)
    assert r.status_code == 302, r.text
    location = httpx.URL(r.headers["location"])
    assert "code" in location.params, str(location)
    return location.params["code"], verifier


async def token_request(
    client: httpx.AsyncClient,
    data: dict[str, str],
    *,
    segment: str = TENANT,
    version: int = 2,
    auth: tuple[str, str] | None = (AGENT, AGENT_SECRET),
) -> httpx.Response:
    if auth is not None:
        data = {**data, "client_id": auth[0], "client_secret": auth[1]}
    return await client.post(f"{prefix(segment, version)}/token", data=data)


async def tokens(client: httpx.AsyncClient, **kwargs: Any) -> dict[str, Any]:
    """The code flow with PKCE through the pages, then the token request."""
    segment = kwargs.get("segment", TENANT)
    version = kwargs.get("version", 2)
    auth = kwargs.pop("auth", (AGENT, AGENT_SECRET))
    code, verifier = await code_flow(client, **kwargs)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": kwargs.get("redirect_uri", CALLBACK),
        "code_verifier": verifier,
    }
    if auth is None:
        data["client_id"] = kwargs.get("client_id", AGENT)
    r = await token_request(client, data, segment=segment, version=version, auth=auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def client_credentials(
    client: httpx.AsyncClient,
    *,
    scope: str | None = f"{CRM_URI}/.default",
    resource: str | None = None,
    segment: str = TENANT,
    version: int = 2,
    auth: tuple[str, str] = (AGENT, AGENT_SECRET),
) -> httpx.Response:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    if resource is not None:
        data["resource"] = resource
    return await token_request(client, data, segment=segment, version=version, auth=auth)


def assert_aadsts(response: httpx.Response, code: int, error: str, status: int = 400) -> None:
    """Entra's error body: the code in ``error_codes`` and at the start of a
    description that ends with trace ID, correlation ID and timestamp lines."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert body["error_codes"] == [code], body
    lines = body["error_description"].split("\r\n")
    assert lines[0].startswith(f"AADSTS{code}: "), lines[0]
    assert lines[1] == f"Trace ID: {body['trace_id']}"
    assert lines[2] == f"Correlation ID: {body['correlation_id']}"
    assert lines[3] == f"Timestamp: {body['timestamp']}"
    uuid.UUID(body["trace_id"])
    uuid.UUID(body["correlation_id"])
    assert body["error_uri"].endswith(f"/error?code={code}")


@pytest.fixture
def aad() -> ModuleType:
    """This module's helpers and constants for the Entra tests (``aad.tokens``,
    ``aad.TENANT``, ...)."""
    return sys.modules[__name__]
