"""Credential providers: outbound OAuth 2.0 clients and API keys (spec ``05``, PRV-*).

An **OAuth 2.0 provider** names a provider's authorization server and the service's
client there. A ``custom`` provider gives exactly one of ``discovery_url`` and
``authorization_server_metadata`` (PRV-CFG-001); a **vendor preset** derives them from the
vendor (and ``tenant``), and may still be pointed elsewhere, keeping its quirks
(PRV-VEND-001/002). Discovered metadata is validated before use (PRV-CFG-002) and cached
for at most 24 hours. An **API-key provider** is a static key and the workloads allowed to
read it (PRV-KEY-001).

Secrets are write-only (PRV-CFG-003): ``client_secret`` and ``api_key`` are sealed at rest
(VLT-ENC-001, bound to ``{"kind": "provider_secret", "provider_type", "provider"}``) and
every response shows a reference instead (``secret://providers/<name>/client_secret``,
``secret://api-key-providers/<name>/api_key``). A replace that omits the secret keeps it;
one that changes ``client_id`` must bring a new one.

Vendor facts (each preset's endpoints and departures; PRV-VEND-001, -003, -004)
-------------------------------------------------------------------------------
``google``
    Discovery ``https://accounts.google.com/.well-known/openid-configuration`` (issuer
    ``https://accounts.google.com``; token ``https://oauth2.googleapis.com/token``, RFC 7009
    revocation ``https://oauth2.googleapis.com/revoke``). A refresh token only with
    ``access_type=offline``, and on re-authorization only with ``prompt=consent``
    (Google Identity, "Using OAuth 2.0 for Web Server Applications",
    developers.google.com/identity/protocols/oauth2/web-server).
``github``
    No discovery document: ``https://github.com/login/oauth/authorize`` and
    ``https://github.com/login/oauth/access_token``; no RFC 7009 endpoint. The token
    endpoint answers form-encoded unless sent ``Accept: application/json``, reports errors
    with HTTP 200 and an ``error`` member, returns ``scope`` comma-separated and, for OAuth
    apps, no ``expires_in`` (GitHub Docs, "Authorizing OAuth apps" and "Troubleshooting
    OAuth app access token request errors", docs.github.com/en/apps/oauth-apps).
``slack``
    No discovery document for OAuth v2: ``https://slack.com/oauth/v2/authorize`` and
    ``https://slack.com/api/oauth.v2.access``. User scopes go in ``user_scope``
    (comma-separated); the user token is in ``authed_user`` (``token_type`` ``user``;
    ``refresh_token``/``expires_in`` with token rotation); failures are ``"ok": false``
    with HTTP 200 (docs.slack.dev/reference/methods/oauth.v2.access). ``auth.revoke`` is
    not RFC 7009, so nothing is revoked upstream.
``salesforce``
    Discovery ``https://<My Domain or login.salesforce.com>/.well-known/openid-configuration``
    (endpoints under ``/services/oauth2/``, revocation ``/services/oauth2/revoke``); the
    ``refresh_token`` scope grants the refresh token (Salesforce Help, "OAuth Tokens and
    Scopes").
``microsoft``
    Discovery ``https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration``;
    for ``organizations``, ``common`` and ``consumers`` the document's ``issuer`` is the
    template ``https://login.microsoftonline.com/{tenantid}/v2.0``, and for a verified
    domain it names the tenant's GUID, not the domain; ``offline_access`` grants the
    refresh token; no RFC 7009 endpoint (Microsoft identity platform, "OpenID Connect on
    the Microsoft identity platform" and "Scopes and permissions").
``atlassian``
    ``https://auth.atlassian.com/authorize`` and ``https://auth.atlassian.com/oauth/token``
    (built in: proctor found no discovery document it could rely on); ``offline_access``,
    ``audience=api.atlassian.com`` and ``prompt=consent`` on the authorization request;
    rotating refresh tokens (developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps).
``okta``
    ``tenant`` = org host, optionally ``/oauth2/<authorization server id>``; discovery
    ``https://<tenant>/.well-known/oauth-authorization-server`` (issuer
    ``https://<tenant>``), RFC 7009 at ``.../v1/revoke``; ``offline_access`` grants the
    refresh token (Okta developer docs, "Authorization servers", "Refresh access tokens").
``cognito``
    ``tenant`` = user pool ID ``<region>_<id>``; discovery
    ``https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/openid-configuration``
    whose endpoints live on the pool's domain (``/oauth2/authorize``, ``/oauth2/token``,
    ``/oauth2/revoke``) (Amazon Cognito Developer Guide, "Identity provider and relying
    party endpoints").
``auth0``
    ``tenant`` = the tenant's domain; discovery
    ``https://<domain>/.well-known/openid-configuration`` whose ``issuer`` is
    ``https://<domain>/`` *with* a trailing slash (a documented issuer template of this
    preset, PRV-CFG-002); RFC 7009 at ``/oauth/revoke``; ``offline_access`` grants the
    refresh token (Auth0 docs, "Locate the OpenID Connect discovery endpoint", "Refresh
    tokens").
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from proctor.reference.authorizer_config import check_url, expected_issuer_from_discovery_url
from proctor.reference.authorizers import parse_model
from proctor.reference.clock import Clock
from proctor.reference.directory import Directory, is_name
from proctor.reference.errors import NotFound, UpstreamError, ValidationFailed
from proctor.reference.oauth_client import (
    ClientAuthMethod,
    ClientConfig,
    OAuthClient,
    ResponseRules,
)
from proctor.reference.sealing import DecryptionError, Sealer
from proctor.reference.storage.database import Database, Transaction, in_transaction
from proctor.reference.storage.pagination import DEFAULT_LIMIT, Page
from proctor.reference.storage.providers import (
    KEEP,
    ProviderKind,
    ProviderRecord,
    ProviderRepository,
    SecretUpdate,
)

__all__ = [
    "PRESETS",
    "RESERVED_PARAMETERS",
    "ApiKeyProvider",
    "ApiKeyProviderSpec",
    "OAuth2Provider",
    "OAuth2ProviderSpec",
    "ProviderMetadata",
    "ProviderRegistry",
    "VendorPreset",
    "api_key_view",
    "oauth2_view",
]

Vendor = Literal[
    "custom",
    "google",
    "github",
    "slack",
    "salesforce",
    "microsoft",
    "atlassian",
    "okta",
    "cognito",
    "auth0",
]

#: VLT-REQ-003: parameters the service sets; ``custom_parameters`` cannot name them.
RESERVED_PARAMETERS: Final = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "scope",
        "code_challenge",
        "code_challenge_method",
        "resource",
        "audience",
        "request",
        "request_uri",
        "response_mode",
        "nonce",
        "grant_type",
        "code",
        "code_verifier",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
    }
)
#: RFC 6749 §3.3: a scope token.
_SCOPE: Final = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]{1,256}")
_HOST: Final = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
)
_GUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_OKTA_TENANT: Final = re.compile(r"(?P<host>[^/]+)(?:/oauth2/(?P<server>[A-Za-z0-9_-]{1,64}))?")
_COGNITO_POOL: Final = re.compile(r"(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9])_[A-Za-z0-9]{1,64}")
_MS_SPECIAL: Final = frozenset({"organizations", "common", "consumers"})
_MS_ISSUER: Final = re.compile(
    r"https://login\.microsoftonline\.com/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}"
    r"-[0-9a-f]{12}/v2\.0"
)
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
#: PRV-CFG-002: discovered metadata is cached for at most 24 hours.
MAX_METADATA_AGE: Final = 86_400
_MAX_SCOPES: Final = 100
_READ_ONLY: Final = frozenset({"created_at", "updated_at", "client_secret_ref", "api_key_ref"})


def _is_host(value: str) -> bool:
    return _HOST.fullmatch(value) is not None


# -- vendor presets ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderMetadata:
    """The endpoints the service uses, validated (PRV-CFG-001/002)."""

    issuer: str
    authorization_endpoint: str | None
    token_endpoint: str
    revocation_endpoint: str | None = None
    #: RFC 9207 §3: the provider promises ``iss`` in authorization responses.
    iss_parameter_supported: bool = False


@dataclass(frozen=True)
class VendorPreset:
    """A vendor's authorization server and its departures from RFC 6749."""

    name: str
    tenant: Literal["absent", "required", "optional"]
    #: Checks (and normalises) ``tenant``; returns ``None`` when it is malformed.
    check_tenant: Callable[[str], str | None] = lambda value: value
    #: The discovery URL for a tenant (``None``: the preset has built-in endpoints).
    discovery: Callable[[str | None], str] | None = None
    #: Built-in endpoints for vendors without a discovery document (github, slack).
    builtin: ProviderMetadata | None = None
    #: PRV-CFG-002: the issuer a discovered document may name besides the derived one.
    issuer_ok: Callable[[str, str, str | None], bool] | None = None
    #: PRV-VEND-003: parameters and scopes added to the authorization request.
    added_parameters: tuple[tuple[str, str], ...] = ()
    added_scopes: tuple[str, ...] = ()
    #: Where requested scopes go and how they are joined (Slack: ``user_scope``, commas).
    scope_parameter: str = "scope"
    scope_separator: str = " "
    rules: ResponseRules = field(default_factory=ResponseRules)
    #: PRV-VEND-004: vendors without RFC 7009 revocation.
    revokes: bool = True
    #: PRV-AUTH-002: ``aud`` of client assertions.
    assertion_audience: Literal["issuer", "token_endpoint"] = "issuer"

    @property
    def reserved(self) -> frozenset[str]:
        """VLT-REQ-003: the preset's own parameters are reserved too."""
        return frozenset({name for name, _ in self.added_parameters} | {self.scope_parameter})


