"""HTTP transports: a recording wrapper, and a bridge to an in-process ASGI app.

Checks are plain synchronous functions (hypothesis drives them), so the kit speaks
through a synchronous :class:`httpx.Client`. :class:`ASGIBridge` lets that client call an
ASGI application in the same process (the meta-tests' fake targets, the embedded
reference) by running it on an event loop in a helper thread, with no socket.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AbstractContextManager
from typing import Any

import anyio.from_thread
import httpx

from proctor.conformance.evidence import Recorder

__all__ = ["ASGIApp", "ASGIBridge", "RecordingTransport"]

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


class ASGIBridge(httpx.BaseTransport):
    """A synchronous transport that calls an ASGI app in-process.

    The app runs on an event loop owned by a blocking portal (a helper thread); each
    request is sent with :class:`httpx.ASGITransport` and read completely. Call
    :meth:`close` when done (the :class:`httpx.Client` that owns it does).
    """

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 4321)) -> None:
        self._transport = httpx.ASGITransport(app=app, client=client)
        self._portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] | None = (
            anyio.from_thread.start_blocking_portal()
        )
        self._portal = self._portal_cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._portal_cm is None:
            raise RuntimeError("the ASGI bridge is closed")
        body = request.read()

        async def call() -> httpx.Response:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._transport.handle_async_request(inner)
            content = b"".join([chunk async for chunk in response.aiter_raw()])
            await response.aclose()
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                content=content,
                extensions=response.extensions,
            )

        return self._portal.call(call)

    def close(self) -> None:
        if self._portal_cm is not None:
            cm, self._portal_cm = self._portal_cm, None
            cm.__exit__(None, None, None)


class RecordingTransport(httpx.BaseTransport):
    """Wraps a transport and records every exchange, redacted, as evidence."""

    def __init__(self, inner: httpx.BaseTransport, recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        started = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
            content = response.read()
        except httpx.HTTPError as error:
            self._recorder.record(
                method=request.method,
                url=str(request.url),
                request_headers=request.headers.multi_items(),
                request_body=body,
                status=None,
                started=started,
                error=f"{type(error).__name__}: {error}",
            )
            raise
        self._recorder.record(
            method=request.method,
            url=str(request.url),
            request_headers=request.headers.multi_items(),
            request_body=body,
            status=response.status_code,
            response_headers=response.headers.multi_items(),
            response_body=content,
            started=started,
        )
        return response

    def close(self) -> None:
        self._inner.close()
