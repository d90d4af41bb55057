"""Amazon Cognito emulator: one user pool with its issuer host and its pool domain.

Facts from the fidelity reference (``notes/idps.md`` §3) and the Cognito developer guide
(``token-endpoint``, ``revocation-endpoint``, ``userinfo-endpoint``, ``logout-endpoint``,
``authorization-endpoint``, ``amazon-cognito-user-pools-using-the-access-token`` and
``…-id-token``). "Observed" marks what was seen in real tokens, integrator code or issue
threads rather than in AWS documentation.

- **Two hosts.** The issuer is ``https://cognito-idp.{region}.amazonaws.com/{poolId}``;
  discovery is ``{iss}/.well-known/openid-configuration`` and the JWKS
  ``{iss}/.well-known/jwks.json``. The OAuth endpoints live on the pool domain
  ``https://{prefix}.auth.{region}.amazoncognito.com`` (or a custom domain):
  ``/oauth2/authorize``, ``/oauth2/token``, ``/oauth2/userInfo``, ``/oauth2/revoke``,
  ``/logout`` and the hosted sign-in page ``/login``. The emulator serves both from one
  app; the issuer host is the engine's base URL, and the pool domain is the real-looking
  domain only when the base is a ``cognito-idp`` host (otherwise, e.g. a live server on
  127.0.0.1, both collapse into the base).
- **Grants** at ``/oauth2/token``: ``authorization_code`` (+PKCE, S256 only; the only
  grant that returns a refresh token by default), ``refresh_token`` (no rotation by
  default; an app client may enable rotation, ``RefreshTokenRotation``) and
  ``client_credentials`` (a secret and custom ``{resourceServer}/{scope}`` scopes). No
  password grant, device flow, token exchange or introspection: ``unsupported_grant_type``
  or 404. Cognito does not let one app client combine ``client_credentials`` with the
  code flow (``InvalidOAuthFlowException``, observed), so configurations that do are
  refused.
- **Access tokens**: header ``{kid, alg: RS256}``; claims ``sub`` (UUID),
  ``cognito:groups``, ``iss``, ``version: 2``, ``client_id``, ``origin_jti``,
  ``event_id``, ``token_use: "access"``, ``scope`` (a space-separated string),
  ``auth_time``, ``exp``, ``iat``, ``jti``, ``username``, optional ``device_key``, and
  **no** ``aud``. Machine-to-machine tokens: ``sub`` = the client ID, no ``username``,
  groups, ``origin_jti`` or ``event_id`` (observed).
- **ID tokens**: ``aud`` = the client ID, ``token_use: "id"``, ``cognito:username``,
  ``cognito:groups``, ``email_verified`` (boolean), ``email``, ``at_hash``, ``nonce``,
  ``origin_jti``, ``event_id``, ``jti``, user attributes (``custom:*``) and
  ``identities`` for federated users. ID and access tokens are signed by two different
  RSA keys (the key purposes ``id`` and ``default``); both are in the JWKS.
- **Lifetimes**: ID and access tokens 60 min (an app client may set 5 min to 1 day),
  refresh tokens 30 days (60 min to 10 years), authorization codes 5 min.
- **Errors**: the token endpoint answers HTTP 400 with a bare ``{"error": …}`` for every
  error, ``invalid_client`` included (as the token-endpoint page documents); the revoke
  endpoint answers ``invalid_client`` with 401 and ``unsupported_token_type`` for
  anything but a refresh token. Revoking a refresh token revokes every ID and access
  token issued from it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from joserfc.jwk import RSAKey

from proctor.mock_idps import pages
from proctor.mock_idps.config import Client, IdpConfig, User
from proctor.mock_idps.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    OAuthError,
    UnauthorizedClient,
    UnsupportedTokenType,
)
from proctor.mock_idps.grants import AuthorizationCodeGrant, Grant, RefreshTokenGrant
from proctor.mock_idps.keys import KeyRing, SigningKey
from proctor.mock_idps.messages import Params, Request, Response
from proctor.mock_idps.profile import (
    AuthServer,
    Endpoint,
    EndpointHandler,
    IssuedTokens,
    JwtSpec,
    KeyFactory,
    Lifetimes,
    TokenContext,
    VendorProfile,
    at_hash,
)

if TYPE_CHECKING:
    from proctor.mock_idps.engine import Engine

__all__ = [
    "COGNITO_ERRORS",
    "PROFILE",
    "RESERVED_SCOPES",
    "CognitoAuthorizationCodeGrant",
    "CognitoProfile",
    "CognitoRefreshTokenGrant",
    "UserPool",
    "cognito_kid",
    "pool_scopes",
]

ID_PURPOSE = "id"
ACCESS_PURPOSE = "default"
RESERVED_SCOPES: tuple[str, ...] = (
    "openid",
    "email",
    "phone",
    "profile",
    "aws.cognito.signin.user.admin",
)
"""Cognito's system-reserved scopes; every other scope is ``{resourceServer}/{name}``."""
_NEEDS_OPENID = frozenset({"email", "phone", "profile"})
_GRANTS = frozenset({"authorization_code", "refresh_token", "client_credentials"})
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d")
_POOL_SUFFIX = re.compile(r"[A-Za-z0-9]+")
_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_VENDOR_HOST = re.compile(r"cognito-idp\.([a-z0-9-]+)\.amazonaws\.com")
_POOL_PATH = re.compile(r"/([a-z]{2}(?:-[a-z]+)+-\d_[A-Za-z0-9]+)/")
_TOKEN_VALIDITY = (300, 86_400)  # 5 minutes to 1 day
_REFRESH_VALIDITY = (3_600, 315_360_000)  # 60 minutes to 10 years
_UUID_NAMESPACE = uuid.UUID("5b0f4b39-8f4e-4c53-9a5a-7c2f3b1a6d10")
# Cognito's refresh tokens are compact JWEs (observed header).
_REFRESH_HEADER = (
    base64.urlsafe_b64encode(b'{"cty":"JWT","enc":"A256GCM","alg":"RSA-OAEP"}')
    .rstrip(b"=")
    .decode()
)