def _ms_tenant(value: str) -> str | None:
    lowered = value.lower()
    if lowered in _MS_SPECIAL or _GUID.fullmatch(lowered) or _is_host(lowered):
        return lowered
    return None


def _ms_issuer_ok(expected: str, actual: str, tenant: str | None) -> bool:
    """PRV-VEND-004: ``{tenantid}`` templates for the multi-tenant endpoints; a verified
    domain's document names the tenant's GUID."""
    if tenant in _MS_SPECIAL:
        return actual == "https://login.microsoftonline.com/{tenantid}/v2.0"
    return tenant is not None and not _GUID.fullmatch(tenant) and bool(_MS_ISSUER.fullmatch(actual))


def _okta_tenant(value: str) -> str | None:
    match = _OKTA_TENANT.fullmatch(value)
    if match is None or not _is_host(match["host"].lower()):
        return None
    host = match["host"].lower()
    return host + (f"/oauth2/{match['server']}" if match["server"] else "")


def _cognito_discovery(tenant: str | None) -> str:
    assert tenant is not None
    match = _COGNITO_POOL.fullmatch(tenant)
    assert match is not None
    return (
        f"https://cognito-idp.{match['region']}.amazonaws.com/{tenant}"
        "/.well-known/openid-configuration"
    )


def _host_tenant(value: str) -> str | None:
    lowered = value.lower()
    return lowered if _is_host(lowered) else None


