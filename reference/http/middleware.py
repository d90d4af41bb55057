"""Request ids, access logs and request metrics, as one pure ASGI middleware."""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proctor.reference.logs import request_id_var
from proctor.reference.metrics import Metrics

__all__ = ["RequestContext"]

log = logging.getLogger("proctor.access")

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContext:
    """Assigns a request id (an incoming sane ``X-Request-Id`` is kept), echoes it in the
    response, logs one JSON line per request and records count and latency per route."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.requests = metrics.counter(
            "proctor_http_requests_total", "HTTP requests served.", ["method", "route", "status"]
        )
        self.latency = metrics.histogram(
            "proctor_http_request_duration_seconds", "HTTP request latency.", ["method", "route"]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = (
            incoming if incoming and _SANE_ID.match(incoming) else "req_" + secrets.token_hex(12)
        )
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "")
            self.requests.inc(method=method, route=route, status=str(status))
            self.latency.observe(elapsed, method=method, route=route)
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    }
                },
            )
            request_id_var.reset(token)


def _route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label cardinality), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
