"""``target.yaml``: how the kit reaches a target and what the target declares.

Example::

    url: https://sts.example.com          # the issuer identifier, exactly
    profile: rfc8693                      # proctor | agentcore | rfc8693
    capabilities: [metadata, jwks, client_credentials, token_exchange]
    credentials:
      admin_token: ${PROCTOR_ADMIN_TOKEN} # control-plane credential (profile proctor)
      clients:
        orchestrator:
          client_id: conformance-orchestrator
          client_secret: ${ORCHESTRATOR_SECRET}
          auth_method: client_secret_basic
    endpoints:
      token: /oauth2/token                # overrides; default: read from the metadata
    subject_token:                        # rfc8693: where subject tokens come from
      source: command
      command: [./get-user-token.sh]
    audiences: [https://crm.example.com]

``${NAME}`` is replaced by the environment variable ``NAME`` (so secrets stay out of the
file); an unset variable is a configuration error. Unknown keys are errors too
(``extra="forbid"``): a misspelt option must not silently change what is tested.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from proctor.conformance.capabilities import CAPABILITIES, unknown_capabilities
from proctor.conformance.errors import ConfigError

__all__ = [
    "PROFILES",
    "AgentCoreTarget",
    "AwsCredentials",
    "ClientCredentials",
    "ClientCredentialsSubjectToken",
    "CommandSubjectToken",
    "Credentials",
    "Endpoints",
    "MockIdpSubjectToken",
    "MockIdps",
    "Profile",
    "TargetConfig",
    "load_config",
    "parse_config",
]

Profile = Literal["proctor", "agentcore", "rfc8693"]
PROFILES: tuple[Profile, ...] = ("proctor", "agentcore", "rfc8693")

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not have a query or fragment")
    return value


class ClientCredentials(_Model):
    """A client registered at the target (or at a mock IdP) for the kit to use.

    ``private_key_jwt`` clients (RFC 7523 §2.2) give ``private_key``: an unencrypted PEM
    EC P-256 or RSA private key whose public part is registered at the target, and
    optionally the ``key_id`` it is registered under.
    """

    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    auth_method: Literal["client_secret_basic", "client_secret_post", "none", "private_key_jwt"] = (
        "client_secret_basic"
    )
    private_key: SecretStr | None = None
    key_id: str | None = None

    @field_validator("private_key")
    @classmethod
    def _pem(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and "PRIVATE KEY-----" not in value.get_secret_value():
            raise ValueError("private_key must be a PEM private key")
        return value


class Credentials(_Model):
    admin_token: SecretStr | None = Field(
        default=None, description="control-plane credential (Authorization: Bearer)"
    )
    clients: dict[str, ClientCredentials] = Field(default_factory=dict)


class Endpoints(_Model):
    """Where the target serves what; paths are relative to ``url``, or absolute URLs.

    ``metadata`` defaults to the RFC 8414 §3.1 construction from the issuer; the others
    default to what the metadata document says (``None`` here).
    """

    metadata: str | None = None
    jwks: str | None = None
    token: str | None = None
    introspection: str | None = None
    revocation: str | None = None
    api: str = "/v1"


class MockIdpSubjectToken(_Model):
    """Obtain a subject token from a mock IdP with the client_credentials grant."""

    source: Literal["mock_idp"]
    idp: str = Field(min_length=1, description="a key of mock_idps.issuers")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    scope: str | None = None


class ClientCredentialsSubjectToken(_Model):
    """Use an access token the target itself issues to one of the configured clients."""

    source: Literal["client_credentials"]
    client: str = Field(min_length=1, description="a key of credentials.clients")
    scope: str | None = None


class CommandSubjectToken(_Model):
    """Run a command that prints a subject token on stdout (nothing else)."""

    source: Literal["command"]
    command: list[str] = Field(min_length=1)
    timeout: float = Field(default=30.0, gt=0)


SubjectTokenSource = Annotated[
    MockIdpSubjectToken | ClientCredentialsSubjectToken | CommandSubjectToken,
    Field(discriminator="source"),
]


class MockIdps(_Model):
    """The mock identity providers the target must trust for the kit's user tokens.

    ``issuers`` maps a name (``okta``, ``entra``, ``cognito``, ...) to the issuer URL the
    target must trust; ``audience`` is the audience the kit's user tokens carry.
    """

    issuers: dict[str, str] = Field(default_factory=dict)
    audience: str | None = None

    @field_validator("issuers")
    @classmethod
    def _issuer_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            _check_http_url(url, f"mock_idps.issuers.{name}")
        return value


class AwsCredentials(_Model):
    """Static AWS credentials the kit signs with (SigV4, signing name ``bedrock-agentcore``)."""

    access_key_id: str = Field(min_length=1)
    secret_access_key: SecretStr
    session_token: SecretStr | None = None


class AgentCoreTarget(_Model):
    """Profile ``agentcore``: how the kit reaches the target through boto3 (see
    ``docs/conformance/agentcore.md`` and :mod:`proctor.conformance.agentcore`).

    The endpoints default to ``url``. ``credentials`` sign as the admin principal (every
    operation of both planes); ``workload_principals`` maps workload identity names the kit
    creates to credentials limited to that workload. ``dev_mode`` says the target accepts
    any signature and may register return URLs and scopes on first use (proctor's
    ``PROCTOR_AGENTCORE_DEV_MODE``), so the checks of those rules are skipped.
    ``jwt_workload`` is a workload identity the operator set up to trust the user tokens of
    mock IdP ``user_idp``; ``oauth_provider`` is the base URL of the kit's mock OAuth
    provider.
    """

    region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]+$")
    data_endpoint: str | None = None
    control_endpoint: str | None = None
    credentials: AwsCredentials | None = None
    dev_mode: bool = False
    workload_principals: dict[str, AwsCredentials] = Field(default_factory=dict)
    jwt_workload: str | None = None
    user_idp: str | None = None
    oauth_provider: str | None = None
    return_url: str = "http://localhost:8081/oauth2/callback"

    @field_validator("data_endpoint", "control_endpoint", "oauth_provider")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value, "agentcore endpoint")

    def secrets(self) -> list[str]:
        found = []
        for keys in [self.credentials, *self.workload_principals.values()]:
            if keys is None:
                continue
            found.append(keys.secret_access_key.get_secret_value())
            if keys.session_token is not None:
                found.append(keys.session_token.get_secret_value())
        return found


JSONScalar = str | int | float | bool | None


class TargetConfig(_Model):
    url: str | None = Field(default=None, description="the target's issuer identifier")
    profile: Profile = "proctor"
    capabilities: list[str] = Field(default_factory=list)
    credentials: Credentials = Field(default_factory=Credentials)
    endpoints: Endpoints = Field(default_factory=Endpoints)
    subject_token: SubjectTokenSource | None = None
    mock_idps: MockIdps = Field(default_factory=MockIdps)
    audiences: list[str] = Field(
        default_factory=list, description="audiences/resources the kit's clients may request"
    )
    agentcore: AgentCoreTarget = Field(default_factory=AgentCoreTarget)
    timeout: float = Field(default=10.0, gt=0, description="seconds per HTTP request")
    verify_tls: bool = True
    suite_options: dict[str, dict[str, JSONScalar | list[JSONScalar]]] = Field(
        default_factory=dict, description="per-suite settings, documented by each suite"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_http_url(value, "url")

    @field_validator("capabilities")
    @classmethod
    def _capabilities(cls, value: list[str]) -> list[str]:
        unknown = unknown_capabilities(value)
        if unknown:
            known = ", ".join(sorted(CAPABILITIES))
            raise ValueError(f"unknown capabilities {unknown}; known: {known}")
        if len(set(value)) != len(value):
            raise ValueError("capabilities are listed more than once")
        return value

    def revealed(self) -> dict[str, Any]:
        """This config as plain data, secrets included (for a worker process only)."""

        def plain(value: Any) -> Any:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, dict):
                return {key: plain(item) for key, item in value.items()}
            if isinstance(value, list):
                return [plain(item) for item in value]
            return value

        result: dict[str, Any] = plain(self.model_dump(mode="python"))
        return result

    def secrets(self) -> list[str]:
        """Every secret value in this config (for the redactor)."""
        found: list[str] = []
        if self.credentials.admin_token is not None:
            found.append(self.credentials.admin_token.get_secret_value())
        for client in self.credentials.clients.values():
            if client.client_secret is not None:
                found.append(client.client_secret.get_secret_value())
            if client.private_key is not None:
                found.append(client.private_key.get_secret_value())
        source = self.subject_token
        if isinstance(source, MockIdpSubjectToken) and source.client_secret is not None:
            found.append(source.client_secret.get_secret_value())
        found += self.agentcore.secrets()
        return found


def _interpolate(value: Any, environ: dict[str, str] | os._Environ[str]) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(f"environment variable {name} is not set")
            return environ[name]

        return _ENV_REFERENCE.sub(replace, value)
    if isinstance(value, list):
        return [_interpolate(item, environ) for item in value]
    if isinstance(value, dict):
        return {key: _interpolate(item, environ) for key, item in value.items()}
    return value


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def parse_config(
    data: object,
    *,
    source: str = "target config",
    environ: dict[str, str] | None = None,
    interpolate: bool = True,
) -> TargetConfig:
    """Validate an already-parsed YAML/JSON document (``${VAR}`` interpolated first)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    if interpolate:
        data = _interpolate(data, os.environ if environ is None else environ)
    try:
        return TargetConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{source} is invalid:\n{_describe(error)}") from None


def load_config(path: Path, *, environ: dict[str, str] | None = None) -> TargetConfig:
    """Read and validate ``target.yaml``; every problem is a :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read target config {path}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return parse_config(data, source=str(path), environ=environ)
