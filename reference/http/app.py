"""Assembling the ASGI application from the areas' routes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from proctor.reference.http.health import health_routes
from proctor.reference.http.middleware import RequestContext
from proctor.reference.http.problems import exception_handlers
from proctor.reference.metrics import Metrics

__all__ = ["build_app"]


def build_app(
    routes: Sequence[BaseRoute],
    *,
    metrics: Metrics,
    ready: Callable[[], bool],
) -> Starlette:
    """The service's ASGI app: health routes + ``routes``, request context, error mapping."""
    return Starlette(
        routes=[*health_routes(metrics, ready), *routes],
        middleware=[Middleware(RequestContext, metrics=metrics)],
        exception_handlers=exception_handlers,
    )