COGNITO_ERRORS: Mapping[str, str] = {
    # userinfo-endpoint page (WWW-Authenticate error_description).
    "userinfo_token_invalid": "Access token is expired, disabled, or deleted, or the user "
    "has globally signed out.",
    "userinfo_token_missing": "Bad OAuth2 request at UserInfo Endpoint",
}


@dataclass(frozen=True)
class UserPool:
    """The pool-level settings from ``IdpConfig.vendor``."""

    region: str = "us-east-1"
    user_pool_id: str = "us-east-1_Pr0ct0r42"
    domain_prefix: str = "proctor-demo"
    domain: str | None = None
    """A custom domain's base URL (``https://auth.example.com``) instead of the prefix."""

    @classmethod
    def from_config(cls, config: IdpConfig) -> UserPool:
        """Read and check ``config.vendor``; ``ValueError`` when it is malformed."""
        vendor = config.vendor
        unknown = set(vendor) - {"region", "user_pool_id", "domain_prefix", "domain"}
        if unknown:
            raise ValueError(f"unknown Cognito pool settings: {sorted(unknown)}")
        region = str(vendor.get("region", cls.region))
        if not _REGION.fullmatch(region):
            raise ValueError(f"not an AWS region: {region!r}")
        pool_id = str(vendor.get("user_pool_id", f"{region}_Pr0ct0r42"))
        head, _, suffix = pool_id.partition("_")
        if head != region or not _POOL_SUFFIX.fullmatch(suffix):
            raise ValueError(f"a user pool ID is '{region}_' and letters or digits: {pool_id!r}")
        prefix = str(vendor.get("domain_prefix", cls.domain_prefix))
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"not a Cognito domain prefix: {prefix!r}")
        domain = vendor.get("domain")
        if domain is not None:
            parts = urlsplit(str(domain))
            if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
                raise ValueError(f"a custom domain is an https:// base URL: {domain!r}")
            domain = f"https://{parts.netloc}"
        return cls(region, pool_id, prefix, domain)

    def domain_base(self) -> str:
        return self.domain or f"https://{self.domain_prefix}.auth.{self.region}.amazoncognito.com"


def pool_scopes(config: IdpConfig) -> list[str]:
    """Every scope the pool knows: the reserved ones, then each resource server's."""
    custom = [f"{api.audience}/{name}" for api in config.apis for name in api.scopes]
    return [*RESERVED_SCOPES, *custom]


