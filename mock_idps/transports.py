"""A synchronous httpx transport that calls an ASGI app in-process.

``httpx.ASGITransport`` serves only ``AsyncClient``; synchronous code under test (a CLI, a
requests-style SDK wrapper written against ``httpx.Client``) gets this one instead. It
runs the app on a private event loop in a helper thread (an anyio blocking portal); no
socket is opened.
"""

from __future__ import annotations

import contextlib

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp

__all__ = ["SyncASGITransport"]


class SyncASGITransport(httpx.BaseTransport):
    """``portal``: share an existing blocking portal (it then outlives this transport);
    without one, the transport starts its own and stops it on :meth:`close`."""

    def __init__(self, app: ASGIApp, portal: BlockingPortal | None = None) -> None:
        self._async = httpx.ASGITransport(app=app)
        self._stack = contextlib.ExitStack()
        self._portal = portal or self._stack.enter_context(start_blocking_portal())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=content
            )
            response = await self._async.handle_async_request(inner)
            body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            return response.status_code, response.headers.raw, body

        status, headers, body = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=body, request=request)

    def close(self) -> None:
        self._stack.close()
