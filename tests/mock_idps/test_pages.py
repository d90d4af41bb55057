"""The hosted pages: sign in and consent through the HTML forms, as a browser would
(httpx following redirects), plus prompt handling, assignment, headless mode, logout."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.mock_idps.testing import parse_forms

pytestmark = pytest.mark.anyio


def _params(flows: Any, **extra: str) -> dict[str, str]:
    _, challenge = flows.pkce_pair()
    return {
        "client_id": flows.AGENT,
        "redirect_uri": flows.CALLBACK,
        "response_type": "code",
        "scope": "openid crm.read",
        "state": "s-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


class _Browser:
    """Follows redirects within the IdP and stops at the client's redirect URI."""

    def __init__(self, client: httpx.AsyncClient, stop: str) -> None:
        self.client, self.stop = client, stop

    async def go(self, response: httpx.Response) -> httpx.Response:
        while response.is_redirect and not response.headers["location"].startswith(self.stop):
            response = await self.client.get(response.headers["location"])
        return response


async def test_login_and_consent_forms(okta: httpx.AsyncClient, flows: Any) -> None:
    browser = _Browser(okta, flows.CALLBACK)
    page = await browser.go(await okta.get("/oauth2/default/v1/authorize", params=_params(flows)))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    login = parse_forms(page.text)["login"]
    assert login.action == "/login/login.htm"
    assert login.method == "POST"
    assert {"transaction", "username", "password"} <= set(login.fields)
    page = await okta.post(
        login.action, data=login.fill(username=flows.SARAH, password="sarah-password")
    )
    assert page.status_code == 200
    assert "set-cookie" in page.headers
    assert "HttpOnly" in page.headers["set-cookie"]
    consent = parse_forms(page.text)["consent"]
    assert consent.buttons["decision"] == ["allow", "deny"]
    assert "crm.read" in page.text
    assert "Agent app" in page.text
    done = await okta.post(consent.action, data=consent.fill(decision="allow"))
    assert done.status_code == 302
    location = httpx.URL(done.headers["location"])
    assert location.params["state"] == "s-1"
    assert location.params["code"]

    # Signed in and consented: the next authorization goes straight back with a code.
    again = await browser.go(
        await okta.get("/oauth2/default/v1/authorize", params=_params(flows, state="s-2"))
    )
    assert again.status_code == 302
    assert httpx.URL(again.headers["location"]).params["state"] == "s-2"


async def test_wrong_password_shows_the_form_again(okta: httpx.AsyncClient, flows: Any) -> None:
    browser = _Browser(okta, flows.CALLBACK)
    page = await browser.go(await okta.get("/oauth2/default/v1/authorize", params=_params(flows)))
    login = parse_forms(page.text)["login"]
    page = await okta.post(login.action, data=login.fill(username=flows.SARAH, password="nope"))
    assert page.status_code == 401
    assert "Unable to sign in" in page.text
    assert "sarah-password" not in page.text
    assert parse_forms(page.text)["login"].fields["username"] == flows.SARAH


async def test_denying_consent_redirects_access_denied(okta: httpx.AsyncClient, flows: Any) -> None:
    browser = _Browser(okta, flows.CALLBACK)
    page = await browser.go(await okta.get("/oauth2/default/v1/authorize", params=_params(flows)))
    login = parse_forms(page.text)["login"]
    page = await okta.post(
        login.action, data=login.fill(username=flows.SARAH, password="sarah-password")
    )
    consent = parse_forms(page.text)["consent"]
    done = await okta.post(consent.action, data=consent.fill(decision="deny"))
    location = httpx.URL(done.headers["location"])
    assert location.params["error"] == "access_denied"
    assert location.params["state"] == "s-1"


async def test_the_transaction_is_single_use(okta: httpx.AsyncClient, flows: Any) -> None:
    browser = _Browser(okta, flows.CALLBACK)
    page = await browser.go(await okta.get("/oauth2/default/v1/authorize", params=_params(flows)))
    login = parse_forms(page.text)["login"]
    data = login.fill(username="bob@example.com", password="bob-password")
    page = await okta.post(login.action, data=data)
    consent = parse_forms(page.text)["consent"]
    await okta.post(consent.action, data=consent.fill(decision="allow"))
    replay = await okta.post(login.action, data=data)
    assert replay.status_code == 400
    assert "transaction" in replay.text


