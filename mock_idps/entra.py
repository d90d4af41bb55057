"""Microsoft Entra ID emulator: tenants as authorization servers, v1.0 and v2.0 endpoints,
tokens whose format follows the resource, Microsoft Graph, on-behalf-of, AADSTS errors.

Facts from the fidelity reference (``notes/idps.md`` §2) and the Microsoft identity
platform documentation (``MicrosoftDocs/entra-docs`` ``docs/identity-platform/``:
``access-tokens.md``, ``access-token-claims-reference.md``, ``optional-claims-reference.md``,
``v2-oauth2-on-behalf-of-flow.md``, ``certificate-credentials.md``,
``v2-oauth2-device-code.md``, ``reference-error-codes.md``). Facts marked *observed* come
from real tokens and responses quoted in public issues, not from the documentation.

- **Tenants are servers.** Each configured tenant is served under ``/{tenant}/`` (its GUID
  and, if configured, its domain) with the v2.0 endpoints (``/{tenant}/v2.0/.well-known/
  openid-configuration``, ``/{tenant}/discovery/v2.0/keys``, ``/{tenant}/oauth2/v2.0/
  {authorize,token,logout,devicecode}``) and the v1.0 ones (``/{tenant}/.well-known/
  openid-configuration``, ``/{tenant}/discovery/keys``, ``/{tenant}/oauth2/{authorize,
  token,logout,devicecode}``); so are the ``common``, ``organizations`` and ``consumers``
  (``9188040d-6c67-4c5b-b112-36a304b66dad``) pseudo-tenants. There is no introspection,
  revocation or RFC 8414 document: those paths are 404.
- **Issuers.** v1.0 ``https://sts.windows.net/{tid}/`` (trailing slash), v2.0
  ``https://login.microsoftonline.com/{tid}/v2.0``. The emulator's base URL takes the place
  of ``login.microsoftonline.com``; ``sts.windows.net`` is used for the v1.0 issuer when the
  base is ``https://login.microsoftonline.com`` (in-process, ``--vendor-hosts``), the base
  otherwise. ``common`` and ``organizations`` publish the ``{tenantid}`` template issuer.
- **The token format follows the resource** (its ``accessTokenAcceptedVersion``: null or
  1 → v1.0, 2 → v2.0), not the endpoint that was called. Microsoft Graph always gets v1.0
  tokens with a ``nonce`` header member; the signature covers the header with the nonce
  replaced by its SHA-256, so the published key does not verify it (see
  :meth:`EntraKeyRing.serialize`).
- **Claims**: ``aud`` (v2.0: the API's app ID; v1.0: the identifier the client used, App
  ID URI or GUID, trailing slash kept, or the GUID with the ``aud``/``use_guid`` optional
  claim), ``iss``, ``iat``, ``nbf``, ``exp``, ``aio``, ``rh``, ``uti``, ``ver``
  (``"1.0"``/``"2.0"``), ``tid``, ``oid``, a pairwise ``sub``; v1.0 ``appid``,
  ``appidacr``, ``acr``, ``amr``, ``unique_name``, ``upn``, ``ipaddr``; v2.0 ``azp``,
  ``azpacr``, ``preferred_username``; ``scp`` (a space-separated string, user tokens only),
  ``roles``, ``groups`` (GUIDs; above 200 replaced by ``_claim_names``/``_claim_sources``),
  ``idtyp`` (optional claim). Header ``typ: JWT``, ``alg: RS256``, ``kid``; v1.0 also
  ``x5t`` equal to ``kid``. Payload members after ``aud, iss, iat, nbf, exp`` are in
  alphabetical order, as in Microsoft's samples (observed).
- **Grants**: authorization code with PKCE (``S256`` and ``plain``), refresh token, client
  credentials with ``scope={resource}/.default`` (secret or certificate
  ``client_assertion``), device code, and on-behalf-of
  (``urn:ietf:params:oauth:grant-type:jwt-bearer`` with ``requested_token_use=
  on_behalf_of``). No RFC 8693 token exchange.
- **Lifetimes**: access tokens a random 60-90 minutes (seedable with
  ``vendor.lifetime_seed``); responses carry ``expires_in`` and ``ext_expires_in``
  (v1.0 endpoints: as strings, with ``expires_on``, ``not_before`` and ``resource``).
- **Errors**: ``{"error", "error_description": "AADSTS…: …\\r\\nTrace ID: …\\r\\n
  Correlation ID: …\\r\\nTimestamp: …", "error_codes", "timestamp", "trace_id",
  "correlation_id", "error_uri"}``. :data:`ENTRA_ERRORS` holds the codes; the ones in
  :data:`APPROXIMATE` are not confirmed by Microsoft's documentation or public reports.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from proctor.mock_idps.config import (
    DEVICE_CODE,
    JWT_BEARER,
    Api,
    Client,
    IdpConfig,
    User,
)
from proctor.mock_idps.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from proctor.mock_idps.grants import (
    AuthorizationCodeGrant,
    DeviceCodeGrant,
    Grant,
    Redemption,
)
from proctor.mock_idps.keys import KeyRing, SigningKey, generate_key
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
    claim_value,
)

if TYPE_CHECKING:
    from proctor.mock_idps.engine import Engine

__all__ = [
    "APPROXIMATE",
    "CONSUMERS_TENANT_ID",
    "ENTRA_ERRORS",
    "GRAPH_APP_ID",
    "GRAPH_URI",
    "PROFILE",
    "AadError",
    "EntraKeyRing",
    "EntraProfile",
    "EntraSigningKey",
    "OnBehalfOfGrant",
    "graph_nonce_digest",
    "pairwise_subject",
]

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_URI = "https://graph.microsoft.com"
CONSUMERS_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
PSEUDO_TENANTS = ("common", "organizations", "consumers")
LOGIN_HOST = "login.microsoftonline.com"
STS_BASE = "https://sts.windows.net"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TEMPLATE = "{tenantid}"
OVERAGE_LIMIT = 200
"""JWT groups claims above this many groups become an overage claim."""
ACCESS_LIFETIME_RANGE = (3600, 5400)
"""Default access-token lifetime: a random 60-90 minutes (``access-tokens.md``)."""
OIDC_SCOPE_NAMES = ("openid", "profile", "email", "offline_access")
GRAPH_SCOPES = (
    "User.Read",
    "User.ReadBasic.All",
    "User.Read.All",
    "Mail.Read",
    "Mail.Send",
    "Calendars.Read",
    "Calendars.ReadWrite",
    "Files.Read",
    "Files.ReadWrite",
    "Sites.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
)
GRAPH_ROLES = (
    "User.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "Mail.Read",
    "Files.Read.All",
    "Sites.Read.All",
)
SIGN_IN_AUDIENCES = (
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
)
_NAMESPACE = uuid.UUID("6f2a8e1c-3d4b-5a69-8c7e-0f1a2b3c4d5e")
_CLIENT_AUTH = "_proctor_client_auth"
"""Marker in the vendor settings of the authenticated client copy: ``appidacr``."""
_CERT_NAME = "accounts.accesscontrol.windows.net"  # the subject of Entra's signing certs
_CERT_VALIDITY = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2034, 1, 1, tzinfo=UTC))
_CLOCK_SKEW = 300  # seconds of tolerance on client assertions (observed: five minutes)


# -- configuration ------------------------------------------------------------------------
def _guid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"{value!r} is not a GUID") from exc


def _derived_guid(kind: str, seed: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{seed}"))


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantSettings(_Settings):
    """A tenant: its ID (a GUID), optional verified domain and display name."""

    id: str
    domain: str | None = None
    name: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _guid(value)


class DirectorySettings(_Settings):
    """``IdpConfig.vendor`` for Entra."""

    tenant_id: str = "b7c3d9e1-4f2a-4c8b-9e6d-1a2b3c4d5e6f"
    tenant_domain: str | None = None
    tenant_name: str = ""
    tenants: list[TenantSettings] = Field(default_factory=list)
    """Further tenants (their users sign in through ``common``/``organizations``)."""
    lifetime_seed: int | None = None
    """Seed of the random 60-90 minute access-token lifetimes (``None``: unseeded)."""
    graph_role_assignments: dict[str, list[str]] = Field(default_factory=dict)
    """Microsoft Graph application permissions granted to client IDs (``roles``)."""

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        return _guid(value)


class UserSettings(_Settings):
    """``User.vendor`` for Entra."""

    oid: str | None = None
    """The object ID (a GUID); derived from the username when absent."""
    tenant: str | None = None
    """The home tenant's ID or domain, or ``consumers`` (a personal account)."""
    wids: list[str] = Field(default_factory=list)
    """Directory role template IDs (``wids``)."""
    ipaddr: str = "203.0.113.10"

    @field_validator("oid")
    @classmethod
    def _oid(cls, value: str | None) -> str | None:
        return None if value is None else _guid(value)


class ClientSettings(_Settings):
    """``Client.vendor`` for Entra (an app registration's client side)."""

    tenant: str | None = None
    """The app's home tenant (ID or domain); the first tenant by default."""
    sign_in_audience: Literal[
        "AzureADMyOrg",
        "AzureADMultipleOrgs",
        "AzureADandPersonalMicrosoftAccount",
        "PersonalMicrosoftAccount",
    ] = "AzureADMyOrg"
    certificates: list[str] = Field(default_factory=list)
    """PEM certificates whose keys may sign ``client_assertion`` JWTs."""


