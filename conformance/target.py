"""The target: the service under test, as the checks see it.

Checks receive a :class:`Target` through the ``proctor_target`` fixture. It carries the
base URL (the issuer identifier), the profile, the declared capabilities, the
credentials, the mock IdPs' URLs and one :class:`httpx.Client` whose every exchange is
recorded as redacted evidence for the check that made it.

How the kit *reaches* the target is a :class:`TargetConnection`: a URL over the network,
or a URL plus an in-process transport (an ASGI app through
:class:`~proctor.conformance.transport.ASGIBridge`). A ``target_factory`` given to the
runner returns one inside a context manager, so it can start and stop what it serves.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

import httpx

from proctor.conformance.config import (
    ClientCredentials,
    ClientCredentialsSubjectToken,
    CommandSubjectToken,
    MockIdpSubjectToken,
    Profile,
    TargetConfig,
)
from proctor.conformance.errors import InfrastructureError
from proctor.conformance.evidence import Recorder, Redactor
from proctor.conformance.transport import RecordingTransport

__all__ = ["Target", "TargetConnection", "TargetFactory", "metadata_url"]

WELL_KNOWN_AS = "/.well-known/oauth-authorization-server"


@dataclass(frozen=True)
class TargetConnection:
    """How to reach a target.

    ``transport`` ``None`` means the real network. ``mounts`` route other origins (e.g.
    in-process mock IdPs, ``{"http://okta.test": transport}``) as :class:`httpx.Client`
    mounts do. ``label`` is how reproduction commands name the target (default: the URL).
    ``config``, when set, replaces the runner's target config: a factory that starts the
    target itself (the embedded reference) knows its URL, credentials and capabilities
    only once it runs. ``embedded`` says the target lives only for this run, so
    reproduction commands name no ``--target``.
    """

    base_url: str
    transport: httpx.BaseTransport | None = None
    mounts: Mapping[str, httpx.BaseTransport] = field(default_factory=dict)
    idp_urls: Mapping[str, str] = field(default_factory=dict)
    label: str | None = None
    config: TargetConfig | None = None
    embedded: bool = False


#: Given the target config, a context manager that starts what is needed and yields the
#: connection (the runner's hook for the embedded target).
TargetFactory = Callable[[TargetConfig], AbstractContextManager[TargetConnection]]


def metadata_url(issuer: str, suffix: str = WELL_KNOWN_AS) -> str:
    """The RFC 8414 §3.1 metadata URL of ``issuer``.

    The well-known suffix goes between the host and the path component, after any
    terminating ``/`` of the path is removed: ``https://as.example/t1`` gives
    ``https://as.example/.well-known/oauth-authorization-server/t1``.
    """
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, suffix + path, "", ""))


class Target:
    """The target under test, with a recording HTTP client."""

    def __init__(self, config: TargetConfig, connection: TargetConnection) -> None:
        config = connection.config or config
        self.config = config
        self.base_url: str = connection.base_url
        self.profile: Profile = config.profile
        self.capabilities: frozenset[str] = frozenset(config.capabilities)
        self.credentials = config.credentials
        self.label: str = connection.label or connection.base_url
        self.embedded: bool = connection.embedded
        self.idp_urls: dict[str, str] = {**config.mock_idps.issuers, **connection.idp_urls}
        self.redactor = Redactor(config.secrets())
        self.recorder = Recorder(self.redactor)
        inner = connection.transport or httpx.HTTPTransport(verify=config.verify_tls)
        self.client = httpx.Client(
            transport=RecordingTransport(inner, self.recorder),
            mounts={
                pattern: RecordingTransport(transport, self.recorder)
                for pattern, transport in connection.mounts.items()
            },
            timeout=config.timeout,
            follow_redirects=False,
        )

    # -- what the target declares -------------------------------------------------------

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    # -- where things are ---------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        """An absolute URL: ``path_or_url`` itself, or a path under the base URL."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url.rstrip('/')}/{path_or_url.lstrip('/')}"

    @property
    def metadata_url(self) -> str:
        """Where the RFC 8414 metadata is fetched (``endpoints.metadata`` overrides)."""
        override = self.config.endpoints.metadata
        return self.url(override) if override else metadata_url(self.base_url)

    def metadata(self) -> dict[str, Any]:
        """Fetch the metadata document; :class:`InfrastructureError` if unusable."""
        response = self.client.get(self.metadata_url)
        if response.status_code != 200:
            raise InfrastructureError(
                f"metadata at {self.metadata_url} answered HTTP {response.status_code}"
            )
        try:
            document = response.json()
        except ValueError:
            raise InfrastructureError(f"metadata at {self.metadata_url} is not JSON") from None
        if not isinstance(document, dict):
            raise InfrastructureError(f"metadata at {self.metadata_url} is not a JSON object")
        return document

    def endpoint(self, name: str) -> str:
        """The URL of ``token``, ``introspection``, ``revocation`` or ``jwks``.

        The ``endpoints`` override wins; otherwise the metadata document says.
        """
        override = getattr(self.config.endpoints, name, None)
        if isinstance(override, str) and override:
            return self.url(override)
        member = "jwks_uri" if name == "jwks" else f"{name}_endpoint"
        value = self.metadata().get(member)
        if not isinstance(value, str) or not value:
            raise InfrastructureError(
                f"cannot locate the {name} endpoint: the metadata has no {member!r}; "
                f"set endpoints.{name} in the target config"
            )
        return value

    # -- credentials --------------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """Keep ``value`` out of every evidence record, message and report."""
        self.redactor.add_secret(value)

    def admin_headers(self) -> dict[str, str]:
        token = self.credentials.admin_token
        if token is None:
            raise InfrastructureError("no credentials.admin_token in the target config")
        return {"Authorization": f"Bearer {token.get_secret_value()}"}

    def client_credentials(self, name: str) -> ClientCredentials:
        try:
            return self.credentials.clients[name]
        except KeyError:
            raise InfrastructureError(
                f"no client {name!r} under credentials.clients in the target config"
            ) from None

    def client_auth(self, name: str) -> tuple[dict[str, str], dict[str, str]]:
        """Headers and form fields authenticating client ``name`` (RFC 6749 §2.3.1)."""
        return _client_auth(self.client_credentials(name))

    def subject_token(self) -> str:
        """A subject token for token exchange, from the configured source."""
        source = self.config.subject_token
        if source is None:
            raise InfrastructureError("no subject_token source in the target config")
        if isinstance(source, CommandSubjectToken):
            token = self._token_from_command(source)
        elif isinstance(source, ClientCredentialsSubjectToken):
            token = self._client_credentials_token(
                self.endpoint("token"), self.client_credentials(source.client), source.scope
            )
        else:
            token = self._mock_idp_token(source)
        self.add_secret(token)
        return token

    def _token_from_command(self, source: CommandSubjectToken) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - the operator's own configured command
                source.command,
                capture_output=True,
                text=True,
                timeout=source.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise InfrastructureError(f"subject_token command failed: {error}") from None
        token = done.stdout.strip()
        if done.returncode != 0 or not token:
            raise InfrastructureError(
                f"subject_token command exited {done.returncode} and printed "
                f"{'nothing' if not token else 'a token'} on stdout"
            )
        return token

    def _mock_idp_token(self, source: MockIdpSubjectToken) -> str:
        issuer = self.idp_urls.get(source.idp)
        if issuer is None:
            raise InfrastructureError(f"no mock IdP {source.idp!r} under mock_idps.issuers")
        discovery = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        response = self.client.get(discovery)
        token_endpoint = response.json().get("token_endpoint") if response.is_success else None
        if not isinstance(token_endpoint, str):
            raise InfrastructureError(f"mock IdP {source.idp!r}: no token_endpoint at {discovery}")
        client = ClientCredentials(
            client_id=source.client_id,
            client_secret=source.client_secret,
            auth_method="client_secret_post",
        )
        return self._client_credentials_token(token_endpoint, client, source.scope)

    def _client_credentials_token(
        self, token_endpoint: str, client: ClientCredentials, scope: str | None
    ) -> str:
        headers, form = _client_auth(client)
        form["grant_type"] = "client_credentials"
        if scope:
            form["scope"] = scope
        response = self.client.post(token_endpoint, data=form, headers=headers)
        token = response.json().get("access_token") if response.is_success else None
        if not isinstance(token, str) or not token:
            raise InfrastructureError(
                f"client_credentials at {token_endpoint} for {client.client_id!r} "
                f"answered HTTP {response.status_code} without an access_token"
            )
        return token

    def close(self) -> None:
        self.client.close()


def _client_auth(client: ClientCredentials) -> tuple[dict[str, str], dict[str, str]]:
    secret = client.client_secret.get_secret_value() if client.client_secret else ""
    if client.auth_method == "client_secret_basic":
        # RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
        pair = f"{quote_plus(client.client_id)}:{quote_plus(secret)}"
        return {"Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}"}, {}
    form = {"client_id": client.client_id}
    if client.auth_method == "client_secret_post":
        form["client_secret"] = secret
    return {}, form
