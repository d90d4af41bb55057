"""Framework-free HTTP request and response values for the emulator core.

The Starlette layer (:mod:`proctor.mock_idps.app`) turns ASGI requests into
:class:`Request` and :class:`Response` back into ASGI; the engine never sees Starlette.
:class:`Params` reads form or query parameters the way RFC 6749 §3.1 and §3.2 require:
a parameter sent more than once is an ``invalid_request``, and a parameter sent without
a value is treated as omitted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from proctor.mock_idps.errors import InvalidRequest

__all__ = ["Params", "Request", "Response", "add_query"]

FORM = "application/x-www-form-urlencoded"
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Request:
    """One HTTP request: header names are lower-case."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    cookies: Mapping[str, str] = field(default_factory=dict)
    scheme: str = "http"

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def query_params(self) -> Params:
        return Params(self.query)

    def form(self) -> Params:
        """The form-encoded body; any other content type is an ``invalid_request``."""
        if self.media_type != FORM:
            raise InvalidRequest(f"The request body must be {FORM}.", reason="content_type")
        if len(self.body) > MAX_BODY:
            raise InvalidRequest("The request body is too large.", reason="body_too_large")
        try:
            text = self.body.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRequest("The request body is malformed.", reason="body") from exc
        return Params(tuple(pairs))

    def params(self) -> Params:
        """Query parameters for GET, form parameters for POST (OIDC Core §3.1.2.1)."""
        return self.form() if self.method == "POST" else self.query_params()


class Params:
    """Request parameters with RFC 6749 §3.1 rules: no repeats, empty means omitted."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs: tuple[tuple[str, str], ...] = tuple(pairs)

    def names(self) -> set[str]:
        return {k for k, v in self.pairs if v != ""}

    def get(self, name: str) -> str | None:
        values = [v for k, v in self.pairs if k == name and v != ""]
        if len(values) > 1:
            raise InvalidRequest(
                f"The '{name}' parameter must not be repeated.", reason="repeated_parameter"
            )
        return values[0] if values else None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise InvalidRequest(f"The '{name}' parameter is required.", reason=f"missing_{name}")
        return value

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.pairs}


@dataclass
class Response:
    """An HTTP response: ``headers`` is a list so ``Set-Cookie`` may repeat."""

    status: int
    body: bytes = b""
    media_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        body = json.dumps(data, separators=(",", ":")).encode()
        hdrs = [("cache-control", "no-store"), ("pragma", "no-cache")]
        if headers:
            hdrs = [(k, v) for k, v in hdrs if k not in {h.lower() for h in headers}]
            hdrs.extend((k.lower(), v) for k, v in headers.items())
        return cls(status, body, "application/json", hdrs)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(
            status,
            text.encode(),
            "text/html; charset=utf-8",
            [("cache-control", "no-store"), ("x-frame-options", "DENY")],
        )

    @classmethod
    def redirect(cls, url: str, status: int = 302) -> Response:
        return cls(status, b"", None, [("location", url), ("cache-control", "no-store")])

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)

    def set_cookie(
        self, name: str, value: str, *, secure: bool, max_age: int | None = None
    ) -> None:
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if secure:
            parts.append("Secure")
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        self.headers.append(("set-cookie", "; ".join(parts)))


def add_query(url: str, params: Mapping[str, str | None]) -> str:
    """``url`` with ``params`` appended to its query (RFC 6749 §4.1.2 keeps the
    redirect URI's own query component)."""
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