class OptionalClaim(_Settings):
    name: Literal["idtyp", "aud"]
    additional_properties: list[Literal["include_user_token", "use_guid"]] = Field(
        default_factory=list
    )


class ApiSettings(_Settings):
    """``Api.vendor`` for Entra (an app registration that exposes an API)."""

    app_id: str | None = None
    """The API's application (client) ID; derived from the API id when absent."""
    identifier_uris: list[str] = Field(default_factory=list)
    """App ID URIs besides ``Api.audience``."""
    access_token_accepted_version: Literal[1, 2] | None = None
    app_roles: list[str] = Field(default_factory=list)
    role_assignments: dict[str, list[str]] = Field(default_factory=dict)
    """App roles granted to client IDs (app-only tokens) and usernames (user tokens)."""
    optional_claims: list[Literal["idtyp"] | OptionalClaim] = Field(default_factory=list)
    group_membership_claims: (
        Literal["None", "SecurityGroup", "All", "DirectoryRole", "ApplicationGroup"] | None
    ) = None

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str | None) -> str | None:
        return None if value is None else _guid(value)


# -- the directory: tenants, resources, users and apps as Entra sees them ---------------------
@dataclass(frozen=True)
class Tenant:
    id: str
    domain: str | None
    name: str


@dataclass(frozen=True)
class Resource:
    """An API that tokens can be issued for (an app registration or Microsoft Graph)."""

    key: str
    app_id: str
    uris: tuple[str, ...]
    name: str
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    version: int
    assignments: Mapping[str, tuple[str, ...]]
    idtyp: bool = False
    idtyp_user: bool = False
    aud_guid: bool = False
    groups: str | None = None
    graph: bool = False
    api: Api | None = None

    def identifies(self, identifier: str) -> bool:
        """Whether ``identifier`` (App ID URI or app ID, any trailing slash) names it."""
        wanted = identifier.rstrip("/").lower()
        return wanted == self.app_id or any(u.rstrip("/").lower() == wanted for u in self.uris)

    def scope(self, name: str) -> str | None:
        """The delegated scope's canonical spelling (Entra matches case-insensitively)."""
        return next((s for s in self.scopes if s.lower() == name.lower()), None)

    @property
    def default_scopes(self) -> tuple[str, ...]:
        """What ``/.default`` means in a user flow: the scopes consented for the client
        (every exposed scope; Microsoft Graph: ``User.Read``)."""
        return ("User.Read",) if self.graph else self.scopes

    def roles_for(self, principal: str) -> tuple[str, ...]:
        return tuple(r for r in self.assignments.get(principal, ()) if r in self.roles)


def _graph(settings: DirectorySettings) -> Resource:
    return Resource(
        key="graph",
        app_id=GRAPH_APP_ID,
        uris=(GRAPH_URI,),
        name="Microsoft Graph",
        scopes=GRAPH_SCOPES,
        roles=GRAPH_ROLES,
        version=1,
        assignments={k: tuple(v) for k, v in settings.graph_role_assignments.items()},
        idtyp=True,
        idtyp_user=True,
        graph=True,
    )


def _resource(api: Api) -> Resource:
    s = ApiSettings.model_validate(api.vendor)
    idtyp = idtyp_user = aud_guid = False
    for entry in s.optional_claims:
        claim = OptionalClaim(name=entry) if isinstance(entry, str) else entry
        if claim.name == "idtyp":
            idtyp = True
            idtyp_user = idtyp_user or "include_user_token" in claim.additional_properties
        elif "use_guid" in claim.additional_properties:
            aud_guid = True
    unknown = {r for v in s.role_assignments.values() for r in v} - set(s.app_roles)
    if unknown:
        raise ValueError(f"api {api.id!r} assigns undefined app roles: {sorted(unknown)}")
    return Resource(
        key=api.id,
        app_id=s.app_id or _derived_guid("app", api.id),
        uris=(api.audience, *s.identifier_uris),
        name=api.name or api.id,
        scopes=tuple(api.scopes),
        roles=tuple(s.app_roles),
        version=2 if s.access_token_accepted_version == 2 else 1,
        assignments={k: tuple(v) for k, v in s.role_assignments.items()},
        idtyp=idtyp,
        idtyp_user=idtyp_user,
        aud_guid=aud_guid,
        groups=s.group_membership_claims,
        api=api,
    )


@dataclass(frozen=True)
class Directory:
    """The configuration read the Entra way; built once per configuration."""

    settings: DirectorySettings
    tenants: tuple[Tenant, ...]
    resources: tuple[Resource, ...]
    users: Mapping[str, UserSettings]
    clients: Mapping[str, ClientSettings]

    @property
    def home(self) -> Tenant:
        return self.tenants[0]

    @classmethod
    def build(cls, config: IdpConfig) -> Directory:
        """Read ``config``; ``ValueError`` when its Entra settings are inconsistent."""
        try:
            settings = DirectorySettings.model_validate(config.vendor)
            home = Tenant(settings.tenant_id, settings.tenant_domain, settings.tenant_name)
            tenants = (home, *(Tenant(t.id, t.domain, t.name) for t in settings.tenants))
            resources = (*(_resource(api) for api in config.apis), _graph(settings))
            users = {u.username: UserSettings.model_validate(u.vendor) for u in config.users}
            clients = {c.client_id: ClientSettings.model_validate(c.vendor) for c in config.clients}
        except ValidationError as exc:
            raise ValueError(f"invalid Entra settings: {exc}") from exc
        directory = cls(settings, tenants, resources, users, clients)
        directory._check(config)
        return directory

    def _check(self, config: IdpConfig) -> None:
        ids = [t.id for t in self.tenants]
        names = [n.lower() for t in self.tenants for n in (t.id, t.domain) if n]
        if len(set(names)) != len(names) or CONSUMERS_TENANT_ID in ids:
            raise ValueError("tenant IDs and domains must be unique (and not the consumers ID)")
        if any(n in PSEUDO_TENANTS for n in names):
            raise ValueError("a tenant domain cannot be common, organizations or consumers")
        app_ids = [r.app_id for r in self.resources]
        if len(set(app_ids)) != len(app_ids):
            raise ValueError("API app IDs must be unique (and not Microsoft Graph's)")
        for api in config.apis:
            if api.clients is not None:
                raise ValueError(
                    f"api {api.id!r}: 'clients' is not an Entra setting (use role_assignments"
                    " or the client's 'scopes')"
                )
        for username, s in self.users.items():
            if s.tenant is not None and s.tenant != "consumers" and self.tenant(s.tenant) is None:
                raise ValueError(f"user {username!r}: unknown tenant {s.tenant!r}")
        for client_id, c in self.clients.items():
            if c.tenant is not None and self.tenant(c.tenant) is None:
                raise ValueError(f"client {client_id!r}: unknown tenant {c.tenant!r}")
            for pem in c.certificates:
                _load_certificate(pem)

    # -- lookups -----------------------------------------------------------------------------
    def tenant(self, ref: str) -> Tenant | None:
        wanted = ref.lower()
        return next((t for t in self.tenants if wanted in (t.id, (t.domain or "").lower())), None)

    def resource(self, identifier: str) -> Resource | None:
        return next((r for r in self.resources if r.identifies(identifier)), None)

    def user_settings(self, user: User) -> UserSettings:
        return self.users.get(user.username) or UserSettings()

    def user_tenant(self, user: User) -> str:
        ref = self.user_settings(user).tenant
        if ref == "consumers":
            return CONSUMERS_TENANT_ID
        tenant = self.tenant(ref) if ref else None
        return (tenant or self.home).id

    def client_settings(self, client_id: str) -> ClientSettings:
        return self.clients.get(client_id) or ClientSettings()

    def client_tenant(self, client_id: str) -> str:
        ref = self.client_settings(client_id).tenant
        tenant = self.tenant(ref) if ref else None
        return (tenant or self.home).id


def user_oid(user: User) -> str:
    """The user's object ID: configured (``vendor.oid``) or derived from the username."""
    configured = user.vendor.get("oid")
    if isinstance(configured, str):
        return _guid(configured)
    return _derived_guid("user", user.username)


def service_principal_oid(client_id: str, tenant_id: str) -> str:
    """The object ID of an app's service principal in a tenant (app-only ``oid``)."""
    return _derived_guid(f"sp:{tenant_id}", client_id)


def pairwise_subject(tenant_id: str, oid: str, app_id: str) -> str:
    """A pairwise ``sub``: stable per user and app, different across apps (43 characters of
    base64url, the length of real subjects)."""
    digest = hashlib.sha256(f"{tenant_id}:{oid}:{app_id}".encode()).digest()
    return _b64url(digest)


def group_id(group: str) -> str:
    """A group object ID: the configured GUID, or one derived from a group name."""
    try:
        return str(uuid.UUID(group))
    except ValueError:
        return _derived_guid("group", group)


@dataclass(frozen=True)
class Site:
    """What one emulated server is: a tenant (or pseudo-tenant) and an endpoint version."""

    directory: Directory
    segment: str
    version: int
    tenant: Tenant | None
    pseudo: str | None
    login_base: str
    sts_base: str
    graph_base: str
    rng: random.Random

    def issuer(self, version: int, tenant_id: str) -> str:
        if version == 1:
            return f"{self.sts_base}/{tenant_id}/"
        return f"{self.login_base}/{tenant_id}/v2.0"

    @property
    def published_issuer(self) -> str:
        """The ``issuer`` in this server's discovery document."""
        if self.tenant is not None:
            return self.issuer(self.version, self.tenant.id)
        if self.pseudo == "consumers":
            return self.issuer(self.version, CONSUMERS_TENANT_ID)
        return self.issuer(self.version, TEMPLATE)


