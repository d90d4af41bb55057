"""Mock third-party OAuth 2.0 providers ("tools"): an authorization server and, beside it on
the same app, the resource API its tokens are for (:mod:`proctor.mock_idps.resources`).

Five presets, each a :class:`ProviderProfile` registered in
:data:`proctor.mock_idps.vendors.VENDORS`, so ``proctor idp <name>``,
``create_app("<name>")`` and the ``<name>_provider`` pytest fixtures all work. This module
has the base and the Sarah scenario's three; Google and GitHub, with their quirks, are in
:mod:`proctor.mock_idps.google` and :mod:`proctor.mock_idps.github`:

=============  ===============================  ==============================================
preset         authorization server             resource API (scope)
=============  ===============================  ==============================================
``crm``        ``/oauth2/{authorize,token,      ``GET /api/customers/{id}/notes``
               revoke,introspect,jwks}``,        (``notes.read``)
               RFC 8414 metadata
``finance``    same paths                       ``GET /api/spend?customer=`` (``spend.read``)
``documents``  same paths                       ``POST /api/documents`` (``documents.write``),
                                                ``GET /api/documents/{id}``
``google``     Google's paths                   ``GET /v1/userinfo`` (OIDC scopes)
``github``     GitHub's paths                   ``GET /user``, ``GET /user/emails``
=============  ===============================  ==============================================

The Sarah-scenario presets (``crm``, ``finance``, ``documents``) are strict, plain RFC
servers: authorization code with PKCE ``S256`` (required of the configured clients), a
login and consent page or headless approval, refresh tokens rotated on every use (reuse
revokes the grant, RFC 9700 §4.14.2), client credentials (RFC 6749 §4.4), RFC 7009
revocation, RFC 7662 introspection and RFC 8693 token exchange. Every access token is bound
to one audience, the resource (RFC 8707: ``resource``, or the ``audience`` parameter the
vault also sends, must name a configured resource, else ``invalid_target``; one resource
per token) and to its scopes. Access tokens are **opaque** (``crm``, ``documents``) or
RFC 9068 JWTs (``finance``); ``vendor: {token_format: opaque|jwt}`` switches. An opaque
token is recorded in the provider's token store and nowhere else: the resource API and
RFC 7662 introspection read that store (:class:`EngineResourceContext`). The ``crm``
client secret contains ``:``, ``+`` and ``%``, so a client that skips the form-encoding of
``client_secret_basic`` (RFC 6749 §2.3.1) fails, as spec 05 PRV-AUTH-001 intends.

Token exchange (RFC 8693 §2.1) accepts a subject token of type access token, ID token or
JWT that is either an active access token of this provider or a JWT from a *trusted
issuer*, verified against that issuer's JWKS (``RS256``/``ES256``, exact ``iss``, ``exp``
and, if configured, ``aud``): configured as ``vendor: {trusted_issuers: [{issuer, jwks,
audience}]}`` or registered at run time with :func:`trust_issuer` (the fixtures' ``trust()``
points it at a live mock IdP's keys). The result carries ``act: {sub: <client>}`` (RFC 8693
§4.1) and never a refresh token.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib.resources import files
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import yaml
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from proctor.mock_idps.config import TOKEN_EXCHANGE, Client, IdpConfig, User, load_config
from proctor.mock_idps.errors import (
    InvalidScope,
    InvalidTarget,
)
from proctor.mock_idps.grants import (
    ACCESS_TOKEN_TYPE,
    AuthorizationCodeGrant,
    Grant,
    Redemption,
    RefreshTokenGrant,
    TokenExchangeGrant,
)
from proctor.mock_idps.messages import Params
from proctor.mock_idps.profile import (
    AuthServer,
    Endpoint,
    JwtSpec,
    Lifetimes,
    TokenContext,
    VendorProfile,
    at_hash,
)
from proctor.mock_idps.resources import (
    CrmApi,
    DocumentsApi,
    FinanceApi,
    ResourceApi,
    TokenInfo,
    resource_routes,
)
from proctor.mock_idps.state import AuthorizationCode, IssuedToken

if TYPE_CHECKING:
    from proctor.mock_idps.engine import Engine

__all__ = [
    "CRM",
    "DOCUMENTS",
    "FINANCE",
    "ID_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "CrmProvider",
    "DocumentsProvider",
    "EngineResourceContext",
    "FinanceProvider",
    "ProviderProfile",
    "ProviderRefreshGrant",
    "ProviderSettings",
    "TrustedIssuer",
    "requested_resource",
    "resource_api",
    "server_resources",
    "summary",
    "trust_issuer",
]

ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105
_SUBJECT_TYPES = frozenset({ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE})
_FOREIGN_ALGORITHMS = ("RS256", "ES256")


@functools.cache
def _presets_file() -> dict[str, Any]:
    text = files("proctor.mock_idps").joinpath("provider_presets.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise TypeError("provider_presets.yaml is a mapping of preset name to configuration")
    return data


# -- settings (IdpConfig.vendor) ------------------------------------------------------------
class TrustedIssuerConfig(BaseModel):
    """A JWT issuer whose tokens token exchange accepts as subject tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1)
    jwks: dict[str, Any]
    audience: str | None = None