def _validity(client: Client | None, name: str, default: int) -> int:
    value = client.vendor.get(name) if client is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _rotation(client: Client | None) -> bool:
    """The app client's ``RefreshTokenRotation`` feature (disabled unless configured)."""
    return client is not None and client.vendor.get("refresh_token_rotation") is True


def _uuid(family_id: str | None, label: str) -> str:
    """A UUID that stays the same for one grant family (``origin_jti``, ``event_id``)."""
    if family_id is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_UUID_NAMESPACE, f"{family_id}/{label}"))


def cognito_kid(key: RSAKey) -> str:
    """A Cognito-shaped ``kid``: standard base64 (with ``+``, ``/`` and ``=``) of a SHA-256
    digest; here of the key's public members, so it is stable for a key."""
    public = key.as_dict(private=False)
    canonical = json.dumps({"e": public["e"], "kty": "RSA", "n": public["n"]}, sort_keys=True)
    return base64.b64encode(hashlib.sha256(canonical.encode()).digest()).decode()


def _adjust_refresh_expiry(engine: Engine, client: Client, body: Mapping[str, Any]) -> None:
    """Apply the app client's own refresh-token validity to a just-issued refresh token."""
    value = body.get("refresh_token")
    validity = _validity(client, "refresh_token_validity", 0)
    if not isinstance(value, str) or not validity:
        return
    with engine.state.locked() as st:
        token = st.refresh_tokens.get(value)
        if token is not None:
            token.expires_at = engine.clock.now() + validity


class CognitoAuthorizationCodeGrant(AuthorizationCodeGrant):
    """RFC 6749 §4.1.3 as Cognito answers it: ``redirect_uri`` is required, and one that
    is not a callback URL of the app client is ``unauthorized_client`` (observed: the
    classic missing-trailing-slash failure, StackOverflow 50264679). The refresh token
    gets the app client's validity."""

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        redirect_uri = params.require("redirect_uri")
        if redirect_uri not in client.redirect_uris:
            raise UnauthorizedClient(
                "The redirect_uri is not a callback URL of the app client.",
                reason="token_redirect_uri_unregistered",
            )
        body = super().exchange(engine, server, client, params)
        _adjust_refresh_expiry(engine, client, body)
        return body


class CognitoRefreshTokenGrant(RefreshTokenGrant):
    """Cognito's refresh: ``scope`` is ignored; without rotation (the default) the response
    has new ID and access tokens only; with ``refresh_token_rotation`` it also has a new
    refresh token and the old one stops working after ``refresh_reuse_grace`` seconds."""

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        effective = client.model_copy(update={"refresh_rotation": _rotation(client)})
        without_scope = Params(tuple((k, v) for k, v in params.pairs if k != "scope"))
        body = super().exchange(engine, server, effective, without_scope)
        _adjust_refresh_expiry(engine, client, body)
        return body


def _error_page(engine: Engine, error: str, description: str) -> Response:
    return Response.html(pages.error_page(engine.profile.title, error, description), 400)


def _logout(engine: Engine, server: AuthServer, req: Request) -> Response:
    """``GET /logout?client_id=&logout_uri=`` signs out and redirects to a registered
    sign-out URL; ``/logout?client_id=&redirect_uri=&response_type=…`` signs out and
    starts a new sign-in with those authorization parameters (logout-endpoint page)."""
    try:
        params = req.params()
        client_id = params.get("client_id")
        logout_uri = params.get("logout_uri")
        redirect_uri = params.get("redirect_uri")
        response_type = params.get("response_type")
    except InvalidRequest as error:
        return _error_page(engine, error.error, engine.profile.describe(error))
    client = engine.client(client_id) if client_id else None
    if client is None:
        return _error_page(engine, "invalid_request", "The 'client_id' is missing or unknown.")
    if logout_uri is not None:
        if logout_uri not in client.post_logout_redirect_uris:
            return _error_page(
                engine, "redirect_mismatch", "The 'logout_uri' is not a sign-out URL of the client."
            )
        response = Response.redirect(logout_uri)
    elif redirect_uri is not None and response_type is not None:
        if redirect_uri not in client.redirect_uris:
            return _error_page(
                engine, "redirect_mismatch", "The 'redirect_uri' is not a callback URL."
            )
        query = urlencode([(k, v) for k, v in params.pairs if v != ""])
        response = Response.redirect(f"{server.paths['authorize']}?{query}")
    else:
        return _error_page(
            engine,
            "invalid_request",
            "Send a 'logout_uri', or a 'redirect_uri' with a 'response_type'.",
        )
    cookie = engine.profile.session_cookie
    sid = req.cookies.get(cookie)
    if sid:
        with engine.state.locked() as st:
            st.sessions.pop(sid, None)
    response.set_cookie(cookie, "", secure=engine.base_url.startswith("https:"), max_age=0)
    return response