_COMMAS: Final = ResponseRules(scope_delimiters=", ")

PRESETS: Final[Mapping[str, VendorPreset]] = {
    "google": VendorPreset(
        "google",
        "absent",
        discovery=lambda _: "https://accounts.google.com/.well-known/openid-configuration",
        added_parameters=(("access_type", "offline"), ("prompt", "consent")),
    ),
    "github": VendorPreset(
        "github",
        "absent",
        builtin=ProviderMetadata(
            issuer="https://github.com",
            authorization_endpoint="https://github.com/login/oauth/authorize",
            token_endpoint="https://github.com/login/oauth/access_token",  # noqa: S106 - a URL
        ),
        rules=ResponseRules(form_encoded=True, scope_delimiters=", "),
        revokes=False,
    ),
    "slack": VendorPreset(
        "slack",
        "absent",
        builtin=ProviderMetadata(
            issuer="https://slack.com",
            authorization_endpoint="https://slack.com/oauth/v2/authorize",
            token_endpoint="https://slack.com/api/oauth.v2.access",  # noqa: S106 - a URL
        ),
        scope_parameter="user_scope",
        scope_separator=",",
        rules=ResponseRules(slack=True, scope_delimiters=", ", token_types=frozenset({"user"})),
        revokes=False,
    ),
    "salesforce": VendorPreset(
        "salesforce",
        "optional",
        check_tenant=_host_tenant,
        discovery=lambda tenant: (
            f"https://{tenant or 'login.salesforce.com'}/.well-known/openid-configuration"
        ),
        added_scopes=("refresh_token",),
    ),
    "microsoft": VendorPreset(
        "microsoft",
        "required",
        check_tenant=_ms_tenant,
        discovery=lambda tenant: (
            f"https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"
        ),
        issuer_ok=_ms_issuer_ok,
        added_scopes=("offline_access",),
        revokes=False,
        assertion_audience="token_endpoint",
    ),
    "atlassian": VendorPreset(
        "atlassian",
        "absent",
        builtin=ProviderMetadata(
            issuer="https://auth.atlassian.com",
            authorization_endpoint="https://auth.atlassian.com/authorize",
            token_endpoint="https://auth.atlassian.com/oauth/token",  # noqa: S106 - a URL
        ),
        added_parameters=(("audience", "api.atlassian.com"), ("prompt", "consent")),
        added_scopes=("offline_access",),
        revokes=False,
    ),
    "okta": VendorPreset(
        "okta",
        "required",
        check_tenant=_okta_tenant,
        discovery=lambda tenant: f"https://{tenant}/.well-known/oauth-authorization-server",
        added_scopes=("offline_access",),
        assertion_audience="token_endpoint",
    ),
    "cognito": VendorPreset(
        "cognito",
        "required",
        check_tenant=lambda v: v if _COGNITO_POOL.fullmatch(v) else None,
        discovery=_cognito_discovery,
    ),
    "auth0": VendorPreset(
        "auth0",
        "required",
        check_tenant=_host_tenant,
        discovery=lambda tenant: f"https://{tenant}/.well-known/openid-configuration",
        issuer_ok=lambda expected, actual, _: actual == expected + "/",
        added_scopes=("offline_access",),
    ),
}
CUSTOM: Final = VendorPreset("custom", "absent")


