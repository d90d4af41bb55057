"""The embedded conformance target: the mock IdPs and the reference service, on loopback.

``proctor conform`` with neither ``--target`` nor ``--config`` runs every suite against
this target. :func:`embedded_target` (a runner ``target_factory``):

1. starts every identity-provider emulator that exists (Okta, Entra ID, Cognito: whatever
   :func:`proctor.mock_idps.vendors.available` lists) on a free loopback port, each in a
   thread (:class:`~proctor.mock_idps.server.LiveServer`);
2. starts the reference service (:meth:`~proctor.reference.service.Service.create`) on a
   free loopback port in a thread, with a temporary data directory, insecure development
   mode switched on explicitly (``http`` on loopback only, TERM-DEV-001, SEC-TLS-002) and
   a freshly generated admin credential;
3. yields a :class:`~proctor.conformance.target.TargetConnection` whose config names the
   service's issuer, the admin credential, the emulators' issuers and the capabilities
   the reference implements (read from the routes it serves);
4. stops everything and removes the data directory.

The kit reaches all of it over real loopback sockets: the service fetches the emulators'
keys over HTTP as it would in production, and the kit's ``jku`` canary can tell whether
the service fetched a URL taken from a token. This module is wiring (``proctor.cli``): it
may import the reference and the emulators; the kit (``proctor.conformance``) never does.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import uvicorn

from proctor.conformance.config import TargetConfig, parse_config
from proctor.conformance.target import TargetConnection
from proctor.mock_idps import vendors
from proctor.mock_idps.server import LiveServer
from proctor.reference.service import Service
from proctor.reference.settings import Settings

__all__ = ["IDP_VENDORS", "ROUTE_CAPABILITIES", "ServiceServer", "embedded_target"]

LOOPBACK: Final = "127.0.0.1"
#: The identity-provider emulators the embedded target starts, when they exist.
IDP_VENDORS: Final = ("okta", "entra", "cognito")
#: The kit's mock OAuth 2.0 providers it starts for the vault and consent suites.
PROVIDER_PRESETS: Final = ("crm", "finance", "github")
#: A capability is declared when the service routes every path listed for it.
ROUTE_CAPABILITIES: Final[dict[str, tuple[str, ...]]] = {
    "control_plane": ("/v1/authorizers", "/v1/workloads"),
    "inbound_authorization": ("/v1/decisions",),
    "workload_identity": ("/v1/workloads", "/v1/workloads/{name}/secret"),
    "workload_tokens": ("/v1/workload-access-tokens",),
    "audit": ("/v1/audit/events", "/v1/audit/verify"),
    "vault": ("/v1/resource-tokens/oauth2", "/v1/resource-tokens/api-key"),
    "consent": ("/v1/consents",),
    "metadata": ("/.well-known/oauth-authorization-server",),
    "jwks": ("/oauth2/jwks",),
    "client_credentials": ("/oauth2/token",),
    "private_key_jwt": ("/oauth2/token",),  # workloads may register a JWKS (WID-PKJ-*)
    "token_exchange": ("/oauth2/token", "/v1/exchange-policies"),
    "introspection": ("/oauth2/introspect",),
    "revocation": ("/oauth2/revoke",),
}


def capabilities_of(service: Service) -> list[str]:
    """The capabilities whose routes ``service`` serves (see :data:`ROUTE_CAPABILITIES`)."""
    paths = {getattr(route, "path", None) for route in service.routes()}
    return [name for name, needed in ROUTE_CAPABILITIES.items() if paths.issuperset(needed)]


class ServiceServer:
    """The reference service's ASGI app on a free loopback port, served in a thread."""

    def __init__(self, service: Service, sock: socket.socket) -> None:
        self._sock = sock
        config = uvicorn.Config(
            service.asgi_app(),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the reference service did not start")
            time.sleep(0.005)  # waiting for a thread to bind, not pacing a test

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _no_delay(sock: socket.socket) -> None:
    """Accepted connections inherit ``TCP_NODELAY`` from the listening socket on Linux.

    uvicorn serving a pre-bound socket leaves Nagle's algorithm on, so every response
    written in two parts waits for the client's delayed ACK (about 40 ms a request).
    """
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _no_delay(sock)
    sock.bind((LOOPBACK, 0))
    return sock


def _start_idp(stack: contextlib.ExitStack, vendor: str) -> LiveServer:
    idp = LiveServer(vendor)
    listening = getattr(idp, "_sock", None)  # LiveServer binds in __init__, serves in start()
    if isinstance(listening, socket.socket):
        _no_delay(listening)
    return stack.enter_context(idp)


@contextlib.contextmanager
def embedded_target(config: TargetConfig | None = None) -> Iterator[TargetConnection]:
    """Start the emulators and the reference service; yield how to reach them.

    ``config`` (the runner's) is not used: the embedded target declares its own.
    """
    with contextlib.ExitStack() as stack:
        issuers: dict[str, str] = {}
        available = vendors.available()
        for vendor in IDP_VENDORS:
            if vendor in available:
                idp = _start_idp(stack, vendor)
                issuers[vendor] = idp.engine.server(None).issuer
        providers = [_start_idp(stack, preset).url for preset in PROVIDER_PRESETS]

        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="proctor-")))
        sock = _loopback_socket()
        stack.callback(sock.close)
        port = int(sock.getsockname()[1])
        settings = Settings(
            host=LOOPBACK,
            port=port,
            issuer=f"http://{LOOPBACK}:{port}",
            data_dir=data_dir,
            allow_loopback_http=True,  # TERM-DEV-001: explicitly on, loopback only
            # The kit's clients make thousands of requests a minute (more under the deep
            # hypothesis profile), so the per-client request limit is off, as an operator
            # raises it for a conformance run; the failed-authentication limits stay, and
            # the rate_limits checks exhaust them on fresh clients.
            rate_limit_requests_per_client=0,
        )
        service = Service.create(settings, env={})
        stack.callback(service.close)
        admin_token = service.generated_admin_token
        if admin_token is None:  # a fresh data directory always generates one
            raise RuntimeError("the reference service did not generate an admin credential")
        server = ServiceServer(service, sock)
        server.start()
        stack.callback(server.stop)

        target_config = parse_config(
            {
                "url": service.issuer,
                "profile": "proctor",
                "capabilities": [*capabilities_of(service), "mock_providers", "rate_limits"],
                "credentials": {"admin_token": admin_token},
                "mock_idps": {"issuers": issuers},
                "suite_options": {"vault": {"providers": providers}},
            },
            interpolate=False,
        )
        yield TargetConnection(
            base_url=service.issuer,
            label=f"embedded reference service at {service.issuer}",
            config=target_config,
            embedded=True,
        )
