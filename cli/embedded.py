"""The embedded reference: the reference service and the mock Okta, in process, and the
provisioning of what a scenario needs through the service's control plane.

``proctor chain``, ``proctor conform`` and ``proctor demo`` all need "a proctor service
to talk to" without asking the user to start one. :func:`embedded_reference` starts the
reference service (:meth:`proctor.reference.service.Service.create` on a throw-away
SQLite database) and the Okta emulator, both in this process and reached through
in-process transports (no socket is opened), and yields an :class:`EmbeddedReference`:

- ``reference.client()``: an :class:`httpx.Client` that reaches the service at its
  issuer URL and the mock Okta at its base URL;
- ``reference.control_plane(client)``: a :class:`ControlPlaneClient` holding the admin
  credential, for :func:`provision`.

Provisioning is plain HTTP against ``/v1/authorizers``, ``/v1/workloads`` and
``/v1/exchange-policies`` (spec 02, 03, 07) and works against any proctor service whose
admin credential the caller holds::

    with embedded_reference() as ref, ref.client() as http:
        control = ref.control_plane(http)
        agents = provision(
            control,
            authorizers=[ref.okta_authorizer()],
            workloads=[WorkloadSpec("orchestrator", authorizer="company-okta"),
                       WorkloadSpec("subagent", authorizer="company-okta")],
            policies=lambda made: [{
                "name": "orchestrator", "client": "orchestrator",
                "subject_issuers": [ref.okta_issuer, "self"],
                "audiences": [made["subagent"].client_id], "scopes": ["crm.read"]}],
        )
        agents["orchestrator"].client_secret   # shown once by the service, kept here

This module is wiring: it is the one place outside the tests that imports both the
reference service and the mock IdPs.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from proctor.conformance.transport import ASGIBridge
from proctor.mock_idps.app import create_app
from proctor.reference.service import Service
from proctor.reference.settings import Settings

__all__ = [
    "EMBEDDED_ISSUER",
    "OKTA_AUDIENCE",
    "OKTA_AUTHORIZER",
    "OKTA_BASE_URL",
    "ControlPlaneClient",
    "EmbeddedReference",
    "ProvisionedWorkload",
    "ProvisioningError",
    "WorkloadSpec",
    "embedded_reference",
    "provision",
]

#: The embedded service's issuer identifier (never served on a network).
EMBEDDED_ISSUER: Final = "https://proctor.embedded.test"
#: The Okta emulator's base URL in process (its ``default`` server is ``/oauth2/default``).
OKTA_BASE_URL: Final = "https://example.okta.com"
#: The audience of the emulator's ``default`` authorization server.
OKTA_AUDIENCE: Final = "api://default"
#: The name :meth:`EmbeddedReference.okta_authorizer` gives the Okta authorizer.
OKTA_AUTHORIZER: Final = "company-okta"


class ProvisioningError(Exception):
    """The control plane refused a provisioning request (the message says which)."""


@dataclass(frozen=True)
class WorkloadSpec:
    """A workload to register (spec 03): its name, the authorizer that validates the
    user tokens it presents, and how it authenticates at the token endpoint."""

    name: str
    authorizer: str | None = None
    auth_method: str = "client_secret_basic"


@dataclass(frozen=True)
class ProvisionedWorkload:
    """A registered workload and the secret the service showed once at creation."""

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    auth_method: str = "client_secret_basic"


class ControlPlaneClient:
    """The admin API of one proctor service (``Authorization: Bearer <admin>``)."""

    def __init__(self, client: httpx.Client, base_url: str, admin_token: str) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_token}"}

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._client.request(
            method, f"{self._base}{path}", json=body, headers=self._headers
        )
        if not response.is_success:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            detail = problem.get("detail") or problem.get("title") if problem else None
            raise ProvisioningError(
                f"{method} {path} answered HTTP {response.status_code}"
                + (f": {detail}" if detail else "")
            )
        return response.json() if response.content else None

    def create_authorizer(self, body: Mapping[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._call("POST", "/v1/authorizers", body)
        return created

    def create_workload(self, spec: WorkloadSpec) -> ProvisionedWorkload:
        body: dict[str, Any] = {
            "name": spec.name,
            "authorizer": spec.authorizer,
            "token_endpoint_auth_method": spec.auth_method,
        }
        created = self._call("POST", "/v1/workloads", body)
        secret = created.get("client_secret")
        if not isinstance(secret, str):
            raise ProvisioningError(f"workload {spec.name!r} was created without a secret")
        return ProvisionedWorkload(spec.name, created["client_id"], secret, spec.auth_method)

    def put_exchange_policy(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create the policy, or replace the one of the same name."""
        name = str(body["name"])
        try:
            created: dict[str, Any] = self._call("POST", "/v1/exchange-policies", body)
        except ProvisioningError as error:
            if "HTTP 409" not in str(error):
                raise
            replaced: dict[str, Any] = self._call("PUT", f"/v1/exchange-policies/{name}", body)
            return replaced
        return created