def preset(vendor: str) -> VendorPreset:
    return CUSTOM if vendor == "custom" else PRESETS[vendor]


# -- request models ------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthorizationServerMetadata(_Model):
    """PRV-CFG-001: explicit metadata (RFC 8414 §2 members)."""

    issuer: StrictStr
    authorization_endpoint: StrictStr
    token_endpoint: StrictStr
    revocation_endpoint: StrictStr | None = None


class OnBehalfOf(_Model):
    grant: Literal["token_exchange", "jwt_bearer"]
    audience: StrictStr | None = None


class OAuth2ProviderSpec(_Model):
    """A create or replace of ``/v1/providers/oauth2`` (the native API object)."""

    name: StrictStr
    vendor: Vendor = "custom"
    discovery_url: StrictStr | None = None
    authorization_server_metadata: AuthorizationServerMetadata | None = None
    tenant: StrictStr | None = None
    client_id: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    client_secret: Annotated[StrictStr, Field(min_length=1, max_length=4096)] | None = Field(
        default=None, repr=False
    )
    client_auth_method: ClientAuthMethod = "client_secret_basic"
    scopes: Annotated[list[StrictStr], Field(max_length=_MAX_SCOPES)] = []
    on_behalf_of: OnBehalfOf | None = None


class ApiKeyProviderSpec(_Model):
    """A create or replace of ``/v1/providers/api-key`` (PRV-KEY-001)."""

    name: StrictStr
    api_key: Annotated[StrictStr, Field(min_length=1, max_length=65_536)] | None = Field(
        default=None, repr=False
    )
    allowed_workloads: Annotated[list[StrictStr], Field(max_length=1000)] = []


def _field_error(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field_name}: {message}.", errors=[{"field": field_name, "message": message}]
    )