def _revoke(engine: Engine, server: AuthServer, req: Request) -> Response:
    """``POST /oauth2/revoke`` (revocation-endpoint page): a refresh token only; it and
    every ID and access token issued from it are revoked. 200 for unknown tokens."""
    params = req.form()
    client = engine.authenticate_client(req, params)
    if client.vendor.get("enable_token_revocation", True) is not True:
        raise InvalidRequest(
            "Token revocation is disabled for the app client.", reason="revocation_disabled"
        )
    token = params.require("token")
    if engine.token_record(token) is not None:
        raise UnsupportedTokenType(
            "Only refresh tokens can be revoked.", reason="token_type_unsupported"
        )
    with engine.state.locked() as st:
        refresh = st.refresh_tokens.get(token)
        family = st.families.get(refresh.family_id) if refresh is not None else None
        if (
            family is not None
            and family.client_id == client.client_id
            and family.server_id == server.id
        ):
            st.revoke_family(family.id)
    return Response(200, b"", None, [("cache-control", "no-store")])


class CognitoProfile(VendorProfile):
    """One Cognito user pool, its app clients and resource servers."""

    name = "cognito"
    title = "Amazon Cognito"
    default_host = "cognito-idp.us-east-1.amazonaws.com"
    default_port = 8712
    defaults_file = "cognito_defaults.yaml"
    session_cookie = "cognito"
    login_path = "/login"
    device_verification_path = None
    pkce_methods = ("S256",)
    error_descriptions = COGNITO_ERRORS

    # -- configuration -------------------------------------------------------------------
    def validate_config(self, config: IdpConfig) -> None:
        UserPool.from_config(config)
        known = set(pool_scopes(config))
        for api in config.apis:
            if api.audience in RESERVED_SCOPES or any(c.isspace() for c in api.audience):
                raise ValueError(f"not a resource server identifier: {api.audience!r}")
            for scope in api.scopes:
                if not scope or "/" in scope or any(c.isspace() for c in scope):
                    raise ValueError(f"not a custom scope name: {scope!r} (api {api.id!r})")
        for client in config.clients:
            self._validate_client(client, known)

    @staticmethod
    def _validate_client(client: Client, known: set[str]) -> None:
        who = f"app client {client.client_id!r}"
        grants = set(client.grant_types)
        if not grants <= _GRANTS:
            raise ValueError(f"{who}: Cognito has no {sorted(grants - _GRANTS)} flow")
        if "client_credentials" in grants and "authorization_code" in grants:
            raise ValueError(
                f"{who}: Cognito does not combine client_credentials with the code flow "
                "(use two app clients)"
            )
        if "client_credentials" in grants and client.public:
            raise ValueError(f"{who}: client_credentials needs a client secret")
        if client.scopes is not None and not set(client.scopes) <= known:
            raise ValueError(f"{who}: unknown scopes {sorted(set(client.scopes) - known)}")
        for name, (low, high) in (
            ("access_token_validity", _TOKEN_VALIDITY),
            ("id_token_validity", _TOKEN_VALIDITY),
            ("refresh_token_validity", _REFRESH_VALIDITY),
        ):
            value = client.vendor.get(name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high
            ):
                raise ValueError(f"{who}: {name} is seconds from {low} to {high}")
        for flag in ("refresh_token_rotation", "enable_token_revocation"):
            if flag in client.vendor and not isinstance(client.vendor[flag], bool):
                raise ValueError(f"{who}: {flag} is true or false")

    def servers(self, config: IdpConfig, base: str) -> list[AuthServer]:
        pool = UserPool.from_config(config)
        host = urlsplit(base).hostname or ""
        vendor_host = _VENDOR_HOST.fullmatch(host)
        if vendor_host is not None:
            if vendor_host.group(1) != pool.region:
                raise ValueError(
                    f"the issuer host {host!r} is not in the pool's region {pool.region!r}"
                )
            domain = pool.domain_base()
        else:
            domain = base
        pid = pool.user_pool_id
        paths: dict[Endpoint, str] = {
            "openid_configuration": f"/{pid}/.well-known/openid-configuration",
            "jwks": f"/{pid}/.well-known/jwks.json",
            "authorize": "/oauth2/authorize",
            "token": "/oauth2/token",
            "userinfo": "/oauth2/userInfo",
            "revoke": "/oauth2/revoke",
            "logout": "/logout",
        }
        on_domain: tuple[Endpoint, ...] = ("authorize", "token", "userinfo", "revoke", "logout")
        return [
            AuthServer(
                id=pid,
                issuer=f"{base}/{pid}",
                base=base,
                paths=paths,
                grant_types=_GRANTS,
                scopes=frozenset(pool_scopes(config)),
                audience=None,
                kind="user_pool",
                access_key_purpose=ACCESS_PURPOSE,
                id_key_purpose=ID_PURPOSE,
                key_purposes={ACCESS_PURPOSE: True, ID_PURPOSE: True},
                settings={"region": pool.region, "domain": domain},
                endpoint_bases=dict.fromkeys(on_domain, domain),
            )
        ]

    def keyring(self, server: AuthServer, key_factory: KeyFactory) -> KeyRing:
        """Two RSA keys per pool (ID tokens and access tokens), with Cognito-shaped kids."""
        keys = []
        for purpose, published in server.key_purposes.items():
            made = key_factory("RS256", f"{server.id}/{purpose}")
            if not isinstance(made, RSAKey):
                raise TypeError("Cognito signs with RSA keys")
            key = RSAKey(made.raw_value, made.raw_value, {"kid": cognito_kid(made)})
            keys.append(SigningKey(key, "RS256", purpose=purpose, published=published))
        return KeyRing(keys)

    def user_id(self, user: User) -> str:
        """The ``sub``: the configured ID, else a UUID derived from the username."""
        return user.id or str(uuid.uuid5(_UUID_NAMESPACE, f"user/{user.username}"))

    def lifetimes(self, server: AuthServer) -> Lifetimes:
        return Lifetimes(access=3600, id=3600, refresh=30 * 86_400, code=300)

    # -- requests ------------------------------------------------------------------------
    def grants(self) -> Mapping[str, Grant]:
        return {
            "authorization_code": CognitoAuthorizationCodeGrant(),
            "refresh_token": CognitoRefreshTokenGrant(),
        }

    def handlers(self) -> Mapping[Endpoint, EndpointHandler]:
        return {"logout": _logout, "revoke": _revoke}

    def demo_scopes(self, server: AuthServer, client: Client) -> tuple[str, ...]:
        """What a sign-in without ``scope`` gets: every scope of the app client (Cognito
        has no ``offline_access``; the code flow always returns a refresh token)."""
        return self.grant_scopes(server, client, Params(()), grant_type="authorization_code")

    def grant_scopes(
        self, server: AuthServer, client: Client, params: Params, *, grant_type: str
    ) -> tuple[str, ...]:
        """No ``scope``: every scope of the app client (custom ones for client
        credentials). A scope the pool does not know, or the app client may not use, is
        ``invalid_scope`` (observed; the documentation says such scopes are ignored);
        ``email``, ``phone`` and ``profile`` need ``openid``; client credentials take
        custom scopes only."""
        requested = params.get("scope")
        machine = grant_type == "client_credentials"
        allowed = list(client.scopes) if client.scopes is not None else sorted(server.scopes)
        if requested is None:
            scopes = tuple(s for s in allowed if "/" in s or not machine)
            if not scopes:
                raise InvalidScope("The app client has no scopes.", reason="scope_missing")
            return scopes
        scopes = tuple(dict.fromkeys(requested.split(" ")))
        if "" in scopes or not set(scopes) <= server.scopes:
            raise InvalidScope("The requested scope is invalid or unknown.", reason="scope_unknown")
        if not set(scopes) <= set(allowed) or (machine and any("/" not in s for s in scopes)):
            raise InvalidScope(
                "The app client may not request these scopes.", reason="scope_not_allowed"
            )
        if not machine and _NEEDS_OPENID & set(scopes) and "openid" not in scopes:
            raise InvalidScope("These scopes need the openid scope.", reason="scope_needs_openid")
        return scopes

    # -- tokens --------------------------------------------------------------------------
    def refresh_allowed(self, ctx: TokenContext) -> bool:
        if ctx.grant_type == "authorization_code":
            return True
        return ctx.grant_type == "refresh_token" and _rotation(ctx.client)

    def refresh_token_value(self) -> str:
        """An opaque value shaped like Cognito's refresh tokens: a five-part compact JWE."""
        parts = [secrets.token_urlsafe(n) for n in (256, 12, 600, 16)]
        return ".".join([_REFRESH_HEADER, *parts])

    def access_token(self, ctx: TokenContext) -> JwtSpec:
        now, user = ctx.now, ctx.user
        exp = now + _validity(ctx.client, "access_token_validity", ctx.lifetimes.access)
        scope = " ".join(ctx.scopes)
        iss = ctx.server.issuer
        if user is None:  # machine to machine (observed member order)
            claims: dict[str, Any] = {
                "sub": ctx.client_id,
                "token_use": "access",
                "scope": scope,
                "auth_time": now,
                "iss": iss,
                "exp": exp,
                "iat": now,
                "version": 2,
                "jti": str(uuid.uuid4()),
                "client_id": ctx.client_id,
            }
            return JwtSpec(claims, purpose=ACCESS_PURPOSE)
        claims = {"sub": ctx.user_id}
        device_key = user.vendor.get("device_key")
        if isinstance(device_key, str):
            claims["device_key"] = device_key
        if user.groups:
            claims["cognito:groups"] = list(user.groups)
        claims.update(
            {
                "iss": iss,
                "version": 2,
                "client_id": ctx.client_id,
                "origin_jti": _uuid(ctx.family_id, "origin_jti"),
                "event_id": _uuid(ctx.family_id, "event_id"),
                "token_use": "access",
                "scope": scope,
                "auth_time": ctx.auth_time if ctx.auth_time is not None else now,
                "exp": exp,
                "iat": now,
                "jti": str(uuid.uuid4()),
                "username": user.username,
            }
        )
        return JwtSpec(claims, purpose=ACCESS_PURPOSE)

    def id_token(self, ctx: TokenContext) -> JwtSpec:
        user, now = ctx.user, ctx.now
        if user is None:
            raise ValueError("an ID token needs a user")
        claims: dict[str, Any] = {}
        if ctx.access_token is not None:
            claims["at_hash"] = at_hash(ctx.access_token)
        claims["sub"] = ctx.user_id
        if user.groups:
            claims["cognito:groups"] = list(user.groups)
        if user.mail is not None:
            claims["email_verified"] = user.email_verified
        claims["iss"] = ctx.server.issuer
        claims["cognito:username"] = user.username
        if ctx.nonce is not None:
            claims["nonce"] = ctx.nonce
        claims.update(
            {
                "origin_jti": _uuid(ctx.family_id, "origin_jti"),
                "aud": ctx.client_id,
                "event_id": _uuid(ctx.family_id, "event_id"),
                "token_use": "id",
                "auth_time": ctx.auth_time if ctx.auth_time is not None else now,
            }
        )
        for name in ("name", "given_name", "family_name"):
            value = getattr(user, name)
            if value is not None:
                claims[name] = value
        for name, value in user.attributes.items():
            claims.setdefault(name, value)
        identities = user.vendor.get("identities")
        if isinstance(identities, list):
            claims["identities"] = identities
        exp = now + _validity(ctx.client, "id_token_validity", ctx.lifetimes.id)
        claims.update({"exp": exp, "iat": now, "jti": str(uuid.uuid4())})
        if user.mail is not None:
            claims["email"] = user.mail
        return JwtSpec(claims, purpose=ID_PURPOSE)

    def token_response(self, ctx: TokenContext, tokens: IssuedTokens) -> dict[str, Any]:
        """``{id_token?, access_token, refresh_token?, expires_in, token_type}`` (observed
        member order); Cognito sends no ``scope``."""
        body: dict[str, Any] = {}
        if tokens.id_token is not None:
            body["id_token"] = tokens.id_token
        body["access_token"] = tokens.access_token
        if tokens.refresh_token is not None:
            body["refresh_token"] = tokens.refresh_token
        body["expires_in"] = tokens.expires_in
        body["token_type"] = self.token_type
        return body

    def userinfo(
        self, server: AuthServer, user: User, user_id: str, scopes: tuple[str, ...]
    ) -> dict[str, Any]:
        """userinfo-endpoint page: ``openid`` alone returns every attribute; ``profile``,
        ``email`` and ``phone`` narrow it. Booleans come back as the strings ``"true"`` and
        ``"false"`` (observed)."""
        everything = not (_NEEDS_OPENID & set(scopes))
        claims: dict[str, Any] = {"sub": user_id}
        if everything or "profile" in scopes:
            for name in ("name", "given_name", "family_name"):
                value = getattr(user, name)
                if value is not None:
                    claims[name] = value
            for name, value in user.attributes.items():
                if not name.startswith("phone_number"):
                    claims.setdefault(name, value)
        if (everything or "email" in scopes) and user.mail is not None:
            claims["email_verified"] = "true" if user.email_verified else "false"
            claims["email"] = user.mail
        if everything or "phone" in scopes:
            for name in ("phone_number", "phone_number_verified"):
                value = user.attributes.get(name)
                if isinstance(value, bool):
                    claims[name] = "true" if value else "false"
                elif value is not None:
                    claims[name] = value
        claims["username"] = user.username
        return claims

    def discovery(self, server: AuthServer, endpoint: Endpoint) -> dict[str, Any]:
        """The members of a real pool's document (observed; keys in Cognito's alphabetical
        order). ``response_types_supported`` lists only ``code``: Cognito also lists
        ``token`` (the implicit flow), which the emulator does not serve. There is no
        ``code_challenge_methods_supported``, as in the real document."""
        return {
            "authorization_endpoint": server.url("authorize"),
            "end_session_endpoint": server.url("logout"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "issuer": server.issuer,
            "jwks_uri": server.url("jwks"),
            "response_types_supported": ["code"],
            "revocation_endpoint": server.url("revoke"),
            "scopes_supported": ["openid", "email", "phone", "profile"],
            "subject_types_supported": ["public"],
            "token_endpoint": server.url("token"),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "userinfo_endpoint": server.url("userinfo"),
        }

    # -- errors --------------------------------------------------------------------------
    def error_response(
        self, error: OAuthError, server: AuthServer | None, endpoint: str | None
    ) -> Response:
        """Bare ``{"error"}`` bodies. The token endpoint answers every error with 400; the
        userInfo endpoint puts its error in ``WWW-Authenticate`` without a scheme, as the
        documentation shows, and repeats it in the body."""
        headers = dict(error.headers)
        status = error.status_code
        if endpoint == "userinfo" and isinstance(error, InvalidToken):
            if error.reason == "userinfo_token_missing":
                code, status = "invalid_request", 400
            else:
                code = error.error
            description = self.describe(error)
            headers = {"www-authenticate": f'error="{code}", error_description="{description}"'}
            return Response.json({"error": code, "error_description": description}, status, headers)
        if endpoint == "token" and isinstance(error, InvalidClient):
            status = 400
            headers.pop("www-authenticate", None)
        return Response.json({"error": error.error}, status, headers)

    def not_found(self, path: str) -> Response:
        """≈ An unknown pool under the issuer host answers like the Cognito API; other
        paths get a plain 404 (neither is confirmed against AWS)."""
        match = _POOL_PATH.match(path)
        if match is not None:
            body = {
                "code": "ResourceNotFoundException",
                "message": f"User pool {match.group(1)} does not exist.",
            }
            return Response.json(body, 404)
        return Response.json({"error": "not_found"}, 404)


PROFILE = CognitoProfile()
