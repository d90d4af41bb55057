"""The GitHub preset: form-encoded token responses unless JSON is accepted, errors with
HTTP 200, non-expiring OAuth-app tokens, expiring user tokens with refresh, the user API."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockProvider

pytestmark = pytest.mark.anyio

JSON = {"accept": "application/json"}
EXPIRING = {  # a GitHub App with expiring user tokens
    "users": [{"username": "sarah-example", "password": "pw", "id": "1001"}],
    "clients": [
        {
            "client_id": "Iv1.proctor",
            "client_secret": "s3cret",
            "redirect_uris": ["http://127.0.0.1:8700/oauth2/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
        }
    ],
    "apis": [{"id": "github", "audience": "https://api.github.com", "scopes": ["repo"]}],
    "vendor": {"expiring_user_tokens": True},
    "headless_user": "sarah-example",
}


def _form(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/x-www-form-urlencoded")
    return dict(parse_qsl(response.text, keep_blank_values=True))


async def test_paths_and_no_metadata(github_provider: MockProvider) -> None:
    assert github_provider.url("authorize") == "https://github.com/login/oauth/authorize"
    assert github_provider.url("token") == "https://github.com/login/oauth/access_token"
    assert github_provider.metadata_url() is None
    async with github_provider.async_client() as client:
        assert (await client.get("/.well-known/oauth-authorization-server")).status_code == 404


async def test_form_encoded_unless_json_is_accepted(github_provider: MockProvider, pf: Any) -> None:
    async with github_provider.async_client() as client:
        r = await pf.code_tokens(client, github_provider, scope="repo user:email", method="post")
        assert r.status_code == 200
        body = _form(r)
        assert list(body) == ["access_token", "scope", "token_type"]
        assert body["scope"] == "repo,user:email"  # comma-separated
        assert body["token_type"] == "bearer"
        assert body["access_token"].startswith("gho_")
        assert len(body["access_token"]) == 40
        r = await pf.code_tokens(
            client, github_provider, scope="read:user", method="post", headers=JSON
        )
        assert r.headers["content-type"] == "application/json"
        assert r.json()["scope"] == "read:user"
        assert r.json()["token_type"] == "bearer"


async def test_errors_come_with_status_200(github_provider: MockProvider, pf: Any) -> None:
    bad_code = {
        "grant_type": "authorization_code",
        "code": "deadbeef",
        "redirect_uri": pf.CALLBACK,
    }
    async with github_provider.async_client() as client:
        r = await pf.token(client, github_provider, bad_code, method="post")
        assert r.status_code == 200
        body = _form(r)
        assert body["error"] == "bad_verification_code"
        assert body["error_description"] == "The code passed is incorrect or expired."
        assert body["error_uri"].endswith("#bad-verification-code")
        r = await pf.token(client, github_provider, bad_code, method="post", headers=JSON)
        assert r.status_code == 200
        assert r.json()["error"] == "bad_verification_code"
        r = await client.post(
            github_provider.url("token"),
            data={**bad_code, "client_id": github_provider.client_id, "client_secret": "wrong"},
            headers=JSON,
        )
        assert r.status_code == 200
        assert r.json() == {
            "error": "incorrect_client_credentials",
            "error_description": "The client_id and/or client_secret passed are incorrect.",
            "error_uri": "https://docs.github.com/apps/managing-oauth-apps/"
            "troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials",
        }
        location, verifier, _ = await pf.authorize(client, github_provider, scope="repo")
        r = await pf.token(
            client,
            github_provider,
            {
                "grant_type": "authorization_code",
                "code": location.params["code"],
                "redirect_uri": pf.CALLBACK + "/other",
                "code_verifier": verifier,
            },
            method="post",
            headers=JSON,
        )
        assert r.status_code == 200
        assert r.json()["error"] == "redirect_uri_mismatch"
        # Refresh tokens do not exist for OAuth-app tokens.
        r = await pf.token(
            client,
            github_provider,
            {"grant_type": "refresh_token", "refresh_token": "ghr_x"},
            method="post",
            headers=JSON,
        )
        assert r.status_code == 200
        assert r.json()["error"] == "unsupported_grant_type"


@pytest.mark.mock_idp(frozen_at=1_800_000_000)
async def test_oauth_app_tokens_do_not_expire(github_provider: MockProvider, pf: Any) -> None:
    async with github_provider.async_client() as client:
        r = await pf.code_tokens(client, github_provider, method="post", headers=JSON)
        body = r.json()
        assert "expires_in" not in body
        assert "refresh_token" not in body
        assert body["scope"] == ""  # no scope requested: none granted
        github_provider.clock.advance(5 * 365 * 86_400)
        user = await client.get(
            github_provider.resource_url("/user"), headers=pf.bearer(body["access_token"])
        )
    assert user.status_code == 200
    assert user.json()["login"] == "sarah-example"
    assert user.json()["id"] == 1001


@pytest.mark.mock_idp(frozen_at=1_800_000_000, config=EXPIRING)
async def test_expiring_user_tokens(github_provider: MockProvider, pf: Any) -> None:
    async with github_provider.async_client() as client:
        r = await pf.code_tokens(client, github_provider, method="post", headers=JSON)
        first = r.json()
        assert list(first) == [
            "access_token",
            "expires_in",
            "refresh_token",
            "refresh_token_expires_in",
            "scope",
            "token_type",
        ]
        assert first["access_token"].startswith("ghu_")
        assert first["refresh_token"].startswith("ghr_")
        assert first["expires_in"] == 28_800
        assert first["refresh_token_expires_in"] == 15_897_600
        user = github_provider.resource_url("/user")
        assert (await client.get(user, headers=pf.bearer(first["access_token"]))).status_code == 200
        r = await pf.token(
            client,
            github_provider,
            {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
            method="post",
        )
        second = _form(r)
        assert second["refresh_token"] != first["refresh_token"]
        # The old access token and the old refresh token stop working.
        assert (await client.get(user, headers=pf.bearer(first["access_token"]))).status_code == 401
        assert (
            await client.get(user, headers=pf.bearer(second["access_token"]))
        ).status_code == 200
        github_provider.clock.advance(1)
        r = await pf.token(
            client,
            github_provider,
            {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
            method="post",
            headers=JSON,
        )
        assert r.status_code == 200
        assert r.json()["error"] == "bad_refresh_token"
        # Reusing a spent refresh token revokes the grant, the newest token included.
        assert (
            await client.get(user, headers=pf.bearer(second["access_token"]))
        ).status_code == 401


@pytest.mark.mock_idp(frozen_at=1_800_000_000, config=EXPIRING)
async def test_expiring_user_tokens_expire_after_eight_hours(
    github_provider: MockProvider, pf: Any
) -> None:
    async with github_provider.async_client() as client:
        r = await pf.code_tokens(client, github_provider, method="post", headers=JSON)
        token = pf.bearer(r.json()["access_token"])
        user = github_provider.resource_url("/user")
        github_provider.clock.advance(28_799)
        assert (await client.get(user, headers=token)).status_code == 200
        github_provider.clock.advance(1)
        assert (await client.get(user, headers=token)).status_code == 401


async def test_user_api(github_provider: MockProvider, pf: Any) -> None:
    token = github_provider.mint(scopes=["repo", "user:email"])
    async with github_provider.async_client() as client:
        r = await client.get(
            github_provider.resource_url("/user"), headers={"authorization": f"token {token}"}
        )
        assert r.status_code == 200
        assert r.headers["x-oauth-scopes"] == "repo, user:email"
        assert r.json()["email"] == "sarah@example.com"
        r = await client.get(github_provider.resource_url("/user/emails"), headers=pf.bearer(token))
        assert r.json() == [
            {
                "email": "sarah@example.com",
                "primary": True,
                "verified": True,
                "visibility": "private",
            }
        ]
        assert r.headers["x-accepted-oauth-scopes"] == "user, user:email"
        r = await client.get(
            github_provider.resource_url("/user/emails"),
            headers=pf.bearer(github_provider.mint(scopes=["repo"])),
        )
        assert r.status_code == 403
        r = await client.get(github_provider.resource_url("/user"), headers=pf.bearer("gho_nope"))
        assert r.status_code == 401
        assert r.json() == {
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401",
        }
        r = await client.get(github_provider.resource_url("/user"))
        assert r.json()["message"] == "Requires authentication"
