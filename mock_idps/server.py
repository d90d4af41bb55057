"""Serving an emulator on a real port: in a background thread (tests) or in the
foreground (``proctor idp <vendor>``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from proctor.mock_idps.app import MockIdpApp, create_app
from proctor.mock_idps.clock import Clock
from proctor.mock_idps.config import IdpConfig
from proctor.mock_idps.engine import Engine
from proctor.mock_idps.profile import KeyFactory, VendorProfile
from proctor.mock_idps.tls import TlsFiles

__all__ = ["LiveServer", "serve"]

LOOPBACK = "127.0.0.1"


def _uvicorn_config(
    app: MockIdpApp,
    tls: TlsFiles | None,
    *,
    log_config: dict[str, Any] | None = None,
    **extra: Any,
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=log_config,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
        **extra,
    )


class LiveServer:
    """An emulator on a free loopback port, served by uvicorn in a daemon thread.

    ``url`` is where to send requests; the issuer base is ``issuer_base`` if given (for
    example ``https://example.okta.com`` with TLS), else ``url``.
    """

    def __init__(
        self,
        vendor: str | VendorProfile,
        config: IdpConfig | Mapping[str, Any] | str | Path | None = None,
        *,
        clock: Clock | None = None,
        port: int = 0,
        issuer_base: str | None = None,
        key_factory: KeyFactory | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit TCP_NODELAY on Linux; without it small responses
        # wait for delayed ACKs (about 40 ms per loopback request).
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((LOOPBACK, port))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://{LOOPBACK}:{self.port}"
        self.app = create_app(
            vendor, config, clock=clock, base_url=issuer_base or self.url, key_factory=key_factory
        )
        self._server = uvicorn.Server(_uvicorn_config(self.app, tls))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def engine(self) -> Engine:
        return self.app.engine

    def start(self, timeout: float = 10.0) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._sock.close()
                raise RuntimeError("the mock IdP server did not start")
            time.sleep(0.005)  # waiting for a thread to bind, not a test pacing itself
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(app: MockIdpApp, *, port: int, tls: TlsFiles | None = None) -> None:
    """Serve ``app`` on ``127.0.0.1:port`` in the foreground until interrupted."""
    config = _uvicorn_config(
        app, tls, log_config=uvicorn.config.LOGGING_CONFIG, host=LOOPBACK, port=port
    )
    server = uvicorn.Server(config)
    server.run()