def provision(
    control: ControlPlaneClient,
    *,
    authorizers: Sequence[Mapping[str, Any]] = (),
    workloads: Sequence[WorkloadSpec] = (),
    policies: Sequence[Mapping[str, Any]]
    | Callable[[Mapping[str, ProvisionedWorkload]], Sequence[Mapping[str, Any]]] = (),
    existing: Mapping[str, ProvisionedWorkload] | None = None,
) -> dict[str, ProvisionedWorkload]:
    """Create the authorizers, then the workloads (skipping those in ``existing``), then
    the exchange policies (created, or replaced by name). ``policies`` may be a function
    of the workloads, since policy audiences are usually workloads' ``client_id`` values
    the service generates. Returns every workload by name, ``existing`` included."""
    for body in authorizers:
        control.create_authorizer(body)
    made: dict[str, ProvisionedWorkload] = dict(existing or {})
    for spec in workloads:
        if spec.name not in made:
            made[spec.name] = control.create_workload(spec)
    documents = policies(made) if callable(policies) else policies
    for document in documents:
        control.put_exchange_policy(document)
    return made


@dataclass
class EmbeddedReference:
    """The running embedded service and emulator (see :func:`embedded_reference`)."""

    service: Service
    issuer: str
    admin_token: str = field(repr=False)
    okta_url: str
    okta_issuer: str
    _service_transport: httpx.BaseTransport = field(repr=False)
    _okta_transport: httpx.BaseTransport = field(repr=False)

    def client(self, **kwargs: Any) -> httpx.Client:
        """A client reaching the service (default transport) and the mock Okta (its
        origin). Closing it leaves the transports open: they close with the context."""
        return httpx.Client(
            transport=_Unclosed(self._service_transport),
            mounts={f"{self.okta_url}/": _Unclosed(self._okta_transport)},
            **kwargs,
        )

    def control_plane(self, client: httpx.Client) -> ControlPlaneClient:
        return ControlPlaneClient(client, self.issuer, self.admin_token)

    def okta_authorizer(self, name: str = OKTA_AUTHORIZER) -> dict[str, Any]:
        """An authorizer for the emulator's ``default`` server (spec 02, Okta profile)."""
        return {
            "name": name,
            "discovery_url": f"{self.okta_issuer}/.well-known/openid-configuration",
            "idp_profile": "okta",
            "allowed_audiences": [OKTA_AUDIENCE],
        }


class _Unclosed(httpx.BaseTransport):
    """A shared transport that a client's ``close()`` must not close."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)


@contextlib.contextmanager
def embedded_reference(
    *,
    issuer: str = EMBEDDED_ISSUER,
    okta_url: str = OKTA_BASE_URL,
    data_dir: Path | None = None,
) -> Iterator[EmbeddedReference]:
    """Start the reference service and the Okta emulator in process; stop both after.

    The service keeps its SQLite database and keys in ``data_dir`` (default: a temporary
    directory removed afterwards) and gets a fresh random admin credential.
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="proctor-")))
        okta = create_app("okta", base_url=okta_url)
        okta_transport = ASGIBridge(okta)
        stack.callback(okta_transport.close)
        idp_http = httpx.Client(transport=_Unclosed(okta_transport), follow_redirects=False)
        stack.callback(idp_http.close)
        admin_token = "padm_" + secrets.token_urlsafe(32)
        settings = Settings(
            issuer=issuer,
            data_dir=data_dir,
            admin_token=admin_token,
            allow_loopback_http=False,
        )
        service = Service.create(settings, http_client=idp_http, env={})
        stack.callback(service.close)
        service_transport = ASGIBridge(service.asgi_app())
        stack.callback(service_transport.close)
        yield EmbeddedReference(
            service=service,
            issuer=issuer,
            admin_token=admin_token,
            okta_url=okta_url,
            okta_issuer=okta.engine.server(None).issuer,
            _service_transport=service_transport,
            _okta_transport=okta_transport,
        )