def _site(server: AuthServer) -> Site:
    site = server.settings.get("entra")
    if not isinstance(site, Site):
        raise TypeError(f"server {server.id!r} is not an Entra server")
    return site


# -- keys ---------------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json_bytes(data: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(data), separators=(",", ":")).encode()


def _load_certificate(pem: str) -> x509.Certificate:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ValueError("a client certificate must be a PEM X.509 certificate") from exc
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise ValueError("client certificates must hold RSA keys")
    return cert


def _self_signed(key: RSAKey) -> x509.Certificate:
    """A deterministic self-signed certificate for ``key`` (Entra publishes its signing
    keys as certificates; the same key always yields the same certificate and thumbprint)."""
    private = key.private_key
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TypeError("Entra signing keys are RSA private keys")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CERT_NAME)])
    modulus = private.public_key().public_numbers().n.to_bytes(256, "big")
    serial = int.from_bytes(hashlib.sha256(modulus).digest()[:16], "big") >> 1
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(serial)
        .not_valid_before(_CERT_VALIDITY[0])
        .not_valid_after(_CERT_VALIDITY[1])
        .sign(private, hashes.SHA256())
    )


def thumbprint(cert: x509.Certificate, algorithm: Literal["sha1", "sha256"] = "sha1") -> str:
    """``x5t`` (SHA-1) or ``x5t#S256`` of a certificate: base64url of its DER digest."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return _b64url(hashlib.new(algorithm, der).digest())


@dataclass
class EntraSigningKey(SigningKey):
    """A signing key published the Entra way: ``{kty, use, kid, x5t, n, e, x5c}`` with
    ``kid`` equal to ``x5t`` (the SHA-1 thumbprint of its certificate), no ``alg``."""

    def public_jwk(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        jwk: dict[str, Any] = {
            "kty": public["kty"],
            "use": "sig",
            "kid": self.kid,
            "x5t": self.extra.get("x5t", self.kid),
            "n": public.get("n"),
            "e": public.get("e"),
        }
        if "x5c" in self.extra:
            jwk["x5c"] = [self.extra["x5c"]]
        return jwk


def entra_key(
    raw: RSAKey | ECKey, *, purpose: str = "default", state: Literal["next", "active"] = "active"
) -> EntraSigningKey:
    """An Entra signing key from an RSA key: a certificate, and ``kid`` = its ``x5t``."""
    if not isinstance(raw, RSAKey):
        raise TypeError("Entra signs with RSA keys")
    cert = _self_signed(raw)
    x5t = thumbprint(cert)
    key = RSAKey.import_key({**raw.as_dict(private=True), "kid": x5t})
    der = cert.public_bytes(serialization.Encoding.DER)
    return EntraSigningKey(
        key,
        "RS256",
        state=state,
        purpose=purpose,
        extra={"x5t": x5t, "x5c": base64.b64encode(der).decode()},
    )


def graph_nonce_digest(nonce: str) -> str:
    """What a Microsoft Graph token's signature covers in place of its header ``nonce``:
    base64url(SHA-256(nonce)) (observed; Graph's own validators do this)."""
    return _b64url(hashlib.sha256(nonce.encode()).digest())


class EntraKeyRing(KeyRing):
    """Entra's keys: every tenant shares them; rotation mints a new certificate-backed key;
    v1.0 headers get ``x5t``; Microsoft Graph tokens are signed over a hashed nonce."""

    def publish_next(self, purpose: str = "default", alg: Any = None) -> SigningKey:
        if alg not in (None, "RS256"):
            raise ValueError("Entra signs with RS256 only")
        self.active(purpose)  # LookupError for an unknown purpose
        return self.add(entra_key(generate_key("RS256"), purpose=purpose, state="next"))

    def clone(self) -> KeyRing:
        return EntraKeyRing(replace(k, extra=dict(k.extra)) for k in self.keys())

    def complete_header(self, header: dict[str, Any], signer: SigningKey) -> dict[str, Any]:
        """``x5t: None`` means "the signing key's thumbprint"; members in Entra's order
        (``typ, nonce, alg, x5t, kid``)."""
        completed = dict(header)
        if "x5t" in completed and completed["x5t"] is None:
            completed["x5t"] = signer.extra.get("x5t", signer.kid)
        order = ("typ", "nonce", "alg", "x5t", "kid")
        ordered = {name: completed[name] for name in order if name in completed}
        ordered.update((k, v) for k, v in completed.items() if k not in ordered)
        return ordered

    def serialize(
        self,
        header: Mapping[str, Any],
        payload: bytes,
        signer: SigningKey,
        *,
        algorithms: list[str],
    ) -> str:
        """A Microsoft Graph token (a ``nonce`` in the header) is signed over the compact
        JSON header with the nonce replaced by :func:`graph_nonce_digest`, every other byte
        as published; a verifier that does not know this finds the signature invalid."""
        nonce = header.get("nonce")
        if not isinstance(nonce, str):
            return super().serialize(header, payload, signer, algorithms=algorithms)
        private = signer.key.private_key
        if header.get("alg") != "RS256" or not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("Graph tokens are RS256 with an RSA key")
        signed = {**header, "nonce": graph_nonce_digest(nonce)}
        body = _b64url(payload)
        signing_input = f"{_b64url(_json_bytes(signed))}.{body}".encode()
        signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{_b64url(_json_bytes(header))}.{body}.{_b64url(signature)}"


# -- errors -----------------------------------------------------------------------------
@dataclass(frozen=True)
class AadError:
    """An AADSTS error: its code, message template and, where Entra's differs from the
    engine's, the OAuth ``error`` value and HTTP status."""

    code: int
    message: str
    error: str | None = None
    status: int | None = None


_TENANT_HINT = (
    "This can happen if the application has not been installed by the administrator of "
    "the tenant or consented to by any user in the tenant. You might have sent your "
    "authentication request to the wrong tenant."
)
ENTRA_ERRORS: Mapping[str, AadError] = {
    # Requests
    "content_type": AadError(9002313, "Invalid request. Request is malformed or invalid."),
    "body": AadError(9002313, "Invalid request. Request is malformed or invalid."),
    "body_too_large": AadError(9002313, "Invalid request. Request is malformed or invalid."),
    "repeated_parameter": AadError(9002313, "Invalid request. Request is malformed or invalid."),
    "prompt_invalid": AadError(
        90023, "Invalid request. The 'prompt' parameter value is not valid."
    ),
    "response_type_unsupported": AadError(
        70005, "The app requested an unsupported response type.", "unsupported_response_type"
    ),
    "response_mode_unsupported": AadError(
        70007, "The application returned an unsupported value of 'response_mode'."
    ),
    "request_unsupported": AadError(9002313, "Invalid request. Request is malformed or invalid."),
    "request_uri_unsupported": AadError(
        9002313, "Invalid request. Request is malformed or invalid."
    ),
    "method_not_allowed": AadError(
        900561, "The endpoint does not accept the request method that was used."
    ),
    "resource_v2": AadError(
        9010010,
        "The resource parameter provided in the request doesn't match with the requested scopes.",
        "invalid_target",
    ),
    "requested_token_use": AadError(
        70003,
        "The app requested an unsupported 'requested_token_use' value '{value}'.",
        "invalid_request",
    ),
    # Clients
    "client_missing": AadError(
        900144, "The request body must contain the following parameter: 'client_id'."
    ),
    "client_unknown": AadError(
        700016,
        "Application with the identifier sent was not found in the directory. " + _TENANT_HINT,
        "unauthorized_client",
        400,
    ),
    "authorize_client_invalid": AadError(
        700016,
        "Application was not found in the directory. " + _TENANT_HINT,
        "unauthorized_client",
    ),
    "client_secret_invalid": AadError(
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID, for a secret added to the app.",
    ),
    "client_secret_missing": AadError(
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
    ),
    "client_credentials_public": AadError(
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or "
        "'client_secret'.",
        "invalid_client",
        401,
    ),
    "public_client_secret": AadError(
        700025,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
    ),
    "client_auth_scheme": AadError(7000215, "Invalid client secret provided."),
    "client_auth_malformed": AadError(7000215, "Invalid client secret provided."),
    "client_id_mismatch": AadError(7000215, "Invalid client secret provided."),
    "client_auth_multiple": AadError(
        9002313, "Invalid request. Only one client credential may be presented."
    ),
    "client_assertion_type": AadError(
        9002313, "Invalid request. The 'client_assertion_type' value is not supported."
    ),
    "client_assertion_malformed": AadError(
        50027, "Invalid JWT token. Token format not valid.", "invalid_client", 401
    ),
    "client_assertion_subject": AadError(
        700021, "Client assertion application identifier doesn't match 'client_id' parameter."
    ),
    "client_assertion_issuer": AadError(
        50048, "Subject mismatches Issuer claim in the client assertion."
    ),
    "client_assertion_key_unknown": AadError(
        700027,
        "Client assertion failed signature validation. [Reason - The key was not found.]",
    ),
    "client_assertion_signature": AadError(
        700027,
        "Client assertion failed signature validation. [Reason - The provided signature "
        "value did not match the expected signature value.]",
    ),
    "client_assertion_audience": AadError(
        50027, "Invalid JWT token. The token audience is not valid.", "invalid_client", 401
    ),
    "client_assertion_expired": AadError(
        700024, "Client assertion is not within its valid time range."
    ),
    "client_grant_not_allowed": AadError(
        70003,
        "The app requested an unsupported grant type. The app may use: {grant_types}.",
        "unauthorized_client",
    ),
    "app_single_tenant": AadError(
        50194,
        "Application is not configured as a multi-tenant application. Usage of the /common "
        "endpoint is not supported for such applications. Use a tenant-specific endpoint or "
        "configure the application to be multi-tenant.",
        "invalid_request",
    ),
    "app_not_in_tenant": AadError(
        700016,
        "Application with identifier '{client_id}' was not found in the directory "
        "'{tenant}'. " + _TENANT_HINT,
        "unauthorized_client",
    ),
    "app_not_for_consumers": AadError(
        9002332,
        "Application '{client_id}' is configured for use by Azure Active Directory users "
        "only. Please do not use the /consumers endpoint to serve this request.",
        "invalid_request",
    ),
    # Grants and scopes
    "grant_type_unsupported": AadError(
        70003, "The app requested an unsupported grant type '{grant_type}'."
    ),
    "client_credentials_pseudo": AadError(
        9001023,
        "The grant type isn't supported over the /common or /consumers endpoints. Please "
        "use the /organizations or tenant-specific endpoint.",
        "unsupported_grant_type",
    ),
    "scope_missing": AadError(
        900144, "The request body must contain the following parameter: 'scope'."
    ),
    "scope_unknown": AadError(
        70011,
        "The provided value for the input parameter 'scope' isn't valid. The scope {scope} "
        "isn't valid.",
    ),
    "scope_exceeds_grant": AadError(
        70011,
        "The provided value for the input parameter 'scope' isn't valid. The scope exceeds "
        "the scope originally granted.",
    ),
    "scope_default_required": AadError(
        1002012,
        "The provided value for scope {scope} is not valid. Client credential flows must "
        "have a scope value with /.default suffixed to the resource identifier "
        "(application ID URI).",
        "invalid_scope",
    ),
    "scope_multiple_resources": AadError(
        700022,
        "The provided value for the input parameter scope isn't valid because it contains "
        "more than one resource. Scope {scope} is not valid.",
        "invalid_scope",
    ),
    "resource_unknown": AadError(
        500011,
        "The resource principal named {resource} was not found in the tenant named "
        "{tenant}. " + _TENANT_HINT,
        "invalid_resource",
    ),
    "code_invalid": AadError(
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. "
        "Send a new interactive authorization request for this user and resource.",
    ),
    "redirect_uri_mismatch": AadError(
        500112,
        "The reply address does not match the reply address provided when requesting the "
        "authorization code.",
    ),
    "redirect_uri_invalid": AadError(
        50011,
        "The redirect URI '{redirect_uri}' specified in the request does not match the "
        "redirect URIs configured for the application '{client_id}'. Make sure the redirect "
        "URI sent in the request matches one added to your application in the Azure portal.",
    ),
    "pkce_failed": AadError(
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the "
        "authorization request.",
    ),
    "pkce_challenge_required": AadError(
        9002325,
        "Proof Key for Code Exchange is required for cross-origin authorization code redemption.",
    ),
    "pkce_challenge_malformed": AadError(501491, "Invalid size of Code_Challenge parameter."),
    "pkce_method_unsupported": AadError(
        9002313, "Invalid request. The 'code_challenge_method' is not supported."
    ),
    "pkce_method_without_challenge": AadError(
        9002313, "Invalid request. Request is malformed or invalid."
    ),
    "refresh_invalid": AadError(
        70000, "The provided grant is invalid or malformed. The refresh token isn't valid."
    ),
    "refresh_reused": AadError(
        70000, "The provided grant is invalid or malformed. The refresh token isn't valid."
    ),
    "authorization_pending": AadError(
        70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling."
    ),
    "slow_down": AadError(
        70016,
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        "authorization_pending",
    ),
    "device_code_invalid": AadError(70018, "Invalid verification code.", "bad_verification_code"),
    "device_code_expired": AadError(70019, "Verification code expired.", "expired_token"),
    "device_denied": AadError(
        65004, "User declined to consent to access the app.", "authorization_declined"
    ),
    # Users and consent
    "login_required": AadError(
        50058, "A silent sign-in request was sent but no user is signed in."
    ),
    "consent_required": AadError(
        65001,
        "The user or administrator has not consented to use the application. Send an "
        "interactive authorization request for this user and resource.",
    ),
    "consent_denied": AadError(65004, "User declined to consent to access the app."),
    "user_not_assigned": AadError(
        50105,
        "Your administrator has configured the application to block users unless they are "
        "specifically granted ('assigned') access to the application.",
    ),
    "policy_denied": AadError(
        53003,
        "Access has been blocked by Conditional Access policies. The access policy does not "
        "allow token issuance.",
    ),
    "user_not_in_tenant": AadError(
        50020,
        "User account '{user}' from identity provider '{idp}' does not exist in tenant "
        "'{tenant}' and cannot access the application '{client_id}' in that tenant.",
        "invalid_grant",
    ),
    "account_type_invalid": AadError(
        500208,
        "The domain is not a valid login domain for the account type.",
        "invalid_grant",
    ),
    # On-behalf-of
    "obo_assertion_invalid": AadError(
        50013, "Assertion failed signature validation.", "invalid_grant"
    ),
    "obo_assertion_expired": AadError(
        500133,
        "Assertion is not within its valid time range. Ensure that the access token is not "
        "expired before using it for user assertion, or request a new token.",
        "invalid_grant",
    ),
    "obo_id_token": AadError(
        240002,
        "The id_token can't be used as 'urn:ietf:params:oauth:grant-type:jwt-bearer' grant.",
        "invalid_grant",
    ),
    "obo_app_token": AadError(
        7000114,
        "Application '{client_id}' is not allowed to make application on-behalf-of calls.",
        "invalid_grant",
    ),
    "obo_audience": AadError(
        500131,
        "Assertion audience does not match the Client app presenting the assertion. The "
        "audience in the assertion was '{aud}' and the expected audience is '{client_id}' "
        "or one of the Application Uris of this application with App ID '{client_id}'. The "
        "downstream client must request a token for the expected audience (the application "
        "that made the OBO request) and this application should use that token as the "
        "assertion.",
        "invalid_grant",
    ),
    # Sign-out, pages, faults
    "logout_hint_invalid": AadError(50061, "Unable to complete sign out. The request was invalid."),
    "logout_redirect_invalid": AadError(
        50061, "Unable to complete sign out. The request was invalid."
    ),
    "transaction_invalid": AadError(50089, "Authentication failed due to flow token expired."),
    "form_invalid": AadError(9002313, "Invalid request. Request is malformed or invalid."),
    "gone": AadError(50000, "There was an error issuing a token."),
    "fault": AadError(9002313, "Invalid request. Request is malformed or invalid."),
    "server_fault": AadError(50000, "There was an error issuing a token.", "server_error"),
    "not_found": AadError(9002313, "Invalid request. Request is malformed or invalid."),
    "tenant_unknown": AadError(
        90002,
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud. Check with your subscription administrator, "
        "this may happen if there are no active subscriptions for the tenant.",
        "invalid_tenant",
    ),
    "msa_v1": AadError(
        90027,
        "We are unable to issue tokens from this API version on the MSA tenant. Please "
        "contact the application vendor as they need to use version 2.0 of the protocol to "
        "support this.",
    ),
}
"""AADSTS codes and messages by the engine's error ``reason`` (see
:mod:`proctor.mock_idps.errors`); ``missing_{name}`` reasons become AADSTS900144."""

APPROXIMATE = frozenset(
    {
        "prompt_invalid",
        "response_mode_unsupported",
        "method_not_allowed",
        "resource_v2",
        "requested_token_use",
        "client_auth_multiple",
        "client_assertion_type",
        "client_assertion_audience",
        "client_grant_not_allowed",
        "app_not_for_consumers",
        "scope_exceeds_grant",
        "scope_multiple_resources",
        "pkce_challenge_required",
        "pkce_method_unsupported",
        "refresh_invalid",
        "refresh_reused",
        "slow_down",
        "device_code_invalid",
        "device_denied",
        "account_type_invalid",
        "obo_app_token",
        "transaction_invalid",
        "gone",
        "not_found",
    }
)
"""Reasons whose code or wording is the emulator's best approximation (not confirmed in
Microsoft's error-code reference, protocol pages or public reports)."""

_GENERIC = AadError(9002313, "Invalid request. Request is malformed or invalid.")
_MISSING = AadError(
    900144, "The request body must contain the following parameter: '{name}'.", "invalid_request"
)


class _Params(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""  # a value the raise site did not give is left out, never shown raw


def aad_error(error: OAuthError) -> tuple[AadError, str]:
    """The AADSTS entry for ``error`` and its message with the error's values filled in."""
    entry = ENTRA_ERRORS["server_fault"] if error.status_code >= 500 else None
    entry = entry or ENTRA_ERRORS.get(error.reason)
    values = _Params(error.params)
    if entry is None and error.reason.startswith("missing_"):
        entry = _MISSING
        values.setdefault("name", error.reason.removeprefix("missing_"))
    if entry is None:
        entry = _GENERIC
    return entry, entry.message.format_map(values)


# -- scopes -----------------------------------------------------------------------------
def _split(item: str) -> tuple[str | None, str]:
    """``api://x/crm.read`` → ``("api://x", "crm.read")``; a bare name has no resource."""
    if "/" in item:
        prefix, name = item.rsplit("/", 1)
        return prefix, name
    return None, item


def _is_oidc(item: str) -> bool:
    return item.lower() in OIDC_SCOPE_NAMES


def _resource_items(scopes: Iterable[str]) -> list[str]:
    return [s for s in scopes if not _is_oidc(s)]


# -- grants ---------------------------------------------------------------------------------
def _check_user(server: AuthServer, client: Client, user: User) -> None:
    """Whether ``user`` may get tokens at this (pseudo-)tenant for ``client`` (Entra refuses
    at sign-in; the emulator when the code or device code is redeemed)."""
    site = _site(server)
    tid = site.directory.user_tenant(user)
    values = {"user": user.username, "client_id": client.client_id}
    if site.tenant is not None and tid != site.tenant.id:
        idp = site.issuer(1, tid)
        raise InvalidGrant(
            "The user does not exist in this tenant.",
            reason="user_not_in_tenant",
            params={**values, "idp": idp, "tenant": site.tenant.id},
        )
    personal = tid == CONSUMERS_TENANT_ID
    if (site.pseudo == "consumers" and not personal) or (
        site.pseudo == "organizations" and personal
    ):
        raise InvalidGrant("The account type is not valid here.", reason="account_type_invalid")
    audience = site.directory.client_settings(client.client_id).sign_in_audience
    home = site.directory.client_tenant(client.client_id)
    if tid == CONSUMERS_TENANT_ID and audience in ("AzureADMyOrg", "AzureADMultipleOrgs"):
        raise InvalidGrant("The account type is not valid here.", reason="account_type_invalid")
    if tid != CONSUMERS_TENANT_ID and audience == "PersonalMicrosoftAccount":
        raise InvalidGrant("The account type is not valid here.", reason="account_type_invalid")
    if audience == "AzureADMyOrg" and tid != home:
        raise InvalidGrant(
            "The user does not exist in this tenant.",
            reason="user_not_in_tenant",
            params={**values, "idp": site.issuer(1, tid), "tenant": home},
        )


class EntraAuthorizationCodeGrant(AuthorizationCodeGrant):
    """RFC 6749 §4.1.3 with Entra's tenant rules for the signed-in user."""

    def issue(self, engine: Engine, redeemed: Redemption) -> dict[str, Any]:
        _check_user(redeemed.server, redeemed.client, redeemed.user)
        return super().issue(engine, redeemed)


class EntraDeviceCodeGrant(DeviceCodeGrant):
    """RFC 8628 §3.4 with Entra's tenant rules for the user who approved."""

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        value = params.get("device_code") or ""
        with engine.state.locked() as st:
            grant = st.devices.get(value)
            username = (
                grant.username
                if grant is not None
                and grant.status == "approved"
                and grant.server_id == server.id
                and grant.client_id == client.client_id
                else None
            )
        user = engine.user(username) if username else None
        if grant is not None and user is not None:
            try:
                _check_user(server, client, user)
            except OAuthError:
                grant.status = "consumed"
                raise
        return super().exchange(engine, server, client, params)


class OnBehalfOfGrant:
    """Entra's on-behalf-of flow (``v2-oauth2-on-behalf-of-flow.md``): a middle-tier API
    trades the user's access token it received (``assertion``) for one to a downstream
    API.

    ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``,
    ``requested_token_use=on_behalf_of``, ``assertion``, ``scope`` (v2.0) or ``resource``
    (v1.0), by a confidential client (secret or certificate). The assertion must be an
    active access token of this emulator, a *user* token, whose ``aud`` is the calling
    app (its app ID, or one of its App ID URIs). It is not RFC 8693: no
    ``subject_token``, no ``issued_token_type``.
    """

    grant_type: ClassVar[str] = JWT_BEARER

    def exchange(
        self, engine: Engine, server: AuthServer, client: Client, params: Params
    ) -> dict[str, Any]:
        if client.public:
            raise InvalidClient(
                "A confidential client is required.", reason="client_secret_missing"
            )
        use = params.require("requested_token_use")
        if use != "on_behalf_of":
            raise InvalidRequest(
                "The 'requested_token_use' is not supported.",
                reason="requested_token_use",
                params={"value": use},
            )
        assertion = params.require("assertion")
        record = engine.token_record(assertion)
        if record is None:
            raise InvalidGrant("The assertion is invalid.", reason="obo_assertion_invalid")
        if record.kind != "access":
            raise InvalidGrant("The assertion is an ID token.", reason="obo_id_token")
        if not engine.is_active(record):
            raise InvalidGrant("The assertion has expired.", reason="obo_assertion_expired")
        claims = record.claims
        if record.username is None or "scp" not in claims:
            raise InvalidGrant(
                "The assertion is an app-only token.",
                reason="obo_app_token",
                params={"client_id": client.client_id},
            )
        aud = str(claims.get("aud", ""))
        site = _site(server)
        mine = aud.lower() == client.client_id.lower() or any(
            r.app_id == client.client_id.lower() and r.identifies(aud)
            for r in site.directory.resources
        )
        if not mine:
            raise InvalidGrant(
                "The assertion's audience is not the calling app.",
                reason="obo_audience",
                params={"aud": aud, "client_id": client.client_id},
            )
        user = engine.user(record.username)
        if user is None:
            raise InvalidGrant("The assertion is invalid.", reason="obo_assertion_invalid")
        scopes = engine.requested_scopes(server, client, params, self.grant_type)
        auth_time = claims.get("auth_time")
        when = auth_time if isinstance(auth_time, int) else None
        family = engine.new_family(server, client, user.username, scopes, when)
        return engine.issue(
            server,
            client,
            user,
            scopes,
            self.grant_type,
            family_id=family.id,
            auth_time=when,
            id_token=False,
            params=params,
        )


# -- the profile ------------------------------------------------------------------------
def _paths(segment: str, version: int) -> dict[Endpoint, str]:
    root = f"/{segment}"
    if version == 2:
        return {
            "openid_configuration": f"{root}/v2.0/.well-known/openid-configuration",
            "jwks": f"{root}/discovery/v2.0/keys",
            "authorize": f"{root}/oauth2/v2.0/authorize",
            "token": f"{root}/oauth2/v2.0/token",
            "logout": f"{root}/oauth2/v2.0/logout",
            "device_authorization": f"{root}/oauth2/v2.0/devicecode",
        }
    return {
        "openid_configuration": f"{root}/.well-known/openid-configuration",
        "jwks": f"{root}/discovery/keys",
        "authorize": f"{root}/oauth2/authorize",
        "token": f"{root}/oauth2/token",
        "logout": f"{root}/oauth2/logout",
        "device_authorization": f"{root}/oauth2/devicecode",
    }


_TENANT_SUFFIXES = frozenset(
    path.removeprefix("/x/") for version in (1, 2) for path in _paths("x", version).values()
)
_GRANT_TYPES = frozenset(
    {"authorization_code", "refresh_token", "client_credentials", DEVICE_CODE, JWT_BEARER}
)


def _random_b64(size: int) -> str:
    return base64.b64encode(secrets.token_bytes(size)).decode()


def _client_acr(client: Client | None) -> str:
    """``appidacr``/``azpacr``: 0 public client, 1 secret, 2 certificate."""
    if client is None:
        return "1"
    marker = client.vendor.get(_CLIENT_AUTH)
    if isinstance(marker, str):
        return marker
    return "0" if client.public else "1"


def _graph_error(status: int, code: str, message: str) -> Response:
    """Microsoft Graph's error body (Graph is not the STS: no AADSTS codes)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": now, "request-id": str(uuid.uuid4())},
        }
    }
    return Response.json(body, status, {"www-authenticate": 'Bearer realm=""'})


class EntraProfile(VendorProfile):
    """Microsoft Entra ID: tenants, v1.0/v2.0 endpoints, Graph, OBO, AADSTS errors."""

    name = "entra"
    title = "Microsoft Entra ID"
    default_host = LOGIN_HOST
    default_port = 8720
    defaults_file = "entra_defaults.yaml"
    session_cookie = "ESTSAUTH"
    login_path = "/common/login"
    device_verification_path = "/common/oauth2/deviceauth"
    pkce_methods = ("S256", "plain")

    # -- configuration -------------------------------------------------------------------
    def validate_config(self, config: IdpConfig) -> None:
        Directory.build(config)

    def servers(self, config: IdpConfig, base: str) -> list[AuthServer]:
        directory = Directory.build(config)
        vendor_host = urlsplit(base).hostname == LOGIN_HOST
        sts_base = STS_BASE if vendor_host else base
        graph_base = GRAPH_URI if vendor_host else base
        seed = directory.settings.lifetime_seed
        rng = random.Random(seed) if seed is not None else random.Random()  # noqa: S311
        primary_api = config.apis[0] if config.apis else None
        published = {
            "tenant": {"default": True, "msa": False},
            "common": {"default": True, "msa": True},
            "organizations": {"default": True, "msa": False},
            "consumers": {"default": False, "msa": True},
        }

        def server(
            segment: str, version: int, tenant: Tenant | None, pseudo: str | None
        ) -> AuthServer:
            site = Site(
                directory=directory,
                segment=segment,
                version=version,
                tenant=tenant,
                pseudo=pseudo,
                login_base=base,
                sts_base=sts_base,
                graph_base=graph_base,
                rng=rng,
            )
            purposes = published[pseudo or "tenant"]
            if version == 1:
                purposes = {"default": True, "msa": False}
            return AuthServer(
                id=segment if version == 2 else f"v1:{segment}",
                issuer=site.published_issuer,
                base=base,
                paths=_paths(segment, version),
                grant_types=_GRANT_TYPES,
                scopes=frozenset(OIDC_SCOPE_NAMES),
                api=primary_api,
                kind=f"v{version}",
                key_purposes=purposes,
                keyring_id="entra",
                settings={"entra": site},
            )

        servers: list[AuthServer] = []
        for tenant in directory.tenants:
            for segment in (tenant.id, tenant.domain):
                if segment:
                    servers += [server(segment, 2, tenant, None), server(segment, 1, tenant, None)]
        for pseudo in PSEUDO_TENANTS:
            servers.append(server(pseudo, 2, None, pseudo))
            if pseudo != "consumers":
                servers.append(server(pseudo, 1, None, pseudo))
        primary = servers[0]
        servers[0] = replace(
            primary,
            paths={**primary.paths, "userinfo": "/oidc/userinfo"},
            endpoint_bases={"userinfo": graph_base},
        )
        return servers

    def primary_server(self, servers: list[AuthServer]) -> str:
        return servers[0].id

    def keyring(self, server: AuthServer, key_factory: KeyFactory) -> KeyRing:
        """One ring for every tenant: an organizational key and a personal-account (MSA)
        key, both certificate-backed."""
        return EntraKeyRing(
            entra_key(key_factory("RS256", f"{server.id}/{purpose}"), purpose=purpose)
            for purpose in ("default", "msa")
        )

    def user_id(self, user: User) -> str:
        return user_oid(user)

    def lifetimes(self, server: AuthServer) -> Lifetimes:
        low, high = ACCESS_LIFETIME_RANGE
        return Lifetimes(
            access=_site(server).rng.randint(low, high),
            id=3600,
            refresh=90 * 86_400,
            code=600,
            device_code=900,
            device_interval=5,
            transaction=900,
        )

    # -- requests -----------------------------------------------------------------------
    def grants(self) -> Mapping[str, Grant]:
        return {
            "authorization_code": EntraAuthorizationCodeGrant(),
            DEVICE_CODE: EntraDeviceCodeGrant(),
            JWT_BEARER: OnBehalfOfGrant(),
        }

    def handlers(self) -> Mapping[Endpoint, EndpointHandler]:
        return {"token": self._token, "jwks": self._jwks, "userinfo": self._userinfo}

    def _check_app(self, server: AuthServer, client: Client, grant_type: str) -> None:
        """The app's sign-in audience against the (pseudo-)tenant of the request."""
        site = _site(server)
        directory = site.directory
        audience = directory.client_settings(client.client_id).sign_in_audience
        values = {"client_id": client.client_id}
        if grant_type == "client_credentials" and site.pseudo in ("common", "consumers"):
            raise UnsupportedGrantType(
                "The grant is not supported here.", reason="client_credentials_pseudo"
            )
        if site.pseudo in ("common", "organizations") and audience == "AzureADMyOrg":
            raise InvalidRequest("The app is single-tenant.", reason="app_single_tenant")
        if site.pseudo == "consumers" and audience in ("AzureADMyOrg", "AzureADMultipleOrgs"):
            raise InvalidRequest(
                "The app is for organizations.", reason="app_not_for_consumers", params=values
            )
        home = directory.client_tenant(client.client_id)
        if site.tenant is not None and site.tenant.id != home and audience == "AzureADMyOrg":
            raise UnauthorizedClient(
                "The app is not in this tenant.",
                reason="app_not_in_tenant",
                params={**values, "tenant": site.tenant.id},
            )

    def demo_scopes(self, server: AuthServer, client: Client) -> tuple[str, ...]:
        """The OpenID scopes and the first API's scopes (``api://proctor-crm/crm.read``, a
        token whose signature the published keys verify); Microsoft Graph's ``User.Read``
        when no API is configured."""
        api = server.api
        own = [f"{api.audience}/{name}" for name in api.scopes] if api else ["User.Read"]
        return (*OIDC_SCOPE_NAMES, *own)

    def grant_scopes(
        self, server: AuthServer, client: Client, params: Params, *, grant_type: str
    ) -> tuple[str, ...]:
        """v2.0: ``scope`` names one resource (``{App ID URI or app ID}/{scope}``, bare
        names are Microsoft Graph's) plus OpenID scopes; client credentials need exactly
        ``{resource}/.default``. v1.0: ``resource`` names the resource. A granted scope is
        kept as the client spelled its resource (the v1.0 ``aud`` echoes that spelling)."""
        requested = params.get("scope")
        self._check_app(server, client, grant_type)
        site = _site(server)
        tenant = site.tenant.id if site.tenant else site.segment
        if site.version == 1:
            return self._v1_scopes(site, tenant, requested, grant_type, params)
        if requested is None or not requested.split():
            raise InvalidRequest("The 'scope' parameter is required.", reason="scope_missing")
        items = list(dict.fromkeys(requested.split()))
        oidc = [i.lower() for i in items if _is_oidc(i)]
        granted: list[str] = []
        resources: dict[str, Resource] = {}
        for item in _resource_items(items):
            prefix, name = _split(item)
            resource = site.directory.resource(prefix) if prefix is not None else None
            if prefix is None:
                resource = site.directory.resource(GRAPH_APP_ID)
            if resource is None:
                raise InvalidTarget(
                    "The resource is unknown.",
                    reason="resource_unknown",
                    params={"resource": prefix or item, "tenant": tenant},
                )
            resources[resource.key] = resource
            if len(resources) > 1:
                raise InvalidScope(
                    "More than one resource.",
                    reason="scope_multiple_resources",
                    params={"scope": item},
                )
            canonical = ".default" if name == ".default" else resource.scope(name)
            if canonical is None:
                raise InvalidScope(
                    "The scope is unknown.", reason="scope_unknown", params={"scope": item}
                )
            granted.append(canonical if prefix is None else f"{prefix}/{canonical}")
        resource_param = params.get("resource")
        if resource_param is not None and not any(
            r.identifies(resource_param) for r in resources.values()
        ):
            raise InvalidTarget("The resource does not match the scopes.", reason="resource_v2")
        if grant_type == "client_credentials":
            if oidc or len(granted) != 1 or not granted[0].endswith("/.default"):
                raise InvalidScope(
                    "Client credentials need {resource}/.default.",
                    reason="scope_default_required",
                    params={"scope": requested},
                )
            return tuple(granted)
        if not granted and not oidc:
            raise InvalidRequest("The 'scope' parameter is required.", reason="scope_missing")
        return (*dict.fromkeys(oidc), *granted)

    def _v1_scopes(
        self,
        site: Site,
        tenant: str,
        requested: str | None,
        grant_type: str,
        params: Params,
    ) -> tuple[str, ...]:
        identifier = params.get("resource")
        if identifier is None:
            raise InvalidRequest("The 'resource' parameter is required.", reason="missing_resource")
        if site.directory.resource(identifier) is None:
            raise InvalidTarget(
                "The resource is unknown.",
                reason="resource_unknown",
                params={"resource": identifier, "tenant": tenant},
            )
        if grant_type == "client_credentials":
            return (f"{identifier}/.default",)
        oidc = [i.lower() for i in (requested or "").split() if _is_oidc(i)]
        return (*dict.fromkeys(oidc), f"{identifier}/.default")

    def audience(self, server: AuthServer, scopes: tuple[str, ...], params: Params) -> str:
        """The resource identifier as the client spelled it (Microsoft Graph's app ID for
        bare or OpenID-only scopes). Bare names of the first API's scopes (the admin API's
        minting and ``MockIdp.tokens``) mean that API."""
        for item in _resource_items(scopes):
            prefix, name = _split(item)
            if prefix is not None:
                return prefix
            api = server.api
            if api is not None and name in api.scopes and name not in GRAPH_SCOPES:
                return api.audience
            return GRAPH_APP_ID
        return GRAPH_APP_ID

    def _scp(self, ctx: TokenContext, resource: Resource) -> list[str]:
        names: list[str] = []
        for item in ctx.scopes:
            if _is_oidc(item):
                if resource.graph and item.lower() != "offline_access":
                    names.append(item.lower())
                continue
            _, name = _split(item)
            names.extend(resource.default_scopes if name == ".default" else (name,))
        return list(dict.fromkeys(names))

    def _resource(self, ctx: TokenContext) -> Resource:
        directory = _site(ctx.server).directory
        resource = directory.resource(ctx.audience or GRAPH_APP_ID)
        if resource is None:
            raise ValueError(f"no Entra resource is identified by {ctx.audience!r}")
        return resource

    def _app_tenant(self, site: Site, client_id: str) -> str:
        return site.tenant.id if site.tenant else site.directory.client_tenant(client_id)

    # -- tokens ---------------------------------------------------------------------------
    def access_token(self, ctx: TokenContext) -> JwtSpec:
        site = _site(ctx.server)
        directory = site.directory
        resource = self._resource(ctx)
        version = resource.version
        user = ctx.user
        tid = directory.user_tenant(user) if user else self._app_tenant(site, ctx.client_id)
        issuer = site.issuer(version, tid)
        api = resource.api
        lifetime = api.access_token_lifetime if api and api.access_token_lifetime else None
        if version == 2 or resource.aud_guid:
            aud = resource.app_id
        else:
            aud = ctx.audience or resource.app_id
        head: dict[str, Any] = {
            "aud": aud,
            "iss": issuer,
            "iat": ctx.now,
            "nbf": ctx.now,
            "exp": ctx.now + (lifetime or ctx.lifetimes.access),
        }
        body: dict[str, Any] = {
            "aio": _random_b64(66),
            "rh": "0.A" + secrets.token_urlsafe(48),
            "tid": tid,
            "uti": secrets.token_urlsafe(16),
            "ver": f"{version}.0",
        }
        acr = _client_acr(ctx.client)
        if version == 1:
            body.update(appid=ctx.client_id, appidacr=acr)
            if ctx.client is not None and ctx.client.name:
                body["app_displayname"] = ctx.client.name
        else:
            body.update(azp=ctx.client_id, azpacr=acr)
        if user is None:
            oid = service_principal_oid(ctx.client_id, tid)
            body.update(oid=oid, sub=oid)
            roles = resource.roles_for(ctx.client_id)
            if version == 1:
                body["idp"] = issuer
            if resource.idtyp:
                body["idtyp"] = "app"
        else:
            body.update(self._user_claims(ctx, user, tid, version, resource))
            scp = self._scp(ctx, resource)
            if scp:
                body["scp"] = " ".join(scp)
            roles = resource.roles_for(user.username)
            if resource.idtyp and resource.idtyp_user:
                body["idtyp"] = "user"
        if roles:
            body["roles"] = list(roles)
        if api is not None:
            for name, expr in api.claims.items():
                value = claim_value(expr, user, ctx.user_id)
                if value is not None:
                    body[name] = value
        header: dict[str, Any] = {"typ": "JWT"}
        if resource.graph:
            header["nonce"] = secrets.token_urlsafe(90)
        if version == 1:
            header["x5t"] = None  # the signing key's thumbprint (EntraKeyRing)
        purpose = "msa" if tid == CONSUMERS_TENANT_ID else "default"
        return JwtSpec({**head, **dict(sorted(body.items()))}, header, purpose)

    def _user_claims(
        self, ctx: TokenContext, user: User, tid: str, version: int, resource: Resource
    ) -> dict[str, Any]:
        directory = _site(ctx.server).directory
        settings = directory.user_settings(user)
        oid = user_oid(user)
        claims: dict[str, Any] = {"oid": oid, "sub": pairwise_subject(tid, oid, ctx.client_id)}
        if user.name:
            claims["name"] = user.name
        if version == 1:
            claims.update(
                acr="1",
                amr=list(ctx.amr),
                ipaddr=settings.ipaddr,
                unique_name=user.username,
                upn=user.username,
            )
            if user.given_name:
                claims["given_name"] = user.given_name
            if user.family_name:
                claims["family_name"] = user.family_name
        else:
            claims["preferred_username"] = user.username
        if resource.groups not in (None, "None"):
            groups = [group_id(g) for g in user.groups]
            if len(groups) > OVERAGE_LIMIT:
                claims["_claim_names"] = {"groups": "src1"}
                claims["_claim_sources"] = {
                    "src1": {
                        "endpoint": f"https://graph.windows.net/{tid}/users/{oid}/getMemberObjects"
                    }
                }
            elif groups:
                claims["groups"] = groups
            if settings.wids and resource.groups in ("All", "DirectoryRole"):
                claims["wids"] = list(settings.wids)
        return claims

    def id_token(self, ctx: TokenContext) -> JwtSpec:
        """The ID token: its version is the endpoint's (it is for the client, whose
        ``aud`` it always carries)."""
        site = _site(ctx.server)
        user = ctx.user
        if user is None:
            raise ValueError("an ID token needs a user")
        tid = site.directory.user_tenant(user)
        version = site.version
        oid = user_oid(user)
        when = ctx.auth_time if ctx.auth_time is not None else ctx.now
        head = {
            "aud": ctx.client_id,
            "iss": site.issuer(version, tid),
            "iat": ctx.now,
            "nbf": ctx.now,
            "exp": ctx.now + ctx.lifetimes.id,
        }
        body: dict[str, Any] = {
            "oid": oid,
            "rh": "0.A" + secrets.token_urlsafe(48),
            "sid": _derived_guid("sid", f"{oid}:{when}"),
            "sub": pairwise_subject(tid, oid, ctx.client_id),
            "tid": tid,
            "uti": secrets.token_urlsafe(16),
            "ver": f"{version}.0",
        }
        if version == 2:
            body["aio"] = _random_b64(66)
        if ctx.nonce is not None:
            body["nonce"] = ctx.nonce
        if ctx.access_token is not None:
            body["at_hash"] = at_hash(ctx.access_token)
        if "profile" in ctx.scopes or version == 1:
            if user.name:
                body["name"] = user.name
            if version == 2:
                body["preferred_username"] = user.username
        if "email" in ctx.scopes and user.mail:
            body["email"] = user.mail
        if version == 1:
            body.update(amr=list(ctx.amr), unique_name=user.username, upn=user.username)
            body["ipaddr"] = site.directory.user_settings(user).ipaddr
            if user.given_name:
                body["given_name"] = user.given_name
            if user.family_name:
                body["family_name"] = user.family_name
        header: dict[str, Any] = {"typ": "JWT"}
        if version == 1:
            header["x5t"] = None
        purpose = "msa" if tid == CONSUMERS_TENANT_ID else "default"
        return JwtSpec({**head, **dict(sorted(body.items()))}, header, purpose)

    def refresh_token_value(self) -> str:
        return "1.A" + secrets.token_urlsafe(240)

    def refresh_allowed(self, ctx: TokenContext) -> bool:
        """v2.0: with ``offline_access``; v1.0 endpoints always return one."""
        return _site(ctx.server).version == 1 or "offline_access" in ctx.scopes

    def token_response(self, ctx: TokenContext, tokens: IssuedTokens) -> dict[str, Any]:
        """v2.0 endpoints: numbers, ``scope`` with full scope names (none for app-only
        tokens). v1.0 endpoints: strings, ``expires_on``, ``not_before``, ``resource``, and
        short scope names (observed)."""
        site = _site(ctx.server)
        resource = self._resource(ctx)
        app_only = ctx.user is None
        body: dict[str, Any] = {"token_type": self.token_type}
        names = self._scp(ctx, resource)
        if site.version == 1:
            if not app_only:
                body["scope"] = " ".join(n for n in names if not _is_oidc(n))
            body.update(
                expires_in=str(tokens.expires_in),
                ext_expires_in=str(tokens.expires_in),
                expires_on=str(ctx.now + tokens.expires_in),
                not_before=str(ctx.now),
                resource=ctx.audience,
            )
        else:
            if not app_only:
                body["scope"] = " ".join(self._v2_scope_names(ctx, resource))
            body.update(expires_in=tokens.expires_in, ext_expires_in=tokens.expires_in)
        body["access_token"] = tokens.access_token
        if tokens.refresh_token is not None:
            body["refresh_token"] = tokens.refresh_token
        if tokens.id_token is not None:
            body["id_token"] = tokens.id_token
        return body

    def _v2_scope_names(self, ctx: TokenContext, resource: Resource) -> list[str]:
        names: list[str] = []
        for item in _resource_items(ctx.scopes):
            prefix, name = _split(item)
            for scope in resource.default_scopes if name == ".default" else (name,):
                names.append(scope if prefix is None else f"{prefix}/{scope}")
        names += [s for s in ctx.scopes if _is_oidc(s) and s.lower() != "offline_access"]
        return list(dict.fromkeys(names))

    # -- endpoints the profile serves itself ----------------------------------------------------
    def _client_assertion(
        self, engine: Engine, server: AuthServer, req: Request, params: Params
    ) -> Client | None:
        """Certificate credentials (``certificate-credentials.md``, RFC 7523 §2.2): a JWT
        signed with a key whose certificate is registered on the app (``x5t#S256`` or
        ``x5t``), ``iss`` = ``sub`` = the client ID, ``aud`` = this tenant's token
        endpoint, within ``nbf``/``exp`` (five minutes' skew)."""
        kind = params.get("client_assertion_type")
        assertion = params.get("client_assertion")
        if kind is None and assertion is None:
            return None
        if params.get("client_secret") is not None or "authorization" in req.headers:
            raise InvalidRequest("Only one credential.", reason="client_auth_multiple")
        if kind is None:
            raise InvalidRequest("Missing.", reason="missing_client_assertion_type")
        if kind != CLIENT_ASSERTION_TYPE:
            raise InvalidRequest("Unsupported.", reason="client_assertion_type")
        if assertion is None:
            raise InvalidRequest("Missing.", reason="missing_client_assertion")
        try:
            extracted = jws.extract_compact(assertion.encode())
            header = extracted.headers()
            claims = json.loads(extracted.payload)
        except (JoseError, ValueError, UnicodeDecodeError) as exc:
            raise InvalidClient("Malformed.", reason="client_assertion_malformed") from exc
        if not isinstance(claims, dict):
            raise InvalidClient("Malformed.", reason="client_assertion_malformed")
        client_id = params.get("client_id") or claims.get("iss")
        client = engine.client(client_id) if isinstance(client_id, str) else None
        site = _site(server)
        if client is None:
            raise InvalidClient("Unknown client.", reason="client_unknown")
        registered = site.directory.client_settings(client.client_id).certificates
        if client.public and not registered:
            raise InvalidClient("Public client.", reason="public_client_secret")
        if claims.get("iss") != claims.get("sub"):
            raise InvalidClient("iss is not sub.", reason="client_assertion_issuer")
        if claims.get("iss") != client.client_id:
            raise InvalidClient("Not this client.", reason="client_assertion_subject")
        certificate = self._certificate(site, client, header)
        alg = header.get("alg")
        if alg not in ("RS256", "PS256"):
            raise InvalidClient("Bad algorithm.", reason="client_assertion_signature")
        public = certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        try:
            jws.deserialize_compact(assertion, RSAKey.import_key(public), algorithms=[alg])
        except (JoseError, InvalidSignature, ValueError) as exc:
            raise InvalidClient("Bad signature.", reason="client_assertion_signature") from exc
        audiences = {
            s.url("token") for s in engine.servers.values() if _site(s).segment == site.segment
        }
        aud = claims.get("aud")
        if not (aud in audiences or (isinstance(aud, list) and set(aud) & audiences)):
            raise InvalidClient("Wrong audience.", reason="client_assertion_audience")
        now = engine.clock.now()
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if (
            not isinstance(exp, int | float)
            or exp + _CLOCK_SKEW < now
            or (isinstance(nbf, int | float) and nbf - _CLOCK_SKEW > now)
        ):
            raise InvalidClient("Out of time.", reason="client_assertion_expired")
        # A certificate makes the app confidential: the engine knows confidential clients
        # by their secret, so the authenticated copy carries an unusable one.
        update: dict[str, Any] = {"vendor": {**client.vendor, _CLIENT_AUTH: "2"}}
        if client.client_secret is None:
            update["client_secret"] = secrets.token_urlsafe(32)
        return client.model_copy(update=update)

    @staticmethod
    def _certificate(site: Site, client: Client, header: Mapping[str, Any]) -> x509.Certificate:
        registered = site.directory.client_settings(client.client_id).certificates
        for pem in registered:
            cert = _load_certificate(pem)
            if header.get("x5t#S256") == thumbprint(cert, "sha256") or (
                header.get("x5t") == thumbprint(cert)
            ):
                return cert
        raise InvalidClient("Unknown key.", reason="client_assertion_key_unknown")

    def _token(self, engine: Engine, server: AuthServer, req: Request) -> Response:
        """The token endpoint: the engine's, plus certificate client assertions."""
        params = req.form()
        client = self._client_assertion(engine, server, req, params)
        if client is None:
            client = engine.authenticate_client(req, params)
        return Response.json(engine.run_grant(server, client, params))

    def check_grant_client(self, client: Client, grant_type: str) -> None:
        if client.public and grant_type in ("client_credentials", JWT_BEARER):
            raise InvalidClient(
                "A confidential client is required.", reason="client_credentials_public"
            )

    def _jwks(self, engine: Engine, server: AuthServer, req: Request) -> Response:
        """``{kty, use, kid, x5t, n, e, x5c}`` per key; v2.0 adds ``issuer`` (the tenant's,
        the ``{tenantid}`` template on ``common``/``organizations``, the consumers
        tenant's for personal-account keys) and ``cloud_instance_name`` (observed)."""
        site = _site(server)
        ring = engine.keyring(server.id)
        published = {p for p, shown in server.key_purposes.items() if shown}
        keys = []
        for key in ring.keys():  # noqa: SIM118
            if not key.published or key.purpose not in published:
                continue
            jwk = key.public_jwk()
            if site.version == 2:
                jwk["cloud_instance_name"] = "microsoftonline.com"
                if key.purpose == "msa":
                    jwk["issuer"] = site.issuer(2, CONSUMERS_TENANT_ID)
                else:
                    jwk["issuer"] = site.issuer(2, site.tenant.id if site.tenant else TEMPLATE)
            keys.append(jwk)
        return Response.json({"keys": keys}, headers=self.jwks_headers(server, ring))

    def _userinfo(self, engine: Engine, server: AuthServer, req: Request) -> Response:
        """OIDC UserInfo as Microsoft Graph serves it (``/oidc/userinfo``): a Graph access
        token with ``openid``; Graph's error shape otherwise."""
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        record = engine.token_record(token.strip())
        if record is None or record.kind != "access" or not engine.is_active(record):
            return _graph_error(
                401, "InvalidAuthenticationToken", "Access token validation failure."
            )
        graph = _site(server).directory.resource(GRAPH_APP_ID)
        aud = str(record.claims.get("aud", ""))
        if graph is None or not graph.identifies(aud):
            return _graph_error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
            )
        user = engine.user(record.username) if record.username else None
        if user is None or "openid" not in record.scopes:
            return _graph_error(403, "Authorization_RequestDenied", "Insufficient privileges.")
        tid = str(record.claims.get("tid", ""))
        oid = user_oid(user)
        claims: dict[str, Any] = {"sub": pairwise_subject(tid, oid, record.client_id or "")}
        for name, value in (
            ("name", user.name),
            ("family_name", user.family_name),
            ("given_name", user.given_name),
        ):
            if value:
                claims[name] = value
        claims["picture"] = f"{GRAPH_URI}/v1.0/me/photo/$value"
        if "email" in record.scopes and user.mail:
            claims["email"] = user.mail
        return Response.json(claims)

    def finish_response(self, req: Request, endpoint: str, response: Response) -> Response:
        """Entra's device authorization response (``v2-oauth2-device-code.md``): a
        ``message``, no ``verification_uri_complete``; v1.0 says ``verification_url``
        (observed)."""
        if endpoint != "device_authorization" or response.status != 200:
            return response
        data = json.loads(response.body)
        uri = data.get("verification_uri")
        v1 = "/oauth2/devicecode" in req.path
        body = {
            "user_code": data.get("user_code"),
            "device_code": data.get("device_code"),
            "verification_url" if v1 else "verification_uri": uri,
            "expires_in": data.get("expires_in"),
            "interval": data.get("interval"),
            "message": f"To sign in, use a web browser to open the page {uri} and enter the "
            f"code {data.get('user_code')} to authenticate.",
        }
        return Response.json(body)

    # -- metadata -------------------------------------------------------------------------
    def discovery(self, server: AuthServer, endpoint: Endpoint) -> dict[str, Any]:
        """The OpenID configuration Entra publishes, limited to what the emulator serves
        (``response_types_supported``, ``response_modes_supported``). Like Entra's, it has
        no ``code_challenge_methods_supported`` and no ``grant_types_supported``."""
        site = _site(server)
        base = site.login_base
        doc: dict[str, Any] = {
            "token_endpoint": server.url("token"),
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": server.url("jwks")
            if site.version == 2
            else f"{base}/common/discovery/keys",
            "response_modes_supported": ["query"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code"],
            "scopes_supported": list(OIDC_SCOPE_NAMES) if site.version == 2 else ["openid"],
            "issuer": server.issuer,
        }
        if site.version == 2:
            doc["request_uri_parameter_supported"] = False
            doc["userinfo_endpoint"] = f"{site.graph_base}/oidc/userinfo"
        else:
            doc["microsoft_multi_refresh_token"] = True
        doc.update(
            {
                "authorization_endpoint": server.url("authorize"),
                "device_authorization_endpoint": server.url("device_authorization"),
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": server.url("logout"),
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "acr",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                    "ver",
                    "at_hash",
                    "c_hash",
                    "email",
                ],
                "tenant_region_scope": "NA" if site.tenant else None,
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            }
        )
        return doc

    def discovery_headers(self, server: AuthServer) -> dict[str, str]:
        return {"cache-control": "max-age=86400, private"}

    def jwks_headers(self, server: AuthServer, ring: KeyRing) -> dict[str, str]:
        return {"cache-control": "max-age=86400, private"}

    # -- errors ---------------------------------------------------------------------------
    def describe(self, error: OAuthError) -> str:
        entry, message = aad_error(error)
        return f"AADSTS{entry.code}: {message}"

    def error_response(
        self, error: OAuthError, server: AuthServer | None, endpoint: str | None
    ) -> Response:
        """Entra's error body: ``error_description`` carries the AADSTS code, trace and
        correlation IDs and a timestamp (wall-clock UTC: a diagnostic, not protocol time)."""
        entry, message = aad_error(error)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        base = server.base if server is not None else f"https://{LOGIN_HOST}"
        body = {
            "error": entry.error or error.error,
            "error_description": f"AADSTS{entry.code}: {message}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
            "error_codes": [entry.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{base}/error?code={entry.code}",
        }
        return Response.json(body, entry.status or error.status_code, error.headers)

    def not_found(self, path: str) -> Response:
        """An unknown tenant in a known endpoint path is AADSTS90002 (400); a path Entra
        does not have (introspection, revocation, RFC 8414 metadata) is 404."""
        segment, _, rest = path.strip("/").partition("/")
        if rest in _TENANT_SUFFIXES and segment:
            v1 = "v2.0" not in rest
            if segment == "consumers" and v1:
                error: OAuthError = InvalidRequest("v1.0 has no consumers.", reason="msa_v1")
            else:
                error = InvalidRequest(
                    "Unknown tenant.", reason="tenant_unknown", params={"tenant": segment}
                )
            return self.error_response(error, None, None)
        response = self.error_response(InvalidRequest("Not found.", reason="not_found"), None, None)
        response.status = 404
        return response


PROFILE = EntraProfile()