class ProviderSettings(BaseModel):
    """The ``vendor`` member of a provider's configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_format: Literal["opaque", "jwt"] | None = None
    """Access tokens: opaque strings or RFC 9068 JWTs (default: the preset's)."""
    trusted_issuers: list[TrustedIssuerConfig] = Field(default_factory=list)
    expiring_user_tokens: bool = False
    """GitHub only: 8-hour user tokens with refresh tokens instead of non-expiring ones."""


def _settings(config: IdpConfig) -> ProviderSettings:
    return ProviderSettings.model_validate(config.vendor)


@dataclass(frozen=True)
class TrustedIssuer:
    """A run-time trusted issuer: ``jwks`` is called for the current key set on each use."""

    issuer: str
    jwks: Callable[[], Mapping[str, Any]]
    audience: str | None = None


@dataclass
class _ProviderState:
    resource: ResourceApi
    trusted: dict[str, TrustedIssuer] = field(default_factory=dict)


_STATES: weakref.WeakKeyDictionary[Engine, _ProviderState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state(engine: Engine) -> _ProviderState:
    profile = engine.profile
    if not isinstance(profile, ProviderProfile):
        raise TypeError(f"{profile.name} is not a third-party provider")
    with _STATES_LOCK:
        found = _STATES.get(engine)
        if found is None:
            found = _ProviderState(profile.resource_class(EngineResourceContext(engine)))
            _STATES[engine] = found
        return found


def resource_api(engine: Engine) -> ResourceApi:
    """The resource API served beside ``engine`` (its data and request log)."""
    return _state(engine).resource


def trust_issuer(
    engine: Engine,
    issuer: str,
    jwks: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
    *,
    audience: str | None = None,
) -> None:
    """Accept JWTs of ``issuer`` as RFC 8693 subject tokens at ``engine``'s provider."""
    source: Callable[[], Mapping[str, Any]] = jwks if callable(jwks) else (lambda: jwks)
    _state(engine).trusted[issuer] = TrustedIssuer(issuer, source, audience)


class EngineResourceContext:
    """A resource API's view of its provider: audience, token store, users, clock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def audience(self) -> str:
        return self.engine.server().audience or ""

    def introspect(self, token: str) -> TokenInfo | None:
        record = self.engine.active_access_token(token, self.engine.servers)
        if record is None:
            return None
        aud = record.claims.get("aud")
        audiences = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud or ())
        sub = record.claims.get("sub")
        return TokenInfo(
            subject=str(sub) if sub is not None else None,
            username=record.username,
            client_id=record.client_id,
            scopes=frozenset(record.scopes),
            audiences=audiences,
            expires_at=record.expires_at,
        )

    def base_url(self) -> str:
        return self.engine.base_url

    def issuer(self) -> str:
        return self.engine.server().issuer

    def now(self) -> float:
        return self.engine.clock.now()

    def user(self, name: str) -> User | None:
        return self.engine.user(name)

    def user_id(self, user: User) -> str:
        return self.engine.user_id(user)


# -- resource indicators (RFC 8707) ----------------------------------------------------------
def _target_values(pairs: tuple[tuple[str, str], ...]) -> list[str]:
    """The ``resource`` and ``audience`` values of a request, in order, once each."""
    return list(dict.fromkeys(v for k, v in pairs if k in ("resource", "audience") and v))


def server_resources(server: AuthServer) -> Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Audience to (scopes, default scopes), for every configured resource."""
    found: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = server.settings["resources"]
    return found


def requested_resource(server: AuthServer, pairs: tuple[tuple[str, str], ...]) -> str | None:
    """RFC 8707 §2: the one resource a request names, validated; ``None`` if it names none."""
    values = _target_values(pairs)
    resources = server_resources(server)
    if any(v not in resources for v in values):
        raise InvalidTarget(
            "The requested resource is unknown to this authorization server.",
            reason="resource_unknown",
        )
    if len(values) > 1:
        raise InvalidTarget(
            "Only one resource per access token is supported.", reason="resource_multiple"
        )
    return values[0] if values else None


# -- grants ------------------------------------------------------------------------------------
class ProviderCodeGrant(AuthorizationCodeGrant):
    """RFC 6749 §4.1.3 with RFC 8707 §2.2: the token request's ``resource`` must be one the
    authorization request named; the provider decides whether a refresh token comes too
    (Google: only for offline access)."""

    def issue(self, engine: Engine, redeemed: Redemption) -> dict[str, Any]:
        server, code = redeemed.server, redeemed.code
        authorized = requested_resource(server, code.request.params)
        requested = requested_resource(server, redeemed.params.pairs)
        if requested is not None and authorized is not None and requested != authorized:
            raise InvalidTarget(
                "The resource was not part of the authorization request.",
                reason="resource_not_authorized",
            )
        chosen = requested or authorized
        profile = engine.profile
        offline = not isinstance(profile, ProviderProfile) or profile.offline_grant(engine, code)
        resource = Params((("resource", chosen),) if chosen else ())
        return super().issue(engine, replace(redeemed, refresh=offline, resource=resource))


class ProviderRefreshGrant(RefreshTokenGrant):
    """RFC 6749 §6 with rotation; a ``resource`` sent with the refresh (RFC 8707 §2.2, as
    the vault does) must be a resource of this server. The new token keeps the grant's
    audience, which follows from its scopes."""

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        requested_resource(server, params.pairs)
        return super().exchange(engine, server, client, params)


class ProviderTokenExchangeGrant(TokenExchangeGrant):
    """RFC 8693 §2.1-2.2: a subject token of this provider or of a trusted issuer in, an
    access token for this provider's resource out (``issued_token_type``, no refresh).

    ``subject_token_type`` may be the access-token, ID-token or JWT URN;
    ``requested_token_type``, when sent, must be the access-token URN; ``actor_token`` is
    not supported. ``resource``/``audience`` name the resource (RFC 8707, §2.1), checked
    with the scopes.
    """

    subject_token_types = _SUBJECT_TYPES

    def check_target(self, server: AuthServer, params: Params) -> None:
        """The resource is checked with the scopes (:meth:`ProviderProfile.grant_scopes`)."""

    def subject(
        self, engine: Engine, server: AuthServer, token: str, token_type: str
    ) -> tuple[Mapping[str, Any], User | None] | None:
        """An active access token of this provider, else a trusted issuer's JWT; the user
        is the provider's account with the token's email, username or subject."""
        record = None
        if token_type != ID_TOKEN_TYPE:
            record = engine.active_access_token(token, (server.id,))
        claims = dict(record.claims) if record is not None else _verify_foreign(engine, token)
        if claims is None:
            return None
        for name in ("email", "preferred_username", "sub"):
            value = claims.get(name)
            if isinstance(value, str) and (user := engine.user(value)) is not None:
                return claims, user
        return claims, None


def _verify_foreign(engine: Engine, token: str) -> dict[str, Any] | None:
    """A trusted issuer's JWT, verified (signature, then ``iss``, ``exp``, ``aud``)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        unverified = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    issuer = unverified.get("iss") if isinstance(unverified, dict) else None
    if not isinstance(issuer, str):
        return None
    trusted = _state(engine).trusted.get(issuer)
    if trusted is None:
        configured = _settings(engine.config).trusted_issuers
        found = next((t for t in configured if t.issuer == issuer), None)
        if found is None:
            return None
        jwks = found.jwks
        trusted = TrustedIssuer(issuer, lambda: jwks, found.audience)
    try:
        keys = KeySet.import_key_set(dict(trusted.jwks()))  # type: ignore[arg-type]
        decoded = jwt.decode(token, keys, algorithms=list(_FOREIGN_ALGORITHMS))
        rules: dict[str, Any] = {
            "iss": {"essential": True, "value": issuer},
            "exp": {"essential": True},
        }
        if trusted.audience is not None:
            rules["aud"] = {"essential": True, "value": trusted.audience}
        jwt.JWTClaimsRegistry(now=engine.clock(), leeway=0, **rules).validate(decoded.claims)
    except (JoseError, ValueError, KeyError, TypeError):
        return None
    return dict(decoded.claims)


# -- the profile -------------------------------------------------------------------------------
class ProviderProfile(VendorProfile):
    """A third-party OAuth 2.0 authorization server with a resource API beside it.

    One authorization server per app (issuer = the base URL); each configured ``Api`` is a
    resource (its ``audience`` may use ``{base}``, e.g. ``{base}/api``), the first one being
    the resource API this app serves.
    """

    name = "provider"
    title = "OAuth provider"
    session_cookie = "provider_session"
    login_path = "/login"
    device_verification_path = None
    #: The resource API each concrete provider serves (CrmApi, FinanceApi, ...).
    resource_class: ClassVar[type[ResourceApi]]
    token_formats: ClassVar[tuple[str, ...]] = ("opaque", "jwt")
    default_format: ClassVar[str] = "opaque"
    access_prefix: ClassVar[str] = "at_"
    refresh_prefix: ClassVar[str] = "rt_"
    default_access_lifetime: ClassVar[int | None] = 3600
    default_refresh_lifetime: ClassVar[int | None] = 30 * 86_400
    grant_types: ClassVar[frozenset[str]] = frozenset(
        {"authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE}
    )

    # -- configuration -------------------------------------------------------------------
    def default_config(self) -> IdpConfig:
        return load_config(_presets_file()[self.name])

    def validate_config(self, config: IdpConfig) -> None:
        if not config.apis:
            raise ValueError("a provider needs at least one api: the resource its tokens are for")
        try:
            settings = _settings(config)
        except ValidationError as exc:
            raise ValueError(f"vendor settings: {exc}") from exc
        if settings.token_format is not None and settings.token_format not in self.token_formats:
            raise ValueError(f"{self.name} issues only {'/'.join(self.token_formats)} tokens")
        if settings.expiring_user_tokens and self.name != "github":
            raise ValueError("expiring_user_tokens is a GitHub setting")

    def endpoint_paths(self) -> dict[Endpoint, str]:
        return {
            "oauth_authorization_server": "/.well-known/oauth-authorization-server",
            "authorize": "/oauth2/authorize",
            "token": "/oauth2/token",
            "revoke": "/oauth2/revoke",
            "introspect": "/oauth2/introspect",
            "jwks": "/oauth2/jwks",
        }

    def server_grant_types(self, settings: ProviderSettings) -> frozenset[str]:
        return self.grant_types

    def servers(self, config: IdpConfig, base: str) -> list[AuthServer]:
        settings = _settings(config)
        resources = {
            api.audience.replace("{base}", base): (tuple(api.scopes), tuple(api.default_scopes))
            for api in config.apis
        }
        primary = config.apis[0]
        return [
            AuthServer(
                id=self.name,
                issuer=base,
                base=base,
                paths=self.endpoint_paths(),
                grant_types=self.server_grant_types(settings),
                scopes=frozenset(s for api in config.apis for s in api.scopes),
                audience=primary.audience.replace("{base}", base),
                api=primary,
                kind="provider",
                settings={
                    "token_format": settings.token_format or self.default_format,
                    "resources": resources,
                    "expiring": settings.expiring_user_tokens,
                },
            )
        ]

    def lifetimes(self, server: AuthServer) -> Lifetimes:
        api = server.api
        access = api.access_token_lifetime if api and api.access_token_lifetime else None
        refresh = api.refresh_token_lifetime if api and api.refresh_token_lifetime else None
        return Lifetimes(
            access=access or self.default_access_lifetime or 0,
            refresh=refresh or self.default_refresh_lifetime,
        )

    def access_lifetime(self, ctx: TokenContext) -> int | None:
        """Seconds until the access token expires (``None``: it never does)."""
        return ctx.lifetimes.access

    # -- requests ------------------------------------------------------------------------
    def grants(self) -> Mapping[str, Grant]:
        return {
            "authorization_code": ProviderCodeGrant(),
            "refresh_token": ProviderRefreshGrant(),
            TOKEN_EXCHANGE: ProviderTokenExchangeGrant(),
        }

    def grant_scopes(
        self, server: AuthServer, client: Client, params: Params, *, grant_type: str
    ) -> tuple[str, ...]:
        """Scopes within the requested resource's (RFC 8707 §2); the resource's default
        scopes when none are requested (RFC 6749 §3.3)."""
        requested = params.get("scope")
        target = requested_resource(server, params.pairs)
        resources = server_resources(server)
        allowed, defaults = resources[target or server.audience or ""]
        if requested is None:
            if not defaults:
                raise InvalidScope("The 'scope' parameter is required.", reason="scope_missing")
            return defaults
        scopes = self.split_scopes(requested)
        if "" in scopes or not set(scopes) <= server.scopes:
            raise InvalidScope("The requested scope is invalid or unknown.", reason="scope_unknown")
        if target is not None and not set(scopes) <= set(allowed):
            raise InvalidScope(
                "The requested scope is not valid for the requested resource.",
                reason="scope_resource",
            )
        if not any(set(scopes) <= set(a) for a, _ in resources.values()):
            raise InvalidScope(
                "The requested scopes belong to more than one resource.",
                reason="scope_resources",
            )
        return scopes

    @staticmethod
    def split_scopes(requested: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(requested.split(" ")))

    def demo_scopes(self, server: AuthServer, client: Client) -> tuple[str, ...]:
        """The resource's default scopes, else all of its scopes."""
        api = server.api
        return tuple(api.default_scopes or api.scopes) if api is not None else ()

    def audience(self, server: AuthServer, scopes: tuple[str, ...], params: Params) -> str | None:
        """The named resource, else the one resource the scopes belong to, else the
        primary resource."""
        target = requested_resource(server, params.pairs)
        if target is not None:
            return target
        matching = [
            aud
            for aud, (allowed, _) in server_resources(server).items()
            if set(scopes) & set(allowed)
        ]
        return matching[0] if len(matching) == 1 else server.audience

    def offline_grant(self, engine: Engine, code: AuthorizationCode) -> bool:
        """Whether a redeemed ``code`` also yields a refresh token (if the client has the
        ``refresh_token`` grant)."""
        return True

    def refresh_allowed(self, ctx: TokenContext) -> bool:
        return True

    # -- tokens --------------------------------------------------------------------------
    def opaque_value(self, ctx: TokenContext) -> str:
        return self.access_prefix + secrets.token_urlsafe(32)

    def refresh_token_value(self) -> str:
        return self.refresh_prefix + secrets.token_urlsafe(32)

    def access_token(self, ctx: TokenContext) -> JwtSpec:
        """RFC 9068 §2.2 claims (kept in the store for an opaque token)."""
        if ctx.subject is not None:  # token exchange: the subject carries over
            sub = ctx.user_id if ctx.user is not None else ctx.subject.get("sub")
        elif ctx.user is not None:
            sub = ctx.user_id
        else:
            sub = ctx.client_id
        claims: dict[str, Any] = {"iss": ctx.server.issuer, "sub": sub, "aud": ctx.audience}
        lifetime = self.access_lifetime(ctx)
        if lifetime is not None:
            claims["exp"] = ctx.now + lifetime
        claims.update(
            {
                "iat": ctx.now,
                "jti": secrets.token_urlsafe(16),
                "client_id": ctx.client_id,
                "scope": " ".join(ctx.scopes),
            }
        )
        if ctx.auth_time is not None:
            claims["auth_time"] = ctx.auth_time
        if ctx.subject is not None:
            claims["act"] = {"sub": ctx.client_id}  # RFC 8693 §4.1
        if ctx.server.settings.get("token_format") == "opaque":
            return JwtSpec(claims, opaque=self.opaque_value(ctx))
        return JwtSpec(claims, {"typ": "at+jwt"})

    def id_token(self, ctx: TokenContext) -> JwtSpec:
        claims: dict[str, Any] = {
            "iss": ctx.server.issuer,
            "sub": ctx.user_id,
            "aud": ctx.client_id,
            "iat": ctx.now,
            "exp": ctx.now + ctx.lifetimes.id,
        }
        if ctx.nonce is not None:
            claims["nonce"] = ctx.nonce
        if ctx.access_token is not None:
            claims["at_hash"] = at_hash(ctx.access_token)
        return JwtSpec(claims)

    def introspection(
        self, server: AuthServer, record: IssuedToken | None, active: bool
    ) -> dict[str, Any]:
        body = super().introspection(server, record, active)
        if active and record is not None and record.username is not None:
            body["username"] = record.username
        return body

    def discovery(self, server: AuthServer, endpoint: Endpoint) -> dict[str, Any]:
        """RFC 8414 §2 authorization server metadata."""
        names: dict[Endpoint, str] = {
            "authorize": "authorization_endpoint",
            "token": "token_endpoint",
            "jwks": "jwks_uri",
            "revoke": "revocation_endpoint",
            "introspect": "introspection_endpoint",
        }
        doc: dict[str, Any] = {"issuer": server.issuer}
        doc.update({m: server.url(k) for k, m in names.items() if server.supports(k)})
        auth_methods = ["client_secret_basic", "client_secret_post"]
        doc.update(
            {
                "scopes_supported": sorted(server.scopes),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": sorted(server.grant_types),
                "token_endpoint_auth_methods_supported": [*auth_methods, "none"],
                "revocation_endpoint_auth_methods_supported": auth_methods,
                "introspection_endpoint_auth_methods_supported": auth_methods,
                "code_challenge_methods_supported": list(self.pkce_methods),
            }
        )
        doc["protected_resources"] = sorted(server_resources(server))  # RFC 9728 §4
        return doc

    # -- beside the authorization server -------------------------------------------------
    def routes(self, engine: Engine) -> list[BaseRoute]:
        api = resource_api(engine)

        async def index(request: StarletteRequest) -> JSONResponse:
            return JSONResponse(summary(engine))

        return [Route("/_mock/provider", index, methods=["GET"]), *resource_routes(api)]


# -- the Sarah scenario --------------------------------------------------------------------
class CrmProvider(ProviderProfile):
    """The CRM tool's authorization server (opaque tokens) and notes API."""

    name = "crm"
    title = "CRM"
    default_host = "crm.example"
    default_port = 8721
    session_cookie = "crm_session"
    resource_class = CrmApi
    default_format = "opaque"
    access_prefix = "crm_at_"
    refresh_prefix = "crm_rt_"


class FinanceProvider(ProviderProfile):
    """The finance tool's authorization server (RFC 9068 JWT tokens) and spend API."""

    name = "finance"
    title = "Finance"
    default_host = "finance.example"
    default_port = 8722
    session_cookie = "finance_session"
    resource_class = FinanceApi
    default_format = "jwt"
    access_prefix = "fin_at_"
    refresh_prefix = "fin_rt_"


class DocumentsProvider(ProviderProfile):
    """The document tool's authorization server (opaque tokens) and documents API."""

    name = "documents"
    title = "Documents"
    default_host = "docs.example"
    default_port = 8723
    session_cookie = "docs_session"
    resource_class = DocumentsApi
    default_format = "opaque"
    access_prefix = "doc_at_"
    refresh_prefix = "doc_rt_"


# -- presets and the summary -----------------------------------------------------------------
CRM = CrmProvider()
FINANCE = FinanceProvider()
DOCUMENTS = DocumentsProvider()


def summary(engine: Engine) -> dict[str, Any]:
    """What a provider serves and the demo credentials (``GET /_mock/provider``, the CLI)."""
    server = engine.server()
    kinds: tuple[Endpoint, ...] = ("oauth_authorization_server", "openid_configuration")
    metadata = next((server.url(k) for k in kinds if server.supports(k)), None)
    config = engine.config
    return {
        "provider": engine.profile.name,
        "title": engine.profile.title,
        "base_url": engine.base_url,
        "issuer": server.issuer,
        "metadata_url": metadata,
        "endpoints": {kind: server.url(kind) for kind in server.paths},
        "grant_types": sorted(server.grant_types),
        "token_format": server.settings.get("token_format"),
        "resources": sorted(server_resources(server)),
        "resource_api": resource_api(engine).summary(),
        "clients": [
            {
                "client_id": c.client_id,
                "client_secret": c.client_secret,
                "name": c.name,
                "grant_types": list(c.grant_types),
                "redirect_uris": list(c.redirect_uris),
            }
            for c in config.clients
        ],
        "users": [{"username": u.username, "password": u.password} for u in config.users],
        "headless_user": config.headless_user,
    }
