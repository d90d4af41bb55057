"""Mock GitHub: GitHub's OAuth app authorization (and GitHub-App-style expiring user
tokens), with the first REST API calls an OAuth app makes as the resource API (the
``github`` preset, ``proctor idp github``, the ``github_provider`` fixture), built on
:class:`~proctor.mock_idps.providers.ProviderProfile`.

Facts from GitHub Docs "Authorizing OAuth apps", "Troubleshooting OAuth app access token
request errors", "Refreshing user access tokens" and the GitHub changelog (2020-04-30
expiring user-to-server tokens; 2025-07-14 PKCE support):

- ``/login/oauth/authorize`` and ``POST /login/oauth/access_token`` on github.com; the API
  (``/user``) on api.github.com, on the same host here. No discovery, no RFC 7009 or 7662.
- The token response is ``application/x-www-form-urlencoded``
  (``access_token=…&scope=repo%2Cgist&token_type=bearer``) unless the request sends
  ``Accept: application/json``; ``scope`` is comma-separated, ``token_type`` ``bearer``.
- Errors of the token endpoint come with HTTP 200 and an ``error`` member
  (``bad_verification_code``, ``incorrect_client_credentials``, ``redirect_uri_mismatch``
  with GitHub's ``error_description`` and ``error_uri``).
- OAuth-app tokens (``gho_…``) do not expire: no ``expires_in``, no refresh token. With
  expiring user tokens (``vendor: {expiring_user_tokens: true}``, GitHub-App style):
  ``ghu_…`` with ``expires_in`` 28800, a ``ghr_…`` refresh token with
  ``refresh_token_expires_in`` 15897600; a refresh makes the old refresh token and the old
  access token stop working.
- PKCE: ``S256`` only, optional.
- **Unverified**: ``bad_refresh_token`` and ``unsupported_grant_type`` wording; the
  ``/user/emails`` insufficient-scope answer (403 here).
- Not emulated (the mock is stricter): GitHub does not require ``response_type``,
  ``redirect_uri`` or ``grant_type=authorization_code``, and redirects on a bad
  ``redirect_uri``; ``Accept: application/xml`` (answered form-encoded here).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from proctor.mock_idps.config import Client, User
from proctor.mock_idps.errors import InvalidToken, OAuthError
from proctor.mock_idps.grants import Grant
from proctor.mock_idps.messages import Params, Request, Response
from proctor.mock_idps.profile import AuthServer, Endpoint, IssuedTokens, TokenContext
from proctor.mock_idps.providers import (
    ProviderProfile,
    ProviderRefreshGrant,
    ProviderSettings,
    requested_resource,
)
from proctor.mock_idps.resources import Operation, ResourceApi, ResourceCall

if TYPE_CHECKING:
    from proctor.mock_idps.engine import Engine

__all__ = ["PROFILE", "GithubApi", "GithubProvider", "GithubRefreshGrant"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


_GITHUB_DOCS = "https://docs.github.com/rest"


class GithubApi(ResourceApi):
    """GitHub's REST API, the part an OAuth app calls first: ``GET /user`` (any valid token)
    and ``GET /user/emails`` (``user`` or ``user:email``), with GitHub's
    ``{"message", "documentation_url", "status"}`` errors and ``X-OAuth-Scopes`` header.
    ``Authorization: token ...`` is accepted as well as ``Bearer``."""

    name = "github"
    title = "GitHub REST API (mock)"
    extra_token_schemes = frozenset({"token"})

    def operations(self) -> list[Operation]:
        return [
            Operation("user", "GET", "/user", (), self._user),
            Operation("user_emails", "GET", "/user/emails", ("user", "user:email"), self._emails),
        ]

    def error_body(self, error: OAuthError) -> dict[str, Any]:
        messages = {
            "token_missing": "Requires authentication",
            "token_invalid": "Bad credentials",
            "token_audience": "Bad credentials",
            "not_found": "Not Found",
        }
        message = messages.get(error.reason, error.description)
        return {
            "message": message,
            "documentation_url": _GITHUB_DOCS,
            "status": str(error.status_code),
        }

    def success_headers(self, call: ResourceCall) -> dict[str, str]:
        accepted = next((op.scopes for op in self._operations if op.path == call.request.path), ())
        return {
            "x-oauth-scopes": ", ".join(sorted(call.token.scopes)),
            "x-accepted-oauth-scopes": ", ".join(accepted),
        }

    def _account(self, call: ResourceCall) -> User:
        user = self.context.user(call.token.username or "")
        if user is None:
            raise InvalidToken("The access token has no user.", reason="token_invalid")
        return user

    def _user(self, call: ResourceCall) -> Response:
        user = self._account(call)
        login = user.username
        user_id = self.context.user_id(user)
        numeric: int | str = int(user_id) if user_id.isdigit() else user_id
        call.summary = {"login": login}
        return Response.json(
            {
                "login": login,
                "id": numeric,
                "node_id": user.attributes.get("node_id", f"U_{user_id}"),
                "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
                "html_url": f"https://github.com/{login}",
                "type": "User",
                "site_admin": False,
                "name": user.name,
                "company": user.attributes.get("company"),
                "email": user.mail,
                "created_at": user.attributes.get("created_at", "2019-03-01T12:00:00Z"),
            }
        )

    def _emails(self, call: ResourceCall) -> Response:
        user = self._account(call)
        emails = []
        if user.mail is not None:
            emails.append(
                {
                    "email": user.mail,
                    "primary": True,
                    "verified": user.email_verified,
                    "visibility": "private",
                }
            )
        call.summary = {"emails": len(emails)}
        return Response.json(emails)


_GITHUB_TROUBLESHOOTING = (
    "https://docs.github.com/apps/managing-oauth-apps/"
    "troubleshooting-oauth-app-access-token-request-errors/"
)
# reason -> (error, error_description, error_uri anchor)
_GITHUB_TOKEN_ERRORS: Mapping[str, tuple[str, str, str]] = {
    "code_invalid": (
        "bad_verification_code",
        "The code passed is incorrect or expired.",
        "#bad-verification-code",
    ),
    "pkce_failed": (
        "bad_verification_code",
        "The code passed is incorrect or expired.",
        "#bad-verification-code",
    ),
    "redirect_uri_mismatch": (
        "redirect_uri_mismatch",
        "The redirect_uri MUST match the registered callback URL for this application.",
        "#redirect-uri-mismatch2",
    ),
    "refresh_invalid": (
        "bad_refresh_token",
        "The refresh token passed is incorrect or expired.",
        "#bad-refresh-token",
    ),
    "refresh_reused": (
        "bad_refresh_token",
        "The refresh token passed is incorrect or expired.",
        "#bad-refresh-token",
    ),
}
_INCORRECT_CLIENT = (
    "incorrect_client_credentials",
    "The client_id and/or client_secret passed are incorrect.",
    "#incorrect-client-credentials",
)


class GithubRefreshGrant(ProviderRefreshGrant):
    """GitHub: once a refresh token is used, it and the old user access token stop
    working ("Refreshing user access tokens")."""

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        value = params.get("refresh_token") or ""
        with engine.state.locked() as st:
            token = st.refresh_tokens.get(value)
            family = token.family_id if token is not None else None
            before = [r for r in st.issued.values() if r.family_id == family and family]
        body = super().exchange(engine, server, client, params)
        with engine.state.locked():
            for record in before:
                record.revoked = True
        return body


class GithubProvider(ProviderProfile):
    """GitHub's OAuth app authorization (and GitHub-App-style expiring user tokens)."""

    name = "github"
    title = "GitHub"
    default_host = "github.com"
    default_port = 8725
    session_cookie = "user_session"
    login_path = "/login"
    token_type = "bearer"  # noqa: S105
    resource_class = GithubApi
    token_formats = ("opaque",)
    default_format = "opaque"
    default_access_lifetime = 28_800
    default_refresh_lifetime = 15_897_600

    def endpoint_paths(self) -> dict[Endpoint, str]:
        return {"authorize": "/login/oauth/authorize", "token": "/login/oauth/access_token"}

    def server_grant_types(self, settings: ProviderSettings) -> frozenset[str]:
        if settings.expiring_user_tokens:
            return frozenset({"authorization_code", "refresh_token"})
        return frozenset({"authorization_code"})

    def grants(self) -> Mapping[str, Grant]:
        return {**super().grants(), "refresh_token": GithubRefreshGrant()}

    def user_id(self, user: User) -> str:
        if user.id:
            return user.id
        digest = int.from_bytes(hashlib.sha256(user.username.encode()).digest(), "big")
        return str(digest % 10**8)

    @staticmethod
    def split_scopes(requested: str) -> tuple[str, ...]:
        """GitHub: space-delimited (commas are accepted too)."""
        return tuple(dict.fromkeys(s for s in requested.replace(",", " ").split(" ") if s))

    def grant_scopes(
        self, server: AuthServer, client: Client, params: Params, *, grant_type: str
    ) -> tuple[str, ...]:
        """No scope means no scopes (GitHub's default is an empty list)."""
        requested = params.get("scope")
        if requested is None or not requested.strip(" ,"):
            requested_resource(server, params.pairs)
            return ()
        return super().grant_scopes(server, client, params, grant_type=grant_type)

    def refresh_allowed(self, ctx: TokenContext) -> bool:
        return bool(ctx.server.settings.get("expiring"))

    def access_lifetime(self, ctx: TokenContext) -> int | None:
        return ctx.lifetimes.access if ctx.server.settings.get("expiring") else None

    def opaque_value(self, ctx: TokenContext) -> str:
        return ("ghu_" if ctx.server.settings.get("expiring") else "gho_") + _base62(36)

    def refresh_token_value(self) -> str:
        return "ghr_" + _base62(76)

    def token_response(self, ctx: TokenContext, tokens: IssuedTokens) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": tokens.access_token}
        if ctx.server.settings.get("expiring"):
            body["expires_in"] = tokens.expires_in
            if tokens.refresh_token is not None:
                body["refresh_token"] = tokens.refresh_token
                body["refresh_token_expires_in"] = ctx.lifetimes.refresh
        body["scope"] = ",".join(ctx.scopes)
        body["token_type"] = self.token_type
        return body

    def error_response(
        self, error: OAuthError, server: AuthServer | None, endpoint: str | None
    ) -> Response:
        if endpoint != "token":
            return super().error_response(error, server, endpoint)
        code, description, anchor = _GITHUB_TOKEN_ERRORS.get(
            error.reason, (error.error, self.describe(error), "")
        )
        if error.error == "invalid_client":
            code, description, anchor = _INCORRECT_CLIENT
        body = {"error": code, "error_description": description}
        if anchor:
            body["error_uri"] = _GITHUB_TROUBLESHOOTING + anchor
        return Response.json(body, error.status_code)

    def finish_response(self, req: Request, endpoint: str, response: Response) -> Response:
        """The token endpoint: errors with HTTP 200, form-encoded unless JSON is accepted."""
        if endpoint != "token" or response.status not in (200, 400, 401):
            return response
        try:
            body = json.loads(response.body)
        except ValueError:
            return response
        if not isinstance(body, dict):
            return response
        if "application/json" in req.headers.get("accept", "").lower():
            return Response.json(body)
        form = urlencode({k: "" if v is None else str(v) for k, v in body.items()})
        return Response(
            200,
            form.encode("ascii"),
            "application/x-www-form-urlencoded; charset=utf-8",
            [("cache-control", "no-store")],
        )

    def discovery(self, server: AuthServer, endpoint: Endpoint) -> dict[str, Any]:
        return {}  # GitHub publishes no metadata (and the emulator serves none)


PROFILE = GithubProvider()
