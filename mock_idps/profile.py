"""The vendor profile: everything that differs between Okta, Entra ID and Cognito.

The engine (:mod:`proctor.mock_idps.engine`) runs the OAuth 2.0 / OIDC protocol; a
:class:`VendorProfile` subclass tells it where the endpoints are, what tokens look like,
how errors are worded and shaped, and which grants exist. See the engine's module
docstring for the walk-through; this module holds the types.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args
from urllib.parse import urlsplit

from proctor.mock_idps.config import Api, Client, IdpConfig, User, load_config
from proctor.mock_idps.errors import InvalidScope, OAuthError
from proctor.mock_idps.keys import KeyRing, SigningKey
from proctor.mock_idps.messages import Params, Response

if TYPE_CHECKING:
    from joserfc.jwk import ECKey, RSAKey
    from starlette.routing import BaseRoute

    from proctor.mock_idps.engine import Engine
    from proctor.mock_idps.grants import Grant
    from proctor.mock_idps.messages import Request
    from proctor.mock_idps.state import Family, IssuedToken, RefreshToken

__all__ = [
    "ENDPOINTS",
    "OIDC_SCOPES",
    "AuthServer",
    "Endpoint",
    "EndpointHandler",
    "IssuedTokens",
    "JwtSpec",
    "KeyFactory",
    "Lifetimes",
    "TokenContext",
    "VendorProfile",
    "at_hash",
    "claim_value",
]

Endpoint = Literal[
    "openid_configuration",
    "oauth_authorization_server",
    "jwks",
    "authorize",
    "token",
    "userinfo",
    "introspect",
    "revoke",
    "logout",
    "device_authorization",
]
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)
OIDC_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})

KeyFactory = Callable[[str, str], "RSAKey | ECKey"]
"""``(alg, slot) -> key``: makes a server's initial keys; ``slot`` is
``"{server_id}/{purpose}"`` so a test can hand out cached keys per slot."""


@dataclass(frozen=True)
class AuthServer:
    """One issuer the emulator serves, with the paths of its endpoints.

    ``paths`` maps an :data:`Endpoint` to a path on the emulator (``/oauth2/default/v1/
    token``); an endpoint the vendor lacks is simply absent. URLs in discovery documents
    are ``base + path``, where ``base`` is the issuer base (``https://example.okta.com``).
    """

    id: str
    issuer: str
    base: str
    paths: Mapping[Endpoint, str]
    grant_types: frozenset[str]
    scopes: frozenset[str]
    audience: str | None = None
    api: Api | None = None
    kind: str = "default"
    access_key_purpose: str = "default"
    id_key_purpose: str = "default"
    key_purposes: Mapping[str, bool] = field(default_factory=lambda: {"default": True})
    """Key purposes this server signs with, and whether each is published in its JWKS."""
    keyring_id: str | None = None
    """Servers with the same ``keyring_id`` share keys (default: each has its own)."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    endpoint_bases: Mapping[Endpoint, str] = field(default_factory=dict)
    """Endpoints served under another base than ``base`` (Cognito: discovery and JWKS on
    the issuer host, the OAuth endpoints on the user pool domain)."""

    def url(self, endpoint: Endpoint) -> str:
        return self.endpoint_bases.get(endpoint, self.base) + self.paths[endpoint]

    def supports(self, endpoint: Endpoint) -> bool:
        return endpoint in self.paths


@dataclass(frozen=True)
class Lifetimes:
    """Token and code lifetimes in seconds (``refresh=None``: no expiry)."""

    access: int = 3600
    id: int = 3600
    refresh: int | None = 90 * 86_400
    code: int = 300
    device_code: int = 600
    device_interval: int = 5
    transaction: int = 900


@dataclass(frozen=True)
class TokenContext:
    """The facts a profile shapes into claims: who, for which client, with which scopes."""

    server: AuthServer
    client_id: str
    user: User | None
    user_id: str | None
    scopes: tuple[str, ...]
    grant_type: str
    now: int
    lifetimes: Lifetimes
    audience: str | None
    client: Client | None = None
    nonce: str | None = None
    auth_time: int | None = None
    amr: tuple[str, ...] = ("pwd",)
    access_token: str | None = None
    """The access token issued alongside (for the ID token's ``at_hash``)."""
    subject: Mapping[str, Any] | None = None
    """Token exchange: the subject token's claims."""
    family_id: str | None = None
    """The grant family (one user authorization) the token belongs to, if any (Cognito
    derives ``origin_jti`` from it, so refreshed tokens keep it)."""


@dataclass(frozen=True)
class IssuedTokens:
    """What one grant issued: the token endpoint's body is made of these (RFC 6749 §5.1,
    RFC 8693 §2.2.1; a vendor decides the member names, order and types)."""

    access_token: str
    expires_in: int
    id_token: str | None = None
    refresh_token: str | None = None
    issued_token_type: str | None = None


EndpointHandler = Callable[["Engine", AuthServer, "Request"], Response]
"""A profile's own handler for one endpoint of a server (see
:meth:`VendorProfile.handlers`)."""


@dataclass(frozen=True)
class JwtSpec:
    """A token to sign: its claims, header members besides ``alg``/``kid``, key purpose."""

    claims: dict[str, Any]
    header: dict[str, Any] = field(default_factory=dict)
    purpose: str = "default"
    opaque: str | None = None
    """An opaque token's value: issued as it is instead of a JWT; the claims are kept only
    in the emulator's token store (introspection, a provider's resource API)."""


def at_hash(token: str) -> str:
    """OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the token (RS256)."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def claim_value(expr: str, user: User | None, user_id: str | None) -> Any:
    """Evaluate an API claim rule: ``user.<field>`` reads the user, anything else is a
    literal. Returns ``None`` when the user lacks the value (the claim is then left out)."""
    if not expr.startswith("user."):
        return expr
    if user is None:
        return None
    name = expr.removeprefix("user.")
    known: dict[str, Any] = {
        "id": user_id,
        "username": user.username,
        "login": user.username,
        "email": user.mail,
        "name": user.name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "groups": list(user.groups),
    }
    if name in known:
        return known[name]
    return user.attributes.get(name)


class VendorProfile(ABC):
    """Base class of vendor profiles; a subclass overrides what its vendor does
    differently. The defaults are plain RFC 6749 / OIDC behaviour."""

    name: ClassVar[str] = "generic"
    title: ClassVar[str] = "Mock IdP"
    default_host: ClassVar[str] = "idp.example.com"
    """The real-looking host for in-process use and ``--vendor-hosts``."""
    default_port: ClassVar[int] = 8710
    defaults_file: ClassVar[str | None] = None
    """The YAML file in this package holding the vendor's default configuration."""
    session_cookie: ClassVar[str] = "mock_idp_session"
    login_path: ClassVar[str] = "/login"
    """The hosted sign-in page (login and consent forms post here)."""
    device_verification_path: ClassVar[str | None] = "/device"
    """RFC 8628 ``verification_uri`` page, or ``None`` without a device flow."""
    pkce_methods: ClassVar[tuple[str, ...]] = ("S256",)
    """Accepted ``code_challenge_method`` values (RFC 7636 §4.3)."""
    error_descriptions: ClassVar[Mapping[str, str]] = {}
    """Vendor wording per error ``reason`` key (see :mod:`proctor.mock_idps.errors`)."""
    token_type: ClassVar[str] = "Bearer"  # noqa: S105

    # -- configuration -----------------------------------------------------------------
    def default_config(self) -> IdpConfig:
        """The documented default configuration: :attr:`defaults_file`, else empty."""
        if self.defaults_file is None:
            return IdpConfig()
        text = files("proctor.mock_idps").joinpath(self.defaults_file).read_text("utf-8")
        return load_config(text)

    def validate_config(self, config: IdpConfig) -> None:  # noqa: B027 - a hook, empty by default
        """Raise ``ValueError`` for configurations this vendor cannot serve."""

    @abstractmethod
    def servers(self, config: IdpConfig, base: str) -> list[AuthServer]:
        """The issuers to serve for ``config`` with endpoint URLs under ``base``."""

    def primary_server(self, servers: list[AuthServer]) -> str:
        """The server the admin API and fixtures use when none is named."""
        return servers[0].id

    def hosts(self, config: IdpConfig, base: str) -> list[str]:
        """Every host name in the issuers and endpoint URLs served for ``config`` under
        ``base``, ``base``'s own first: what a ``--vendor-hosts`` setup maps to loopback
        and its certificate names (Entra adds ``sts.windows.net`` and
        ``graph.microsoft.com``, Cognito its user pool domain). ``ValueError`` if
        ``config`` cannot be served under ``base``."""
        urls = [base]
        for server in self.servers(config, base):
            urls.append(server.issuer)
            urls.extend(server.url(kind) for kind in server.paths)
        found = (urlsplit(url).hostname for url in urls)
        return list(dict.fromkeys(host for host in found if host))

    def keyring(self, server: AuthServer, key_factory: KeyFactory) -> KeyRing:
        """A new server's keys: one active RS256 key per purpose."""
        return KeyRing(
            SigningKey(key_factory("RS256", f"{server.id}/{p}"), "RS256", purpose=p, published=pub)
            for p, pub in server.key_purposes.items()
        )

    def user_id(self, user: User) -> str:
        """The user's immutable vendor ID (configured, or derived from the username)."""
        if user.id:
            return user.id
        return hashlib.sha256(user.username.encode()).hexdigest()[:20]

    def lifetimes(self, server: AuthServer) -> Lifetimes:
        return Lifetimes()

    # -- requests ----------------------------------------------------------------------
    def grants(self) -> Mapping[str, Grant]:
        """Grant handlers by ``grant_type`` beyond (or replacing) the standard ones."""
        return {}

    def handlers(self) -> Mapping[Endpoint, EndpointHandler]:
        """Handlers that replace the engine's for some endpoints (Cognito's ``/logout`` and
        ``/oauth2/revoke`` take other parameters and answer differently); none by default."""
        return {}

    def check_grant_client(self, client: Client, grant_type: str) -> None:  # noqa: B027
        """Refuse a client that this vendor never lets use ``grant_type``, before the
        client's own grant list is consulted (Entra: a public client asking for client
        credentials or on-behalf-of is ``invalid_client``); nothing by default."""

    def demo_scopes(self, server: AuthServer, client: Client) -> tuple[str, ...]:
        """The scopes of a typical user sign-in at ``server`` by ``client``: what
        :meth:`MockIdp.tokens <proctor.mock_idps.pytest_plugin.MockIdp.tokens>` grants when
        a test names none. By default the OpenID Connect scopes the server offers, with
        ``offline_access`` so a refresh token comes too."""
        return tuple(
            s for s in ("openid", "profile", "email", "offline_access") if s in server.scopes
        )

    def grant_scopes(
        self, server: AuthServer, client: Client, params: Params, *, grant_type: str
    ) -> tuple[str, ...]:
        """The scopes to grant, or raise: unknown scopes are ``invalid_scope``."""
        requested = params.get("scope")
        if requested is None:
            raise InvalidScope("The 'scope' parameter is required.", reason="scope_missing")
        scopes = tuple(dict.fromkeys(requested.split(" ")))
        if "" in scopes or not set(scopes) <= server.scopes:
            raise InvalidScope("The requested scope is invalid or unknown.", reason="scope_unknown")
        return scopes

    def audience(self, server: AuthServer, scopes: tuple[str, ...], params: Params) -> str | None:
        """The access token's audience for a request."""
        return server.audience

    # -- tokens ------------------------------------------------------------------------
    @abstractmethod
    def access_token(self, ctx: TokenContext) -> JwtSpec:
        """The access token to sign."""

    @abstractmethod
    def id_token(self, ctx: TokenContext) -> JwtSpec:
        """The ID token to sign."""

    def refresh_token_value(self) -> str:
        return secrets.token_urlsafe(32)

    def refresh_allowed(self, ctx: TokenContext) -> bool:
        """Whether a grant that may carry a refresh token gets one (the client and server
        must also have the ``refresh_token`` grant). OIDC: only with ``offline_access``."""
        return "offline_access" in ctx.scopes

    def token_response(self, ctx: TokenContext, tokens: IssuedTokens) -> dict[str, Any]:
        """The token endpoint's JSON body (RFC 6749 §5.1, RFC 8693 §2.2.1)."""
        body: dict[str, Any] = {
            "token_type": self.token_type,
            "expires_in": tokens.expires_in,
            "access_token": tokens.access_token,
            "scope": " ".join(ctx.scopes),
        }
        if tokens.refresh_token is not None:
            body["refresh_token"] = tokens.refresh_token
        if tokens.id_token is not None:
            body["id_token"] = tokens.id_token
        if tokens.issued_token_type is not None:
            body["issued_token_type"] = tokens.issued_token_type
        return body

    def userinfo(
        self, server: AuthServer, user: User, user_id: str, scopes: tuple[str, ...]
    ) -> dict[str, Any]:
        """OIDC Core §5.3 claims for the granted scopes."""
        claims: dict[str, Any] = {"sub": user_id}
        if "profile" in scopes:
            claims.update(
                {
                    k: v
                    for k, v in (
                        ("name", user.name),
                        ("given_name", user.given_name),
                        ("family_name", user.family_name),
                        ("preferred_username", user.username),
                    )
                    if v is not None
                }
            )
        if "email" in scopes and user.mail is not None:
            claims["email"] = user.mail
            claims["email_verified"] = user.email_verified
        return claims

    def introspection(
        self, server: AuthServer, record: IssuedToken | None, active: bool
    ) -> dict[str, Any]:
        """RFC 7662 §2.2 response for an access token (``record`` is ``None`` for
        inactive or unknown tokens)."""
        if not active or record is None:
            return {"active": False}
        claims = record.claims
        body: dict[str, Any] = {"active": True, "scope": " ".join(record.scopes)}
        if record.client_id is not None:
            body["client_id"] = record.client_id
        for name in ("sub", "aud", "iss", "exp", "iat", "nbf", "jti"):
            if name in claims:
                body[name] = claims[name]
        body["token_type"] = self.token_type
        return body

    def refresh_introspection(
        self, server: AuthServer, family: Family, token: RefreshToken, active: bool
    ) -> dict[str, Any]:
        """RFC 7662 §2.2 response for a refresh token."""
        if not active:
            return {"active": False}
        body: dict[str, Any] = {
            "active": True,
            "scope": " ".join(family.scopes),
            "client_id": family.client_id,
            "iss": server.issuer,
            "token_type": "refresh_token",
        }
        if token.expires_at is not None:
            body["exp"] = int(token.expires_at)
        return body

    def discovery(self, server: AuthServer, endpoint: Endpoint) -> dict[str, Any]:
        """RFC 8414 / OIDC Discovery metadata for ``server``."""
        doc: dict[str, Any] = {"issuer": server.issuer}
        names: dict[Endpoint, str] = {
            "authorize": "authorization_endpoint",
            "token": "token_endpoint",
            "userinfo": "userinfo_endpoint",
            "jwks": "jwks_uri",
            "introspect": "introspection_endpoint",
            "revoke": "revocation_endpoint",
            "logout": "end_session_endpoint",
            "device_authorization": "device_authorization_endpoint",
        }
        for kind, member in names.items():
            if server.supports(kind):
                doc[member] = server.url(kind)
        doc["response_types_supported"] = ["code"]
        doc["grant_types_supported"] = sorted(server.grant_types)
        doc["scopes_supported"] = sorted(server.scopes)
        doc["code_challenge_methods_supported"] = list(self.pkce_methods)
        doc["token_endpoint_auth_methods_supported"] = [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ]
        doc["id_token_signing_alg_values_supported"] = ["RS256"]
        doc["subject_types_supported"] = ["public"]
        return doc

    def discovery_headers(self, server: AuthServer) -> dict[str, str]:
        return {"cache-control": "max-age=86400"}

    def jwks_headers(self, server: AuthServer, ring: KeyRing) -> dict[str, str]:
        """Headers of the JWKS response (``Cache-Control`` as the vendor sends it)."""
        return {"cache-control": "max-age=3600"}

    # -- errors ------------------------------------------------------------------------
    def describe(self, error: OAuthError) -> str:
        """The vendor's wording for ``error.reason``, with ``error.params`` filled in."""
        template = self.error_descriptions.get(error.reason)
        if template is None:
            return error.description
        try:
            return template.format(**error.params)
        except (KeyError, IndexError, ValueError):
            return error.description

    def error_response(
        self, error: OAuthError, server: AuthServer | None, endpoint: str | None
    ) -> Response:
        """The JSON error body (RFC 6749 §5.2 shape by default)."""
        body = {"error": error.error, "error_description": self.describe(error)}
        return Response.json(body, error.status_code, error.headers)

    def not_found(self, path: str) -> Response:
        return Response.json({"error": "not_found", "error_description": "Not found."}, 404)

    def finish_response(self, req: Request, endpoint: str, response: Response) -> Response:
        """The last word on an endpoint's response, success or error (GitHub's token
        endpoint answers form-encoded unless asked for JSON); unchanged by default."""
        return response

    # -- beside the vendor paths ---------------------------------------------------------
    def routes(self, engine: Engine) -> Sequence[BaseRoute]:
        """ASGI routes the app serves before the admin API and the vendor paths (a
        third-party provider's resource API); none by default."""
        return ()
