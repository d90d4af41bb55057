"""Mock Google: Google's OAuth 2.0 / OpenID Connect server for a web server application,
with its userinfo endpoint as the resource API (the ``google`` preset, ``proctor idp
google``, the ``google_provider`` fixture), built on
:class:`~proctor.mock_idps.providers.ProviderProfile`.

Facts from Google Identity, "Using OAuth 2.0 for Web Server Applications"
(developers.google.com/identity/protocols/oauth2/web-server) and the OpenID Connect page:

- endpoints ``/o/oauth2/v2/auth`` (accounts.google.com), ``/token`` and ``/revoke``
  (oauth2.googleapis.com), userinfo ``/v1/userinfo`` (openidconnect.googleapis.com), JWKS
  ``/oauth2/v3/certs``, discovery ``/.well-known/openid-configuration``; on one host here.
- ``access_type=online|offline`` (default online): "This value instructs the Google
  authorization server to return a refresh token ... the first time that your application
  exchanges an authorization code for tokens"; a later authorization returns one again only
  with ``prompt=consent`` (the ``refresh_token`` member "is only present if the
  access_type parameter was set to offline"). Emulated: a refresh token iff
  ``access_type=offline`` and (``prompt`` contains ``consent`` or the user has no live
  offline grant for this client).
- ``scope`` is required; PKCE ``plain`` and ``S256``; refresh tokens do not rotate and do
  not expire (until revoked); a refresh response has no ``refresh_token``.
- access tokens are opaque (``ya29.…``), refresh tokens ``1//0…``; an expired or revoked
  refresh token is ``invalid_grant`` "Token has been expired or revoked." (widely reported).
- **Unverified**: ``expires_in`` 3599 (Google documents a one-hour lifetime; 3599 is what
  clients commonly observe); the wording "Bad Request" for a bad code, "Unauthorized" for
  a bad client secret, "Missing required parameter: scope"; userinfo's 401 body.
- Not emulated: Google's ``/revoke`` needs no client authentication (the engine's does),
  answers 400 for unknown tokens, and revoking an access token also revokes its refresh
  token; ``include_granted_scopes``; expansion of ``email``/``profile`` to URL scopes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from proctor.mock_idps.config import Client, User
from proctor.mock_idps.errors import InvalidRequest, InvalidToken, OAuthError
from proctor.mock_idps.messages import Params, Response
from proctor.mock_idps.profile import (
    AuthServer,
    Endpoint,
    IssuedTokens,
    JwtSpec,
    TokenContext,
    at_hash,
)
from proctor.mock_idps.providers import ProviderProfile
from proctor.mock_idps.resources import Operation, ResourceApi, ResourceCall
from proctor.mock_idps.state import AuthorizationCode

if TYPE_CHECKING:
    from proctor.mock_idps.engine import Engine

__all__ = [
    "GOOGLE_ERRORS",
    "GOOGLE_USERINFO_SCOPES",
    "PROFILE",
    "GoogleProvider",
    "GoogleUserinfoApi",
]


GOOGLE_USERINFO_SCOPES = (
    "openid",
    "email",
    "profile",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)


class GoogleUserinfoApi(ResourceApi):
    """Google's OpenID Connect userinfo endpoint (``/v1/userinfo`` as on
    ``openidconnect.googleapis.com``, and ``/oauth2/v3/userinfo``). Claims by scope: ``sub``
    always, ``email``/``email_verified`` with ``email``, names and ``picture`` with
    ``profile``. The error body is an approximation (unverified)."""

    name = "google"
    title = "Google userinfo (mock)"
    realm = "https://accounts.google.com/"

    def operations(self) -> list[Operation]:
        return [
            Operation("userinfo", "GET", "/v1/userinfo", GOOGLE_USERINFO_SCOPES, self._userinfo),
            Operation(
                "userinfo_v3", "GET", "/oauth2/v3/userinfo", GOOGLE_USERINFO_SCOPES, self._userinfo
            ),
        ]

    def error_body(self, error: OAuthError) -> dict[str, Any]:
        if isinstance(error, InvalidToken):
            return {"error": "invalid_request", "error_description": "Invalid Credentials"}
        return super().error_body(error)

    def _userinfo(self, call: ResourceCall) -> Response:
        user = self.context.user(call.token.username or "")
        if user is None:
            raise InvalidToken("The access token has no user.", reason="token_invalid")
        scopes = call.token.scopes
        claims: dict[str, Any] = {"sub": self.context.user_id(user)}
        if scopes & {"profile", GOOGLE_USERINFO_SCOPES[4]}:
            for name, value in (
                ("name", user.name),
                ("given_name", user.given_name),
                ("family_name", user.family_name),
                ("picture", user.attributes.get("picture")),
            ):
                if value is not None:
                    claims[name] = value
        if scopes & {"email", GOOGLE_USERINFO_SCOPES[3]} and user.mail is not None:
            claims["email"] = user.mail
            claims["email_verified"] = user.email_verified
        call.summary = {"sub": claims["sub"]}
        return Response.json(claims)


GOOGLE_ERRORS: Mapping[str, str] = {
    "code_invalid": "Bad Request",
    "redirect_uri_mismatch": "Bad Request",
    "pkce_failed": "Bad Request",
    "refresh_invalid": "Token has been expired or revoked.",
    "refresh_reused": "Token has been expired or revoked.",
    "client_secret_invalid": "Unauthorized",
    "client_unknown": "The OAuth client was not found.",
    "grant_type_unsupported": "Invalid grant_type: {grant_type}",
    "scope_missing": "Missing required parameter: scope",
    "consent_denied": "The user denied access.",
}


class GoogleProvider(ProviderProfile):
    """Google's OAuth 2.0 / OpenID Connect server for a web server application."""

    name = "google"
    title = "Google"
    default_host = "accounts.google.com"
    default_port = 8724
    session_cookie = "SID"
    login_path = "/v3/signin/identifier"
    pkce_methods = ("S256", "plain")
    error_descriptions = GOOGLE_ERRORS
    resource_class = GoogleUserinfoApi
    token_formats = ("opaque",)
    default_format = "opaque"
    default_access_lifetime = 3599
    default_refresh_lifetime = None
    grant_types = frozenset({"authorization_code", "refresh_token"})

    def endpoint_paths(self) -> dict[Endpoint, str]:
        return {
            "openid_configuration": "/.well-known/openid-configuration",
            "authorize": "/o/oauth2/v2/auth",
            "token": "/token",
            "revoke": "/revoke",
            "jwks": "/oauth2/v3/certs",
        }

    def user_id(self, user: User) -> str:
        if user.id:
            return user.id
        digest = int.from_bytes(hashlib.sha256(user.username.encode()).digest(), "big")
        return "1" + str(digest % 10**20).zfill(20)

    def grant_scopes(
        self, server: AuthServer, client: Client, params: Params, *, grant_type: str
    ) -> tuple[str, ...]:
        requested = params.get("scope")
        if requested is None:
            raise InvalidRequest("Missing required parameter: scope", reason="scope_missing")
        if grant_type == "authorization_code":
            access_type = params.get("access_type")
            if access_type not in (None, "online", "offline"):
                raise InvalidRequest("Invalid access_type.", reason="access_type_invalid")
        return super().grant_scopes(server, client, params, grant_type=grant_type)

    def offline_grant(self, engine: Engine, code: AuthorizationCode) -> bool:
        """A refresh token only for ``access_type=offline``, and only on a first offline
        grant or when consent was prompted again (``prompt=consent``)."""
        request = code.request
        access_type = [v for k, v in request.params if k == "access_type" and v]
        if access_type != ["offline"]:
            return False
        if "consent" in request.prompt:
            return True
        with engine.state.locked() as st:
            offline_families = {t.family_id for t in st.refresh_tokens.values()}
            earlier = [
                f
                for f in st.families.values()
                if f.id != code.family_id
                and f.id in offline_families
                and f.server_id == request.server_id
                and f.client_id == request.client_id
                and f.username == code.username
                and not f.revoked
            ]
        return not earlier

    def opaque_value(self, ctx: TokenContext) -> str:
        return "ya29." + secrets.token_urlsafe(96)

    def refresh_token_value(self) -> str:
        return "1//0" + secrets.token_urlsafe(64)

    def token_response(self, ctx: TokenContext, tokens: IssuedTokens) -> dict[str, Any]:
        """Google's member order; no ``refresh_token`` in a refresh response (no rotation)."""
        body: dict[str, Any] = {
            "access_token": tokens.access_token,
            "expires_in": tokens.expires_in,
        }
        if tokens.refresh_token is not None and ctx.grant_type != "refresh_token":
            body["refresh_token"] = tokens.refresh_token
        body["scope"] = " ".join(ctx.scopes)
        body["token_type"] = self.token_type
        if tokens.id_token is not None:
            body["id_token"] = tokens.id_token
        return body

    def id_token(self, ctx: TokenContext) -> JwtSpec:
        user = ctx.user
        claims: dict[str, Any] = {
            "iss": ctx.server.issuer,
            "azp": ctx.client_id,
            "aud": ctx.client_id,
            "sub": ctx.user_id,
        }
        if user is not None and "email" in ctx.scopes and user.mail is not None:
            claims["email"] = user.mail
            claims["email_verified"] = user.email_verified
        if ctx.access_token is not None:
            claims["at_hash"] = at_hash(ctx.access_token)
        if user is not None and "profile" in ctx.scopes:
            for name, value in (
                ("name", user.name),
                ("picture", user.attributes.get("picture")),
                ("given_name", user.given_name),
                ("family_name", user.family_name),
            ):
                if value is not None:
                    claims[name] = value
        if ctx.nonce is not None:
            claims["nonce"] = ctx.nonce
        claims["iat"] = ctx.now
        claims["exp"] = ctx.now + 3600
        return JwtSpec(claims, {"typ": "JWT"})

    def discovery(self, server: AuthServer, endpoint: Endpoint) -> dict[str, Any]:
        """The members of Google's document that the emulator serves."""
        return {
            "issuer": server.issuer,
            "authorization_endpoint": server.url("authorize"),
            "token_endpoint": server.url("token"),
            "userinfo_endpoint": server.base + "/v1/userinfo",
            "revocation_endpoint": server.url("revoke"),
            "jwks_uri": server.url("jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": [
                "aud",
                "email",
                "email_verified",
                "exp",
                "family_name",
                "given_name",
                "iat",
                "iss",
                "name",
                "picture",
                "sub",
            ],
            "code_challenge_methods_supported": list(self.pkce_methods),
            "grant_types_supported": sorted(server.grant_types),
        }

    def discovery_headers(self, server: AuthServer) -> dict[str, str]:
        return {"cache-control": "public, max-age=3600"}


PROFILE = GoogleProvider()