def _check_oauth2(spec: OAuth2ProviderSpec, allow_loopback_http: bool) -> None:
    """PRV-CFG-001, PRV-VEND-001/002, RFC 6749 §3.3 scopes; ``validation_failed`` naming
    the first offending field."""
    if not is_name(spec.name):
        raise _field_error("name", "3-64 characters matching ^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    if _CONTROL.search(spec.client_id):
        raise _field_error("client_id", "must not contain control characters")
    vendor = preset(spec.vendor)
    sources = (spec.discovery_url is not None) + (spec.authorization_server_metadata is not None)
    if spec.vendor == "custom" and sources != 1:
        field_name = "discovery_url" if sources == 0 else "authorization_server_metadata"
        raise _field_error(
            field_name, "a custom provider has exactly one of discovery_url and metadata"
        )
    if sources > 1:
        raise _field_error("authorization_server_metadata", "give at most one source")
    if spec.discovery_url is not None:
        try:
            check_url(spec.discovery_url, "discovery_url", allow_loopback_http=allow_loopback_http)
            expected_issuer_from_discovery_url(spec.discovery_url)
        except ValueError as exc:
            raise _field_error("discovery_url", str(exc)) from None
    metadata = spec.authorization_server_metadata
    if metadata is not None:
        for name in ("issuer", "authorization_endpoint", "token_endpoint", "revocation_endpoint"):
            value = getattr(metadata, name)
            if value is None:
                continue
            try:
                check_url(
                    value,
                    name,
                    allow_loopback_http=allow_loopback_http,
                    query=name != "issuer",
                )
            except ValueError as exc:
                raise _field_error(f"authorization_server_metadata/{name}", str(exc)) from None
    explicit = sources == 1
    if spec.tenant is not None:
        if vendor.tenant == "absent":
            raise _field_error("tenant", f"a {spec.vendor} provider has no tenant")
        if vendor.check_tenant(spec.tenant) is None:
            raise _field_error("tenant", f"not a valid {spec.vendor} tenant")
    elif vendor.tenant == "required" and not explicit:
        raise _field_error("tenant", f"a {spec.vendor} provider needs a tenant")
    if spec.client_auth_method != "private_key_jwt" and spec.client_secret is None:
        raise _field_error("client_secret", f"required with {spec.client_auth_method}")
    if len(set(spec.scopes)) != len(spec.scopes):
        raise _field_error("scopes", "scopes must be distinct")
    for scope in spec.scopes:
        if not _SCOPE.fullmatch(scope):
            raise _field_error("scopes", "a scope is 1-256 characters of RFC 6749 §3.3")
    audience = None if spec.on_behalf_of is None else spec.on_behalf_of.audience
    if audience is not None and (not audience or _CONTROL.search(audience)):
        raise _field_error("on_behalf_of/audience", "must be a non-empty string")


def _stored_oauth2(spec: OAuth2ProviderSpec) -> dict[str, Any]:
    """The stored configuration: the object without name, timestamps and secret."""
    tenant = spec.tenant
    if tenant is not None:
        tenant = preset(spec.vendor).check_tenant(tenant)
    return {
        "vendor": spec.vendor,
        "discovery_url": spec.discovery_url,
        "authorization_server_metadata": (
            None
            if spec.authorization_server_metadata is None
            else spec.authorization_server_metadata.model_dump()
        ),
        "tenant": tenant,
        "client_id": spec.client_id,
        "client_auth_method": spec.client_auth_method,
        "scopes": list(spec.scopes),
        "on_behalf_of": None if spec.on_behalf_of is None else spec.on_behalf_of.model_dump(),
    }


def oauth2_view(record: ProviderRecord) -> dict[str, Any]:
    """PRV-CFG-003: the provider as responses show it: never the secret."""
    config = record.config
    return {
        "name": record.name,
        "vendor": config["vendor"],
        "discovery_url": config.get("discovery_url"),
        "authorization_server_metadata": config.get("authorization_server_metadata"),
        "tenant": config.get("tenant"),
        "client_id": config["client_id"],
        "client_secret_ref": (
            f"secret://providers/{record.name}/client_secret" if record.secret else None
        ),
        "client_auth_method": config["client_auth_method"],
        "scopes": list(config.get("scopes", [])),
        "on_behalf_of": config.get("on_behalf_of"),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def api_key_view(record: ProviderRecord) -> dict[str, Any]:
    """PRV-CFG-003: ``api_key_ref`` instead of the key."""
    return {
        "name": record.name,
        "api_key_ref": f"secret://api-key-providers/{record.name}/api_key",
        "allowed_workloads": list(record.config.get("allowed_workloads", [])),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _secret_identity(kind: ProviderKind, name: str) -> dict[str, str]:
    """VLT-ENC-002: the associated data of a provider secret."""
    return {"kind": "provider_secret", "provider_type": kind, "provider": name}


# -- runtime providers ----------------------------------------------------------------------


@dataclass(frozen=True)
class OAuth2Provider:
    """An OAuth 2.0 provider ready for use (its secret opened)."""

    name: str
    version: int
    preset: VendorPreset
    tenant: str | None
    discovery_url: str | None
    explicit: ProviderMetadata | None
    client_id: str
    client_secret: str | None = field(repr=False)
    client_auth_method: ClientAuthMethod
    scopes: tuple[str, ...]
    on_behalf_of: Mapping[str, Any] | None

    def client(self, metadata: ProviderMetadata) -> ClientConfig:
        audience = (
            metadata.token_endpoint
            if self.preset.assertion_audience == "token_endpoint"
            else metadata.issuer
        )
        return ClientConfig(self.client_id, self.client_secret, self.client_auth_method, audience)

    def granted_scopes(self, scopes: Sequence[str]) -> tuple[str, ...]:
        """PRV-VEND-003, VLT-CLI-004: granted scopes without the preset's additions."""
        added = set(self.preset.added_scopes)
        return tuple(sorted({s for s in scopes if s not in added}))

    def authorization_parameters(self, scopes: Sequence[str]) -> list[tuple[str, str]]:
        """PRV-VEND-003 and VLT-SESS-003: the scope parameter (with the preset's scopes)
        and the preset's own parameters."""
        requested = list(dict.fromkeys([*scopes, *self.preset.added_scopes])) if scopes else []
        params: list[tuple[str, str]] = []
        if requested:
            params.append(
                (self.preset.scope_parameter, self.preset.scope_separator.join(requested))
            )
        params += list(self.preset.added_parameters)
        return params


@dataclass(frozen=True)
class ApiKeyProvider:
    name: str
    api_key: str = field(repr=False)
    allowed_workloads: tuple[str, ...]


@dataclass
class _CachedMetadata:
    version: int
    fetched_at: float
    metadata: ProviderMetadata


class ProviderRegistry:
    """Credential providers over storage, with sealed secrets and cached metadata."""

    def __init__(
        self,
        database: Database,
        repository: ProviderRepository,
        sealer: Sealer,
        oauth: OAuthClient,
        clock: Clock,
        directory: Directory,
        *,
        metadata_max_age: int = MAX_METADATA_AGE,
    ) -> None:
        if not 0 < metadata_max_age <= MAX_METADATA_AGE:
            raise ValueError("metadata is cached for at most 24 hours (PRV-CFG-002)")
        self._database = database
        self._repository = repository
        self._sealer = sealer
        self._oauth = oauth
        self._clock = clock
        self._directory = directory
        self._max_age = metadata_max_age
        self._lock = threading.Lock()
        self._metadata: dict[str, _CachedMetadata] = {}

    @property
    def repository(self) -> ProviderRepository:
        return self._repository

    # -- OAuth 2.0 providers: CRUD --------------------------------------------------

    def parse_oauth2(self, body: Mapping[str, Any]) -> OAuth2ProviderSpec:
        """A request body as a checked specification (``invalid_request_body`` or
        ``validation_failed``); read-only members are ignored."""
        data = {k: v for k, v in body.items() if k not in _READ_ONLY}
        spec = parse_model(OAuth2ProviderSpec, data)
        _check_oauth2(spec, self._oauth.allow_loopback_http)
        return spec

    def _seal(self, kind: ProviderKind, name: str, secret: str) -> tuple[bytes, str]:
        return self._sealer.seal(_secret_identity(kind, name), {"secret": secret})

    def create_oauth2(
        self, spec: OAuth2ProviderSpec, *, tx: Transaction | None = None
    ) -> ProviderRecord:
        secret = (
            None
            if spec.client_secret is None
            else self._seal("oauth2", spec.name, spec.client_secret)
        )
        if spec.client_auth_method == "private_key_jwt":
            secret = None
        return self._repository.create("oauth2", spec.name, _stored_oauth2(spec), secret, tx=tx)

    def replace_oauth2(
        self, name: str, spec: OAuth2ProviderSpec, *, tx: Transaction | None = None
    ) -> ProviderRecord:
        """PRV-CFG-003: keep the secret when none is given; a new ``client_id`` needs a new
        secret (the stored one belongs to the old client)."""
        if spec.name != name:
            raise _field_error("name", "must equal the name in the path")
        with in_transaction(self._database, tx) as t:
            current = self._repository.get("oauth2", name, tx=t)
            if current is None:
                raise NotFound("No provider has that name.", code="provider_not_found")
            update: SecretUpdate = KEEP
            if spec.client_auth_method == "private_key_jwt":
                update = None
            elif spec.client_secret is not None:
                update = self._seal("oauth2", name, spec.client_secret)
            elif current.config.get("client_id") != spec.client_id or current.secret is None:
                raise _field_error("client_secret", "a new client_id needs its client secret")
            record = self._repository.replace("oauth2", name, _stored_oauth2(spec), update, tx=t)
        self.forget_metadata(name)
        return record

    def _parse_oauth2_without_secret_check(self, body: Mapping[str, Any]) -> OAuth2ProviderSpec:
        data = {k: v for k, v in body.items() if k not in _READ_ONLY}
        return parse_model(OAuth2ProviderSpec, data)

    def parse_oauth2_replace(self, body: Mapping[str, Any]) -> OAuth2ProviderSpec:
        """A replace body: like :meth:`parse_oauth2`, but the secret may be omitted."""
        spec = self._parse_oauth2_without_secret_check(body)
        probe = spec
        if spec.client_secret is None and spec.client_auth_method != "private_key_jwt":
            probe = spec.model_copy(update={"client_secret": "kept"})
        _check_oauth2(probe, self._oauth.allow_loopback_http)
        return spec

    def get_oauth2(self, name: str, *, tx: Transaction | None = None) -> ProviderRecord:
        record = self._repository.get("oauth2", name, tx=tx)
        if record is None:
            raise NotFound("No provider has that name.", code="provider_not_found")
        return record

    def list_oauth2(
        self, *, limit: int = DEFAULT_LIMIT, next_token: str | None = None
    ) -> Page[ProviderRecord]:
        return self._repository.list("oauth2", limit=limit, next_token=next_token)

    # -- API-key providers: CRUD ------------------------------------------------------

    def parse_api_key(
        self, body: Mapping[str, Any], *, replace: bool = False
    ) -> ApiKeyProviderSpec:
        data = {k: v for k, v in body.items() if k not in _READ_ONLY}
        spec = parse_model(ApiKeyProviderSpec, data)
        if not is_name(spec.name):
            raise _field_error("name", "3-64 characters matching ^[A-Za-z0-9][A-Za-z0-9_.-]*$")
        if spec.api_key is None and not replace:
            raise _field_error("api_key", "is required")
        if len(set(spec.allowed_workloads)) != len(spec.allowed_workloads):
            raise _field_error("allowed_workloads", "names must be distinct")
        return spec

    def _check_workloads(self, spec: ApiKeyProviderSpec, tx: Transaction) -> None:
        """PRV-KEY-001: every allowed workload exists when the provider is written."""
        for position, workload in enumerate(spec.allowed_workloads):
            if not is_name(workload) or self._directory.find(workload, tx=tx) is None:
                raise ValidationFailed(
                    "allowed_workloads names a workload that does not exist.",
                    errors=[
                        {"field": f"allowed_workloads/{position}", "message": "no such workload"}
                    ],
                )

    def create_api_key(
        self, spec: ApiKeyProviderSpec, *, tx: Transaction | None = None
    ) -> ProviderRecord:
        assert spec.api_key is not None  # parse_api_key requires it on create
        with in_transaction(self._database, tx) as t:
            self._check_workloads(spec, t)
            config = {"allowed_workloads": list(spec.allowed_workloads)}
            secret = self._seal("api_key", spec.name, spec.api_key)
            return self._repository.create("api_key", spec.name, config, secret, tx=t)

    def replace_api_key(
        self, name: str, spec: ApiKeyProviderSpec, *, tx: Transaction | None = None
    ) -> ProviderRecord:
        if spec.name != name:
            raise _field_error("name", "must equal the name in the path")
        with in_transaction(self._database, tx) as t:
            if self._repository.get("api_key", name, tx=t) is None:
                raise NotFound("No provider has that name.", code="provider_not_found")
            self._check_workloads(spec, t)
            config = {"allowed_workloads": list(spec.allowed_workloads)}
            update: SecretUpdate = (
                KEEP if spec.api_key is None else self._seal("api_key", name, spec.api_key)
            )
            return self._repository.replace("api_key", name, config, update, tx=t)

    def get_api_key(self, name: str, *, tx: Transaction | None = None) -> ProviderRecord:
        record = self._repository.get("api_key", name, tx=tx)
        if record is None:
            raise NotFound("No provider has that name.", code="provider_not_found")
        return record

    def list_api_key(
        self, *, limit: int = DEFAULT_LIMIT, next_token: str | None = None
    ) -> Page[ProviderRecord]:
        return self._repository.list("api_key", limit=limit, next_token=next_token)

    def delete_api_key(self, name: str, *, tx: Transaction | None = None) -> None:
        """PRV-KEY-001: deleting the provider deletes the key (the row holds it)."""
        if self._repository.delete("api_key", name, tx=tx) is None:
            raise NotFound("No provider has that name.", code="provider_not_found")

    # -- runtime ------------------------------------------------------------------------

    def _open_secret(self, record: ProviderRecord) -> str | None:
        if record.secret is None:
            return None
        try:
            value = self._sealer.open(_secret_identity(record.kind, record.name), record.secret)
        except DecryptionError:
            return None
        secret = value.get("secret")
        return secret if isinstance(secret, str) else None

    def oauth2_provider(self, name: str, *, tx: Transaction | None = None) -> OAuth2Provider:
        """The provider named ``name`` with its secret, or 404 ``provider_not_found``."""
        record = self._repository.get("oauth2", name, tx=tx) if is_name(name) else None
        if record is None:
            raise NotFound("No provider has that name.", code="provider_not_found")
        return self.provider_from_record(record)

    def provider_from_record(self, record: ProviderRecord) -> OAuth2Provider:
        config = record.config
        secret = self._open_secret(record)
        method: ClientAuthMethod = config["client_auth_method"]
        if method != "private_key_jwt" and secret is None:
            # VLT-ENC-002: a secret that does not open is treated as absent.
            raise UpstreamError(
                "The provider's client credentials are not usable.",
                detail="decryption_failed",
            )
        explicit = config.get("authorization_server_metadata")
        return OAuth2Provider(
            name=record.name,
            version=record.version,
            preset=preset(config["vendor"]),
            tenant=config.get("tenant"),
            discovery_url=config.get("discovery_url"),
            explicit=(
                None
                if explicit is None
                else ProviderMetadata(
                    issuer=explicit["issuer"],
                    authorization_endpoint=explicit["authorization_endpoint"],
                    token_endpoint=explicit["token_endpoint"],
                    revocation_endpoint=explicit.get("revocation_endpoint"),
                )
            ),
            client_id=config["client_id"],
            client_secret=secret,
            client_auth_method=method,
            scopes=tuple(config.get("scopes", [])),
            on_behalf_of=config.get("on_behalf_of"),
        )

    def api_key_provider(self, name: str) -> ApiKeyProvider | None:
        """The API-key provider with its key, or ``None`` (absent, or not openable)."""
        record = self._repository.get("api_key", name) if is_name(name) else None
        if record is None:
            return None
        key = self._open_secret(record)
        if key is None:
            return None
        return ApiKeyProvider(record.name, key, tuple(record.config.get("allowed_workloads", [])))

    # -- metadata (PRV-CFG-001/002, PRV-VEND-001/002) ----------------------------------

    def forget_metadata(self, name: str) -> None:
        with self._lock:
            self._metadata.pop(name, None)

    def metadata(self, provider: OAuth2Provider) -> ProviderMetadata:
        """The provider's endpoints: explicit, built in, or discovered and validated
        (cached at most 24 hours per provider version). 502 ``upstream_error`` when the
        discovered document cannot be used; no other endpoint is then contacted."""
        if provider.explicit is not None:
            return self._without_revocation(provider, provider.explicit)
        discovery_url = provider.discovery_url
        if discovery_url is None and provider.preset.discovery is not None:
            discovery_url = provider.preset.discovery(provider.tenant)
        if discovery_url is None:
            assert provider.preset.builtin is not None  # a preset has one or the other
            return provider.preset.builtin
        now = self._clock.now()
        with self._lock:
            cached = self._metadata.get(provider.name)
        if (
            cached is not None
            and cached.version == provider.version
            and now - cached.fetched_at < self._max_age
        ):
            return cached.metadata
        document = self._oauth.fetch_metadata(discovery_url)
        metadata = self._validate(provider, discovery_url, document)
        with self._lock:
            self._metadata[provider.name] = _CachedMetadata(provider.version, now, metadata)
        return metadata

    def _without_revocation(
        self, provider: OAuth2Provider, metadata: ProviderMetadata
    ) -> ProviderMetadata:
        if provider.preset.revokes or metadata.revocation_endpoint is None:
            return metadata
        return ProviderMetadata(
            metadata.issuer,
            metadata.authorization_endpoint,
            metadata.token_endpoint,
            None,
            metadata.iss_parameter_supported,
        )

    def _validate(
        self, provider: OAuth2Provider, discovery_url: str, document: Mapping[str, Any]
    ) -> ProviderMetadata:
        """PRV-CFG-002 (RFC 8414 §3.3): the issuer must be the one the URL names (or the
        preset's documented template), and every endpoint used must be a usable URL."""
        expected = expected_issuer_from_discovery_url(discovery_url)
        issuer = document.get("issuer")
        if not isinstance(issuer, str):
            raise UpstreamError("The provider's metadata has no issuer.")
        if issuer != expected and not (
            provider.preset.issuer_ok is not None
            and provider.preset.issuer_ok(expected, issuer, provider.tenant)
        ):
            raise UpstreamError(
                "The provider's metadata names another issuer.", detail="issuer mismatch"
            )
        endpoints: dict[str, str | None] = {}
        for name in ("authorization_endpoint", "token_endpoint", "revocation_endpoint"):
            value = document.get(name)
            if value is None:
                endpoints[name] = None
                continue
            if not isinstance(value, str):
                raise UpstreamError("The provider's metadata is malformed.", detail=name)
            try:
                check_url(
                    value,
                    name,
                    allow_loopback_http=self._oauth.allow_loopback_http,
                    query=True,
                )
            except ValueError as exc:
                raise UpstreamError(
                    "The provider's metadata names an unusable endpoint.", detail=name
                ) from exc
            endpoints[name] = value
        token_endpoint = endpoints["token_endpoint"]
        if token_endpoint is None:
            raise UpstreamError("The provider's metadata has no token endpoint.")
        return ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=token_endpoint,
            revocation_endpoint=(
                endpoints["revocation_endpoint"] if provider.preset.revokes else None
            ),
            iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
            is True,
        )

    def issuer_matches(
        self, provider: OAuth2Provider, metadata: ProviderMetadata, iss: str
    ) -> bool:
        """VLT-CB-003 (RFC 9207 §2.4): simple string comparison with the provider's
        issuer; for a templated issuer (Microsoft), the template's shape."""
        if iss == metadata.issuer:
            return True
        if "{tenantid}" in metadata.issuer:
            prefix, _, suffix = metadata.issuer.partition("{tenantid}")
            middle = iss[len(prefix) : len(iss) - len(suffix)] if len(iss) > len(prefix) else ""
            return (
                iss.startswith(prefix)
                and iss.endswith(suffix)
                and _GUID.fullmatch(middle) is not None
            )
        return False
