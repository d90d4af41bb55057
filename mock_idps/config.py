"""What an emulated IdP knows: users, clients and APIs (vendor-neutral models).

A configuration is loaded from YAML (``proctor idp okta --config idp.yaml``), passed to
:func:`proctor.mock_idps.app.create_app`, or replaced at run time through the admin API
(``PUT /_mock/config``). Each vendor profile interprets it: for Okta every :class:`Api` is
a custom authorization server (``default`` has the audience ``api://default``); for Entra
an API is an app registration exposing scopes; for Cognito a resource server.

Grant types may be written as the short names below or as their full URIs:

==========================  ==================================================
short name                  grant_type value
==========================  ==================================================
``authorization_code``      ``authorization_code``
``refresh_token``           ``refresh_token``
``client_credentials``      ``client_credentials``
``device_code``             ``urn:ietf:params:oauth:grant-type:device_code``
``token_exchange``          ``urn:ietf:params:oauth:grant-type:token-exchange``
``jwt_bearer``              ``urn:ietf:params:oauth:grant-type:jwt-bearer``
==========================  ==================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "DEVICE_CODE",
    "GRANT_ALIASES",
    "JWT_BEARER",
    "TOKEN_EXCHANGE",
    "Api",
    "Client",
    "IdpConfig",
    "User",
    "load_config",
]

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

GRANT_ALIASES: Mapping[str, str] = {
    "authorization_code": "authorization_code",
    "refresh_token": "refresh_token",
    "client_credentials": "client_credentials",
    "device_code": DEVICE_CODE,
    "token_exchange": TOKEN_EXCHANGE,
    "jwt_bearer": JWT_BEARER,
}
_KNOWN_GRANTS = frozenset(GRANT_ALIASES.values())

ClientAuthMethod = Literal["client_secret_basic", "client_secret_post"]
_SECRET_METHODS: tuple[ClientAuthMethod, ...] = ("client_secret_basic", "client_secret_post")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class User(_Model):
    """A person who can sign in. ``username`` is the login (Okta: an email address)."""

    username: str = Field(min_length=1)
    password: str = Field(min_length=1)
    id: str | None = None
    """Vendor-shaped immutable ID (Okta ``00u…``); derived from ``username`` when absent."""
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    """Defaults to ``username`` when that looks like an email address."""
    email_verified: bool = True
    groups: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    """Further profile attributes; API claim rules can copy them into tokens."""
    vendor: dict[str, Any] = Field(default_factory=dict)

    @property
    def mail(self) -> str | None:
        if self.email is not None:
            return self.email
        return self.username if "@" in self.username else None


class Client(_Model):
    """An OAuth client (application). No ``client_secret`` means a public client."""

    client_id: str = Field(min_length=1)
    client_secret: str | None = None
    name: str = ""
    redirect_uris: list[str] = Field(default_factory=list)
    post_logout_redirect_uris: list[str] = Field(default_factory=list)
    grant_types: list[str] = Field(default_factory=lambda: ["authorization_code", "refresh_token"])
    auth_methods: list[ClientAuthMethod] = Field(default_factory=lambda: list(_SECRET_METHODS))
    """How a confidential client may authenticate at the token endpoint (RFC 6749 §2.3.1)."""
    require_pkce: bool = False
    """Public clients always need PKCE; this makes confidential clients need it too."""
    consent: bool = True
    """Show the consent screen (once per user, client and scope set)."""
    scopes: list[str] | None = None
    """Scopes this client may be granted (an access policy); ``None`` allows all."""
    assigned_users: list[str] | None = None
    """Usernames assigned to the app; ``None`` assigns everyone."""
    refresh_rotation: bool = True
    """Rotate the refresh token on every use (reuse then revokes the whole family)."""
    vendor: dict[str, Any] = Field(default_factory=dict)

    @property
    def public(self) -> bool:
        return self.client_secret is None

    @field_validator("grant_types")
    @classmethod
    def _grants(cls, value: list[str]) -> list[str]:
        out = []
        for g in value:
            full = GRANT_ALIASES.get(g, g)
            if full not in _KNOWN_GRANTS:
                raise ValueError(f"unknown grant type {g!r}")
            out.append(full)
        return out


class Api(_Model):
    """A protected API: an audience with scopes (Okta: a custom authorization server)."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = ""
    audience: str = Field(min_length=1)
    scopes: list[str] = Field(default_factory=list)
    default_scopes: list[str] = Field(default_factory=list)
    """Granted when a client_credentials request names no scope."""
    claims: dict[str, str] = Field(default_factory=dict)
    """Access-token claims: name to ``user.<field>`` (``user.groups``) or a literal."""
    id_token_claims: dict[str, str] = Field(default_factory=dict)
    """ID-token claims, the same way."""
    clients: list[str] | None = None
    """Access policy: the client IDs this API serves; ``None`` serves every client."""
    trusted_servers: list[str] = Field(default_factory=list)
    """API ids whose access tokens this one accepts as RFC 8693 subject tokens."""
    access_token_lifetime: int | None = Field(default=None, ge=60, le=86_400)
    refresh_token_lifetime: int | None = Field(default=None, ge=60)
    vendor: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _defaults_are_scopes(self) -> Api:
        unknown = set(self.default_scopes) - set(self.scopes)
        if unknown:
            raise ValueError(f"default_scopes not in scopes: {sorted(unknown)}")
        return self


class IdpConfig(_Model):
    """Everything an emulator serves. All lists may be empty."""

    users: list[User] = Field(default_factory=list)
    clients: list[Client] = Field(default_factory=list)
    apis: list[Api] = Field(default_factory=list)
    headless_user: str | None = None
    """Auto-approve authorization and device requests as this user (no pages shown)."""
    refresh_reuse_grace: int = Field(default=0, ge=0, le=60)
    """Seconds a rotated refresh token stays usable (Okta allows 0-60; 0 is strict)."""
    vendor: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_and_consistent(self) -> IdpConfig:
        for label, names in (
            ("username", [u.username for u in self.users]),
            ("client_id", [c.client_id for c in self.clients]),
            ("api id", [a.id for a in self.apis]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {label}: {dupes}")
        usernames = {u.username for u in self.users}
        if self.headless_user is not None and self.headless_user not in usernames:
            raise ValueError(f"headless_user {self.headless_user!r} is not a configured user")
        api_ids = {a.id for a in self.apis}
        for api in self.apis:
            if set(api.trusted_servers) - api_ids:
                raise ValueError(f"api {api.id!r} trusts unknown apis")
        return self

    def user(self, name: str) -> User | None:
        """The user whose username, ID or email is ``name``."""
        for u in self.users:
            if name in (u.username, u.id) or (u.mail is not None and name == u.mail):
                return u
        return None

    def client(self, client_id: str) -> Client | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    def api(self, api_id: str) -> Api | None:
        return next((a for a in self.apis if a.id == api_id), None)


def load_config(source: str | Path | Mapping[str, Any]) -> IdpConfig:
    """A configuration from a YAML/JSON file path, YAML text, or a mapping.

    Raises ``ValueError`` (a pydantic ``ValidationError``) when the content is invalid.
    """
    if isinstance(source, Mapping):
        return IdpConfig.model_validate(dict(source))
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    data = yaml.safe_load(text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError("an IdP configuration is a mapping with users, clients and apis")
    return IdpConfig.model_validate(data)