async def test_prompt_none_without_a_session(okta: httpx.AsyncClient, flows: Any) -> None:
    r = await okta.get("/oauth2/default/v1/authorize", params=_params(flows, prompt="none"))
    location = httpx.URL(r.headers["location"])
    assert location.params["error"] == "login_required"
    assert location.params["error_description"] == (
        "The client specified not to prompt, but the user is not logged in."
    )


@pytest.mark.mock_idp(headless_user="bob@example.com")
async def test_headless_mode_approves_at_once(okta_idp: MockIdp, flows: Any) -> None:
    async with okta_idp.async_client() as client:
        r = await client.get("/oauth2/default/v1/authorize", params=_params(flows))
        assert r.status_code == 302
        code = httpx.URL(r.headers["location"]).params["code"]
        okta_idp.headless(None)
        r = await client.get("/oauth2/default/v1/authorize", params=_params(flows))
        assert r.headers["location"].startswith("/login/login.htm")
    assert code


async def test_unassigned_user_is_denied(okta_idp: MockIdp, flows: Any) -> None:
    data = okta_idp.config.model_dump()
    data["clients"][0]["assigned_users"] = ["sarah@example.com"]
    okta_idp.configure(data)
    async with okta_idp.async_client() as client:
        page = await _Browser(client, flows.CALLBACK).go(
            await client.get("/oauth2/default/v1/authorize", params=_params(flows))
        )
        login = parse_forms(page.text)["login"]
        r = await client.post(
            login.action, data=login.fill(username="bob@example.com", password="bob-password")
        )
        location = httpx.URL(r.headers["location"])
        assert location.params["error"] == "access_denied"
        assert location.params["error_description"] == (
            "User is not assigned to the client application."
        )


async def test_policy_denial_uses_oktas_wording(okta_idp: MockIdp, flows: Any) -> None:
    data = okta_idp.config.model_dump()
    data["apis"][0]["clients"] = [flows.SPA]
    okta_idp.configure(data)
    async with okta_idp.async_client() as client:
        r = await client.get("/oauth2/default/v1/authorize", params=_params(flows))
        location = httpx.URL(r.headers["location"])
        assert location.params["error"] == "access_denied"
        assert location.params["error_description"] == (
            "Policy evaluation failed for this request, please check the policy configurations."
        )
        r = await flows.token_request(
            client, {"grant_type": "client_credentials", "scope": "crm.read"}
        )
        assert r.json()["error"] == "access_denied"


async def test_bad_client_or_redirect_uri_never_redirects(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    r = await okta.get(
        "/oauth2/default/v1/authorize",
        params=_params(flows, redirect_uri="http://127.0.0.1:8700/oauth2/callback/evil"),
    )
    assert r.status_code == 400
    assert "location" not in r.headers
    assert "Login redirect URI" in r.text
    r = await okta.get("/oauth2/default/v1/authorize", params=_params(flows, client_id="0oanope"))
    assert r.status_code == 400
    assert "location" not in r.headers
    # Exact matching: trailing slash, case and port all matter.
    for uri in (
        "http://127.0.0.1:8700/oauth2/callback/",
        "HTTP://127.0.0.1:8700/oauth2/callback",
        "http://127.0.0.1:8701/oauth2/callback",
    ):
        r = await okta.get("/oauth2/default/v1/authorize", params=_params(flows, redirect_uri=uri))
        assert r.status_code == 400


async def test_logout_ends_the_session(okta: httpx.AsyncClient, flows: Any) -> None:
    tokens = await flows.tokens(okta)
    r = await okta.get(
        "/oauth2/default/v1/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:8700/",
            "state": "bye",
        },
    )
    assert r.status_code == 302
    assert r.headers["location"] == "http://127.0.0.1:8700/?state=bye"
    r = await okta.get("/oauth2/default/v1/authorize", params=_params(flows, prompt="none"))
    assert httpx.URL(r.headers["location"]).params["error"] == "login_required"
    r = await okta.get(
        "/oauth2/default/v1/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://evil/"},
    )
    assert r.status_code == 400


def test_sync_client_drives_the_pages(okta_idp: MockIdp, flows: Any) -> None:
    client = okta_idp.client()
    r = client.get("/oauth2/default/v1/authorize", params=_params(flows), follow_redirects=True)
    assert r.status_code == 200
    login = parse_forms(r.text)["login"]
    r = client.post(login.action, data=login.fill(username=flows.SARAH, password="sarah-password"))
    assert "consent" in parse_forms(r.text)
