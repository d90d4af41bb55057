"""The ASGI application of an emulator: vendor paths plus the admin API under ``/_mock/``.

``create_app("okta")`` gives an app for in-process use (``httpx.ASGITransport``), for
uvicorn (``proctor idp okta``) and for the pytest plugin. This layer only translates
between Starlette and the framework-free engine, applies injected faults (including
delays, the one place that awaits) and records the request log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from proctor.mock_idps import admin, vendors
from proctor.mock_idps.asgi import from_starlette, to_starlette
from proctor.mock_idps.clock import Clock
from proctor.mock_idps.config import IdpConfig, load_config
from proctor.mock_idps.engine import Engine
from proctor.mock_idps.faults import FAULT_ENDPOINTS, FaultSpec
from proctor.mock_idps.messages import Request, Response
from proctor.mock_idps.profile import KeyFactory, VendorProfile

__all__ = ["MockIdpApp", "create_app"]

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_MALFORMED = b'{"keys":[{"kty":"RSA","use":"sig","n":"'


class MockIdpApp:
    """An ASGI app wrapping one :class:`~proctor.mock_idps.engine.Engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._app = Starlette(
            routes=[
                *engine.profile.routes(engine),
                *admin.routes(engine),
                Route("/{path:path}", self._vendor, methods=_ALL_METHODS),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    async def _vendor(self, request: StarletteRequest) -> StarletteResponse:
        engine = self.engine
        req = await from_starlette(request)
        route = engine.route(req.path)
        kind = route.kind if route else None
        server_id = route.server.id if route and route.server else None
        fault = engine.faults.take(kind, server_id) if kind in FAULT_ENDPOINTS else None
        if fault is not None:
            response = await self._faulty(fault, req)
        else:
            response = engine.handle(req)
        form: tuple[tuple[str, str], ...] = ()
        if req.media_type == "application/x-www-form-urlencoded":
            form = tuple(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        engine.requests.record(
            time=engine.clock.now(),
            method=req.method,
            path=req.path,
            endpoint=kind,
            server=server_id,
            status=response.status,
            query=req.query,
            form=form,
            headers=dict(req.headers),
        )
        return to_starlette(response)

    async def _faulty(self, fault: FaultSpec, req: Request) -> Response:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.malformed:
            return Response(200, _MALFORMED, "application/json", [("cache-control", "no-store")])
        if fault.status is not None:
            route = self.engine.route(req.path)
            return self.engine.fault_response(fault.status, route)
        return self.engine.handle(req)


def create_app(
    vendor: str | VendorProfile,
    config: IdpConfig | Mapping[str, Any] | str | Path | None = None,
    *,
    clock: Clock | None = None,
    base_url: str | None = None,
    key_factory: KeyFactory | None = None,
) -> MockIdpApp:
    """An emulator app for ``vendor`` (a name such as ``"okta"`` or a profile).

    ``config`` is an :class:`IdpConfig`, a mapping, YAML text or a file path; ``None`` uses
    the vendor's documented default. ``base_url`` is the issuer base (scheme and host of
    every issuer and endpoint URL); it defaults to ``https://{vendor host}``, e.g.
    ``https://example.okta.com``, which suits in-process use through
    ``httpx.ASGITransport``. A server on a port should pass its own URL.
    """
    profile = vendors.profile(vendor) if isinstance(vendor, str) else vendor
    parsed = config if config is None or isinstance(config, IdpConfig) else load_config(config)
    engine = Engine(profile, parsed, clock=clock, base_url=base_url, key_factory=key_factory)
    return MockIdpApp(engine)
