"""Shared helpers for the mock third-party provider tests: the authorization code flow
through the provider's pages (httpx following the forms, as a browser would), token
requests with correct client authentication, and bearer headers."""

from __future__ import annotations

import re
import sys
from types import ModuleType
from urllib.parse import quote_plus

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockProvider
from proctor.mock_idps.testing import pkce_pair, redirected_to, sign_in

__all__ = [  # the helper namespace the fixture hands to tests
    "CALLBACK",
    "SARAH",
    "authorize",
    "bearer",
    "challenge_params",
    "client_auth",
    "code_tokens",
    "token",
]


CALLBACK = "http://127.0.0.1:8700/oauth2/callback"
SARAH = "sarah@example.com"


async def authorize(
    client: httpx.AsyncClient,
    provider: MockProvider,
    *,
    scope: str | None = None,
    extra: dict[str, str] | None = None,
    username: str = SARAH,
    password: str = "sarah-password",  # noqa: S107
    decision: str = "allow",
    pkce: bool = True,
    state: str = "st-1",
) -> tuple[httpx.URL, str, list[str]]:
    """Start an authorization and go through the login and consent pages.

    Returns the callback URL the provider redirected to, the PKCE verifier, and the pages
    shown on the way (``login``, ``consent``)."""
    verifier, challenge = pkce_pair()
    params = {
        "client_id": provider.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "state": state,
    }
    if scope is not None:
        params["scope"] = scope
    if pkce:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra or {})
    r, shown = await sign_in(
        client,
        provider.url("authorize"),
        params,
        username=username,
        password=password,
        decision=decision,
    )
    return redirected_to(r, CALLBACK), verifier, shown


def client_auth(provider: MockProvider) -> tuple[str, str]:
    """``client_secret_basic`` done right: both halves form-encoded (RFC 6749 §2.3.1)."""
    return quote_plus(provider.client_id), quote_plus(provider.client_secret)


async def token(
    client: httpx.AsyncClient,
    provider: MockProvider,
    data: dict[str, str],
    *,
    method: str = "basic",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A token request with the provider's client authentication (``basic`` or ``post``)."""
    if method == "post":
        data = {**data, "client_id": provider.client_id, "client_secret": provider.client_secret}
        return await client.post(provider.url("token"), data=data, headers=headers)
    return await client.post(
        provider.url("token"), data=data, auth=client_auth(provider), headers=headers
    )


async def code_tokens(
    client: httpx.AsyncClient,
    provider: MockProvider,
    *,
    scope: str | None = None,
    extra: dict[str, str] | None = None,
    token_extra: dict[str, str] | None = None,
    method: str = "basic",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """The whole code flow with PKCE; returns the token endpoint's response."""
    location, verifier, _ = await authorize(client, provider, scope=scope, extra=extra)
    data = {
        "grant_type": "authorization_code",
        "code": location.params["code"],
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
        **(token_extra or {}),
    }
    return await token(client, provider, data, method=method, headers=headers)


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def challenge_params(header: str) -> dict[str, str]:
    """The auth-params of a ``Bearer`` challenge (RFC 6750 §3), unquoted."""
    scheme, _, rest = header.partition(" ")
    assert scheme == "Bearer"
    pairs = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"(?:, |$)', rest)
    assert ", ".join(f'{k}="{v}"' for k, v in pairs) == rest, header
    return {k: re.sub(r"\\(.)", r"\1", v) for k, v in pairs}


@pytest.fixture
def pf() -> ModuleType:
    """This module's helpers and constants for the provider tests (``pf.code_tokens``,
    ``pf.bearer``, ...)."""
    return sys.modules[__name__]
