"""``/healthz`` (liveness), ``/readyz`` (storage reachable), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from proctor.reference.metrics import Metrics

__all__ = ["health_routes"]

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def health_routes(metrics: Metrics, ready: Callable[[], bool]) -> list[BaseRoute]:
    def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def readyz(_: Request) -> Response:
        try:
            ok = ready()
        except Exception:  # noqa: BLE001 - any failure of the probe means not ready
            ok = False
        return JSONResponse(
            {"status": "ready" if ok else "unavailable"}, status_code=200 if ok else 503
        )

    def metrics_endpoint(_: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type=PROMETHEUS_TEXT)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
