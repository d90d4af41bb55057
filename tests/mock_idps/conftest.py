"""Shared fixtures of the mock IdP tests, and the Okta tests' helpers: the code flow
through the pages, token requests, Okta's verifier (``flows``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from proctor.mock_idps import server as mock_server
from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.mock_idps.testing import pkce_pair, redirected_to, sign_in

from .verifiers import verify_okta

__all__ = [  # the helper namespace the fixture hands to tests
    "AGENT",
    "AGENT_SECRET",
    "CALLBACK",
    "SARAH",
    "SPA",
    "SPA_CALLBACK",
    "code_flow",
    "pkce_pair",
    "token_request",
    "tokens",
    "verify_okta",
]

AGENT = "0oaproctoragent0app7"
AGENT_SECRET = "proctor-demo-agent-secret"
SPA = "0oaproctorspa000app7"
CALLBACK = "http://127.0.0.1:8700/oauth2/callback"
SPA_CALLBACK = "http://127.0.0.1:3000/callback"
SARAH = "sarah@example.com"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``proctor idp`` without serving: the foreground server records what it was given
    (``app``, ``port``, ``tls``) instead of listening."""
    calls: dict[str, Any] = {}

    def fake_serve(app_: Any, *, port: int, tls: Any = None) -> None:
        calls.update(app=app_, port=port, tls=tls)

    monkeypatch.setattr(mock_server, "serve", fake_serve)
    return calls


async def code_flow(
    client: httpx.AsyncClient,
    *,
    server: str = "default",
    client_id: str = AGENT,
    redirect_uri: str = CALLBACK,
    scope: str = "openid profile email offline_access crm.read",
    username: str = SARAH,
    password: str = "sarah-password",  # noqa: S107
    state: str = "xyz",
    nonce: str = "n-0S6",
    pkce: bool = True,
) -> tuple[str, str]:
    """Sign in through the HTML pages and consent; returns ``(code, code_verifier)``."""
    verifier, challenge = pkce_pair()
    prefix = "/oauth2/v1" if server == "org" else f"/oauth2/{server}/v1"
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": scope,
        "state": state,
        "nonce": nonce,
    }
    if pkce:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    r, _ = await sign_in(
        client, f"{prefix}/authorize", params, username=username, password=password
    )
    location = redirected_to(r, redirect_uri)
    assert location.params["state"] == state
    return location.params["code"], verifier


async def token_request(
    client: httpx.AsyncClient,
    data: dict[str, str],
    *,
    server: str = "default",
    auth: tuple[str, str] | None = (AGENT, AGENT_SECRET),
) -> httpx.Response:
    prefix = "/oauth2/v1" if server == "org" else f"/oauth2/{server}/v1"
    return await client.post(f"{prefix}/token", data=data, auth=auth or httpx.USE_CLIENT_DEFAULT)


async def tokens(client: httpx.AsyncClient, **kwargs: Any) -> dict[str, Any]:
    """The full code flow with PKCE through the pages; returns the token response."""
    server = kwargs.get("server", "default")
    code, verifier = await code_flow(client, **kwargs)
    r = await token_request(
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": kwargs.get("redirect_uri", CALLBACK),
            "code_verifier": verifier,
        },
        server=server,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
def flows() -> ModuleType:
    """This module's helpers and constants for the Okta tests (``flows.code_flow``,
    ``flows.AGENT``, ...)."""
    return sys.modules[__name__]


def _client_of(idp_fixture: str) -> Any:
    @pytest.fixture
    async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
        idp: MockIdp = request.getfixturevalue(idp_fixture)
        async with idp.async_client() as http:
            yield http

    client.__doc__ = f"An async client on the ``{idp_fixture}`` emulator."
    return client


okta = _client_of("okta_idp")
entra = _client_of("entra_idp")
cognito = _client_of("cognito_idp")  # either Cognito host reaches it
