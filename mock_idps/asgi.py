"""The seam between Starlette and the framework-free core: a Starlette request becomes a
:class:`~proctor.mock_idps.messages.Request`, a
:class:`~proctor.mock_idps.messages.Response` becomes a Starlette response. Used by the
emulator app (:mod:`proctor.mock_idps.app`) and the providers' resource APIs
(:mod:`proctor.mock_idps.resources`), so both see requests exactly alike.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse

from proctor.mock_idps.messages import Request, Response

__all__ = ["from_starlette", "to_starlette"]


async def from_starlette(request: StarletteRequest) -> Request:
    """The request with its whole body read, header names lower-cased."""
    return Request(
        method=request.method,
        path=request.url.path,
        query=tuple(parse_qsl(request.url.query, keep_blank_values=True)),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),
        cookies=dict(request.cookies),
        scheme=request.url.scheme,
    )


def to_starlette(response: Response) -> StarletteResponse:
    """The response with its headers as given (repeated names such as ``set-cookie`` kept)."""
    out = StarletteResponse(
        content=response.body, status_code=response.status, media_type=response.media_type
    )
    out.raw_headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers)
    return out
