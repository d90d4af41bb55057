"""A vault target for the kit's meta-tests: the reference service with the mock Okta and the
mock crm and finance providers, all on loopback, plus a test clock.

:func:`vault_target` is a runner ``target_factory``. Unlike the embedded target of
``proctor conform`` (which has no clock the kit may move), the service here reads an
:class:`OffsetClock`, and a tiny loopback endpoint advances it, so the kit's
time-dependent checks (session expiry, the expiry margin, refresh) run too (capability
``test_clock``). Broken variants of the reference are made by monkeypatching it in this
process, never by a switch in the reference.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import pytest
from rich.console import Console

from proctor.cli.embedded_target import LOOPBACK, ServiceServer, capabilities_of
from proctor.conformance.catalog import load_catalog
from proctor.conformance.config import TargetConfig, parse_config
from proctor.conformance.results import CheckResult, Outcome
from proctor.conformance.runner import RunOptions, RunOutcome, run
from proctor.conformance.target import TargetConnection
from proctor.mock_idps.server import LiveServer
from proctor.reference.service import Service
from proctor.reference.settings import Settings

SUITES: Final = ("vault", "consent")
PROVIDERS: Final = ("crm", "finance", "github")
#: Few examples per property: the meta-tests check that checks catch, not the target.
MAX_EXAMPLES: Final = 4


class OffsetClock:
    """Wall-clock time plus an offset the kit moves forward (the reference's Clock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._offset += seconds


class _ClockServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, clock: OffsetClock) -> None:
        super().__init__((LOOPBACK, 0), _ClockHandler)
        self.clock = clock

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


class _ClockHandler(BaseHTTPRequestHandler):
    server: _ClockServer

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        try:
            seconds = float(json.loads(self.rfile.read(length))["advance"])
            self.server.clock.advance(seconds)
        except (ValueError, KeyError, TypeError):
            self.send_response(400)
            self.end_headers()
            return
        body = json.dumps({"now": self.server.clock.now()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@contextlib.contextmanager
def _clock_server(clock: OffsetClock) -> Iterator[str]:
    server = _ClockServer(clock)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}/clock"
    finally:
        server.shutdown()
        server.server_close()


def _live(vendor: str) -> LiveServer:
    """An emulator on loopback whose accepted sockets have TCP_NODELAY (no 40 ms stalls)."""
    server = LiveServer(vendor)
    listening = getattr(server, "_sock", None)  # bound in __init__, served in start()
    if isinstance(listening, socket.socket):
        listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return server


@contextlib.contextmanager
def vault_target(
    config: TargetConfig | None = None,
    *,
    test_clock: bool = True,
    idps: Sequence[str] = ("okta",),
    providers: Sequence[str] = PROVIDERS,
) -> Iterator[TargetConnection]:
    """The reference service, the mock IdPs and providers on loopback (a target factory)."""
    del config
    with contextlib.ExitStack() as stack:
        issuers = {}
        for vendor in idps:
            idp = stack.enter_context(_live(vendor))
            issuers[vendor] = idp.engine.server(None).issuer
        provider_urls = [stack.enter_context(_live(name)).url for name in providers]
        clock = OffsetClock()
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="proctor-")))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((LOOPBACK, 0))
        stack.callback(sock.close)
        port = int(sock.getsockname()[1])
        settings = Settings(
            host=LOOPBACK,
            port=port,
            issuer=f"http://{LOOPBACK}:{port}",
            data_dir=data_dir,
            allow_loopback_http=True,
        )
        service = Service.create(settings, clock=clock, env={})
        stack.callback(service.close)
        server = ServiceServer(service, sock)
        server.start()
        stack.callback(server.stop)
        capabilities = [*capabilities_of(service), "mock_providers"]
        options: dict[str, Any] = {"providers": provider_urls}
        if test_clock:
            options["clock_url"] = stack.enter_context(_clock_server(clock))
            capabilities.append("test_clock")
        target_config = parse_config(
            {
                "url": service.issuer,
                "profile": "proctor",
                "capabilities": capabilities,
                "credentials": {"admin_token": service.generated_admin_token},
                "mock_idps": {"issuers": issuers},
                "suite_options": {"vault": options},
            },
            interpolate=False,
        )
        yield TargetConnection(
            base_url=service.issuer,
            label=f"vault meta-test target at {service.issuer}",
            config=target_config,
            embedded=True,
        )


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    """The service and the emulators log every request; capturing thousands of records
    is a third of these tests' time, and no assertion reads them."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


@dataclass
class VaultRun:
    outcome: RunOutcome
    console: str

    def by_name(self) -> dict[str, CheckResult]:
        return {result.name: result for result in self.outcome.results}

    def outcomes(self) -> dict[str, Outcome]:
        return {result.name: result.outcome for result in self.outcome.results}

    def failed(self) -> set[str]:
        return {r.name for r in self.outcome.results if r.outcome is Outcome.FAILED}

    def problems(self) -> list[str]:
        return [
            f"{r.name}: {r.outcome.value}: {r.message[:600]}"
            for r in self.outcome.results
            if r.outcome in (Outcome.FAILED, Outcome.ERROR)
        ]


RunVault = Callable[..., VaultRun]


@pytest.fixture(scope="session")
def shared_target() -> Iterator[Callable[..., Any]]:
    """One running :func:`vault_target` for every run that uses it (each run provisions
    its own namespace): a target factory that hands out the same connection."""
    with vault_target() as connection:

        @contextlib.contextmanager
        def factory(config: TargetConfig | None = None) -> Iterator[TargetConnection]:
            del config
            yield connection

        yield factory


@pytest.fixture
def run_vault(tmp_path: Path) -> RunVault:
    """Run the vault and consent suites through the runner API against ``factory``."""
    counter = iter(range(100))

    def run_vault(
        factory: Callable[..., Any] = vault_target,
        *,
        suites: Sequence[str] = SUITES,
        keyword: str | None = None,
    ) -> VaultRun:
        buffer = io.StringIO()
        outcome = run(
            RunOptions(
                suites=suites,
                keyword=keyword,
                max_examples=MAX_EXAMPLES,
                report_dir=tmp_path / f"report-{next(counter)}",
                catalog=load_catalog(),
            ),
            target_factory=factory,
            console=Console(file=buffer, width=200),
        )
        return VaultRun(outcome, buffer.getvalue())

    return run_vault
