"""Shared helpers for the mock IdP tests: an independent verifier (PyJWT) and flows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.mock_idps.testing import parse_forms, pkce_pair

from .verifiers import verify_okta

AGENT = "0oaproctoragent0app7"
AGENT_SECRET = "proctor-demo-agent-secret"
SPA = "0oaproctorspa000app7"
CALLBACK = "http://127.0.0.1:8700/oauth2/callback"
SPA_CALLBACK = "http://127.0.0.1:3000/callback"
SARAH = "sarah@example.com"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
    r = await client.get(f"{prefix}/authorize", params=params)
    while r.status_code == 302 and not r.headers["location"].startswith(redirect_uri):
        r = await client.get(r.headers["location"])
    if r.status_code == 200 and "login" in parse_forms(r.text):
        form = parse_forms(r.text)["login"]
        r = await client.post(form.action, data=form.fill(username=username, password=password))
    if r.status_code == 200 and "consent" in parse_forms(r.text):
        form = parse_forms(r.text)["consent"]
        r = await client.post(form.action, data=form.fill(decision="allow"))
    assert r.status_code == 302, r.text
    location = httpx.URL(r.headers["location"])
    assert str(location).startswith(redirect_uri)
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


async def tokens_via_pages(client: httpx.AsyncClient, **kwargs: Any) -> dict[str, Any]:
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


class Flows:
    """The helpers above, handed to tests as the ``flows`` fixture (test modules cannot
    import conftest under ``--import-mode=importlib``)."""

    AGENT = AGENT
    AGENT_SECRET = AGENT_SECRET
    SPA = SPA
    CALLBACK = CALLBACK
    SPA_CALLBACK = SPA_CALLBACK
    SARAH = SARAH
    verify_okta = staticmethod(verify_okta)
    code_flow = staticmethod(code_flow)
    token_request = staticmethod(token_request)
    tokens = staticmethod(tokens_via_pages)
    pkce_pair = staticmethod(pkce_pair)


@pytest.fixture
def flows() -> type[Flows]:
    return Flows


@pytest.fixture
async def okta(okta_idp: MockIdp) -> AsyncIterator[httpx.AsyncClient]:
    """An async client on the ``okta_idp`` emulator."""
    async with okta_idp.async_client() as client:
        yield client
