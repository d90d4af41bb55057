"""A loopback canary: a tiny HTTP server that records every request it receives.

RFC 8725 §3.10 and INB-KEY-001: a service must never fetch a URL taken from a token
(``jku``, ``x5u``). The kit puts the canary's URL in such header parameters and asserts
afterwards that the canary was never asked for anything. To make a vulnerable service
*accept* the forged token (not only fetch the URL), the canary answers every ``GET``
with the attacker's JWK Set.

The canary listens on ``127.0.0.1``, so it detects fetches by a target on the same host
(the embedded reference, a service under test in CI); a remote target cannot reach it,
and a check against one proves only that the forged token was refused.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Canary", "canary"]


class Canary:
    """The running canary: its ``url`` and the ``hits`` (paths) it received."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._server = server
        self._lock = threading.Lock()
        self._hits: list[str] = []

    def hit(self, path: str) -> None:
        with self._lock:
            self._hits.append(path)

    @property
    def hits(self) -> list[str]:
        with self._lock:
            return list(self._hits)


@contextmanager
def canary(document: Mapping[str, Any] | None = None) -> Iterator[Canary]:
    """Serve ``document`` (JSON) to every request on a free loopback port."""
    body = json.dumps(dict(document or {})).encode()
    holder: list[Canary] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            holder[0].hit(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Canary(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
