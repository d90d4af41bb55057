"""Okta emulator: the org authorization server and custom authorization servers.

Facts from the fidelity reference (``notes/idps.md`` §1; Okta developer docs
``reference/api/oidc``, ``guides/validate-access-tokens``, ``guides/set-up-token-exchange``,
``guides/refresh-tokens``):

- **Org authorization server**: ``iss = {base}`` (no path), endpoints
  ``{base}/oauth2/v1/{authorize,token,userinfo,introspect,revoke,logout,keys,
  device/authorize}``, discovery at ``{base}/.well-known/openid-configuration`` and
  ``/oauth-authorization-server``. Its access tokens have ``iss`` and ``aud`` both the org
  URL, header ``typ: application/okta-internal-at+jwt``, and are signed by a key that is
  **not** in the published JWKS (Okta says to treat them as opaque). No client
  credentials or token exchange (those need a custom server).
- **Custom authorization servers** (one per configured API; ``default`` included):
  ``iss = {base}/oauth2/{id}``, endpoints ``{iss}/v1/...``, discovery under
  ``{iss}/.well-known/``. Access token header ``{kid, alg: RS256}`` with no ``typ``;
  claims ``ver`` (int 1), ``jti`` ``AT.…``, ``iss``, ``aud`` (``api://default`` for the
  default server), ``iat``, ``exp``, ``cid``, ``uid``, ``scp`` (array), ``auth_time``,
  ``sub`` = the login (email). Client-credentials tokens: ``sub`` = client ID, no ``uid``.
- **ID tokens**: ``sub`` = user ID ``00u…``, ``aud`` = client ID, ``ver`` 1, ``jti``
  ``ID.…``, ``amr``, ``idp``, ``auth_time``, ``at_hash``, ``nonce``, profile and email
  claims by scope.
- **RFC 8693 token exchange** on custom servers: ``subject_token_type`` access token,
  ``audience``, ``scope``; the response adds ``issued_token_type``, never a refresh or
  ID token.
- Errors ``{"error", "error_description"}`` with Okta's wording; introspection is
  RFC 7662 plus ``uid``; lifetimes: access 1 h (custom servers: configurable 5 min-24 h),
  ID 1 h, refresh 90 days.

Descriptions marked "≈" in :data:`OKTA_ERRORS` are approximations of Okta's wording
that were not confirmed against a live tenant.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from proctor.mock_idps.config import (
    DEVICE_CODE,
    TOKEN_EXCHANGE,
    Client,
    IdpConfig,
)
from proctor.mock_idps.errors import InvalidScope
from proctor.mock_idps.keys import KeyRing
from proctor.mock_idps.messages import Params, Response
from proctor.mock_idps.profile import (
    OIDC_SCOPES,
    AuthServer,
    Endpoint,
    JwtSpec,
    Lifetimes,
    TokenContext,
    VendorProfile,
    at_hash,
    claim_value,
)
from proctor.mock_idps.state import IssuedToken

__all__ = ["OKTA_ERRORS", "PROFILE", "OktaProfile"]

ORG = "org"
ORG_ACCESS_PURPOSE = "org-access"
ORG_AT_TYP = "application/okta-internal-at+jwt"
ORG_SCOPES = frozenset(OIDC_SCOPES | {"groups"})
_NO_USER_SCOPES = frozenset(OIDC_SCOPES)  # not grantable to client credentials / exchange
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

OKTA_ERRORS: Mapping[str, str] = {
    # Confirmed in public reports (okta-oidc-js #804, okta-spring-boot #602) or Okta docs.
    "pkce_failed": "PKCE verification failed.",
    "policy_denied": "Policy evaluation failed for this request, please check the policy "
    "configurations.",
    "code_invalid": "The authorization code is invalid or has expired.",
    "redirect_uri_mismatch": "The 'redirect_uri' does not match the redirection URI used in "
    "the authorization request.",
    "refresh_invalid": "The refresh token is invalid or expired.",
    "refresh_reused": "The refresh token is invalid or expired.",
    "client_secret_invalid": "The client secret supplied for a confidential client is invalid.",
    "client_unknown": "Client authentication failed. Either the client or the client "
    "credentials are invalid.",
    "client_missing": "Client authentication failed. Either the client or the client "
    "credentials are invalid.",
    "scope_unknown": "One or more scopes are not configured for the authorization server resource.",
    "scope_missing": "The authorization server resource does not have any configured "
    "default scopes, 'scope' must be provided.",
    "pkce_challenge_required": "PKCE code challenge is required when the token endpoint "
    "authentication method is 'NONE'.",
    "user_not_assigned": "User is not assigned to the client application.",
    "login_required": "The client specified not to prompt, but the user is not logged in.",
    "client_grant_not_allowed": "The client is not authorized to use the provided grant "
    "type. Configured grant types: [{grant_types}].",
    "redirect_uri_invalid": "The 'redirect_uri' parameter must be a Login redirect URI in "
    "the client app settings: {redirect_uri}",
    "authorize_client_invalid": "Invalid value for 'client_id' parameter.",
    "userinfo_token_invalid": "The access token is invalid.",
    # ≈ approximations.
    "grant_type_unsupported": "The authorization grant type is not supported by the "
    "authorization server. Configured grant types: [{grant_type}].",
    "pkce_method_unsupported": "The code_challenge_method is invalid. Only 'S256' is supported.",
    "consent_required": "The client specified not to prompt, but the client app requires "
    "user consent to the scopes.",
    "consent_denied": "User denied consent to the requested scopes.",
    "scope_not_allowed": "The following scopes are not allowed: {scopes}",
    "subject_token_invalid": "The 'subject_token' is invalid.",
    "audience_invalid": "The audience is not valid for the authorization server.",
    "authorization_pending": "The device authorization is pending. Please try again later.",
    "device_code_expired": "The device code has expired.",
    "client_secret_missing": "Client authentication failed. Either the client or the client "
    "credentials are invalid.",
}


def _okta_id(prefix: str, seed: str) -> str:
    """An Okta-shaped 20-character ID (``00u…``, ``0oa…``, ``00o…``) derived from ``seed``."""
    n = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(20 - len(prefix)):
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    return prefix + "".join(chars)


def _token_id(prefix: str) -> str:
    return f"{prefix}.{secrets.token_urlsafe(32)}"


def _org_paths() -> dict[Endpoint, str]:
    v1 = "/oauth2/v1"
    return {
        "openid_configuration": "/.well-known/openid-configuration",
        "oauth_authorization_server": "/.well-known/oauth-authorization-server",
        "authorize": f"{v1}/authorize",
        "token": f"{v1}/token",
        "userinfo": f"{v1}/userinfo",
        "introspect": f"{v1}/introspect",
        "revoke": f"{v1}/revoke",
        "logout": f"{v1}/logout",
        "jwks": f"{v1}/keys",
        "device_authorization": f"{v1}/device/authorize",
    }


def _custom_paths(server_id: str) -> dict[Endpoint, str]:
    root = f"/oauth2/{server_id}"
    return {
        "openid_configuration": f"{root}/.well-known/openid-configuration",
        "oauth_authorization_server": f"{root}/.well-known/oauth-authorization-server",
        "authorize": f"{root}/v1/authorize",
        "token": f"{root}/v1/token",
        "userinfo": f"{root}/v1/userinfo",
        "introspect": f"{root}/v1/introspect",
        "revoke": f"{root}/v1/revoke",
        "logout": f"{root}/v1/logout",
        "jwks": f"{root}/v1/keys",
        "device_authorization": f"{root}/v1/device/authorize",
    }


class OktaProfile(VendorProfile):
    """Okta's org and custom authorization servers."""

    name = "okta"
    title = "Okta"
    default_host = "example.okta.com"
    default_port = 8710
    defaults_file = "okta_defaults.yaml"
    session_cookie = "sid"
    login_path = "/login/login.htm"
    device_verification_path = "/activate"
    pkce_methods = ("S256",)
    error_descriptions = OKTA_ERRORS

    # -- configuration -------------------------------------------------------------------
    def validate_config(self, config: IdpConfig) -> None:
        if any(api.id == "v1" for api in config.apis):
            raise ValueError("'v1' cannot be a custom authorization server id (org server paths)")

    def servers(self, config: IdpConfig, base: str) -> list[AuthServer]:
        code_flow = {"authorization_code", "refresh_token", DEVICE_CODE}
        org = AuthServer(
            id=ORG,
            issuer=base,
            base=base,
            paths=_org_paths(),
            grant_types=frozenset(code_flow),
            scopes=ORG_SCOPES,
            audience=base,
            kind="org",
            access_key_purpose=ORG_ACCESS_PURPOSE,
            key_purposes={"default": True, ORG_ACCESS_PURPOSE: False},
            settings={"idp": config.vendor.get("org_idp_id") or _okta_id("00o", base)},
        )
        custom = [
            AuthServer(
                id=api.id,
                issuer=f"{base}/oauth2/{api.id}",
                base=base,
                paths=_custom_paths(api.id),
                grant_types=frozenset(code_flow | {"client_credentials", TOKEN_EXCHANGE}),
                scopes=frozenset(OIDC_SCOPES | set(api.scopes)),
                audience=api.audience,
                api=api,
                kind="custom",
                settings={"idp": org.settings["idp"]},
            )
            for api in config.apis
        ]
        return [org, *custom]

    def primary_server(self, servers: list[AuthServer]) -> str:
        ids = [s.id for s in servers]
        if "default" in ids:
            return "default"
        return ids[1] if len(ids) > 1 else ids[0]

    def user_id(self, user: Any) -> str:
        return str(user.id) if user.id else _okta_id("00u", user.username)

    def lifetimes(self, server: AuthServer) -> Lifetimes:
        api = server.api
        return Lifetimes(
            access=(api.access_token_lifetime if api and api.access_token_lifetime else 3600),
            id=3600,
            refresh=(api.refresh_token_lifetime if api and api.refresh_token_lifetime else None)
            or 90 * 86_400,
        )

    # -- requests ------------------------------------------------------------------------
    def grant_scopes(
        self, server: AuthServer, client: Client, params: Params, *, grant_type: str
    ) -> tuple[str, ...]:
        requested = params.get("scope")
        machine = grant_type in ("client_credentials", TOKEN_EXCHANGE)
        if requested is None:
            if machine and server.api is not None and server.api.default_scopes:
                return tuple(server.api.default_scopes)
            raise InvalidScope("The 'scope' parameter is required.", reason="scope_missing")
        scopes = tuple(dict.fromkeys(requested.split(" ")))
        if "" in scopes or not set(scopes) <= server.scopes:
            raise InvalidScope("The requested scope is invalid or unknown.", reason="scope_unknown")
        if machine:
            barred = [s for s in scopes if s in _NO_USER_SCOPES]
            if barred:
                raise InvalidScope(
                    "These scopes are not allowed for this grant.",
                    reason="scope_not_allowed",
                    params={"scopes": ", ".join(barred)},
                )
        return scopes

    # -- tokens --------------------------------------------------------------------------
    def access_token(self, ctx: TokenContext) -> JwtSpec:
        server = ctx.server
        claims: dict[str, Any] = {
            "ver": 1,
            "jti": _token_id("AT"),
            "iss": server.issuer,
            "aud": server.issuer if server.kind == "org" else ctx.audience,
            "iat": ctx.now,
            "exp": ctx.now + ctx.lifetimes.access,
            "cid": ctx.client_id,
        }
        if ctx.subject is not None:  # token exchange: the subject's identity carries over
            if "uid" in ctx.subject:
                claims["uid"] = ctx.subject["uid"]
            claims["scp"] = list(ctx.scopes)
            claims["sub"] = ctx.subject.get("sub")
        elif ctx.user is not None:
            claims["uid"] = ctx.user_id
            claims["scp"] = list(ctx.scopes)
            if ctx.auth_time is not None:
                claims["auth_time"] = ctx.auth_time
            claims["sub"] = ctx.user.username
        else:
            claims["scp"] = list(ctx.scopes)
            claims["sub"] = ctx.client_id
        if server.api is not None:
            for name, expr in server.api.claims.items():
                value = claim_value(expr, ctx.user, ctx.user_id)
                if value is not None:
                    claims[name] = value
        if server.kind == "org":
            return JwtSpec(claims, {"typ": ORG_AT_TYP}, ORG_ACCESS_PURPOSE)
        return JwtSpec(claims)

    def id_token(self, ctx: TokenContext) -> JwtSpec:
        user = ctx.user
        claims: dict[str, Any] = {"sub": ctx.user_id}
        if user is not None and "profile" in ctx.scopes and user.name:
            claims["name"] = user.name
        if user is not None and "email" in ctx.scopes and user.mail:
            claims["email"] = user.mail
        claims.update(
            {
                "ver": 1,
                "iss": ctx.server.issuer,
                "aud": ctx.client_id,
                "iat": ctx.now,
                "exp": ctx.now + ctx.lifetimes.id,
                "jti": _token_id("ID"),
                "amr": list(ctx.amr),
                "idp": ctx.server.settings.get("idp"),
            }
        )
        if ctx.nonce is not None:
            claims["nonce"] = ctx.nonce
        if user is not None and "profile" in ctx.scopes:
            claims["preferred_username"] = user.username
        if ctx.auth_time is not None:
            claims["auth_time"] = ctx.auth_time
        if ctx.access_token is not None:
            claims["at_hash"] = at_hash(ctx.access_token)
        if "groups" in ctx.scopes and user is not None:
            claims["groups"] = list(user.groups)
        if ctx.server.api is not None:
            for name, expr in ctx.server.api.id_token_claims.items():
                value = claim_value(expr, user, ctx.user_id)
                if value is not None:
                    claims[name] = value
        return JwtSpec(claims)

    def userinfo(
        self, server: AuthServer, user: Any, user_id: str, scopes: tuple[str, ...]
    ) -> dict[str, Any]:
        claims = super().userinfo(server, user, user_id, scopes)
        if "groups" in scopes:
            claims["groups"] = list(user.groups)
        return claims

    def introspection(
        self, server: AuthServer, record: IssuedToken | None, active: bool
    ) -> dict[str, Any]:
        """RFC 7662 plus Okta's ``username`` and ``uid``."""
        if not active or record is None:
            return {"active": False}
        c = record.claims
        body: dict[str, Any] = {"active": True, "scope": " ".join(c.get("scp", record.scopes))}
        if record.username is not None:
            body["username"] = record.username
        for name in ("exp", "iat", "sub", "aud", "iss", "jti"):
            if name in c:
                body[name] = c[name]
        body["token_type"] = self.token_type
        body["client_id"] = c.get("cid", record.client_id)
        if "uid" in c:
            body["uid"] = c["uid"]
        return body

    def discovery(self, server: AuthServer, endpoint: Endpoint) -> dict[str, Any]:
        """The members a real Okta document has, limited to what the emulator serves."""
        auth_methods = ["client_secret_basic", "client_secret_post", "none"]
        doc: dict[str, Any] = {
            "issuer": server.issuer,
            "authorization_endpoint": server.url("authorize"),
            "token_endpoint": server.url("token"),
            "userinfo_endpoint": server.url("userinfo"),
            "jwks_uri": server.url("jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": sorted(server.grant_types),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": sorted(server.scopes),
            "token_endpoint_auth_methods_supported": auth_methods,
            "claims_supported": [
                "iss",
                "ver",
                "sub",
                "aud",
                "iat",
                "exp",
                "jti",
                "auth_time",
                "amr",
                "idp",
                "nonce",
                "name",
                "preferred_username",
                "given_name",
                "family_name",
                "email",
                "email_verified",
                "at_hash",
            ],
            "code_challenge_methods_supported": list(self.pkce_methods),
            "introspection_endpoint": server.url("introspect"),
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint": server.url("revoke"),
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "end_session_endpoint": server.url("logout"),
            "request_parameter_supported": False,
            "device_authorization_endpoint": server.url("device_authorization"),
        }
        return doc

    def discovery_headers(self, server: AuthServer) -> dict[str, str]:
        return {"cache-control": "max-age=86400, must-revalidate"}

    def jwks_headers(self, server: AuthServer, ring: KeyRing) -> dict[str, str]:
        """Okta: cache per ``Cache-Control``; ``no-cache`` means a rotation is near
        (support.okta.com, "Best practices for caching the Okta JWKS")."""
        rolling = any(k.state == "next" and k.published for k in ring.keys())  # noqa: SIM118
        return {"cache-control": "no-cache" if rolling else "max-age=86400, must-revalidate"}

    # -- errors --------------------------------------------------------------------------
    def not_found(self, path: str) -> Response:
        """Okta answers unknown authorization servers with a management-API style 404."""
        parts = path.split("/")
        if len(parts) > 2 and parts[1] == "oauth2":
            summary = f"Not found: Resource not found: {parts[2]} (AuthorizationServer)"
        else:
            summary = f"Not found: Resource not found: {path}"
        return Response.json(
            {
                "errorCode": "E0000007",
                "errorSummary": summary,
                "errorLink": "E0000007",
                "errorId": "oae" + secrets.token_urlsafe(16),
                "errorCauses": [],
            },
            404,
        )


PROFILE = OktaProfile()
